//! Pro and the platform key: which key pays for a chat, who is metered, and when the
//! platform key stops serving.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    api_keys::CANARY,
    billing::{billing_status, pro_user},
    chat::chat,
    helpers::{assert_error, spawn_app_with, Backend, Options, TestApp, PLATFORM_KEY},
};

async fn until_no_report_pending(app: &TestApp) {
    for _ in 0..400 {
        let counts = app.db.meter_outbox_counts().await.unwrap();
        if counts.pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a meter report stayed pending");
}

fn upstream_keys(app: &TestApp) -> Vec<String> {
    app.stub
        .state
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/messages")
        .filter_map(|r| r.api_key)
        .collect()
}

async fn pro_without_a_key_chats_on_the_platform_key_metered_once(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&app).await;
    // The page opens on the chat, not on the key gate.
    let page = app.get("/chat").await.text().await.unwrap();
    assert!(!page.contains("API Key Required"));
    let answer = chat(&app, json!({ "message": "Hello there" })).await;
    assert_eq!(answer.status, 200);
    let (name, done) = answer.last();
    assert_eq!(name, "done", "{done}");
    assert_eq!(done["payer"], "platform");
    assert_eq!(upstream_keys(&app), [PLATFORM_KEY]);
    let message_id = done["message_id"].as_str().unwrap();
    assert_eq!(
        app.db.payer_of(message_id).await.unwrap().as_deref(),
        Some("platform")
    );
    // The conversation says so too (the page shows it under the answer).
    let conversation = done["conversation_id"].as_str().unwrap();
    let stored: Value = app
        .get(&format!("/api/v1/conversations/{conversation}"))
        .await
        .json()
        .await
        .unwrap();
    let messages = stored["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["payer"], "platform");
    assert!(messages[0]["payer"].is_null(), "a question has no payer");

    until_no_report_pending(&app).await;
    let events = app.stripe.state.meter_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].identifier, message_id);
    let usage = &done["usage"];
    let billed = [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .map(|field| usage[field].as_i64().unwrap())
    .sum::<i64>();
    assert_eq!(events[0].value, billed);
    assert_eq!(
        billing_status(&app).await["usage"]["platform_tokens"],
        billed
    );
    // The user's settings gained no key, and no last-used time.
    assert!(app.settings_of(&email).await["api_keys"]
        .get("anthropic")
        .is_none());
}

async fn pro_with_an_own_key_chats_on_it_and_is_never_metered(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let answer = chat(&app, json!({ "message": "Hello" })).await;
    assert_eq!(answer.last().0, "done");
    assert_eq!(answer.last().1["payer"], "byok");
    let conversation = answer.last().1["conversation_id"].as_str().unwrap();
    let stored: Value = app
        .get(&format!("/api/v1/conversations/{conversation}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["messages"][1]["payer"], "byok");
    assert_eq!(upstream_keys(&app), [CANARY]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.db.meter_outbox_counts().await.unwrap(),
        Default::default()
    );
    assert!(app.stripe.state.meter_events().is_empty());
}

async fn free_and_unpaid_accounts_without_a_key_are_asked_for_one(backend: Backend) {
    let app = spawn_app_with(backend.clone(), Options::billing()).await;
    app.signed_in_user().await;
    let page = app.get("/chat").await.text().await.unwrap();
    assert!(page.contains("API Key Required"));
    assert!(
        page.contains("or upgrade to Pro to chat on"),
        "the gate offers Pro"
    );
    assert_error(
        app.post_json("/api/v1/chat", &json!({ "message": "Hi" }))
            .await,
        403,
        "api_key_required",
    )
    .await;
    assert_eq!(billing_status(&app).await["platform_key"], false);

    let other = spawn_app_with(backend, Options::billing()).await;
    let (_, sub) = pro_user(&other).await;
    for status in ["past_due", "unpaid", "canceled"] {
        other.stripe.state.set_subscription_status(&sub, status);
        let object = other.stripe.state.subscription(&sub).unwrap().to_json();
        assert_eq!(
            other
                .stripe
                .state
                .send("customer.subscription.updated", object)
                .await,
            Some(200)
        );
        assert_error(
            other
                .post_json("/api/v1/chat", &json!({ "message": "Hi" }))
                .await,
            403,
            "api_key_required",
        )
        .await;
        // The gate says why, in the words of the plan.
        let page = other.get("/chat").await.text().await.unwrap();
        let says = if status == "canceled" {
            "or upgrade to Pro to chat on"
        } else {
            "last payment did not go through"
        };
        assert!(page.contains(says), "{status}");
    }
    assert!(
        upstream_keys(&other).is_empty(),
        "nothing reached Anthropic"
    );
}

async fn pro_without_a_configured_platform_key_is_asked_for_a_key(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            platform_key: None,
            ..Options::billing()
        },
    )
    .await;
    pro_user(&app).await;
    assert_eq!(billing_status(&app).await["platform_key"], false);
    assert_error(
        app.post_json("/api/v1/chat", &json!({ "message": "Hi" }))
            .await,
        403,
        "api_key_required",
    )
    .await;
}

async fn a_refused_platform_key_is_unavailable_and_marks_nothing(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&app).await;
    app.stub.state.revoke(PLATFORM_KEY);
    assert_error(
        app.post_json("/api/v1/chat", &json!({ "message": "Hi" }))
            .await,
        503,
        "anthropic_unavailable",
    )
    .await;
    let settings = app.settings_of(&email).await;
    assert!(settings["api_keys"].get("anthropic").is_none());
    // The user's own key, saved later, works and is not marked by what happened.
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    assert_eq!(app.key_status().await["valid"], true);
}

async fn deleting_a_conversation_changes_no_months_usage(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    let answer = chat(&app, json!({ "message": "Count me" })).await;
    let conversation = answer.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before: Value = billing_status(&app).await["usage"].clone();
    assert!(before["platform_tokens"].as_i64().unwrap() > 0);
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{conversation}"))
            .await
            .status(),
        204
    );
    assert_eq!(billing_status(&app).await["usage"], before);
    until_no_report_pending(&app).await;
    assert_eq!(
        app.stripe.state.meter_events().len(),
        1,
        "still billed once"
    );
}

crate::db_tests!(
    pro_without_a_key_chats_on_the_platform_key_metered_once,
    pro_with_an_own_key_chats_on_it_and_is_never_metered,
    free_and_unpaid_accounts_without_a_key_are_asked_for_one,
    pro_without_a_configured_platform_key_is_asked_for_a_key,
    a_refused_platform_key_is_unavailable_and_marks_nothing,
    deleting_a_conversation_changes_no_months_usage,
);
