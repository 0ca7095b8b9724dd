use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::auth::Login, auth::Auth, components::password_field::PasswordField, util::encode_query,
};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let action = ServerAction::<Login>::new();
    auth.reload_after(action);
    let pending = action.pending();
    let error = move || action.value().get().and_then(Result::err);

    view! {
        <Title text="Log in"/>
        <section class="card auth-card" aria-labelledby="login-heading">
            <h1 id="login-heading">"Log in"</h1>
            <p class="lead">"Welcome back to ApexAurum."</p>
            <ActionForm action=action attr:class="stack">
                <input type="hidden" name="next" prop:value=next/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required/>
                <PasswordField id="password" name="password" label="Password" autocomplete="current-password"/>
                <p class="form-error" role="alert" aria-live="assertive">
                    {move || error().map(|e| e.to_string())}
                </p>
                <button type="submit" class="primary" disabled=pending aria-busy=move || pending.get().to_string()>
                    {move || if pending.get() { "Logging in…" } else { "Log in" }}
                </button>
            </ActionForm>
            <p class="muted">
                "New to ApexAurum? "
                <a href=move || format!("/register?next={}", encode_query(&next()))>"Create an account"</a>
            </p>
        </section>
    }
}
