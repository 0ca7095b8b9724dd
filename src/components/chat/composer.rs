//! The Message field, Send and Stop, and the model menu.

use leptos::{ev, prelude::*};
use leptos_router::hooks::use_navigate;

use super::{
    state::{focus_message, preload_sending, ChatState},
    upstream_notice::UpstreamNotices,
};
use crate::error::AppError;

/// Without JavaScript nothing can be sent; `<noscript>` goes in as HTML so hydration
/// never has to walk into it.
const NOSCRIPT: &str =
    "<noscript><p class=\"notice noscript-note\">Sending messages needs JavaScript. \
    You can still read your conversations; turn JavaScript on to chat.</p></noscript>";

#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let on_submit = {
        let navigate = navigate.clone();
        move |ev: ev::SubmitEvent| {
            ev.prevent_default();
            state.send(navigate.clone());
        }
    };
    let on_keydown = move |ev: ev::KeyboardEvent| {
        // Enter sends, Shift+Enter is a new line; never while an IME is composing.
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            state.send(navigate.clone());
        }
    };

    view! {
        <form class="composer" method="get" action="/chat" on:submit=on_submit>
            <UpstreamNotices/>
            <div class="composer-row">
                <label class="visually-hidden" for="message">"Message"</label>
                <textarea
                    id="message"
                    name="message"
                    rows="2"
                    aria-describedby="composer-hint"
                    placeholder="Write a message…"
                    prop:value=move || state.draft.get()
                    on:input=move |ev| {
                        // A message begun: the code that sends it starts loading.
                        if state.draft.with_untracked(String::is_empty) {
                            preload_sending();
                        }
                        state.draft.set(event_target_value(&ev));
                    }
                    on:keydown=on_keydown
                ></textarea>
                <div class="composer-buttons">
                    <button
                        type="submit"
                        class="primary"
                        disabled=move || !state.hydrated.get() || state.streaming.get()
                    >"Send"</button>
                    <Show when=move || state.streaming.get()>
                        <button
                            type="button"
                            class="stop"
                            on:click=move |_| {
                                state.stop();
                                focus_message();
                            }
                        >"Stop"</button>
                    </Show>
                </div>
            </div>
            <div class="composer-foot">
                <ModelSelect/>
                <p id="composer-hint" class="hint">"Enter sends · Shift+Enter adds a line"</p>
            </div>
            <div inner_html=NOSCRIPT></div>
        </form>
    }
    .into_any()
}

/// The model menu: the models the key can use, starting at the conversation's (or the
/// Agent's) model; the choice goes with each message.
#[component]
fn ModelSelect() -> impl IntoView {
    let state = expect_context::<ChatState>();

    // A key refused while listing models: the whole chat gives way to the panel.
    Effect::new(move |_| {
        if state
            .models
            .with(|m| matches!(m, Some(Err(AppError::ApiKeyInvalid))))
        {
            state.key_rejected();
        }
    });

    view! {
        <div class="model-select">
            <label for="model">"Model"</label>
            <Transition fallback=|| view! { <select id="model" disabled><option>"Loading…"</option></select> }>
                {move || {
                    let chosen = state.effective_model().unwrap_or_default();
                    state.models.get().map(|result| match result {
                        Err(AppError::ApiKeyInvalid) => view! {
                            <p class="form-error" role="alert">
                                "Your API key was rejected. " <a href="/settings">"Update your key"</a>
                            </p>
                        }.into_any(),
                        result => {
                            let mut models = result.unwrap_or_default();
                            if !chosen.is_empty() && !models.contains(&chosen) {
                                models.insert(0, chosen.clone());
                            }
                            view! {
                                <select
                                    id="model"
                                    name="model"
                                    on:change=move |ev| state.model.set(Some(event_target_value(&ev)))
                                >
                                    {models.into_iter().map(|m| {
                                        let selected = m == chosen;
                                        let label = m.clone();
                                        view! { <option value=m selected=selected>{label}</option> }
                                    }).collect_view()}
                                </select>
                            }.into_any()
                        }
                    })
                }}
            </Transition>
        </div>
    }
}
