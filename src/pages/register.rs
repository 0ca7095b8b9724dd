use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::auth_form::{next_target, with_next, AuthForm, Credentials};

#[component]
pub fn RegisterPage() -> impl IntoView {
    let login = with_next("/login", &next_target());
    view! {
        <Title text="Create your account"/>
        <section class="card auth-card" aria-labelledby="register-heading">
            <h1 id="register-heading">"Create your account"</h1>
            <p class="lead">"During the beta you bring your own Anthropic API key; the Agents are on us."</p>
            <AuthForm kind=Credentials::Register/>
            <p class="muted">
                "Already have an account? "
                <a href=login>"Log in"</a>
            </p>
        </section>
    }
}
