use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::Auth,
    components::{
        api_key_panel::{ApiKeyPanel, KeyActions},
        plan::PlanCard,
        protected::Protected,
        sessions_panel::{SessionActions, SessionsPanel},
        spend_cap::SpendCapCard,
        usage::UsageCard,
    },
    types::user::UserView,
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let key_actions = KeyActions::new(expect_context::<Auth>());
    let session_actions = SessionActions::new();
    // Created here, outside what re-renders, so a form posted without JavaScript shows
    // its outcome; both cards read the month again after a change.
    let cap = ServerAction::<crate::api::usage::SetSpendCap>::new();
    view! {
        <Title text="Settings"/>
        <Protected children=move |user: UserView| view! {
            <div class="page">
                <h1>"Settings"</h1>
                <section class="card" aria-labelledby="account-heading">
                    <h2 id="account-heading">"Account"</h2>
                    <dl class="facts">
                        <dt>"Email"</dt>
                        <dd>{user.email.clone()}</dd>
                    </dl>
                </section>
                <ApiKeyPanel actions=key_actions/>
                <PlanCard/>
                <UsageCard cap/>
                <SpendCapCard cap/>
                <SessionsPanel actions=session_actions/>
            </div>
        }/>
    }
}
