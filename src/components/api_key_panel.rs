//! Settings → API Keys: the design's panel. Every button is a form, so it all works
//! before the WASM loads; once hydrated, the page updates in place, shows progress while
//! Anthropic is asked, and asks before removing a key.

use crate::resource::resource;
use leptos::{html, prelude::*};
use leptos_router::hooks::use_query_map;

use crate::components::icons::{Icon, IconSvg};

use crate::{
    api::api_keys::{api_key_status, RemoveApiKey, SaveApiKey, TestApiKey},
    auth::Auth,
    components::{key_activity::KeyActivity, password_field::PasswordField, post_form::PostForm},
    error::AppError,
    types::keys::KeyStatus,
    util::relative_time,
};

/// The panel's form actions. The page creates them, outside the part that re-renders when
/// the session user changes, so a saved key's message survives that re-render; and inside
/// `<Routes>`, so a form posted without JavaScript shows its error.
#[derive(Clone, Copy)]
pub struct KeyActions {
    pub save: ServerAction<SaveApiKey>,
    pub remove: ServerAction<RemoveApiKey>,
    pub test: ServerAction<TestApiKey>,
}

impl KeyActions {
    /// The actions, each reloading the session user (`auth`) when it succeeds.
    pub fn new(auth: Auth) -> Self {
        let actions = Self {
            save: ServerAction::new(),
            remove: ServerAction::new(),
            test: ServerAction::new(),
        };
        auth.reload_after(actions.save);
        auth.reload_after(actions.remove);
        auth.reload_after(actions.test);
        actions
    }
}

#[component]
pub fn ApiKeyPanel(actions: KeyActions) -> impl IntoView {
    let KeyActions { save, remove, test } = actions;

    let status = resource(
        move || {
            (
                save.version().get(),
                remove.version().get(),
                test.version().get(),
            )
        },
        |_| api_key_status(),
    );

    // The confirmation step for removal: `?confirm=remove` without JavaScript, a signal with it.
    let query = use_query_map();
    let confirming =
        RwSignal::new(query.read_untracked().get("confirm").as_deref() == Some("remove"));
    Effect::new(move |_| {
        if remove.version().get() > 0 {
            confirming.set(false);
        }
    });

    // The key field is cleared after a successful save and never pre-filled.
    let form_ref = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if save.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form_ref.get() {
                form.reset();
            }
        }
    });

    // The one message to show: the latest action's outcome.
    let message = move || -> Option<(bool, String)> {
        let latest = [
            (
                save.version().get(),
                save.value()
                    .get()
                    .map(|r| r.map(|_| "Key saved. Anthropic accepted it.".to_string())),
            ),
            (
                test.version().get(),
                test.value().get().map(|r| r.map(|s| test_outcome(&s))),
            ),
            (
                remove.version().get(),
                remove
                    .value()
                    .get()
                    .map(|r| r.map(|_| "Key removed.".to_string())),
            ),
        ];
        let err_of = |e: AppError| (false, e.to_string());
        // An error carried over from a form posted without JavaScript is the action's
        // initial value, so it shows here too.
        latest
            .into_iter()
            .filter_map(|(v, r)| r.map(|r| (v, r)))
            .max_by_key(|(v, _)| *v)
            .map(|(_, r)| r.map(|m| (true, m)).unwrap_or_else(err_of))
    };

    view! {
        <section class="card" aria-labelledby="keys-heading">
            <h2 id="keys-heading">"API Keys"</h2>
            <h3 class="subheading">"Anthropic API Key"</h3>
            <p class="muted">
                "During beta, bring your own API key to use ApexAurum. Get one at: "
                <a href="https://console.anthropic.com" target="_blank" rel="noopener noreferrer">"console.anthropic.com"</a>
            </p>

            <Transition fallback=|| view! { <p class="loading" aria-live="polite">"Loading key status…"</p> }>
                {move || status.get().map(|result| match result {
                    // The buttons live here, under the Transition, so the server and the
                    // browser render them from the same loaded status.
                    Ok(s) => {
                        let configured = s.configured;
                        view! {
                            <KeyStatusView status=s/>
                            {configured.then(|| view! {
                                <div class="button-row">
                                    <button type="button" on:click=move |_| focus_key_field()>"Update Key"</button>
                                    <form method="get" action="/settings" class="inline-form">
                                        <input type="hidden" name="confirm" value="remove"/>
                                        <button
                                            type="submit"
                                            class="danger"
                                            on:click=move |ev| {
                                                ev.prevent_default();
                                                confirming.set(true);
                                            }
                                        >
                                            "Remove Key"
                                        </button>
                                    </form>
                                    <PostForm action=test attr:class="inline-form">
                                        <button type="submit" disabled=test.pending() aria-busy=move || test.pending().get().to_string()>
                                            {move || if test.pending().get() { "Testing with Anthropic…" } else { "Test Key" }}
                                        </button>
                                    </PostForm>
                                </div>
                            })}
                        }
                        .into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>

            <div class="message-slot" aria-live="polite">
                {move || message().map(|(ok, text)| {
                    if ok {
                        view! { <p class="notice" role="status">{text}</p> }.into_any()
                    } else {
                        view! { <p class="form-error" role="alert">{text}</p> }.into_any()
                    }
                })}
            </div>
            {move || {
                let saved_last = save.value().with(|v| matches!(v, Some(Ok(_))))
                    && save.version().get() >= remove.version().get().max(test.version().get());
                saved_last.then(|| view! {
                    <p><a class="button primary" href="/chat">"Start chatting →"</a></p>
                })
            }}

            <Show when=move || confirming.get()>
                <div class="confirm" role="alertdialog" aria-labelledby="confirm-remove-text">
                    <p id="confirm-remove-text">
                        "Remove your Anthropic key? You won't be able to chat until you add a key again."
                    </p>
                    <div class="button-row">
                        <PostForm action=remove attr:class="inline-form">
                            <button type="submit" class="danger" disabled=remove.pending()>
                                {move || if remove.pending().get() { "Removing…" } else { "Yes, remove my key" }}
                            </button>
                        </PostForm>
                        <a
                            class="button"
                            href="/settings"
                            on:click=move |ev| {
                                ev.prevent_default();
                                confirming.set(false);
                            }
                        >
                            "Cancel"
                        </a>
                    </div>
                </div>
            </Show>

            <PostForm action=save node_ref=form_ref attr:class="stack key-form">
                <PasswordField
                    id="api-key"
                    name="api_key"
                    label="Anthropic API key"
                    autocomplete="off"
                    describedby="api-key-help"
                />
                <p id="api-key-help" class="hint">"It starts with sk-ant-. We check it with Anthropic before saving it."</p>
                <div>
                    <button type="submit" class="primary" disabled=save.pending() aria-busy=move || save.pending().get().to_string()>
                        {move || if save.pending().get() { "Checking with Anthropic…" } else { "Save Key" }}
                    </button>
                </div>
            </PostForm>

            <p class="security-note">
                <IconSvg icon=Icon::Lightbulb/>
                " Your key is encrypted and stored securely. We never see or log your full API key."
            </p>
            <KeyActivity actions/>
        </section>
    }
}

fn test_outcome(status: &KeyStatus) -> String {
    match status.valid {
        Some(true) => "Anthropic accepted your key.".into(),
        _ => "Anthropic refused this key. It may have been revoked: please enter a new one.".into(),
    }
}

fn focus_key_field() {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast as _;
        if let Some(input) = document()
            .get_element_by_id("api-key")
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            let _ = input.focus();
        }
    }
}

#[component]
fn KeyStatusView(status: KeyStatus) -> impl IntoView {
    let now = crate::util::now_unix();
    let hint = status.key_hint.clone().unwrap_or_default();
    let state = match (status.configured, status.valid) {
        (false, _) => view! {
            <span class="status status-off"><IconSvg icon=Icon::Circle/>" Not configured"</span>
        }
        .into_any(),
        (true, Some(false)) => view! {
            <span class="status status-bad">
                <IconSvg icon=Icon::Warning/>
                {format!(" Refused by Anthropic ({hint})")}
            </span>
            <span class="muted">" Enter a new key below to keep chatting."</span>
        }
        .into_any(),
        (true, _) => view! {
            <span class="status status-ok"><IconSvg icon=Icon::CheckCircle/>{format!(" Configured ({hint})")}</span>
        }
        .into_any(),
    };
    let last_used = match (&status.configured, &status.last_used) {
        (false, _) => None,
        (true, Some(at)) => Some(format!("Last used: {}", relative_time(at, now))),
        (true, None) => Some("Never used".to_string()),
    };
    let last_checked = status
        .last_checked
        .as_deref()
        .filter(|_| status.configured)
        .map(|at| format!("Last checked: {}", relative_time(at, now)));
    view! {
        <dl class="facts key-status">
            <dt>"Status"</dt>
            <dd>{state}</dd>
            {last_used.map(|text| view! { <dt class="visually-hidden">"Usage"</dt><dd class="muted">{text}</dd> })}
            {last_checked.map(|text| view! { <dt class="visually-hidden">"Checked"</dt><dd class="muted">{text}</dd> })}
        </dl>
    }
}
