//! Billing with Stripe: Checkout and the portal, signed webhooks, subscription state in
//! `settings.subscription`, the platform key for Pro, and usage metered to Stripe once.
//!
//! Billing is off (the beta) while `STRIPE_SECRET_KEY` is empty: every billing route then
//! answers 503 `billing_unavailable` and the app behaves exactly as before.

pub mod meter;
pub mod stripe;
pub mod webhook;

use crate::types::user::GatePlan;
use std::sync::Arc;

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use self::{
    stripe::{CheckoutRequest, StripeClient, Subscription as StripeSubscription, Verdict},
    webhook::Event,
};
use secrecy::SecretString;

use super::{
    api_keys::{self, StoredKey},
    config::{BillingSettings, Settings},
    db::billing::{EventRecord, Payer},
    session::SignedIn,
    state::AppState,
    user_settings::{Subscription as SubscriptionDoc, UserSettings},
};
use crate::{
    error::AppError,
    types::billing::{BillingUsage, BillingView},
};

/// Billing's share of the app state, present only when billing is on.
pub struct Billing {
    pub stripe: StripeClient,
    pub settings: BillingSettings,
    /// Wakes the meter worker when an answer leaves a report to send.
    pub meter_wake: Notify,
}

impl Billing {
    pub fn from_settings(settings: &Settings) -> Option<Arc<Self>> {
        let billing = settings.billing.as_ref()?;
        Some(Arc::new(Self {
            stripe: StripeClient::new(billing),
            settings: billing.clone(),
            meter_wake: Notify::new(),
        }))
    }
}

/// What billing reads of `settings.subscription`; an account without one is on the
/// default plan.
impl SubscriptionDoc {
    /// The plan a person has: `beta` while billing is off; with billing on, an account
    /// from the beta counts as `free`.
    pub fn effective_status(subscription: Option<&Self>, billing_on: bool) -> String {
        if !billing_on {
            return "beta".into();
        }
        match subscription.map(|s| s.status.as_str()) {
            Some(s @ ("pro" | "enterprise" | "free")) => s.into(),
            _ => "free".into(),
        }
    }

    /// The contract's rule: `pro` or `enterprise`, and Stripe says `active` or `trialing`.
    pub fn entitles_platform_key(&self, billing_on: bool) -> bool {
        billing_on
            && matches!(self.status.as_str(), "pro" | "enterprise")
            && matches!(self.stripe_status.as_deref(), Some("active" | "trialing"))
    }

    /// A subscription exists in Stripe that a second Checkout would double.
    pub fn is_live(&self) -> bool {
        self.stripe_subscription_id.is_some()
            && self
                .stripe_status
                .as_deref()
                .is_some_and(|s| !matches!(s, "canceled" | "incomplete_expired"))
    }
}

/// Whether chat without an own key runs on the platform key for this user's settings.
pub fn platform_key_serves(settings: &Settings, user: &UserSettings) -> bool {
    settings.platform_anthropic_key.is_some()
        && user
            .subscription
            .as_ref()
            .is_some_and(|s| s.entitles_platform_key(settings.billing_enabled()))
}

/// What the key gate offers this user when they have no usable key of their own.
pub fn gate_plan(settings: &Settings, user: &UserSettings) -> GatePlan {
    if !settings.billing_enabled() || settings.platform_anthropic_key.is_none() {
        return GatePlan::Beta;
    }
    match &user.subscription {
        Some(s)
            if matches!(s.status.as_str(), "pro" | "enterprise")
                && matches!(s.stripe_status.as_deref(), Some("past_due" | "unpaid")) =>
        {
            GatePlan::PaymentProblem
        }
        _ => GatePlan::Free,
    }
}

/// The key a chat runs on, and so who pays Anthropic for the answer.
pub enum ChatKey {
    /// The user's own key (BYOK): Anthropic bills the user; never metered.
    Own(StoredKey),
    /// The platform's key, for a Pro subscriber without a key of their own: metered to
    /// this Stripe customer.
    Platform {
        secret: SecretString,
        customer: Option<String>,
    },
}

impl ChatKey {
    pub fn secret(&self) -> &SecretString {
        match self {
            Self::Own(key) => &key.secret,
            Self::Platform { secret, .. } => secret,
        }
    }

    pub fn payer(&self) -> Payer {
        match self {
            Self::Own(_) => Payer::Byok,
            Self::Platform { .. } => Payer::Platform,
        }
    }

    pub fn customer(&self) -> Option<&str> {
        match self {
            Self::Own(_) => None,
            Self::Platform { customer, .. } => customer.as_deref(),
        }
    }
}

/// Which key pays: the user's own key when one is stored, else the platform key while the
/// billing object says so, else 403 `api_key_required`. A stored key Anthropic refused, or
/// one no secret decrypts, is the user's to fix: the platform key does not stand in.
pub async fn chat_key(state: &AppState, user_id: i64) -> Result<ChatKey, AppError> {
    let settings = state
        .db
        .user_settings(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    chat_key_of(
        state,
        &SignedIn {
            id: user_id,
            settings: Arc::new(settings),
        },
    )
    .await
}

/// [`chat_key`] from the settings the request already read.
pub async fn chat_key_of(state: &AppState, user: &SignedIn) -> Result<ChatKey, AppError> {
    match api_keys::usable_key(state, user.id, &user.settings).await {
        Ok(key) => Ok(ChatKey::Own(key)),
        Err(AppError::ApiKeyRequired) => {
            let Some(secret) = state.settings.platform_anthropic_key.as_ref() else {
                return Err(AppError::ApiKeyRequired);
            };
            if !platform_key_serves(&state.settings, &user.settings) {
                return Err(AppError::ApiKeyRequired);
            }
            Ok(ChatKey::Platform {
                secret: secret.clone(),
                customer: user
                    .settings
                    .subscription
                    .as_ref()
                    .and_then(|s| s.stripe_customer_id.clone()),
            })
        }
        Err(other) => Err(other),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first instant of this calendar month, UTC.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

fn require(state: &AppState) -> Result<&Arc<Billing>, AppError> {
    state.billing.as_ref().ok_or(AppError::BillingUnavailable)
}

/// What a failed Stripe call means for the person who asked.
fn stripe_error(context: &'static str) -> impl Fn(stripe::Failure) -> AppError {
    move |failure| match failure.verdict {
        // Stripe refusing our own request is a configuration problem for the operator.
        Verdict::Refused => {
            tracing::error!(detail = %failure.detail, "Stripe refused {context}");
            AppError::BillingUnavailable
        }
        _ => AppError::BillingUnavailable,
    }
}

/// The contract's billing object.
pub async fn status(state: &AppState, user_id: i64) -> Result<BillingView, AppError> {
    let settings = state
        .db
        .user_settings(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let doc = settings.subscription.as_ref();
    let billing_on = state.settings.billing_enabled();
    let start = month_start(Utc::now());
    let totals = state.db.ledger_since(user_id, start).await?;
    let sum = |f: fn(&crate::server::db::billing::LedgerTotals) -> i64| totals.iter().map(f).sum();
    Ok(BillingView {
        enabled: billing_on,
        status: SubscriptionDoc::effective_status(doc, billing_on),
        stripe_status: doc.and_then(|d| d.stripe_status.clone()),
        plan_id: doc.and_then(|d| d.plan_id.clone()),
        current_period_end: doc.and_then(|d| d.current_period_end.clone()),
        byok_allowed: doc.is_none_or(|d| d.byok_allowed),
        platform_key: platform_key_serves(&state.settings, &settings),
        usage: BillingUsage {
            period_start: rfc3339(start),
            input_tokens: sum(|t| t.input_tokens),
            output_tokens: sum(|t| t.output_tokens),
            platform_tokens: sum(|t| t.platform_tokens),
        },
    })
}

/// A Stripe Checkout page for the Pro plan; creates (once) and stores the customer first.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn checkout(state: &AppState, user_id: i64) -> Result<String, AppError> {
    let billing = require(state)?;
    let user = state
        .db
        .find_user(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let doc = user.settings.0.subscription.as_ref();
    if doc.is_some_and(SubscriptionDoc::is_live) {
        return Err(AppError::AlreadySubscribed);
    }
    let customer = match doc.and_then(|d| d.stripe_customer_id.clone()) {
        Some(customer) => customer,
        None => {
            // The same key for the same account: two first clicks make one customer.
            let key = format!("customer-{user_id}-{}", user.created_at.timestamp());
            let created = billing
                .stripe
                .create_customer(&user.email, user_id, &key)
                .await
                .map_err(stripe_error("creating a customer"))?;
            if state
                .db
                .set_stripe_customer_if_absent(user_id, &created)
                .await?
            {
                tracing::info!(user_id, customer = %created, "Stripe customer created");
                created
            } else {
                // Another request stored one first: use it.
                state
                    .db
                    .user_settings(user_id)
                    .await?
                    .and_then(|s| s.subscription)
                    .and_then(|s| s.stripe_customer_id)
                    .unwrap_or(created)
            }
        }
    };
    let public = &state.settings.public_url;
    let success = format!("{public}/settings?billing=success");
    let cancel = format!("{public}/settings?billing=canceled");
    let session = billing
        .stripe
        .create_checkout_session(
            &CheckoutRequest {
                customer: &customer,
                user_id,
                price: &billing.settings.price_pro,
                success_url: &success,
                cancel_url: &cancel,
            },
            billing.settings.price_metered.as_deref(),
        )
        .await
        .map_err(stripe_error("creating a Checkout Session"))?;
    Ok(session.url)
}

/// Stripe's billing portal for this customer.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn portal(state: &AppState, user_id: i64) -> Result<String, AppError> {
    let billing = require(state)?;
    let settings = state
        .db
        .user_settings(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let customer = settings
        .subscription
        .and_then(|s| s.stripe_customer_id)
        .ok_or(AppError::NoBillingAccount)?;
    let return_url = format!("{}/settings", state.settings.public_url);
    let session = billing
        .stripe
        .create_portal_session(&customer, &return_url)
        .await
        .map_err(stripe_error("creating a portal session"))?;
    Ok(session.url)
}

/// What a subscription, as Stripe has it, makes of `settings.subscription`. Fields Stripe
/// does not know are left out (never written as null), so they stay as they were.
pub fn subscription_patch(
    sub: &StripeSubscription,
    price_pro: &str,
    current: Option<&SubscriptionDoc>,
) -> Value {
    let mut patch = Map::new();
    let pro = matches!(
        sub.status.as_str(),
        "active" | "trialing" | "past_due" | "unpaid" | "paused"
    );
    // An enterprise arrangement is the operator's; Stripe does not downgrade it.
    if current.is_none_or(|c| c.status != "enterprise") {
        patch.insert("status".into(), json!(if pro { "pro" } else { "free" }));
    }
    patch.insert("stripe_customer_id".into(), json!(sub.customer));
    patch.insert("stripe_subscription_id".into(), json!(sub.id));
    patch.insert("stripe_status".into(), json!(sub.status));
    patch.insert("byok_allowed".into(), json!(true));
    let item = sub
        .items
        .data
        .iter()
        .find(|i| i.price.id == price_pro)
        .or_else(|| sub.items.data.first());
    if let Some(item) = item {
        patch.insert("plan_id".into(), json!(item.price.id));
        if let Some(end) = item
            .current_period_end
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
        {
            patch.insert("current_period_end".into(), json!(rfc3339(end)));
        }
    }
    Value::Object(patch)
}

/// Verifies and applies one webhook delivery. An event takes effect at most once, and
/// never over a newer event's state; the subscription's state is fetched from Stripe
/// rather than trusted from the (possibly old) payload.
#[tracing::instrument(skip_all)]
pub async fn handle_webhook(
    state: &AppState,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), AppError> {
    let billing = require(state)?;
    if let Err(e) = webhook::verify(
        signature,
        body,
        &billing.settings.webhook_secret,
        Utc::now().timestamp(),
    ) {
        tracing::warn!(reason = %e, "refused a webhook");
        return Err(AppError::InvalidSignature);
    }
    let event: Event = serde_json::from_slice(body).map_err(|e| {
        tracing::error!(error = %e, "a signed webhook is not an event");
        AppError::InvalidRequest("The body is not a Stripe event.".into())
    })?;
    if state.db.stripe_event_seen(&event.id).await? {
        tracing::info!(event = %event.id, "webhook event already handled");
        return Ok(());
    }
    let change = change_for(state, billing, &event).await?;
    let record = EventRecord {
        id: &event.id,
        kind: &event.kind,
        created: event.created,
        subscription_id: event.subscription_id(),
    };
    let outcome = state
        .db
        .apply_stripe_event(&record, change.as_ref().map(|(u, p)| (*u, p)))
        .await?;
    tracing::info!(event = %event.id, kind = %event.kind, ?outcome, "webhook event");
    Ok(())
}

/// The user and the subscription patch an event leads to, if any.
async fn change_for(
    state: &AppState,
    billing: &Billing,
    event: &Event,
) -> Result<Option<(i64, Value)>, AppError> {
    let user_id = match event.kind.as_str() {
        "checkout.session.completed" => {
            if event.data.object["mode"].as_str() != Some("subscription") {
                return Ok(None);
            }
            match event
                .client_reference_id()
                .and_then(|id| id.parse::<i64>().ok())
            {
                Some(id) => Some(id),
                None => match event.customer() {
                    Some(c) => state.db.user_by_stripe_customer(c).await?,
                    None => None,
                },
            }
        }
        "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "invoice.payment_failed" => match event.customer() {
            Some(c) => state.db.user_by_stripe_customer(c).await?,
            None => None,
        },
        _ => return Ok(None),
    };
    let Some(user_id) = user_id else {
        tracing::warn!(event = %event.id, kind = %event.kind, "webhook event for no known user");
        return Ok(None);
    };
    let Some(settings) = state.db.user_settings(user_id).await? else {
        tracing::warn!(event = %event.id, "webhook event for a removed user");
        return Ok(None);
    };
    let current = settings.subscription.as_ref();
    // A customer the account never had is not this account's business.
    if let (Some(stored), Some(theirs)) = (
        current.and_then(|c| c.stripe_customer_id.as_deref()),
        event.customer(),
    ) {
        if stored != theirs {
            tracing::warn!(event = %event.id, user_id, "webhook event names another customer");
            return Ok(None);
        }
    }
    let Some(subscription_id) = event.subscription_id() else {
        return Ok(None);
    };
    let subscription = if event.kind == "customer.subscription.deleted" {
        // Deletion is final: the payload is the last word, no need to ask.
        match serde_json::from_value::<StripeSubscription>(event.data.object.clone()) {
            Ok(sub) => sub,
            Err(_) => fetch(billing, subscription_id).await?,
        }
    } else {
        fetch(billing, subscription_id).await?
    };
    Ok(Some((
        user_id,
        subscription_patch(&subscription, &billing.settings.price_pro, current),
    )))
}

/// The subscription as Stripe has it now. Unavailable: answer 503 so Stripe delivers the
/// event again later.
async fn fetch(billing: &Billing, id: &str) -> Result<StripeSubscription, AppError> {
    billing
        .stripe
        .retrieve_subscription(id)
        .await
        .map_err(stripe_error("retrieving a subscription"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripe::{Item, Items, Price};

    fn sub(status: &str) -> StripeSubscription {
        StripeSubscription {
            id: "sub_1".into(),
            customer: "cus_1".into(),
            status: status.into(),
            items: Items {
                data: vec![Item {
                    price: Price {
                        id: "price_pro".into(),
                    },
                    current_period_end: Some(1_767_225_600),
                }],
            },
        }
    }

    fn doc(status: &str, stripe: Option<&str>) -> SubscriptionDoc {
        let mut d = UserSettings::new_account().subscription.unwrap();
        d.status = status.into();
        d.stripe_status = stripe.map(String::from);
        d
    }

    #[test]
    fn an_active_subscription_makes_pro_with_the_period_end_of_its_item() {
        let patch = subscription_patch(&sub("active"), "price_pro", None);
        assert_eq!(patch["status"], "pro");
        assert_eq!(patch["stripe_status"], "active");
        assert_eq!(patch["plan_id"], "price_pro");
        assert_eq!(patch["current_period_end"], "2026-01-01T00:00:00Z");
        assert_eq!(patch["byok_allowed"], true);
        assert!(patch.as_object().unwrap().values().all(|v| !v.is_null()));
    }

    #[test]
    fn a_canceled_subscription_is_free_again_but_enterprise_stays() {
        let patch = subscription_patch(&sub("canceled"), "price_pro", None);
        assert_eq!(patch["status"], "free");
        assert_eq!(patch["stripe_status"], "canceled");
        let enterprise = doc("enterprise", Some("active"));
        let patch = subscription_patch(&sub("canceled"), "price_pro", Some(&enterprise));
        assert!(patch.get("status").is_none());
    }

    #[test]
    fn the_platform_key_serves_only_pro_while_active_or_trialing() {
        assert!(doc("pro", Some("active")).entitles_platform_key(true));
        assert!(doc("pro", Some("trialing")).entitles_platform_key(true));
        assert!(doc("enterprise", Some("active")).entitles_platform_key(true));
        for stripe in ["past_due", "unpaid", "canceled", "incomplete", "paused"] {
            assert!(
                !doc("pro", Some(stripe)).entitles_platform_key(true),
                "{stripe}"
            );
        }
        assert!(!doc("free", Some("active")).entitles_platform_key(true));
        assert!(!doc("pro", Some("active")).entitles_platform_key(false));
    }

    #[test]
    fn a_beta_account_is_free_once_billing_is_on() {
        let beta = doc("beta", None);
        assert_eq!(
            SubscriptionDoc::effective_status(Some(&beta), false),
            "beta"
        );
        assert_eq!(SubscriptionDoc::effective_status(Some(&beta), true), "free");
        assert_eq!(SubscriptionDoc::effective_status(None, true), "free");
    }
}
