//! Billing with Stripe against the Stripe stand-in: Checkout, the portal, signed webhooks
//! and the subscription state they leave in `settings.subscription`.

use apexaurum::{server::billing::webhook::signature_header, stubs::stripe::Fault};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, Backend, Options, TestApp, PRICE_PRO, PUBLIC_URL,
    STRIPE_SECRET, WEBHOOK_SECRET,
};

pub async fn billing_status(app: &TestApp) -> Value {
    let response = app.get("/api/v1/billing/status").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Starts Checkout and returns the stand-in's Checkout page URL.
pub async fn checkout_url(app: &TestApp) -> String {
    let response = app.post_json("/api/v1/billing/checkout", &json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["url"].as_str().unwrap().to_string()
}

/// A registered user who went through Checkout and paid; returns (email, subscription id).
pub async fn pro_user(app: &TestApp) -> (String, String) {
    let email = app.signed_in_user().await;
    let url = checkout_url(app).await;
    let paid = app.client.post(format!("{url}/pay")).send().await.unwrap();
    assert_eq!(paid.status(), 303, "Pay returns to the app");
    assert_eq!(
        paid.headers()["location"].to_str().unwrap(),
        format!("{PUBLIC_URL}/settings?billing=success")
    );
    let settings = app.settings_of(&email).await;
    let sub = settings["subscription"]["stripe_subscription_id"]
        .as_str()
        .expect("the webhook stored the subscription")
        .to_string();
    (email, sub)
}

fn signed(body: &str, at: i64) -> String {
    signature_header(
        &SecretString::from(WEBHOOK_SECRET.to_string()),
        at,
        body.as_bytes(),
    )
}

async fn post_webhook(app: &TestApp, body: &str, signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/billing/webhook"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn with_billing_off_the_billing_routes_answer_503_and_status_says_beta(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    for path in ["/api/v1/billing/checkout", "/api/v1/billing/portal"] {
        assert_error(
            app.post_json(path, &json!({})).await,
            503,
            "billing_unavailable",
        )
        .await;
    }
    let body = r#"{"id":"evt_1","type":"ping","created":1,"data":{"object":{}}}"#;
    assert_error(
        post_webhook(&app, body, Some(signed(body, now()))).await,
        503,
        "billing_unavailable",
    )
    .await;
    let status = billing_status(&app).await;
    assert_eq!(status["enabled"], false);
    assert_eq!(status["status"], "beta");
    assert_eq!(status["platform_key"], false);
    assert_eq!(status["byok_allowed"], true);
    assert!(app.stripe.state.requests().is_empty(), "no call to Stripe");
}

async fn billing_routes_but_the_webhook_need_a_session(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    for path in ["/api/v1/billing/checkout", "/api/v1/billing/portal"] {
        assert_error(
            app.post_json(path, &json!({})).await,
            401,
            "unauthenticated",
        )
        .await;
    }
    assert_error(
        app.get("/api/v1/billing/status").await,
        401,
        "unauthenticated",
    )
    .await;
    // The webhook answers on its own terms: its signature.
    assert_error(
        post_webhook(&app, "{}", None).await,
        400,
        "invalid_signature",
    )
    .await;
}

async fn checkout_creates_one_customer_and_a_pro_subscription_session(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let email = app.signed_in_user().await;
    let user_id = app.db.find_user_by_email(&email).await.unwrap().unwrap().id;
    let first = checkout_url(&app).await;
    assert!(first.starts_with(&app.stripe.base_url), "{first}");
    let second = checkout_url(&app).await;
    assert_ne!(first, second, "each click is a new session");

    let requests = app.stripe.state.requests();
    let customers: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/customers")
        .collect();
    assert_eq!(
        customers.len(),
        1,
        "the customer is created once and reused"
    );
    assert_eq!(customers[0].field("email"), Some(email.as_str()));
    let customer = app.settings_of(&email).await["subscription"]["stripe_customer_id"]
        .as_str()
        .expect("stored at once")
        .to_string();
    let sessions: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/checkout/sessions")
        .collect();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert_eq!(s.field("mode"), Some("subscription"));
        assert_eq!(s.field("customer"), Some(customer.as_str()));
        assert_eq!(
            s.field("client_reference_id"),
            Some(user_id.to_string().as_str())
        );
        assert_eq!(s.field("line_items[0][price]"), Some(PRICE_PRO));
        assert!(s.field("success_url").unwrap().starts_with(PUBLIC_URL));
        assert!(s.field("cancel_url").unwrap().starts_with(PUBLIC_URL));
    }
    for r in &requests {
        assert_eq!(r.stripe_version.as_deref(), Some("2025-03-31.basil"));
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {STRIPE_SECRET}").as_str())
        );
        if r.method == "POST" {
            assert!(
                r.idempotency_key.is_some(),
                "{} has an Idempotency-Key",
                r.path
            );
        }
    }
    // Not subscribed yet: still free.
    let status = billing_status(&app).await;
    assert_eq!(status["status"], "free");
    assert_eq!(status["enabled"], true);
}

async fn paying_in_checkout_makes_pro_through_the_signed_webhook(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, sub_id) = pro_user(&app).await;
    assert!(app
        .stripe
        .state
        .deliveries()
        .iter()
        .all(|d| d.status == Some(200)));
    let status = billing_status(&app).await;
    assert_eq!(status["status"], "pro");
    assert_eq!(status["stripe_status"], "active");
    assert_eq!(status["plan_id"], PRICE_PRO);
    assert_eq!(status["platform_key"], true);
    let end = status["current_period_end"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(end).is_ok(), "{end}");

    let subscription = &app.settings_of(&email).await["subscription"];
    let mut keys: Vec<_> = subscription.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "byok_allowed",
            "current_period_end",
            "plan_id",
            "status",
            "stripe_customer_id",
            "stripe_status",
            "stripe_subscription_id"
        ]
    );
    assert_eq!(subscription["stripe_subscription_id"], sub_id.as_str());

    // Subscribed: a second Checkout would double the subscription.
    assert_error(
        app.post_json("/api/v1/billing/checkout", &json!({})).await,
        409,
        "already_subscribed",
    )
    .await;
}

async fn the_portal_needs_a_billing_account(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    app.signed_in_user().await;
    assert_error(
        app.post_json("/api/v1/billing/portal", &json!({})).await,
        404,
        "no_billing_account",
    )
    .await;
    checkout_url(&app).await;
    let response = app.post_json("/api/v1/billing/portal", &json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["url"]
        .as_str()
        .unwrap()
        .starts_with(&app.stripe.base_url));
    let portal = app
        .stripe
        .state
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/billing_portal/sessions")
        .unwrap();
    assert_eq!(
        portal.field("return_url"),
        Some(format!("{PUBLIC_URL}/settings").as_str())
    );
}

async fn stripe_down_during_checkout_answers_503_and_stores_nothing(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let email = app.signed_in_user().await;
    app.stripe.state.set_fault_for(Fault::Status(500), 1);
    assert_error(
        app.post_json("/api/v1/billing/checkout", &json!({})).await,
        503,
        "billing_unavailable",
    )
    .await;
    assert!(app.settings_of(&email).await["subscription"]["stripe_customer_id"].is_null());
    app.stripe.state.set_fault_for(Fault::Hang, 1);
    assert_error(
        app.post_json("/api/v1/billing/checkout", &json!({})).await,
        503,
        "billing_unavailable",
    )
    .await;
    // Stripe is back: it works.
    checkout_url(&app).await;
}

async fn webhook_signatures_are_checked_before_anything_else(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let body = json!({"id": "evt_sig", "type": "customer.subscription.updated", "created": now(),
        "data": {"object": {"id": "sub_x", "customer": "cus_x", "status": "active"}}})
    .to_string();
    let other = signature_header(
        &SecretString::from("whsec_not_the_secret".to_string()),
        now(),
        body.as_bytes(),
    );
    for signature in [
        None,
        Some("garbage".to_string()),
        Some(other),
        // The exact 300 s edges are unit tests; here the clock may tick between the two ends.
        Some(signed(&body, now() - 330)),
        Some(signed(&body, now() + 330)),
        Some(signed(&body.replace("active", "canceled"), now())),
    ] {
        assert_error(
            post_webhook(&app, &body, signature.clone()).await,
            400,
            "invalid_signature",
        )
        .await;
    }
    assert!(!app.db.stripe_event_seen("evt_sig").await.unwrap());
    // Right, and from another site (as Stripe is): accepted.
    let response = app
        .client
        .post(app.url("/api/v1/billing/webhook"))
        .header("origin", "https://stripe.com")
        .header("stripe-signature", signed(&body, now()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none(), "no session");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"received": true})
    );
}

async fn event_types_not_handled_answer_200(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let event = app
        .stripe
        .state
        .event("customer.created", json!({"id": "cus_new"}), now());
    assert_eq!(app.stripe.state.deliver(&event).await, Some(200));
    assert_eq!(app.stripe.state.deliver(&event).await, Some(200));
}

async fn the_same_event_twice_takes_effect_once(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, sub_id) = pro_user(&app).await;
    let stripe = &app.stripe.state;
    stripe.set_subscription_status(&sub_id, "past_due");
    let event = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(&sub_id).unwrap().to_json(),
        now(),
    );
    assert_eq!(stripe.deliver(&event).await, Some(200));
    assert_eq!(
        app.settings_of(&email).await["subscription"]["stripe_status"],
        "past_due"
    );
    // Stripe says active again, but the same event delivered again changes nothing.
    stripe.set_subscription_status(&sub_id, "active");
    assert_eq!(stripe.deliver(&event).await, Some(200));
    assert_eq!(
        app.settings_of(&email).await["subscription"]["stripe_status"],
        "past_due"
    );
}

async fn an_older_updated_event_never_undoes_a_deletion(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, sub_id) = pro_user(&app).await;
    let stripe = &app.stripe.state;
    let active = stripe.subscription(&sub_id).unwrap().to_json();
    stripe.set_subscription_status(&sub_id, "canceled");
    let deleted = stripe.event(
        "customer.subscription.deleted",
        stripe.subscription(&sub_id).unwrap().to_json(),
        now(),
    );
    assert_eq!(stripe.deliver(&deleted).await, Some(200));
    let status = billing_status(&app).await;
    assert_eq!(status["status"], "free");
    assert_eq!(status["stripe_status"], "canceled");
    assert_eq!(status["platform_key"], false);

    // A late `updated` from before the deletion, saying active.
    let late = stripe.event("customer.subscription.updated", active.clone(), now() - 60);
    assert_eq!(stripe.deliver(&late).await, Some(200));
    assert_eq!(billing_status(&app).await["status"], "free");
    // Even if Stripe were to answer active (a read racing the deletion), the newer event wins.
    stripe.set_subscription_status(&sub_id, "active");
    let later_late = stripe.event("customer.subscription.updated", active, now() - 30);
    assert_eq!(stripe.deliver(&later_late).await, Some(200));
    let subscription = &app.settings_of(&email).await["subscription"];
    assert_eq!(subscription["status"], "free");
    assert_eq!(subscription["stripe_status"], "canceled");
}

async fn a_failed_payment_then_past_due_ends_platform_access(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (_, sub_id) = pro_user(&app).await;
    assert_eq!(billing_status(&app).await["platform_key"], true);
    let stripe = &app.stripe.state;
    stripe.set_subscription_status(&sub_id, "past_due");
    let invoice = json!({
        "id": "in_1", "object": "invoice", "customer": stripe.subscription(&sub_id).unwrap().customer,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id}},
    });
    assert_eq!(
        stripe.send("invoice.payment_failed", invoice).await,
        Some(200)
    );
    let status = billing_status(&app).await;
    assert_eq!(status["stripe_status"], "past_due");
    assert_eq!(status["platform_key"], false);
    assert_eq!(status["status"], "pro", "still subscribed, just not paid");
    let updated = stripe.subscription(&sub_id).unwrap().to_json();
    assert_eq!(
        stripe.send("customer.subscription.updated", updated).await,
        Some(200)
    );
    assert_eq!(billing_status(&app).await["platform_key"], false);
    // Paid again: back on.
    stripe.set_subscription_status(&sub_id, "active");
    let updated = stripe.subscription(&sub_id).unwrap().to_json();
    assert_eq!(
        stripe.send("customer.subscription.updated", updated).await,
        Some(200)
    );
    assert_eq!(billing_status(&app).await["platform_key"], true);
}

async fn canceling_in_the_portal_ends_pro(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    let response = app.post_json("/api/v1/billing/portal", &json!({})).await;
    let url = response.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let page = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Cancel plan"));
    let canceled = app
        .client
        .post(format!("{url}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), 303);
    let status = billing_status(&app).await;
    assert_eq!(status["status"], "free");
    assert_eq!(status["stripe_status"], "canceled");
    assert_eq!(status["platform_key"], false);
    // Free again: Checkout is open again.
    checkout_url(&app).await;
}

async fn stripe_down_during_a_webhook_answers_503_so_stripe_retries(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, sub_id) = pro_user(&app).await;
    let stripe = &app.stripe.state;
    stripe.set_subscription_status(&sub_id, "past_due");
    let event = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(&sub_id).unwrap().to_json(),
        now(),
    );
    stripe.set_fault_for(Fault::Status(503), 1);
    assert_eq!(stripe.deliver(&event).await, Some(503));
    assert_eq!(
        app.settings_of(&email).await["subscription"]["stripe_status"],
        "active"
    );
    // Stripe delivers it again later: now it takes effect.
    assert_eq!(stripe.deliver(&event).await, Some(200));
    assert_eq!(
        app.settings_of(&email).await["subscription"]["stripe_status"],
        "past_due"
    );
}

async fn an_event_for_another_customer_changes_nothing(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&app).await;
    let user_id = app.db.find_user_by_email(&email).await.unwrap().unwrap().id;
    // A checkout completion naming this user but someone else's customer.
    let event = app.stripe.state.event(
        "checkout.session.completed",
        json!({"id": "cs_x", "mode": "subscription", "customer": "cus_someone_else",
               "subscription": "sub_someone_else", "client_reference_id": user_id.to_string()}),
        now(),
    );
    assert_eq!(app.stripe.state.deliver(&event).await, Some(200));
    assert_eq!(
        app.settings_of(&email).await["subscription"]["stripe_status"],
        "active"
    );
}

crate::db_tests!(
    with_billing_off_the_billing_routes_answer_503_and_status_says_beta,
    billing_routes_but_the_webhook_need_a_session,
    checkout_creates_one_customer_and_a_pro_subscription_session,
    paying_in_checkout_makes_pro_through_the_signed_webhook,
    the_portal_needs_a_billing_account,
    stripe_down_during_checkout_answers_503_and_stores_nothing,
    webhook_signatures_are_checked_before_anything_else,
    event_types_not_handled_answer_200,
    the_same_event_twice_takes_effect_once,
    an_older_updated_event_never_undoes_a_deletion,
    a_failed_payment_then_past_due_ends_platform_access,
    canceling_in_the_portal_ends_pro,
    stripe_down_during_a_webhook_answers_503_so_stripe_retries,
    an_event_for_another_customer_changes_nothing,
);
