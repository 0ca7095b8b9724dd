//! The conversation list: start a new conversation, or open one. Plain links, so it works
//! before the WASM loads; on narrow screens it folds away behind a button.

use leptos::prelude::*;

use super::state::{focus_message, ChatState};
use crate::{types::chat::ConversationSummary, util::relative_time};

#[component]
pub fn Sidebar() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let open = state.list_open;
    view! {
        <nav class="chat-sidebar" aria-label="Conversations">
            <div class="sidebar-top">
                <a
                    class="button primary new-conversation"
                    href="/chat"
                    on:click=move |_| {
                        // Already on /chat: the URL does not change, so start over here.
                        if state.current.get_untracked().is_none() {
                            state.switch_to(None);
                        }
                        focus_message();
                    }
                >
                    <span aria-hidden="true">"+ "</span>
                    "New conversation"
                </a>
                <button
                    type="button"
                    class="sidebar-toggle"
                    aria-controls="conversation-list"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    "Conversations"
                    <span class="chevron" aria-hidden="true">{move || if open.get() { " ▴" } else { " ▾" }}</span>
                </button>
            </div>
            <h2 class="sidebar-heading">"Conversations"</h2>
            <div id="conversation-list" class="conversation-list" class:collapsed=move || !open.get()>
                <Transition fallback=|| view! { <p class="loading">"Loading conversations…"</p> }>
                    {move || state.conversations.get().map(|result| match result {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted empty-list">"No conversations yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="conversations">
                                {list.into_iter().map(|c| view! { <ConversationLink conversation=c/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Transition>
            </div>
        </nav>
    }
    .into_any()
}

#[component]
fn ConversationLink(conversation: ConversationSummary) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let id = conversation.id.clone();
    let href = format!("/chat?c={}", crate::util::encode_query(&id));
    let agent_id = conversation.agent;
    let when = relative_time(&conversation.updated_at, crate::util::now_unix());
    let meta = move || {
        let agent = state
            .agent_view(Some(&agent_id))
            .map(|a| a.name)
            .unwrap_or_else(|| agent_id.to_uppercase());
        format!("{agent} · {when}")
    };
    let is_current = move || state.current.get().as_deref() == Some(id.as_str());
    view! {
        <li>
            <a
                href=href
                class="conversation-link"
                aria-current=move || is_current().then_some("page")
                on:click=move |_| state.list_open.set(false)
            >
                <span class="conversation-title">{conversation.title}</span>
                <span class="conversation-meta">{meta}</span>
            </a>
        </li>
    }
}
