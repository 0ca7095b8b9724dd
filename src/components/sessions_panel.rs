//! Settings → Password and sessions: change the password (every other session ends) and
//! log out every other session. Both are forms, so they work before the WASM loads.

use leptos::{html, prelude::*};

use crate::{
    api::auth::{ChangePassword, LogOutOtherSessions},
    components::{password_field::PasswordField, post_form::PostForm},
    error::AppError,
};

/// The panel's actions; the page creates them outside the part that re-renders with the
/// session user, like the key panel's.
#[derive(Clone, Copy)]
pub struct SessionActions {
    pub change_password: ServerAction<ChangePassword>,
    pub log_out_others: ServerAction<LogOutOtherSessions>,
}

impl SessionActions {
    pub fn new() -> Self {
        Self {
            change_password: ServerAction::new(),
            log_out_others: ServerAction::new(),
        }
    }
}

impl Default for SessionActions {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn SessionsPanel(actions: SessionActions) -> impl IntoView {
    let SessionActions {
        change_password,
        log_out_others,
    } = actions;

    // The password fields are cleared once the change went through.
    let form_ref = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if change_password.value().with(|v| matches!(v, Some(Ok(())))) {
            if let Some(form) = form_ref.get() {
                form.reset();
            }
        }
    });

    // The latest action's outcome.
    let message = move || -> Option<Result<&'static str, AppError>> {
        let changed = change_password
            .value()
            .get()
            .map(|r| r.map(|()| "Password changed. Every other session has been logged out."));
        let ended = log_out_others
            .value()
            .get()
            .map(|r| r.map(|()| "Every other session has been logged out."));
        if change_password.version().get() >= log_out_others.version().get() {
            changed.or(ended)
        } else {
            ended.or(changed)
        }
    };

    view! {
        <section class="card" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading">"Password and sessions"</h2>
            <PostForm action=change_password node_ref=form_ref attr:class="stack">
                <PasswordField
                    id="current-password"
                    name="current_password"
                    label="Current password"
                    autocomplete="current-password"
                />
                <PasswordField
                    id="new-password"
                    name="new_password"
                    label="New password"
                    autocomplete="new-password"
                    minlength=8
                    describedby="new-password-help"
                />
                <p id="new-password-help" class="hint">"At least 8 characters. Every other session is logged out."</p>
                <div>
                    <button
                        type="submit"
                        class="primary"
                        disabled=change_password.pending()
                        aria-busy=move || change_password.pending().get().to_string()
                    >
                        {move || if change_password.pending().get() { "Changing…" } else { "Change password" }}
                    </button>
                </div>
            </PostForm>
            <PostForm action=log_out_others attr:class="inline-form">
                <p class="muted">"Signed in on a computer you no longer use? End every session but this one."</p>
                <button type="submit" disabled=log_out_others.pending()>
                    {move || if log_out_others.pending().get() { "Logging out…" } else { "Log out other sessions" }}
                </button>
            </PostForm>
            <div class="message-slot" aria-live="polite">
                {move || message().map(|outcome| match outcome {
                    Ok(text) => view! { <p class="notice" role="status">{text}</p> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}
