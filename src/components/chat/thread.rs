//! The open conversation: its title (rename, delete), its messages as a live log, and for
//! a new conversation the choice of Agent.

use leptos::{html, prelude::*, server_fn::ServerFn as _};
use leptos_router::hooks::{use_navigate, use_query_map};

use super::{
    cost::{ConversationCost, LiveCost, OverCapNotice, StoredCost},
    message_actions::{EditMessage, MessageActions},
    reading::{message_anchor, show_linked_message, ExportLinks},
    state::{AnswerStatus, ChatState, LiveAnswer, LiveItem},
};
use crate::{
    api::chat::{DeleteConversation, RenameConversation},
    components::{
        copy::CopyButton,
        icons::{Icon, IconSvg},
        markdown::Markdown,
        post_form::PostForm,
    },
    error::AppError,
    types::chat::{AgentView, MessageView, Payer},
};

#[component]
pub fn ThreadHeader() -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <div class="thread-head"><h1 class="thread-title">"Chat"</h1></div> }>
            <ThreadHead/>
        </Transition>
    }
    .into_any()
}

/// The header's content, inside its `Transition` (so the resources read here, in the memo
/// too, are waited for). The heading follows every reload of the conversations' list, but
/// the actions are drawn again only when the conversation or its title changes: a list
/// reloaded for another reason (a failed rename or delete, an answer's end) used to draw
/// them again, closing an open rename form with its error and what had been typed.
#[component]
fn ThreadHead() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let shown = Memo::new(move |_| {
        // Nothing once the chat's state is gone (as below).
        state.current.try_get()?;
        state.summary().map(|s| (s.id, s.title))
    });
    view! {
        <div class="thread-head">
            {move || {
                // A cancelled page's render can run this after the chat's state is gone
                // (leptos' SSR Suspense effect runs on its own task): draw nothing then.
                let Some(current) = state.current.try_get() else {
                    return ().into_any();
                };
                let summary = state.summary();
                let agent = state.current_agent().map(|a| a.name);
                let title = match (&summary, current) {
                    (Some(s), _) => s.title.clone(),
                    (None, None) if state.key_problem.get().is_some() => "Chat".to_string(),
                    (None, None) => "New conversation".to_string(),
                    (None, Some(_)) => "Conversation".to_string(),
                };
                view! {
                    <div class="thread-heading">
                        <h1 class="thread-title" id="thread-title">{title}</h1>
                        {agent.map(|name| view! { <p class="thread-meta">"with " <strong>{name}</strong></p> })}
                        <ConversationCost/>
                    </div>
                }
                .into_any()
            }}
            {move || shown.try_get().flatten().map(|(id, title)| view! {
                <ExportLinks id=id.clone()/>
                <ConversationActions id title/>
            })}
        </div>
    }
    .into_any()
}

/// Rename and Delete for the open conversation. Each opens a small form; without
/// JavaScript they are links (`?rename=1`, `?confirm=delete`) to the same forms.
#[component]
fn ConversationActions(id: String, title: String) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let query = use_query_map();
    let (rename, delete) = (state.rename, state.delete);
    // Each form is open from its link, or when the address carries the error of its post by
    // the browser (read alike by the server's render and the browser's; a conversation
    // opened later in the page has another address, so an old error opens nothing).
    let failed_post = |path: &str| {
        query.with_untracked(|q| {
            q.get("__err").is_some() && q.get("__path").as_deref() == Some(path)
        })
    };
    let renaming = RwSignal::new(
        query.with_untracked(|q| q.get("rename")).as_deref() == Some("1")
            || failed_post(RenameConversation::PATH),
    );
    let confirming = RwSignal::new(
        query.with_untracked(|q| q.get("confirm")).as_deref() == Some("delete")
            || failed_post(DeleteConversation::PATH),
    );
    let title_field = NodeRef::<html::Input>::new();
    let rename_button = NodeRef::<html::Button>::new();
    let delete_button = NodeRef::<html::Button>::new();

    // Focus follows the forms as they open and close.
    Effect::new(move |was_open: Option<bool>| {
        let open = renaming.get();
        if open {
            if let Some(field) = title_field.get() {
                let _ = field.focus();
                field.select();
            }
        } else if was_open == Some(true) {
            if let Some(button) = rename_button.get() {
                let _ = button.focus();
            }
        }
        open
    });
    Effect::new(move |_| {
        if rename.value().with(|v| matches!(v, Some(Ok(_)))) {
            renaming.set(false);
        }
    });
    let close_confirm = move || {
        confirming.set(false);
        if let Some(button) = delete_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let self_url = StoredValue::new(format!("/chat?c={}", crate::util::encode_query(&id)));
    let (id_get1, id_get2) = (id.clone(), id.clone());
    let id = StoredValue::new(id);
    let title = StoredValue::new(title);

    view! {
        <div class="button-row thread-actions">
            <form method="get" action="/chat" class="inline-form">
                <input type="hidden" name="c" value=id_get1/>
                <input type="hidden" name="rename" value="1"/>
                <button
                    type="submit"
                    node_ref=rename_button
                    aria-expanded=move || renaming.get().to_string()
                    on:click=move |ev| {
                        ev.prevent_default();
                        confirming.set(false);
                        renaming.update(|r| *r = !*r);
                        forget_error(rename.value());
                    }
                >"Rename"</button>
            </form>
            <form method="get" action="/chat" class="inline-form">
                <input type="hidden" name="c" value=id_get2/>
                <input type="hidden" name="confirm" value="delete"/>
                <button
                    type="submit"
                    class="danger"
                    node_ref=delete_button
                    on:click=move |ev| {
                        ev.prevent_default();
                        renaming.set(false);
                        confirming.set(true);
                        forget_error(delete.value());
                    }
                >"Delete"</button>
            </form>
        </div>
        <Show when=move || renaming.get()>
            <PostForm action=rename attr:class="rename-form">
                <input type="hidden" name="id" value=id.get_value()/>
                <label for="conversation-title">"Conversation title"</label>
                <div class="rename-row">
                    <input
                        type="text"
                        id="conversation-title"
                        name="title"
                        required
                        maxlength="120"
                        value=title.get_value()
                        node_ref=title_field
                        on:keydown=move |ev| {
                            if ev.key() == "Escape" {
                                ev.prevent_default();
                                renaming.set(false);
                            }
                        }
                    />
                    <button type="submit" class="primary" disabled=rename.pending()>
                        {move || if rename.pending().get() { "Saving…" } else { "Save title" }}
                    </button>
                    <a class="button" href=self_url.get_value() on:click=move |ev| {
                        ev.prevent_default();
                        renaming.set(false);
                    }>"Cancel"</a>
                </div>
                {move || rename.value().get().and_then(|r| r.err()).map(|e| view! {
                    <p class="form-error" role="alert">{e.to_string()}</p>
                })}
            </PostForm>
        </Show>
        <Show when=move || confirming.get()>
            <ConfirmDelete id=id.get_value() title=title.get_value() on_cancel=close_confirm/>
        </Show>
    }
    .into_any()
}

/// A form opened by its button starts without the error of an earlier post. The page's
/// rename and delete actions outlive the conversation they were last used on, so without
/// this a failed rename here showed again in the rename form of the next conversation.
fn forget_error<T, S>(value: S)
where
    S: WithUntracked<Value = Option<Result<T, AppError>>>
        + Set<Value = Option<Result<T, AppError>>>,
{
    if value.with_untracked(|v| matches!(v, Some(Err(_)))) {
        value.set(None);
    }
}

#[component]
fn ConfirmDelete(
    id: String,
    title: String,
    on_cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let delete = state.delete;
    let cancel_url = format!("/chat?c={}", crate::util::encode_query(&id));
    let yes = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = yes.get() {
            let _ = button.focus();
        }
    });
    view! {
        <div class="confirm" role="alertdialog" aria-labelledby="confirm-delete-text"
            on:keydown=move |ev| if ev.key() == "Escape" { on_cancel() }
        >
            <p id="confirm-delete-text">{format!("Delete “{title}”? Its messages will be gone for good.")}</p>
            <div class="button-row">
                <PostForm action=delete attr:class="inline-form">
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class="danger" node_ref=yes disabled=delete.pending()>
                        {move || if delete.pending().get() { "Deleting…" } else { "Yes, delete it" }}
                    </button>
                </PostForm>
                <a class="button" href=cancel_url on:click=move |ev| {
                    ev.prevent_default();
                    on_cancel();
                }>"Cancel"</a>
            </div>
            {move || delete.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="form-error" role="alert">{e.to_string()}</p>
            })}
        </div>
    }
    .into_any()
}

/// The messages: the stored ones (server-rendered), then those of this visit. A new
/// conversation starts with the choice of Agent, above the log.
#[component]
pub fn MessageLog() -> impl IntoView {
    let state = expect_context::<ChatState>();
    // An opened conversation shows its end, where the conversation continues, or the
    // message its address names (a search result).
    let hash = leptos_router::hooks::use_location().hash;
    Effect::new(move |_| {
        hash.track();
        if state.conversation.with(|c| matches!(c, Some(Some(Ok(_))))) {
            request_animation_frame(|| {
                if !show_linked_message() {
                    super::state::scroll_to_end();
                }
            });
        }
    });
    view! {
        <Transition fallback=|| ()>
            <Show when=move || state.is_blank() && state.key_problem.get().is_none()>
                <NewConversation/>
            </Show>
        </Transition>
        <div class="message-log" role="log" aria-live="polite" aria-relevant="additions" aria-labelledby="thread-title">
            <Transition fallback=|| view! { <p class="loading">"Loading conversation…"</p> }>
                {move || {
                    let agent = state.current_agent().map(|a| a.name).unwrap_or_else(|| "Agent".into());
                    state.stored().map(|loaded| match loaded {
                        None => ().into_any(),
                        Some(Ok(_)) => {
                            let messages = state.shown_messages();
                            let count = messages.len();
                            messages
                                .into_iter()
                                .enumerate()
                                .map(|(i, m)| view! { <StoredMessage message=m agent=agent.clone() last=i + 1 == count/> })
                                .collect_view()
                                .into_any()
                        }
                        Some(Err(AppError::ConversationNotFound)) => view! {
                            <div class="card notice-card" role="alert">
                                <p>"This conversation does not exist, or it was deleted."</p>
                                <p><a href="/chat">"Start a new conversation"</a></p>
                            </div>
                        }.into_any(),
                        Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    })
                }}
                <For each=move || state.live.get() key=|item| item.key() let:item>
                    {match item {
                        LiveItem::Sent { text, .. } => view! { <UserMessage text/> }.into_any(),
                        LiveItem::Answer(answer) => view! { <LiveAnswerView answer/> }.into_any(),
                    }}
                </For>
            </Transition>
            {move || state.branch_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
        </div>
    }
    .into_any()
}

#[component]
fn UserMessage(text: String, #[prop(optional)] id: Option<String>) -> impl IntoView {
    let tabindex = id.is_some().then_some("-1");
    view! {
        <article class="message message-user" id=id tabindex=tabindex>
            <h2 class="visually-hidden">"You"</h2>
            <div class="message-body plain">{text}</div>
        </article>
    }
}

#[component]
fn StoredMessage(message: MessageView, agent: String, last: bool) -> impl IntoView {
    let state = expect_context::<ChatState>();
    if message.role == "user" {
        let id = message.id.clone();
        return view! {
            {move || if state.editing.get().as_deref() == Some(id.as_str()) {
                view! { <EditMessage message=message.clone()/> }.into_any()
            } else {
                view! {
                    <UserMessage text=message.content.clone() id=message_anchor(&message.id)/>
                    <MessageActions message=message.clone() last/>
                }.into_any()
            }}
        }
        .into_any();
    }
    let actions = view! { <MessageActions message=message.clone() last/> };
    let incomplete = message.incomplete;
    let source = message.content.clone();
    let on_platform = message.payer == Some(Payer::Platform);
    let cost = message.clone();
    view! {
        <article
            class="message message-answer"
            class:incomplete=incomplete
            id=message_anchor(&message.id)
            tabindex="-1"
        >
            <h2 class="message-author">{agent}</h2>
            <Markdown text=message.content/>
            <StoredCost message=cost/>
            <div class="answer-tools"><CopyButton text=source label="Copy answer"/></div>
            {incomplete.then(|| view! { <IncompleteMark/> })}
            {on_platform.then(|| view! {
                <p class="payer-note">"Answered on ApexAurum's key (Pro)"</p>
            })}
            {actions}
        </article>
    }
    .into_any()
}

#[component]
fn IncompleteMark() -> impl IntoView {
    view! {
        <p class="incomplete-mark">
            <IconSvg icon=Icon::Warning/>" Answer incomplete"
        </p>
    }
}

#[component]
fn LiveAnswerView(answer: LiveAnswer) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let agent = move || {
        state
            .current_agent()
            .map(|a| a.name)
            .unwrap_or_else(|| "Agent".into())
    };
    let status: Signal<AnswerStatus> = answer.status.clone().into();
    let text: Signal<String> = answer.text.clone().into();
    let history_truncated: Signal<bool> = answer.history_truncated.clone().into();
    let streaming = move || status.with(|s| *s == AnswerStatus::Streaming);
    let has_text = move || text.with(|t: &String| !t.is_empty());
    let cut_off = move || {
        status.with(|s| matches!(s, AnswerStatus::Incomplete | AnswerStatus::Failed { .. }))
    };
    let answer = StoredValue::new(answer);
    view! {
        <Show when=move || has_text() || streaming()>
            <article
                class="message message-answer"
                class:incomplete=cut_off
                aria-busy=move || streaming().to_string()
            >
                <h2 class="message-author">{agent}</h2>
                <Markdown text/>
                <Show when=move || streaming() && !has_text()>
                    <p class="typing"><span class="visually-hidden">"Writing…"</span><span class="dot"></span><span class="dot"></span><span class="dot"></span></p>
                </Show>
                <Show when=move || cut_off() && has_text()>
                    <IncompleteMark/>
                </Show>
                <LiveCost answer=answer.get_value()/>
                <Show when=move || !streaming() && has_text()>
                    <div class="answer-tools"><CopyButton text label="Copy answer"/></div>
                </Show>
                <Show when=move || history_truncated.get()>
                    <p class="history-note">"This conversation is longer than what is sent with each message: the Agent saw only its latest part. Start a new conversation to begin afresh."</p>
                </Show>
            </article>
        </Show>
        <Show when=move || status.with(|s| *s == AnswerStatus::Incomplete) && !has_text()>
            <p class="muted stopped-note">"Stopped before an answer arrived."</p>
        </Show>
        {move || match status.get() {
            AnswerStatus::OverCap(message) => {
                Some(view! { <OverCapNotice message answer=answer.get_value()/> }.into_any())
            }
            AnswerStatus::Failed { message, retryable } => {
                let navigate = navigate.clone();
                Some(view! {
                    <div class="answer-error" role="alert">
                        <p>{message}</p>
                        {retryable.then(|| view! {
                            <button
                                type="button"
                                disabled=move || state.streaming.get()
                                on:click=move |_| state.retry(answer.get_value(), navigate.clone())
                            >"Retry"</button>
                        })}
                    </div>
                }.into_any())
            }
            _ => None,
        }}
    }
    .into_any()
}

/// The start of a new conversation: which Agent to talk to.
#[component]
fn NewConversation() -> impl IntoView {
    let state = expect_context::<ChatState>();
    view! {
        <div class="new-conversation-panel">
            {move || state.agents.get().map(|result| match result {
                Ok(agents) => view! { <AgentPicker agents/> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </div>
    }
    .into_any()
}

#[component]
fn AgentPicker(agents: Vec<AgentView>) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let default = agents.first().map(|a| a.id.clone()).unwrap_or_default();
    let chosen = move || state.agent.get().unwrap_or_else(|| default.clone());
    view! {
        <fieldset class="agent-picker">
            <legend>"Choose an Agent"</legend>
            {agents.into_iter().map(|agent| {
                let id = agent.id.clone();
                let is_chosen = {
                    let chosen = chosen.clone();
                    let id = id.clone();
                    move || chosen() == id
                };
                let is_chosen_class = is_chosen.clone();
                view! {
                    <label class="agent-option" class:chosen=is_chosen_class>
                        <input
                            type="radio"
                            name="agent"
                            value=id.clone()
                            checked=is_chosen
                            on:change=move |_| {
                                state.agent.set(Some(id.clone()));
                                state.model.set(None);
                            }
                        />
                        <span class="agent-text">
                            <span class="agent-name">{agent.name}</span>
                            <span class="agent-description">{agent.description}</span>
                        </span>
                    </label>
                }
            }).collect_view()}
        </fieldset>
        <p class="hint agent-hint">"Pick an Agent, then write your first message below."</p>
    }
    .into_any()
}
