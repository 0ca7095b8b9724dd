use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::auth_form::{next_target, with_next, AuthForm, Credentials};

#[component]
pub fn LoginPage() -> impl IntoView {
    let register = with_next("/register", &next_target());
    view! {
        <Title text="Log in"/>
        <section class="card auth-card" aria-labelledby="login-heading">
            <h1 id="login-heading">"Log in"</h1>
            <p class="lead">"Welcome back to ApexAurum."</p>
            <AuthForm kind=Credentials::LogIn/>
            <p class="muted">
                "New to ApexAurum? "
                <a href=register>"Create an account"</a>
            </p>
        </section>
    }
}
