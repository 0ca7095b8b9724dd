//! The conversation list: start a new conversation, search, or open one. Plain links and a
//! plain GET form, so it works before the WASM loads; on narrow screens it folds away
//! behind a button.

use crate::resource::{resource, JsonResource};
use std::time::Duration;

use leptos::{ev, prelude::*};
use leptos_router::hooks::use_query_map;

use super::state::{focus_message, ChatState};
use crate::{
    api::search::search_conversations,
    components::icons::{Icon, IconSvg},
    types::{chat::ConversationSummary, search::SearchHit},
    util::relative_time,
};

/// A pause in typing this long runs the search.
const DEBOUNCE: Duration = Duration::from_millis(250);

#[component]
pub fn Sidebar() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let open = state.list_open;
    // The search: what is in the field, and what was last searched for (`?q=` on a page
    // loaded without the script, or the field after a pause in typing).
    let initial = use_query_map()
        .with_untracked(|q| q.get("q"))
        .unwrap_or_default();
    let field = RwSignal::new(initial.clone());
    let query = RwSignal::new(initial.clone());
    let typed = StoredValue::new(0u32);
    let searching = Memo::new(move |_| !query.with(|q| q.trim().is_empty()));
    let results = resource(
        move || query.get(),
        |q| async move {
            if q.trim().is_empty() {
                None
            } else {
                Some(search_conversations(q).await)
            }
        },
    );
    let on_input = move |ev: ev::Event| {
        let text = event_target_value(&ev);
        field.set(text.clone());
        typed.update_value(|n| *n += 1);
        let mine = typed.get_value();
        if text.trim().is_empty() {
            // Cleared: the list comes back at once.
            query.set(String::new());
            return;
        }
        set_timeout(
            move || {
                if typed.try_get_value() == Some(mine) {
                    let _ = query.try_set(text);
                }
            },
            DEBOUNCE,
        );
    };
    let clear = move || {
        typed.update_value(|n| *n += 1);
        field.set(String::new());
        query.set(String::new());
    };
    let has_key = move || state.key_problem.get().is_none();

    view! {
        <nav class="chat-sidebar" aria-label="Conversations">
            <div class="sidebar-top">
                <Show when=has_key>
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
                        <IconSvg icon=Icon::Plus/>
                        " New conversation"
                    </a>
                </Show>
                <button
                    type="button"
                    class="sidebar-toggle"
                    aria-controls="conversation-list"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    "Conversations "
                    {move || if open.get() {
                        view! { <IconSvg icon=Icon::ChevronUp/> }.into_any()
                    } else {
                        view! { <IconSvg icon=Icon::ChevronDown/> }.into_any()
                    }}
                </button>
            </div>
            <div id="conversation-list" class="conversation-list" class:collapsed=move || !open.get()>
                <form class="sidebar-search" role="search" method="get" action="/chat" on:submit=move |ev: ev::SubmitEvent| {
                    ev.prevent_default();
                    typed.update_value(|n| *n += 1);
                    query.set(field.get_untracked());
                }>
                    <label class="visually-hidden" for="conversation-search">"Search conversations"</label>
                    <IconSvg icon=Icon::Search class="search-icon"/>
                    <input
                        type="search"
                        id="conversation-search"
                        name="q"
                        placeholder="Search conversations"
                        autocomplete="off"
                        maxlength="200"
                        aria-describedby="search-hint"
                        value=initial
                        prop:value=move || field.get()
                        on:input=on_input
                        on:keydown=move |ev: ev::KeyboardEvent| {
                            if ev.key() == "Escape" && !field.with_untracked(String::is_empty) {
                                ev.prevent_default();
                                clear();
                            }
                        }
                    />
                    <span id="search-hint" class="visually-hidden">"Results replace the list as you type; Escape clears the search."</span>
                    {move || state.current.get().map(|c| view! { <input type="hidden" name="c" value=c/> })}
                </form>
                <h2 class="sidebar-heading">{move || if searching.get() { "Search results" } else { "Conversations" }}</h2>
                <Show
                    when=move || searching.get()
                    fallback=move || view! { <ConversationList/> }
                >
                    <SearchResults results/>
                </Show>
                <p class="export-all">
                    <a href="/api/v1/conversations/export" download="" rel="external">
                        <IconSvg icon=Icon::Download/>
                        " Export all conversations (JSON)"
                    </a>
                </p>
            </div>
        </nav>
    }
    .into_any()
}

#[component]
fn ConversationList() -> impl IntoView {
    let state = expect_context::<ChatState>();
    view! {
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
    }
}

type Results = JsonResource<Option<Result<Vec<SearchHit>, crate::error::AppError>>>;

#[component]
fn SearchResults(results: Results) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Searching…"</p> }>
            {move || results.get().flatten().map(|result| match result {
                Ok(hits) => {
                    let count = match hits.len() {
                        0 => "No conversations match.".to_string(),
                        1 => "1 conversation found.".to_string(),
                        n => format!("{n} conversations found."),
                    };
                    view! {
                        <p class="search-status muted" role="status">{count}</p>
                        <ul class="conversations search-results">
                            {hits.into_iter().map(|hit| view! { <SearchResult hit/> }).collect_view()}
                        </ul>
                    }.into_any()
                }
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// A conversation found: its title, the words around the match (matched words marked), and
/// a link that opens it at the matching message.
#[component]
fn SearchResult(hit: SearchHit) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let id = hit.id.clone();
    let mut href = format!("/chat?c={}", crate::util::encode_query(&id));
    if let Some(message) = &hit.message_id {
        href.push_str(&format!("#m-{}", crate::util::encode_query(message)));
    }
    // Only a message's words are worth showing under the title.
    let snippet = hit.message_id.is_some().then(|| {
        hit.snippet_parts
            .into_iter()
            .map(|part| {
                if part.highlight {
                    view! { <mark>{part.text}</mark> }.into_any()
                } else {
                    part.text.into_any()
                }
            })
            .collect_view()
    });
    let is_current = move || state.current.get().as_deref() == Some(id.as_str());
    view! {
        <li>
            <a
                href=href
                class="conversation-link search-result"
                aria-current=move || is_current().then_some("page")
                on:click=move |_| state.list_open.set(false)
            >
                <span class="conversation-title">{hit.title}</span>
                {snippet.map(|s| view! { <span class="search-snippet">{s}</span> })}
            </a>
        </li>
    }
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
            // Agent ids are ASCII (src/server/agents.rs checks them): the ASCII upper case
            // is the same and leaves Unicode's case tables out of the WASM.
            .unwrap_or_else(|| agent_id.to_ascii_uppercase());
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
