//! The panels shown instead of the chat when the account has no usable key.

use std::sync::atomic::{AtomicBool, Ordering};

use leptos::{html, prelude::*};

/// Set in the browser once the key is refused in front of the person. The account is
/// then reloaded and the page's gate draws the panel afresh: that panel, like any drawn
/// later in this visit, takes the focus. (A fresh page never sets it.)
static PANEL_TAKES_FOCUS: AtomicBool = AtomicBool::new(false);

/// From now on, a rejected-key panel takes the keyboard focus when it appears.
pub fn focus_rejection_panels() {
    PANEL_TAKES_FOCUS.store(true, Ordering::Relaxed);
}

/// The design's "API Key Required" panel.
#[component]
pub fn KeyRequired() -> impl IntoView {
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

/// Anthropic refused the saved key. When it replaces the chat in front of the person (not
/// on a fresh page), it takes the focus, so keyboard and screen reader users land on it.
#[component]
pub fn KeyRejected() -> impl IntoView {
    let heading = NodeRef::<html::H1>::new();
    Effect::new(move |_| {
        if let Some(h) = heading.get() {
            if PANEL_TAKES_FOCUS.load(Ordering::Relaxed) {
                let _ = h.focus();
            }
        }
    });
    view! {
        <section class="card center gate" aria-labelledby="rejected-heading">
            <div class="gate-icon" aria-hidden="true">"⚠️"</div>
            <h1 id="rejected-heading" tabindex="-1" node_ref=heading>"Your API key was rejected"</h1>
            <p>"Anthropic refused the API key saved for your account. It may have been revoked, expired or run out of credit. Update it in Settings to keep chatting; your conversations are kept."</p>
            <p><a class="button primary" href="/settings">"Update your key"</a></p>
        </section>
    }
}
