//! Anthropic's answers told apart (a rate limit with its wait, an overload, no credit, a
//! conversation too long, a rate limit nearly used up), none of them marking the key
//! refused; and the key activity Settings shows.

use apexaurum::{
    error::AppError,
    server::{api_keys::rotate_all, crypto::KeyCipher, db::key_events::NewKeyEvent},
    stubs::anthropic::Fault,
    types::chat::{ChatEvent, FrameDecoder, RateLimitWarning, StreamErrorCode},
};
use futures::StreamExt as _;
use leptos::server_fn::error::FromServerFnError as _;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::{
    api_keys::{CANARY, OTHER},
    billing::pro_user,
    chat::chat,
    helpers::{
        assert_error, captured_logs, spawn_app, spawn_app_on, spawn_app_with, Backend, Options,
        TestApp,
    },
};

/// A finished `send_message` call: its status, and its events or its error.
struct Sent {
    status: u16,
    retry_after_header: Option<String>,
    events: Vec<ChatEvent>,
    error: Option<AppError>,
}

async fn send(app: &TestApp, body: Value) -> Sent {
    let response = app.post_json("/api/fn/send_message", &body).await;
    let status = response.status().as_u16();
    let retry_after_header = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    if status != 200 {
        let error = Some(AppError::de(response.bytes().await.unwrap()));
        return Sent {
            status,
            retry_after_header,
            events: Vec::new(),
            error,
        };
    }
    let mut decoder = FrameDecoder::default();
    let mut events = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        events.extend(decoder.push(&chunk.unwrap()).unwrap());
    }
    Sent {
        status,
        retry_after_header,
        events,
        error: None,
    }
}

async fn user_with_key(app: &TestApp) -> String {
    let email = app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    email
}

async fn activity(app: &TestApp) -> Vec<Value> {
    let response = app.get("/api/v1/user/api-key/activity").await;
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.unwrap()
}

/// `(kind, detail)` of each event, oldest first.
async fn activity_kinds(app: &TestApp) -> Vec<(String, Option<String>)> {
    let mut kinds: Vec<(String, Option<String>)> = activity(app)
        .await
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["detail"].as_str().map(String::from),
            )
        })
        .collect();
    kinds.reverse();
    kinds
}

async fn each_upstream_trouble_has_its_own_code_and_leaves_the_key_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let cases = [
        (
            Fault::RateLimited {
                retry_after_secs: 12,
            },
            429,
            "anthropic_rate_limited",
        ),
        (Fault::Status(529), 503, "anthropic_overloaded"),
        (
            Fault::OutOfCredit { status: 400 },
            402,
            "anthropic_out_of_credit",
        ),
        (
            Fault::OutOfCredit { status: 402 },
            402,
            "anthropic_out_of_credit",
        ),
        (Fault::PromptTooLong, 422, "conversation_too_long"),
        (Fault::Status(500), 503, "anthropic_unavailable"),
    ];
    for (fault, status, code) in cases {
        app.stub.state.set_fault_for(fault.clone(), 1);
        let failed = chat(&app, json!({ "message": "hello" })).await;
        assert_eq!(failed.status, status, "{fault:?}");
        let body = &failed.last().1;
        assert_eq!(body["error"]["code"], code, "{fault:?}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("Plans & Billing to upgrade"), "{message}");
        if code == "anthropic_rate_limited" {
            assert_eq!(body["error"]["retry_after"], 12);
            assert_eq!(failed.headers["retry-after"], "12");
            assert!(message.contains("rate-limiting your key"), "{message}");
        } else {
            assert!(body["error"].get("retry_after").is_none(), "{fault:?}");
        }
        assert_eq!(app.key_status().await["valid"], true, "{fault:?}");

        // The page's server function answers the same, as its error with its status.
        app.stub.state.set_fault_for(fault.clone(), 1);
        let sent = send(&app, json!({ "message": "hello" })).await;
        assert_eq!(sent.status, status, "{fault:?}");
        let error = sent.error.unwrap();
        assert_eq!(error.code(), code, "{fault:?}");
        if code == "anthropic_rate_limited" {
            assert_eq!(error.retry_after(), Some(12));
            assert_eq!(sent.retry_after_header.as_deref(), Some("12"));
        }
    }
    assert_eq!(app.key_status().await["valid"], true);
    assert!(activity_kinds(&app)
        .await
        .iter()
        .all(|(kind, _)| kind != "refused_in_chat"));
    // And the key still works.
    assert_eq!(
        chat(&app, json!({ "message": "still here" }))
            .await
            .last()
            .0,
        "done"
    );
}

async fn a_message_retried_after_a_rate_limit_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "first" })).await.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Through the JSON API: the magic word limits the first try only.
    let body = json!({ "message": "again [[rate-limited:4]]", "conversation_id": id, "client_message_id": "cm-1" });
    let limited = chat(&app, body.clone()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.last().1["error"]["retry_after"], 4);
    assert_eq!(chat(&app, body).await.last().0, "done");
    // Through the server function, after an overload.
    let body = json!({ "message": "busy [[overloaded-status]]", "conversation_id": id, "client_message_id": "cm-2" });
    let overloaded = send(&app, body.clone()).await;
    assert_eq!(
        (overloaded.status, overloaded.error),
        (503, Some(AppError::AnthropicOverloaded))
    );
    let retried = send(&app, body).await;
    assert!(matches!(retried.events.last(), Some(ChatEvent::Done(_))));

    let conversation: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let messages = conversation["messages"].as_array().unwrap();
    let count = |text: &str| messages.iter().filter(|m| m["content"] == text).count();
    assert_eq!(count("again [[rate-limited:4]]"), 1);
    assert_eq!(count("busy [[overloaded-status]]"), 1);
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
}

async fn an_overload_mid_stream_ends_the_stream_with_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let failed = chat(&app, json!({ "message": "please [[overloaded]]" })).await;
    assert_eq!(failed.status, 200);
    let (name, data) = failed.last();
    assert_eq!(name, "error");
    assert_eq!(data["code"], "anthropic_overloaded");
    assert!(data["message"].as_str().unwrap().contains("overloaded"));
    assert!(data["conversation_id"].is_string());

    let sent = send(&app, json!({ "message": "please [[overloaded]]" })).await;
    let Some(ChatEvent::Error(error)) = sent.events.last() else {
        panic!("{:?}", sent.events);
    };
    assert_eq!(error.code, StreamErrorCode::AnthropicOverloaded);
    assert_eq!(app.key_status().await["valid"], true);
}

async fn a_rate_limit_nearly_used_up_reaches_both_transports(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let plenty = chat(&app, json!({ "message": "hi" })).await;
    assert_eq!(plenty.last().0, "done");
    assert!(plenty.last().1.get("rate_limit").is_none());

    let low = chat(&app, json!({ "message": "hi [[ratelimit-low]]" })).await;
    let (name, data) = low.last();
    assert_eq!(name, "done");
    assert_eq!(data["rate_limit"]["resource"], "requests");
    assert_eq!(data["rate_limit"]["remaining"], 3);
    assert_eq!(data["rate_limit"]["limit"], 50);
    assert!(data["rate_limit"]["reset"].is_string());

    app.stub.state.set_fault_for(
        Fault::RateLimitLow {
            remaining: 1,
            limit: 40,
        },
        1,
    );
    let sent = send(&app, json!({ "message": "hi" })).await;
    let Some(ChatEvent::Done(done)) = sent.events.last() else {
        panic!("{:?}", sent.events);
    };
    assert!(matches!(
        &done.rate_limit,
        Some(RateLimitWarning { resource, remaining: 1, limit: 40, .. }) if resource == "requests"
    ));
}

async fn on_the_platform_key_no_credit_is_the_operator_s_problem(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    app.stub
        .state
        .set_fault_for(Fault::OutOfCredit { status: 400 }, 1);
    let failed = chat(&app, json!({ "message": "hi" })).await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.last().1["error"]["code"], "anthropic_unavailable");
    let message = failed.last().1["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!message.contains("credit"), "{message}");
    assert!(captured_logs().contains("platform's Anthropic account is out of credit"));
    // Nor is the platform's rate limit called the person's.
    app.stub.state.set_fault_for(
        Fault::RateLimited {
            retry_after_secs: 5,
        },
        1,
    );
    let limited = chat(&app, json!({ "message": "hi" })).await;
    assert_eq!(limited.status, 429);
    let message = limited.last().1["error"]["message"].as_str().unwrap();
    assert!(!message.contains("your key"), "{message}");
    // And a platform limit nearly used up is not shown as the person's.
    let low = chat(&app, json!({ "message": "hi [[ratelimit-low]]" })).await;
    assert!(low.last().1.get("rate_limit").is_none());
}

async fn key_checks_hit_by_upstream_trouble_never_mark_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    for fault in [
        Fault::RateLimited {
            retry_after_secs: 9,
        },
        Fault::Status(529),
        Fault::OutOfCredit { status: 402 },
        Fault::OutOfCredit { status: 400 },
    ] {
        app.stub.state.set_fault_for(fault.clone(), 1);
        assert_error(
            app.post_json("/api/v1/user/api-key/test", &json!({})).await,
            503,
            "anthropic_unavailable",
        )
        .await;
        assert_eq!(app.key_status().await["valid"], true, "{fault:?}");
        app.stub.state.set_fault_for(fault.clone(), 1);
        assert_error(app.save_key(OTHER).await, 503, "anthropic_unavailable").await;
        assert_eq!(
            app.key_status().await["key_hint"],
            "sk-ant-api...X7f4",
            "{fault:?}: nothing stored"
        );
    }
}

async fn key_activity_records_each_event_and_last_checked(backend: Backend) {
    let old_secret = "activity-old-secret-activity-old-secret";
    let app = spawn_app_with(
        backend,
        Options {
            secret: old_secret.into(),
            ..Default::default()
        },
    )
    .await;
    let email = app.signed_in_user().await;
    assert!(activity(&app).await.is_empty());
    let saved = app.save_key(CANARY).await.json::<Value>().await.unwrap();
    let saved_checked = saved["last_checked"].as_str().unwrap().to_string();
    assert!(saved_checked.ends_with('Z'));
    assert_eq!(saved["last_checked"], saved["added_at"]);

    let tested = app.post_json("/api/v1/user/api-key/test", &json!({})).await;
    assert_eq!(tested.status(), 200);
    let tested: Value = tested.json().await.unwrap();
    assert!(tested["last_checked"].as_str().unwrap() >= saved_checked.as_str());
    app.stub.state.set_fault_for(Fault::Status(529), 1);
    app.post_json("/api/v1/user/api-key/test", &json!({})).await;
    app.stub.state.revoke(CANARY);
    let refused: Value = app
        .post_json("/api/v1/user/api-key/test", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refused["valid"], false);
    assert!(refused["last_checked"].is_string());

    assert_eq!(app.save_key(OTHER).await.status(), 200);
    app.stub.state.revoke(OTHER);
    assert_error(
        app.post_json("/api/v1/chat", &json!({ "message": "hi" }))
            .await,
        403,
        "api_key_invalid",
    )
    .await;
    assert_eq!(app.delete("/api/v1/user/api-key").await.status(), 204);
    // Removing when nothing is stored records nothing.
    assert_eq!(app.delete("/api/v1/user/api-key").await.status(), 204);

    // A key saved under the old secret is re-encrypted when used under the new one…
    assert_eq!(app.save_key(CANARY_2).await.status(), 200);
    let new_secret = "activity-new-secret-activity-new-secret";
    let rotated = spawn_app_on(
        &app.database_url,
        tempfile::tempdir().unwrap(),
        Options {
            secret: new_secret.into(),
            previous: Some(old_secret.into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        rotated
            .login(&email, "correct horse battery")
            .await
            .status(),
        200
    );
    assert_eq!(
        rotated
            .post_json("/api/v1/user/api-key/test", &json!({}))
            .await
            .status(),
        200
    );
    // …or by the rotation command.
    assert_eq!(app.save_key(CANARY_3).await.status(), 200);
    let cipher = KeyCipher::new(
        &SecretString::from(new_secret.to_string()),
        &[SecretString::from(old_secret.to_string())],
    );
    assert_eq!(rotate_all(&app.db, &cipher).await.unwrap().rewritten, 1);

    let kinds = activity_kinds(&app).await;
    let expected: Vec<(&str, Option<&str>)> = vec![
        ("saved", None),
        ("tested", Some("accepted")),
        ("tested", Some("unavailable")),
        ("tested", Some("refused")),
        ("saved", None),
        ("refused_in_chat", None),
        ("removed", None),
        ("saved", None),
        ("reencrypted", Some("on_use")),
        ("tested", Some("accepted")),
        ("saved", None),
        ("reencrypted", Some("rotation")),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .into_iter()
        .map(|(k, d)| (k.to_string(), d.map(String::from)))
        .collect();
    assert_eq!(kinds, expected);

    let events = activity(&app).await;
    // Newest first, each with its time and the hint of the key it was about.
    assert!(events
        .iter()
        .all(|e| e["created_at"].as_str().unwrap().ends_with('Z')));
    let removed = events.iter().find(|e| e["kind"] == "removed").unwrap();
    assert_eq!(removed["key_hint"], "sk-ant-api...Ab12");
    let refused = events
        .iter()
        .find(|e| e["kind"] == "refused_in_chat")
        .unwrap();
    assert_eq!(refused["key_hint"], "sk-ant-api...Ab12");
    assert_eq!(events.last().unwrap()["key_hint"], "sk-ant-api...X7f4");

    // The page's server function lists the same.
    let listed: Value = app
        .client
        .post(app.url("/api/fn/key_activity"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), events.len());
}

const CANARY_2: &str = "sk-ant-api03-CANARY0canary0CANARY0second0CANARY0-Rk22";
const CANARY_3: &str = "sk-ant-api03-CANARY0canary0CANARY0third0CANARY0-Th33";

async fn key_activity_is_bounded_and_never_shows_key_material(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let me: Value = app.get("/api/v1/auth/me").await.json().await.unwrap();
    let user_id = me["id"].as_i64().unwrap();
    for _ in 0..105 {
        let event = NewKeyEvent {
            user_id,
            kind: "tested",
            detail: Some("accepted"),
            key_hint: None,
        };
        app.db.insert_key_event(&event, 100).await.unwrap();
    }
    let body = app
        .get("/api/v1/user/api-key/activity")
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(events.len(), 100, "the latest 100 are kept");
    assert!(events.iter().all(|e| e["key_hint"] == "sk-ant-api...X7f4"));
    for marker in ["CANARY0canary0", "gAAAAA", "encrypted"] {
        assert!(!body.contains(marker), "{marker} in {body}");
    }
    for key in [CANARY, OTHER, CANARY_2, CANARY_3] {
        assert!(!captured_logs().contains(key), "a key in the logs");
    }
    // Deleting the account's row takes its activity with it.
    let rows: i64 = match &app.db {
        apexaurum::server::db::Db::Sqlite(sqlite) => {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(&mut *sqlite.writer().await.unwrap())
                .await
                .unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM key_events")
                .fetch_one(&sqlite.reads)
                .await
                .unwrap()
        }
        apexaurum::server::db::Db::Postgres(pool) => {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM key_events")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(rows, 0);

    let anonymous = app
        .other_client()
        .get(app.url("/api/v1/user/api-key/activity"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthenticated").await;
}

/// An outage upstream is Anthropic's, not the app's: the request's own log line for the
/// 503 is a warning, so an operator's error alerts stay for the app's own failures.
async fn an_upstream_outage_is_logged_as_a_warning_not_an_error(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    app.stub.state.set_fault_for(Fault::Status(500), 1);
    let failed = chat(&app, json!({ "message": "hello" })).await;
    assert_eq!(failed.status, 503);
    let logs = captured_logs();
    let failures: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("response failed") && l.contains("503"))
        .collect();
    assert!(!failures.is_empty(), "the 503 was not logged at all");
    assert!(
        failures
            .iter()
            .all(|l| l.contains("WARN") && !l.contains("ERROR")),
        "{failures:#?}"
    );
}

crate::db_tests!(
    an_upstream_outage_is_logged_as_a_warning_not_an_error,
    each_upstream_trouble_has_its_own_code_and_leaves_the_key_valid,
    a_message_retried_after_a_rate_limit_is_stored_once,
    an_overload_mid_stream_ends_the_stream_with_its_code,
    a_rate_limit_nearly_used_up_reaches_both_transports,
    on_the_platform_key_no_credit_is_the_operator_s_problem,
    key_checks_hit_by_upstream_trouble_never_mark_the_key,
    key_activity_records_each_event_and_last_checked,
    key_activity_is_bounded_and_never_shows_key_material,
);
