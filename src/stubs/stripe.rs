//! A local stand-in for Stripe: the five calls the app makes, the pages a person sees on
//! Stripe (Checkout, the billing portal), and the signed webhooks Stripe sends back.
//!
//! Integration tests run it in-process ([`spawn`]); Playwright and `.ci/serve --stub` run
//! it as the `stripe-stub` binary. It answers:
//!
//! * `POST /v1/customers`, `POST /v1/checkout/sessions`, `POST /v1/billing_portal/sessions`,
//!   `GET /v1/subscriptions/{id}`, `POST /v1/billing/meter_events`: Stripe's shapes and error
//!   envelope, a `Bearer sk_…`/`rk_…` key required, `Idempotency-Key` replays as Stripe does;
//! * `GET /checkout/{id}`: a page with `Pay` (creates an active subscription, sends the signed
//!   `customer.subscription.created` and `checkout.session.completed`, then returns the
//!   browser to the success URL) and `Cancel`;
//! * `GET /portal/{id}`: a page with `Cancel plan` (sends `customer.subscription.deleted`),
//!   `Simulate a failed payment` (sends `invoice.payment_failed` and
//!   `customer.subscription.updated` with `past_due`) and a way back;
//! * control routes under `/_stub/`: `GET meter_events`, `GET requests`, `GET subscriptions`,
//!   `POST fault` (`{"status": 500, "count": 2}` or `{"hang": true}`), `DELETE fault`.
//!
//! Every meter event Stripe would have accepted is recorded (replays of an Idempotency-Key
//! are not new events), so tests can count what was reported.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::server::billing::{stripe::STRIPE_VERSION, webhook::signature_header};

/// How the stand-in misbehaves, on purpose, for the next calls to `/v1/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and Stripe's error envelope.
    Status(u16),
    /// Accept the call and never answer, until the client gives up.
    Hang,
}

/// One call to `/v1/*`, as the stand-in saw it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The whole `Authorization` header (see `GET /_stub/requests` for a masked listing).
    pub authorization: Option<String>,
    pub stripe_version: Option<String>,
    pub idempotency_key: Option<String>,
    /// The form body, decoded, in order.
    pub form: Vec<(String, String)>,
    /// The status answered.
    pub status: u16,
}

impl RecordedRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A meter event Stripe accepted.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RecordedMeterEvent {
    pub event_name: String,
    pub identifier: String,
    pub customer: String,
    pub value: i64,
    pub timestamp: Option<i64>,
}

/// A subscription in the stand-in.
#[derive(Clone, Debug, Serialize)]
pub struct StubSubscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub price: String,
    pub current_period_end: i64,
}

impl StubSubscription {
    /// Stripe's JSON (API version 2025-03-31: the period end is on the item).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "object": "subscription", "customer": self.customer,
            "status": self.status,
            "items": { "object": "list", "data": [{
                "id": format!("si_{}", &self.id[4..]), "object": "subscription_item",
                "price": { "id": self.price, "object": "price" },
                "current_period_end": self.current_period_end,
            }]},
        })
    }
}

#[derive(Clone, Debug)]
struct CheckoutSession {
    customer: String,
    client_reference_id: Option<String>,
    price: String,
    success_url: String,
    cancel_url: String,
    completed: bool,
}

#[derive(Clone, Debug)]
struct PortalSession {
    customer: String,
    return_url: String,
}

/// A webhook the stand-in sent, and the app's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub kind: String,
    /// The app's status, or `None` when it could not be reached.
    pub status: Option<u16>,
}

#[derive(Debug, Default)]
struct Inner {
    base_url: String,
    webhook: Option<(String, String)>,
    next_id: u64,
    customers: BTreeMap<String, Value>,
    checkouts: BTreeMap<String, CheckoutSession>,
    portals: BTreeMap<String, PortalSession>,
    subscriptions: BTreeMap<String, StubSubscription>,
    meter_events: Vec<RecordedMeterEvent>,
    requests: Vec<RecordedRequest>,
    replays: HashMap<String, (u16, Value)>,
    fault: Option<(Fault, Option<usize>)>,
    deliveries: Vec<Delivery>,
}

/// The stand-in's state; every clone shares it.
#[derive(Clone, Debug, Default)]
pub struct StripeStubState {
    inner: Arc<Mutex<Inner>>,
}

impl StripeStubState {
    #[must_use]
    pub fn new(base_url: &str) -> Self {
        let state = Self::default();
        state.lock().base_url = base_url.trim_end_matches('/').to_string();
        state
    }

    /// Where to send webhooks, signed with `secret` (`whsec_…`).
    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.lock().webhook = Some((url.to_string(), secret.to_string()));
    }

    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = Some((fault, None));
    }

    /// Applies `fault` to the next `count` calls only.
    pub fn set_fault_for(&self, fault: Fault, count: usize) {
        self.lock().fault = (count > 0).then_some((fault, Some(count)));
    }

    pub fn clear_fault(&self) {
        self.lock().fault = None;
    }

    pub fn meter_events(&self) -> Vec<RecordedMeterEvent> {
        self.lock().meter_events.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    pub fn subscription(&self, id: &str) -> Option<StubSubscription> {
        self.lock().subscriptions.get(id).cloned()
    }

    /// The newest subscription of a customer.
    pub fn subscription_of(&self, customer: &str) -> Option<StubSubscription> {
        self.lock()
            .subscriptions
            .values()
            .rev()
            .find(|s| s.customer == customer)
            .cloned()
    }

    /// Changes a subscription's status without telling anyone (as if the webhook were late).
    pub fn set_subscription_status(&self, id: &str, status: &str) {
        if let Some(sub) = self.lock().subscriptions.get_mut(id) {
            sub.status = status.to_string();
        }
    }

    /// A Stripe event around `object`, created at `created` (Unix seconds).
    pub fn event(&self, kind: &str, object: Value, created: i64) -> Value {
        let id = self.next_id("evt");
        json!({
            "id": id, "object": "event", "api_version": STRIPE_VERSION, "created": created,
            "type": kind, "livemode": false, "pending_webhooks": 1,
            "data": { "object": object },
        })
    }

    /// Signs and sends `event` to the app's webhook; the app's status, if it answered.
    pub async fn deliver(&self, event: &Value) -> Option<u16> {
        let (url, secret) = self.lock().webhook.clone()?;
        let body = event.to_string();
        let header = signature_header(
            &SecretString::from(secret),
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        );
        let status = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        self.lock().deliveries.push(Delivery {
            event_id: event["id"].as_str().unwrap_or_default().to_string(),
            kind: event["type"].as_str().unwrap_or_default().to_string(),
            status,
        });
        status
    }

    /// Sends a new event about `object`, created now.
    pub async fn send(&self, kind: &str, object: Value) -> Option<u16> {
        let event = self.event(kind, object, chrono::Utc::now().timestamp());
        self.deliver(&event).await
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        let n = inner.next_id;
        format!("{prefix}_stub{n:06}")
    }

    /// Every update is one assignment or insert, so a poisoned lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_fault(&self) -> Option<Fault> {
        let mut inner = self.lock();
        let (fault, remaining) = inner.fault.clone()?;
        match remaining {
            Some(1) => inner.fault = None,
            Some(n) => inner.fault = Some((fault.clone(), Some(n - 1))),
            None => {}
        }
        Some(fault)
    }
}

/// Stripe's error envelope.
fn stripe_error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({ "error": { "type": kind, "code": code, "message": message } }),
    )
}

fn form_of(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub fn router(state: StripeStubState) -> Router {
    Router::new()
        .route("/v1/{*path}", get(api).post(api))
        .route("/checkout/{id}", get(checkout_page))
        .route("/checkout/{id}/pay", post(pay))
        .route("/portal/{id}", get(portal_page))
        .route("/portal/{id}/cancel", post(cancel))
        .route("/portal/{id}/fail_payment", post(fail_payment))
        .route("/_stub/meter_events", get(list_meter_events))
        .route("/_stub/requests", get(list_requests))
        .route("/_stub/subscriptions", get(list_subscriptions))
        .route("/_stub/fault", post(set_fault).delete(clear_fault))
        .with_state(state)
}

async fn api(
    State(state): State<StripeStubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let authorization = header("authorization");
    let idempotency_key = header("idempotency-key");
    let form = form_of(&body);
    let path = uri.path().to_string();

    let key_ok = authorization.as_deref().is_some_and(|a| {
        a.strip_prefix("Bearer ")
            .is_some_and(|k| k.starts_with("sk_") || k.starts_with("rk_"))
    });
    let (status, answer) = if !key_ok {
        stripe_error(
            401,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided.",
        )
    } else if let Some(fault) = state.take_fault() {
        match fault {
            Fault::Hang => {
                std::future::pending::<()>().await;
                unreachable!("a pending future never resolves")
            }
            Fault::Status(code) => {
                let code = if (400..=599).contains(&code) {
                    code
                } else {
                    500
                };
                stripe_error(
                    code,
                    "api_error",
                    "stand_in_fault",
                    "The stand-in was told to fail.",
                )
            }
        }
    } else if let Some(replay) = idempotency_key
        .as_ref()
        .filter(|_| method == Method::POST)
        .and_then(|k| state.lock().replays.get(k).cloned())
    {
        replay
    } else {
        let answer = handle(&state, &method, &path, &form);
        if let (Some(key), true) = (&idempotency_key, (200..300).contains(&answer.0)) {
            if method == Method::POST {
                state.lock().replays.insert(key.clone(), answer.clone());
            }
        }
        answer
    };
    state.lock().requests.push(RecordedRequest {
        method: method.to_string(),
        path,
        authorization,
        stripe_version: header("stripe-version"),
        idempotency_key,
        form,
        status,
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer)).into_response()
}

fn handle(
    state: &StripeStubState,
    method: &Method,
    path: &str,
    form: &[(String, String)],
) -> (u16, Value) {
    let base = state.lock().base_url.clone();
    let missing = |name: &str| {
        stripe_error(
            400,
            "invalid_request_error",
            "parameter_missing",
            &format!("Missing required param: {name}."),
        )
    };
    match (method.as_str(), path) {
        ("POST", "/v1/customers") => {
            let id = state.next_id("cus");
            let customer = json!({
                "id": id, "object": "customer", "email": field(form, "email"),
                "metadata": { "user_id": field(form, "metadata[user_id]") },
            });
            state.lock().customers.insert(id, customer.clone());
            (200, customer)
        }
        ("POST", "/v1/checkout/sessions") => {
            if field(form, "mode") != Some("subscription") {
                return missing("mode");
            }
            let Some(customer) = field(form, "customer") else {
                return missing("customer");
            };
            if !state.lock().customers.contains_key(customer) {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "resource_missing",
                    "No such customer.",
                );
            }
            let (Some(price), Some(success), Some(cancel)) = (
                field(form, "line_items[0][price]"),
                field(form, "success_url"),
                field(form, "cancel_url"),
            ) else {
                return missing("line_items, success_url or cancel_url");
            };
            let id = state.next_id("cs_test");
            let session = CheckoutSession {
                customer: customer.to_string(),
                client_reference_id: field(form, "client_reference_id").map(String::from),
                price: price.to_string(),
                success_url: success.to_string(),
                cancel_url: cancel.to_string(),
                completed: false,
            };
            state.lock().checkouts.insert(id.clone(), session);
            (
                200,
                json!({ "id": id, "object": "checkout.session", "mode": "subscription",
                        "customer": customer, "url": format!("{base}/checkout/{id}") }),
            )
        }
        ("POST", "/v1/billing_portal/sessions") => {
            let (Some(customer), Some(return_url)) =
                (field(form, "customer"), field(form, "return_url"))
            else {
                return missing("customer or return_url");
            };
            if !state.lock().customers.contains_key(customer) {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "resource_missing",
                    "No such customer.",
                );
            }
            let id = state.next_id("bps");
            state.lock().portals.insert(
                id.clone(),
                PortalSession {
                    customer: customer.to_string(),
                    return_url: return_url.to_string(),
                },
            );
            (
                200,
                json!({ "id": id, "object": "billing_portal.session", "customer": customer,
                        "return_url": return_url, "url": format!("{base}/portal/{id}") }),
            )
        }
        ("GET", p) if p.starts_with("/v1/subscriptions/") => {
            let id = &p["/v1/subscriptions/".len()..];
            match state.subscription(id) {
                Some(sub) => (200, sub.to_json()),
                None => stripe_error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such subscription.",
                ),
            }
        }
        ("POST", "/v1/billing/meter_events") => {
            let (Some(event_name), Some(customer), Some(value)) = (
                field(form, "event_name"),
                field(form, "payload[stripe_customer_id]"),
                field(form, "payload[value]"),
            ) else {
                return missing("event_name, payload[stripe_customer_id] or payload[value]");
            };
            let Ok(value) = value.parse::<i64>() else {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "parameter_invalid",
                    "payload[value] is not a number.",
                );
            };
            let identifier = field(form, "identifier")
                .map(String::from)
                .unwrap_or_else(|| state.next_id("mev"));
            let timestamp = field(form, "timestamp").and_then(|t| t.parse().ok());
            state.lock().meter_events.push(RecordedMeterEvent {
                event_name: event_name.to_string(),
                identifier: identifier.clone(),
                customer: customer.to_string(),
                value,
                timestamp,
            });
            (
                200,
                json!({ "object": "billing.meter_event", "event_name": event_name,
                        "identifier": identifier, "timestamp": timestamp,
                        "payload": { "stripe_customer_id": customer, "value": value.to_string() } }),
            )
        }
        _ => stripe_error(
            404,
            "invalid_request_error",
            "resource_missing",
            "Unrecognized request URL.",
        ),
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1rem;padding:.5rem 1rem;margin:.25rem 0}}</style></head>\
         <body><p><strong>Stripe stand-in</strong> (test mode)</p><h1>{title}</h1>{body}</body></html>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn checkout_page(State(state): State<StripeStubState>, Path(id): Path<String>) -> Response {
    let Some(session) = state.lock().checkouts.get(&id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            page("Not found", "<p>No such Checkout Session.</p>"),
        )
            .into_response();
    };
    page(
        "Subscribe to Pro",
        &format!(
            "<p>Price <code>{price}</code>, billed monthly, for customer <code>{customer}</code>.</p>\
             <form method=\"post\" action=\"/checkout/{id}/pay\"><button type=\"submit\">Pay</button></form>\
             <p><a href=\"{cancel}\">Cancel</a></p>",
            price = escape(&session.price),
            customer = escape(&session.customer),
            cancel = escape(&session.cancel_url),
        ),
    )
    .into_response()
}

/// "Pay": the subscription starts, Stripe tells the app, the browser returns.
async fn pay(State(state): State<StripeStubState>, Path(id): Path<String>) -> Response {
    let Some(session) = state.lock().checkouts.get(&id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            page("Not found", "<p>No such Checkout Session.</p>"),
        )
            .into_response();
    };
    if !session.completed {
        let sub_id = state.next_id("sub");
        let sub = StubSubscription {
            id: sub_id.clone(),
            customer: session.customer.clone(),
            status: "active".into(),
            price: session.price.clone(),
            current_period_end: chrono::Utc::now().timestamp() + 30 * 24 * 3600,
        };
        {
            let mut inner = state.lock();
            inner.subscriptions.insert(sub_id.clone(), sub.clone());
            if let Some(s) = inner.checkouts.get_mut(&id) {
                s.completed = true;
            }
        }
        state
            .send("customer.subscription.created", sub.to_json())
            .await;
        state
            .send(
                "checkout.session.completed",
                json!({
                    "id": id, "object": "checkout.session", "mode": "subscription",
                    "status": "complete", "payment_status": "paid",
                    "customer": session.customer, "subscription": sub_id,
                    "client_reference_id": session.client_reference_id,
                }),
            )
            .await;
    }
    Redirect::to(&session.success_url).into_response()
}

async fn portal_page(State(state): State<StripeStubState>, Path(id): Path<String>) -> Response {
    let Some(portal) = state.lock().portals.get(&id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            page("Not found", "<p>No such portal session.</p>"),
        )
            .into_response();
    };
    let plan = match state.subscription_of(&portal.customer) {
        Some(sub) => format!(
            "<p>Pro plan: <strong>{status}</strong></p>\
             <form method=\"post\" action=\"/portal/{id}/cancel\"><button type=\"submit\">Cancel plan</button></form>\
             <form method=\"post\" action=\"/portal/{id}/fail_payment\"><button type=\"submit\">Simulate a failed payment</button></form>",
            status = escape(&sub.status)
        ),
        None => "<p>No subscription.</p>".into(),
    };
    page(
        "Billing",
        &format!(
            "{plan}<p><a href=\"{back}\">Return to ApexAurum</a></p>",
            back = escape(&portal.return_url)
        ),
    )
    .into_response()
}

/// "Cancel plan": the subscription ends now; Stripe sends `customer.subscription.deleted`.
async fn cancel(State(state): State<StripeStubState>, Path(id): Path<String>) -> Response {
    change_plan(state, id, "canceled", &["customer.subscription.deleted"]).await
}

/// A renewal payment fails: `invoice.payment_failed`, then the subscription is `past_due`.
async fn fail_payment(State(state): State<StripeStubState>, Path(id): Path<String>) -> Response {
    change_plan(
        state,
        id,
        "past_due",
        &["invoice.payment_failed", "customer.subscription.updated"],
    )
    .await
}

async fn change_plan(state: StripeStubState, id: String, status: &str, kinds: &[&str]) -> Response {
    let Some(portal) = state.lock().portals.get(&id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            page("Not found", "<p>No such portal session.</p>"),
        )
            .into_response();
    };
    if let Some(sub) = state.subscription_of(&portal.customer) {
        state.set_subscription_status(&sub.id, status);
        let sub = state.subscription(&sub.id).unwrap_or(sub);
        for kind in kinds {
            let object = if kind.starts_with("invoice.") {
                json!({
                    "id": state.next_id("in"), "object": "invoice", "customer": sub.customer,
                    "status": "open",
                    "parent": { "type": "subscription_details",
                                "subscription_details": { "subscription": sub.id } },
                })
            } else {
                sub.to_json()
            };
            state.send(kind, object).await;
        }
    }
    Redirect::to(&portal.return_url).into_response()
}

async fn list_meter_events(State(state): State<StripeStubState>) -> Json<Vec<RecordedMeterEvent>> {
    Json(state.meter_events())
}

async fn list_requests(State(state): State<StripeStubState>) -> Json<Vec<RecordedRequest>> {
    let masked = state
        .requests()
        .into_iter()
        .map(|mut r| {
            r.authorization = r.authorization.map(|_| "Bearer [masked]".into());
            r
        })
        .collect();
    Json(masked)
}

async fn list_subscriptions(State(state): State<StripeStubState>) -> Json<Vec<StubSubscription>> {
    Json(state.lock().subscriptions.values().cloned().collect())
}

#[derive(Deserialize)]
struct FaultBody {
    status: Option<u16>,
    #[serde(default)]
    hang: bool,
    count: Option<usize>,
}

async fn set_fault(
    State(state): State<StripeStubState>,
    Json(body): Json<FaultBody>,
) -> StatusCode {
    let fault = if body.hang {
        Fault::Hang
    } else {
        Fault::Status(body.status.unwrap_or(500))
    };
    match body.count {
        Some(n) => state.set_fault_for(fault, n),
        None => state.set_fault(fault),
    }
    StatusCode::NO_CONTENT
}

async fn clear_fault(State(state): State<StripeStubState>) -> StatusCode {
    state.clear_fault();
    StatusCode::NO_CONTENT
}

/// A stand-in running in this process.
pub struct StripeStubHandle {
    pub base_url: String,
    pub state: StripeStubState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for StripeStubHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the stand-in on a free loopback port.
pub async fn spawn() -> StripeStubHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let state = StripeStubState::new(&base_url);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = rx => {}
        }
    });
    StripeStubHandle {
        base_url,
        state,
        shutdown: Some(tx),
    }
}
