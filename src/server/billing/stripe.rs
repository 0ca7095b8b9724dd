//! The Stripe API client: five calls (customer, Checkout Session, portal session,
//! subscription retrieve, meter event), hand-written on reqwest.
//!
//! Every call goes to `STRIPE_BASE_URL` and nowhere else (redirects are not followed),
//! form-encoded with Stripe's bracketed keys, with one pinned `Stripe-Version`, and every
//! POST carries an `Idempotency-Key`, so a retry after a timeout never creates a second
//! customer, session or meter event. Answers are classified like Anthropic's: accepted,
//! refused (our request is wrong; retrying will not help) or unavailable (try again).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::server::config::BillingSettings;

/// The API version every call (and the webhook endpoint) is pinned to. Since this version
/// the period end lives on subscription items, and invoices name their subscription under
/// `parent.subscription_details`.
pub const STRIPE_VERSION: &str = "2025-03-31.basil";

/// What Stripe made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Accepted,
    /// 4xx other than 409 and 429: the request is wrong (unknown id, bad parameter,
    /// a revoked key); sending it again gives the same answer.
    Refused,
    /// 409 (an idempotent request still in flight), 429, 5xx, a timeout or a network
    /// failure: try again later.
    Unavailable,
}

impl Verdict {
    pub fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Self::Accepted,
            409 | 429 => Self::Unavailable,
            400..=499 => Self::Refused,
            _ => Self::Unavailable,
        }
    }
}

/// A call that did not succeed: its verdict, and what may be logged about it (the status
/// and Stripe's error type and code; never a body, never a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub verdict: Verdict,
    /// Stripe's HTTP status, when it answered at all.
    pub status: Option<u16>,
    pub detail: String,
}

impl Failure {
    fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Unavailable,
            status: None,
            detail: detail.into(),
        }
    }

    /// Stripe refused this very request (a bad parameter, an unknown object), as opposed
    /// to our credentials (401, 403), which an operator can fix, after which a retry works.
    pub fn is_final(&self) -> bool {
        self.verdict == Verdict::Refused && !matches!(self.status, Some(401 | 403))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.verdict, self.detail)
    }
}

/// A Checkout or portal session: where to send the person.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub id: String,
    pub url: String,
}

/// The parts of a subscription billing reads.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    /// `active`, `trialing`, `past_due`, `unpaid`, `canceled`, `incomplete`, …
    pub status: String,
    #[serde(default)]
    pub items: Items,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Items {
    #[serde(default)]
    pub data: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Item {
    pub price: Price,
    /// Unix seconds; on the item since API version 2025-03-31.
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Price {
    pub id: String,
}

/// What a Checkout Session for the Pro plan needs.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub customer: &'a str,
    pub user_id: i64,
    pub price: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// One platform-paid answer's usage, for the meter.
#[derive(Debug, Clone)]
pub struct MeterEvent<'a> {
    pub event_name: &'a str,
    pub customer: &'a str,
    pub value: i64,
    /// The answer's message id: Stripe keeps one event per identifier.
    pub identifier: &'a str,
    /// Unix seconds of the answer.
    pub timestamp: i64,
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base_url: String,
    secret_key: SecretString,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Stripe's ids are letters, digits and `_`; anything else never reaches a URL path.
pub fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl StripeClient {
    pub fn new(settings: &BillingSettings) -> Self {
        Self::with(
            &settings.base_url,
            settings.secret_key.clone(),
            settings.connect_timeout,
            settings.timeout,
        )
    }

    pub fn with(
        base_url: &str,
        secret_key: SecretString,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("apexaurum/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key,
        }
    }

    /// Sends one call and classifies the answer; a 2xx body comes back as JSON.
    #[tracing::instrument(skip_all, fields(path))]
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        let mut auth = reqwest::header::HeaderValue::from_str(&format!(
            "Bearer {}",
            self.secret_key.expose_secret()
        ))
        .map_err(|_| Failure {
            verdict: Verdict::Refused,
            status: None,
            detail: "the Stripe secret key is not a valid header value".into(),
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .header(reqwest::header::AUTHORIZATION, auth)
            .header("Stripe-Version", STRIPE_VERSION);
        if method == Method::POST {
            let key = idempotency_key
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            request = request.header("Idempotency-Key", key).form(form);
        }
        let response = request.send().await.map_err(|e| {
            tracing::warn!(
                path,
                timeout = e.is_timeout(),
                connect = e.is_connect(),
                "Stripe unreachable"
            );
            Failure::unavailable(if e.is_timeout() { "timeout" } else { "network" })
        })?;
        let status = response.status();
        let verdict = Verdict::of_status(status);
        let body: Value = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) if verdict == Verdict::Accepted => {
                return Err(Failure::unavailable("the answer was cut off"))
            }
            Err(_) => Value::Null,
        };
        if verdict == Verdict::Accepted {
            return Ok(body);
        }
        let error = &body["error"];
        let detail = format!(
            "status {} type {} code {}",
            status.as_u16(),
            error["type"].as_str().unwrap_or("-"),
            error["code"].as_str().unwrap_or("-"),
        );
        tracing::warn!(path, %detail, ?verdict, "Stripe did not accept a call");
        Err(Failure {
            verdict,
            status: Some(status.as_u16()),
            detail,
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<T, Failure> {
        serde_json::from_value(body).map_err(|e| {
            tracing::error!(error = %e, "Stripe answered a {what} in an unexpected shape");
            Failure::unavailable(format!("unexpected {what} shape"))
        })
    }

    /// Creates the Stripe customer of a user. The caller's `idempotency_key` makes two
    /// concurrent first checkouts of one user end with one customer.
    pub async fn create_customer(
        &self,
        email: &str,
        user_id: i64,
        idempotency_key: &str,
    ) -> Result<String, Failure> {
        #[derive(Deserialize)]
        struct Customer {
            id: String,
        }
        let form = pairs(&[
            ("email", email),
            ("metadata[user_id]", &user_id.to_string()),
        ]);
        let body = self
            .call(Method::POST, "/v1/customers", &form, Some(idempotency_key))
            .await?;
        Ok(Self::parse::<Customer>(body, "customer")?.id)
    }

    /// A subscription Checkout Session for the Pro plan (and the metered price, when one is
    /// configured, so platform-key usage is invoiced on the same subscription).
    pub async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
        metered_price: Option<&str>,
    ) -> Result<Session, Failure> {
        let user_id = request.user_id.to_string();
        let mut form = pairs(&[
            ("mode", "subscription"),
            ("customer", request.customer),
            ("client_reference_id", &user_id),
            ("line_items[0][price]", request.price),
            ("line_items[0][quantity]", "1"),
            ("success_url", request.success_url),
            ("cancel_url", request.cancel_url),
            ("subscription_data[metadata][user_id]", &user_id),
        ]);
        if let Some(metered) = metered_price {
            // A metered price takes no quantity.
            form.push(("line_items[1][price]".into(), metered.into()));
        }
        let body = self
            .call(Method::POST, "/v1/checkout/sessions", &form, None)
            .await?;
        Self::parse(body, "checkout session")
    }

    /// A billing portal session for the customer, returning to `return_url`.
    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<Session, Failure> {
        let form = pairs(&[("customer", customer), ("return_url", return_url)]);
        let body = self
            .call(Method::POST, "/v1/billing_portal/sessions", &form, None)
            .await?;
        Self::parse(body, "portal session")
    }

    /// The subscription as Stripe has it now.
    pub async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, Failure> {
        if !is_stripe_id(id) {
            return Err(Failure {
                verdict: Verdict::Refused,
                status: None,
                detail: "not a Stripe id".into(),
            });
        }
        let body = self
            .call(Method::GET, &format!("/v1/subscriptions/{id}"), &[], None)
            .await?;
        Self::parse(body, "subscription")
    }

    /// Reports one answer's tokens to the Billing Meter. The identifier and the
    /// Idempotency-Key are both the answer's message id, so a retry is never counted twice.
    pub async fn create_meter_event(&self, event: &MeterEvent<'_>) -> Result<(), Failure> {
        let form = pairs(&[
            ("event_name", event.event_name),
            ("identifier", event.identifier),
            ("payload[stripe_customer_id]", event.customer),
            ("payload[value]", &event.value.to_string()),
            ("timestamp", &event.timestamp.to_string()),
        ]);
        let key = format!("meter-{}", event.identifier);
        self.call(Method::POST, "/v1/billing/meter_events", &form, Some(&key))
            .await
            .map(|_| ())
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_kind_of_answer() {
        for (status, verdict) in [
            (200, Verdict::Accepted),
            (400, Verdict::Refused),
            (401, Verdict::Refused),
            (404, Verdict::Refused),
            (409, Verdict::Unavailable),
            (429, Verdict::Unavailable),
            (500, Verdict::Unavailable),
            (503, Verdict::Unavailable),
        ] {
            assert_eq!(
                Verdict::of_status(StatusCode::from_u16(status).unwrap()),
                verdict,
                "{status}"
            );
        }
    }

    #[test]
    fn only_stripe_shaped_ids_reach_a_path() {
        assert!(is_stripe_id("sub_1QxYz"));
        for bad in ["", "sub_1/../../v1/customers", "sub 1", "sub_1?expand=x"] {
            assert!(!is_stripe_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_subscription_reads_its_period_end_from_its_items() {
        let sub: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "items": { "object": "list", "data": [
                { "id": "si_1", "price": { "id": "price_pro" }, "current_period_end": 1_767_225_600 }
            ]}
        }))
        .unwrap();
        assert_eq!(sub.items.data[0].current_period_end, Some(1_767_225_600));
        assert_eq!(sub.items.data[0].price.id, "price_pro");
    }
}
