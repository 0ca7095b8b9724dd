use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::auth::Register, auth::Auth, components::password_field::PasswordField, util::encode_query,
};

#[component]
pub fn RegisterPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let action = ServerAction::<Register>::new();
    auth.reload_after(action);
    let pending = action.pending();
    let error = move || action.value().get().and_then(Result::err);

    view! {
        <Title text="Create your account"/>
        <section class="card auth-card" aria-labelledby="register-heading">
            <h1 id="register-heading">"Create your account"</h1>
            <p class="lead">"During the beta you bring your own Anthropic API key; the Agents are on us."</p>
            <ActionForm action=action attr:class="stack">
                <input type="hidden" name="next" prop:value=next/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required/>
                <PasswordField
                    id="password"
                    name="password"
                    label="Password"
                    autocomplete="new-password"
                    minlength=8
                    describedby="password-help"
                />
                <p id="password-help" class="hint">"At least 8 characters."</p>
                <p class="form-error" role="alert" aria-live="assertive">
                    {move || error().map(|e| e.to_string())}
                </p>
                <button type="submit" class="primary" disabled=pending aria-busy=move || pending.get().to_string()>
                    {move || if pending.get() { "Creating your account…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="muted">
                "Already have an account? "
                <a href=move || format!("/login?next={}", encode_query(&next()))>"Log in"</a>
            </p>
        </section>
    }
}
