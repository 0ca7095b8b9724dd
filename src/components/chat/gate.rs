//! The panels shown in the Message field's place when the account has no usable key (the
//! conversations stay readable above them).

use leptos::{html, prelude::*};

use crate::{
    components::icons::{Icon, IconSvg},
    types::user::GatePlan,
};

/// Whether a rejected-key panel takes the keyboard focus when it appears: from the moment
/// the key is refused in front of the person (a fresh page never does). The chat page
/// provides it, so it outlives the chat view: once the account is reloaded, the chat is
/// drawn afresh with the panel in the composer's place.
#[derive(Clone, Copy)]
pub struct PanelFocus(StoredValue<bool>);

impl PanelFocus {
    /// Provides a fresh one to the page being built.
    pub fn provide() {
        provide_context(Self(StoredValue::new(false)));
    }

    /// From now on, rejected-key panels take the focus.
    pub fn arm() {
        if let Some(Self(armed)) = use_context::<Self>() {
            armed.set_value(true);
        }
    }

    fn armed() -> bool {
        use_context::<Self>().is_some_and(|Self(armed)| armed.get_value())
    }
}

/// The design's "API Key Required" panel, in the words of the person's plan: the beta's
/// text while billing is off; with billing on, the way to Pro as well, or why Pro's key is
/// paused.
#[component]
pub fn KeyRequired(#[prop(optional)] gate: GatePlan) -> impl IntoView {
    let (text, plan_link) = match gate {
        GatePlan::Beta => (
            "ApexAurum is in beta - bring your own Anthropic API key to start chatting with the Agents.",
            None,
        ),
        GatePlan::Free => (
            "Bring your own Anthropic API key to chat with the Agents, or upgrade to Pro to chat on ApexAurum's key.",
            Some("Upgrade to Pro"),
        ),
        GatePlan::PaymentProblem => (
            "Your Pro plan's last payment did not go through, so chatting on ApexAurum's key is paused. Update your payment in Settings, or bring your own Anthropic API key.",
            Some("Manage billing"),
        ),
    };
    view! {
        <section class="card center gate" aria-labelledby="gate-heading">
            <div class="gate-icon"><IconSvg icon=Icon::Key/></div>
            <h2 id="gate-heading">"API Key Required"</h2>
            <p>{text}</p>
            <p class="gate-actions">
                <a class="button primary" href="/settings">"Set Up API Key"</a>
                {plan_link.map(|label| view! { " " <a class="button" href="/settings#plan-heading">{label}</a> })}
            </p>
            <p class="muted">"Don't have a key? Get one at "
                <a href="https://console.anthropic.com" rel="noopener noreferrer" target="_blank">"console.anthropic.com"</a>
            </p>
        </section>
    }
}

/// Anthropic refused the saved key. When it replaces the Message field in front of the
/// person (not on a fresh page), it takes the focus, so keyboard and screen reader users
/// land on it.
#[component]
pub fn KeyRejected() -> impl IntoView {
    let heading = NodeRef::<html::H2>::new();
    let take_focus = PanelFocus::armed();
    Effect::new(move |_| {
        if let Some(h) = heading.get() {
            if take_focus {
                let _ = h.focus();
            }
        }
    });
    view! {
        <section class="card center gate" aria-labelledby="rejected-heading">
            <div class="gate-icon"><IconSvg icon=Icon::Warning/></div>
            <h2 id="rejected-heading" tabindex="-1" node_ref=heading>"Your API key was rejected"</h2>
            <p>"Anthropic refused the API key saved for your account. It may have been revoked, expired or run out of credit. Update it in Settings to keep chatting; your conversations are kept."</p>
            <p><a class="button primary" href="/settings">"Update your key"</a></p>
        </section>
    }
}
