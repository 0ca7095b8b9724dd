use leptos::prelude::*;
use leptos_meta::Title;

use crate::{api::auth::UserView, components::protected::Protected};

#[component]
pub fn ChatPage() -> impl IntoView {
    view! {
        <Title text="Chat"/>
        <Protected children=|user: UserView| {
            if user.has_api_key {
                view! { <div class="page"><h1>"Chat"</h1></div> }.into_any()
            } else {
                view! { <KeyRequired/> }.into_any()
            }
        }/>
    }
}

/// The design's "API Key Required" panel.
#[component]
fn KeyRequired() -> impl IntoView {
    view! {
        <section class="card center gate" aria-labelledby="gate-heading">
            <div class="gate-icon" aria-hidden="true">"🔑"</div>
            <h1 id="gate-heading">"API Key Required"</h1>
            <p>"ApexAurum is in beta - bring your own Anthropic API key to start chatting with the Agents."</p>
            <p><a class="button primary" href="/settings">"Set Up API Key"</a></p>
            <p class="muted">"Don't have a key? Get one at "
                <a href="https://console.anthropic.com" rel="noopener noreferrer" target="_blank">"console.anthropic.com"</a>
            </p>
        </section>
    }
}
