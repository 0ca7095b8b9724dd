//! The login and registration forms.
//!
//! The two pages ship no WASM (a first visit costs a few KB instead of the whole app): the
//! form posts to the page's own address, the server answers a refusal by rendering the page
//! again with the message and the email as typed ([`FormEcho`]), and `public/forms.js`
//! adds the Show toggle and the pending state. Reached inside the running app (after
//! logging out), the same form is hydrated and Rust does both.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{components::password_field::PasswordField, util::encode_query};

/// A refused form, rendered again: what was typed (never the password) and why it failed.
/// Provided only by the server's `POST /login` and `POST /register`.
#[derive(Clone, Debug, Default)]
pub struct FormEcho {
    pub email: String,
    pub next: String,
    pub error: String,
}

/// Where to go after success: the refused post's `next`, else the page's `?next=`.
pub fn next_target() -> String {
    match use_context::<FormEcho>() {
        Some(echo) => echo.next,
        None => use_query_map()
            .read_untracked()
            .get("next")
            .unwrap_or_default(),
    }
}

/// `path?next=…` when there is somewhere to go back to.
pub fn with_next(path: &str, next: &str) -> String {
    if next.is_empty() {
        path.to_string()
    } else {
        format!("{path}?next={}", encode_query(next))
    }
}

/// Which of the two forms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    LogIn,
    Register,
}

#[component]
pub fn AuthForm(kind: Credentials) -> impl IntoView {
    let echo = use_context::<FormEcho>().unwrap_or_default();
    let next = next_target();
    let pending = RwSignal::new(false);
    let (action, submit, busy) = match kind {
        Credentials::LogIn => ("/login", "Log in", "Logging in…"),
        Credentials::Register => ("/register", "Create account", "Creating your account…"),
    };
    // Back with a refusal: the email is there, so the password is what to type next.
    let retry = !echo.email.is_empty();
    let password = match kind {
        Credentials::LogIn => view! {
            <PasswordField id="password" name="password" label="Password"
                autocomplete="current-password" autofocus=retry/>
        }
        .into_any(),
        Credentials::Register => view! {
            <PasswordField id="password" name="password" label="Password"
                autocomplete="new-password" minlength=8 describedby="password-help" autofocus=retry/>
            <p id="password-help" class="hint">"At least 8 characters."</p>
        }
        .into_any(),
    };
    view! {
        <form method="post" action=action class="stack" data-pending=busy
            on:submit=move |_| pending.set(true)>
            <input type="hidden" name="next" value=next/>
            <label for="email">"Email"</label>
            <input id="email" name="email" type="email" autocomplete="email" required
                value=echo.email/>
            {password}
            // Nothing at all when there is no error (the alert is hidden while `:empty`).
            <p class="form-error" role="alert" aria-live="assertive">
                {(!echo.error.is_empty()).then_some(echo.error)}
            </p>
            <button type="submit" class="primary" disabled=pending
                aria-busy=move || pending.get().to_string()>
                {move || if pending.get() { busy } else { submit }}
            </button>
        </form>
    }
}
