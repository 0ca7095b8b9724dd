//! Settings → Plan: the current plan and, with billing on, `Upgrade to Pro` (to Stripe
//! Checkout) or `Manage billing` (to Stripe's portal). Both are plain forms the server
//! answers with a redirect to Stripe, so they work before the WASM loads. Back from
//! Checkout (`?billing=success`) the card says "Activating…" and checks again every second
//! until Stripe's webhook has landed and the plan is Pro.

use crate::resource::resource;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    api::billing::{billing_status, OpenBillingPortal, StartCheckout},
    components::{post_form::PostForm, usage::group_digits},
    types::billing::BillingView,
};

/// How many times the card checks for the webhook after Checkout (once a second).
const ACTIVATION_CHECKS: u32 = 60;

#[component]
pub fn PlanCard() -> impl IntoView {
    let checkout = ServerAction::<StartCheckout>::new();
    let portal = ServerAction::<OpenBillingPortal>::new();
    let query = use_query_map();
    let returned = move || query.read().get("billing");
    let checks = RwSignal::new(0u32);
    let status = resource(move || checks.get(), |_| billing_status());

    // Back from a paid Checkout while the webhook is still on its way: ask again shortly.
    Effect::new(move |_| {
        let waiting = returned().as_deref() == Some("success")
            && status
                .get()
                .is_some_and(|s| s.is_ok_and(|s| s.enabled && s.status != "pro"));
        if waiting && checks.get_untracked() < ACTIVATION_CHECKS {
            set_timeout(
                move || checks.update(|n| *n += 1),
                std::time::Duration::from_secs(1),
            );
        }
    });

    let action_error = move || {
        [checkout.value().get(), portal.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .map(|e| e.to_string())
    };

    view! {
        <section class="card" aria-labelledby="plan-heading">
            <h2 id="plan-heading">"Plan"</h2>
            <Transition fallback=|| view! { <p class="loading" aria-live="polite">"Loading your plan…"</p> }>
                {move || status.get().map(|result| match result {
                    Ok(view) => view! {
                        <PlanView
                            view
                            returned=returned()
                            gave_up={checks.get() >= ACTIVATION_CHECKS}
                            checkout
                            portal
                        />
                    }
                    .into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <div class="message-slot" aria-live="polite">
                {move || action_error().map(|text| view! { <p class="form-error" role="alert">{text}</p> })}
            </div>
        </section>
    }
}

fn plan_name(status: &str) -> &'static str {
    match status {
        "pro" => "Pro",
        "enterprise" => "Enterprise",
        "free" => "Free",
        _ => "Beta",
    }
}

#[component]
fn PlanView(
    view: BillingView,
    returned: Option<String>,
    gave_up: bool,
    checkout: ServerAction<StartCheckout>,
    portal: ServerAction<OpenBillingPortal>,
) -> impl IntoView {
    if !view.enabled {
        return view! {
            <dl class="facts">
                <dt>"Current plan"</dt>
                <dd>"Beta"</dd>
            </dl>
            <p class="muted">"During the beta, ApexAurum is free: bring your own Anthropic API key."</p>
        }
        .into_any();
    }
    let activating = returned.as_deref() == Some("success") && view.status != "pro";
    let just_activated = returned.as_deref() == Some("success") && view.status == "pro";
    let live = view.has_live_subscription();
    let problem = view.problem();
    let renews = view
        .current_period_end
        .as_deref()
        .and_then(crate::util::date_of)
        .filter(|_| view.stripe_status.as_deref() == Some("active"));
    let platform_note = if view.platform_key {
        "Chat works without a key of your own, on ApexAurum's key, metered to your plan. A key you save is used first and billed by Anthropic directly."
    } else if view.status == "free" {
        "Free: bring your own Anthropic API key. Pro adds ApexAurum's key, so you can chat without one, paid by use."
    } else {
        ""
    };
    view! {
        <dl class="facts">
            <dt>"Current plan"</dt>
            <dd>
                <strong>{plan_name(&view.status)}</strong>
                {renews.map(|day| view! { <span class="muted">{format!(" · renews {day}")}</span> })}
            </dd>
            {(view.usage.platform_tokens > 0).then(|| view! {
                <dt>"Platform tokens this month"</dt>
                <dd>{group_digits(view.usage.platform_tokens)}</dd>
            })}
        </dl>
        {activating.then(|| if gave_up {
            view! {
                <p class="notice" role="status">
                    "Your payment went through; Stripe has not confirmed the subscription yet. Reload this page in a minute."
                </p>
            }.into_any()
        } else {
            view! { <p class="notice" role="status" aria-busy="true">"Activating…"</p> }.into_any()
        })}
        {just_activated.then(|| view! { <p class="notice" role="status">"Pro is active. Thank you!"</p> })}
        {(returned.as_deref() == Some("canceled")).then(|| view! {
            <p class="muted" role="status">"Checkout was canceled; nothing was charged."</p>
        })}
        {problem.map(|text| view! { <p class="form-error" role="alert">{text}</p> })}
        {(!platform_note.is_empty()).then(|| view! { <p class="muted">{platform_note}</p> })}
        <div class="button-row">
            {(!live).then(|| view! {
                <PostForm action=checkout attr:class="inline-form">
                    <button type="submit" class="primary" disabled=checkout.pending()>
                        {move || if checkout.pending().get() { "Opening Stripe…" } else { "Upgrade to Pro" }}
                    </button>
                </PostForm>
            })}
            {(live || view.stripe_status.is_some()).then(|| view! {
                <PostForm action=portal attr:class="inline-form">
                    <button type="submit" disabled=portal.pending()>
                        {move || if portal.pending().get() { "Opening Stripe…" } else { "Manage billing" }}
                    </button>
                </PostForm>
            })}
        </div>
    }
    .into_any()
}
