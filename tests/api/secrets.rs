//! The full key never leaves the process in plaintext: not in a response, a log line (at
//! trace level), an error message, nor the database files.

use apexaurum::stubs::{anthropic::Fault, stripe::Fault as StripeFault};
use serde_json::json;

use crate::{
    api_keys::{CANARY, OTHER, REFUSED},
    helpers::{captured_logs, spawn_app, spawn_app_with, Backend, Options, TestApp},
};

/// The distinctive middle of each canary, which no hint or mask contains.
const MARKERS: [&str; 5] = [
    "CANARY0canary0",
    "CANARY1other1",
    "CANARY2invalid2",
    "CANARY3password3",
    "CANARY4newpassword4",
];

/// A password no mask would hide: it must simply never be written.
const PASSWORD_CANARY: &str = "pw-CANARY3password3-pw";
const NEW_PASSWORD_CANARY: &str = "pw-CANARY4newpassword4-pw";

async fn body_of(response: reqwest::Response) -> String {
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    format!(
        "{status} {headers} {}",
        response.text().await.unwrap_or_default()
    )
}

async fn every_path(app: &TestApp) -> Vec<String> {
    let mut seen = Vec::new();
    // Passwords through the JSON API and the server functions, right and wrong.
    let email = "canary@example.org";
    seen.push(body_of(app.register(email, PASSWORD_CANARY).await).await);
    for password in [PASSWORD_CANARY, "wrong-CANARY3password3"] {
        let response = app
            .other_client()
            .post(app.url("/api/fn/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        seen.push(body_of(response).await);
        seen.push(body_of(app.login(email, password).await).await);
    }
    let changed = app
        .client
        .post(app.url("/api/fn/change_password"))
        .form(&[
            ("current_password", PASSWORD_CANARY),
            ("new_password", NEW_PASSWORD_CANARY),
        ])
        .send()
        .await
        .unwrap();
    seen.push(body_of(changed).await);
    app.signed_in_user().await;
    seen.push(body_of(app.save_key(CANARY).await).await);
    seen.push(body_of(app.save_key(REFUSED).await).await);
    app.stub.state.set_fault_for(Fault::Status(529), 1);
    seen.push(body_of(app.save_key(OTHER).await).await);
    app.stub.state.set_fault_for(Fault::Hang, 1);
    seen.push(body_of(app.save_key(OTHER).await).await);
    seen.push(body_of(app.get("/api/v1/user/api-key/status").await).await);
    seen.push(body_of(app.get("/api/v1/user/api-key/activity").await).await);
    seen.push(body_of(app.post_json("/api/v1/user/api-key/test", &json!({})).await).await);
    // Malformed bodies that contain a key: the error must not echo it.
    let broken = app
        .client
        .post(app.url("/api/v1/user/api-key"))
        .header("content-type", "application/json")
        .body(format!("{{\"api_key\": \"{CANARY}\""))
        .send()
        .await
        .unwrap();
    seen.push(body_of(broken).await);
    seen.push(
        body_of(
            app.post_json(
                "/api/v1/user/api-key",
                &json!({ "api_key": CANARY, "extra": [1] }),
            )
            .await,
        )
        .await,
    );
    seen.push(
        body_of(
            app.post_json("/api/v1/user/api-key", &json!({ "key": CANARY }))
                .await,
        )
        .await,
    );
    // The page's server functions, with and without JavaScript.
    seen.push(
        body_of(
            app.client
                .post(app.url("/api/fn/save_api_key"))
                .form(&[("api_key", CANARY)])
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    seen.push(
        body_of(
            app.client
                .post(app.url("/api/fn/save_api_key"))
                .form(&[("api_key", REFUSED)])
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    let no_js = app
        .client
        .post(app.url("/api/fn/save_api_key"))
        .header("accept", "text/html")
        .header("referer", app.url("/settings"))
        .form(&[("api_key", REFUSED)])
        .send()
        .await
        .unwrap();
    let location = no_js
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    seen.push(body_of(no_js).await);
    if let Some(location) = location {
        seen.push(location.clone());
        seen.push(body_of(app.client.get(location).send().await.unwrap()).await);
    }
    seen.push(body_of(app.get("/settings").await).await);
    seen.push(body_of(app.post_json("/api/fn/api_key_status", &json!({})).await).await);
    seen.push(body_of(app.post_json("/api/fn/test_api_key", &json!({})).await).await);
    app.stub.state.revoke(CANARY);
    seen.push(body_of(app.post_json("/api/v1/user/api-key/test", &json!({})).await).await);
    seen.push(body_of(app.get("/settings").await).await);
    seen
}

async fn a_canary_key_appears_in_no_response_log_or_database_file(backend: Backend) {
    let app = spawn_app(backend).await;
    let responses = every_path(&app).await;
    for (i, body) in responses.iter().enumerate() {
        for marker in MARKERS {
            assert!(
                !body.contains(marker),
                "response {i} contains a key: {body}"
            );
        }
    }
    assert!(
        responses.iter().any(|b| b.contains("sk-ant-api...X7f4")),
        "the hint is shown"
    );

    let logs = captured_logs();
    assert!(logs.len() > 1000, "trace logs were captured");
    assert!(
        logs.contains("/api/fn/save_api_key") && logs.contains("/api/fn/change_password"),
        "the server-function layer's requests are in the trace-level logs"
    );
    for marker in MARKERS {
        assert!(!logs.contains(marker), "the logs contain a key or password");
    }

    match &app.db_file {
        Some(file) => {
            // Let SQLite settle, then read the database and its write-ahead log as bytes.
            for path in [
                file.clone(),
                file.with_extension("db-wal"),
                file.with_extension("db-shm"),
            ] {
                if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    for marker in MARKERS {
                        assert!(!text.contains(marker), "{} contains a key", path.display());
                    }
                }
            }
        }
        None => {
            let dump: Vec<(String,)> = match &app.db {
                apexaurum::server::db::Db::Postgres(pool) => sqlx::query_as(
                    "SELECT settings::text FROM users UNION ALL SELECT encode(data, 'escape') FROM tower_sessions.session",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
                _ => unreachable!(),
            };
            for (row,) in dump {
                for marker in MARKERS {
                    assert!(!row.contains(marker), "the database contains a key");
                }
            }
        }
    }
}

async fn the_log_safety_net_masks_a_key_that_reaches_a_log_line(backend: Backend) {
    let _app = spawn_app(backend).await;
    tracing::error!(
        "a careless line with sk-ant-api03-CANARY9careless9CANARY9careless9-0000 in it"
    );
    let logs = captured_logs();
    assert!(!logs.contains("CANARY9careless9"));
    assert!(logs.contains("a careless line with sk-ant-[masked] in it"));
}

/// A panic's message goes through the masking log (production replaces the default hook,
/// which would print it raw; the test binary installs the same logger in front of the
/// harness's hook).
async fn a_panic_carrying_a_key_is_logged_masked(backend: Backend) {
    let _app = spawn_app(backend).await;
    let panicked = std::thread::Builder::new()
        .name("careless-thread".into())
        .spawn(|| panic!("failed while holding sk-ant-api03-CANARY5panic5CANARY5panic5-0000"))
        .unwrap()
        .join();
    assert!(panicked.is_err());
    let logs = captured_logs();
    assert!(
        !logs.contains("CANARY5panic5"),
        "the panic's key reached the log"
    );
    assert!(logs.contains("panicked: failed while holding sk-ant-[masked]"));
}

/// The argument structs of the server functions derive `Debug`; printing them (as a
/// careless `#[instrument]` would) shows no secret.
#[test]
fn server_function_arguments_print_without_their_secrets() {
    use apexaurum::api::{
        api_keys::SaveApiKey,
        auth::{ChangePassword, Login, Register},
    };
    let printed = [
        format!(
            "{:?}",
            SaveApiKey {
                api_key: CANARY.to_string().into()
            }
        ),
        format!(
            "{:#?}",
            Login {
                email: "a@example.org".into(),
                password: PASSWORD_CANARY.to_string().into(),
                next: None,
            }
        ),
        format!(
            "{:?}",
            Register {
                email: "a@example.org".into(),
                password: PASSWORD_CANARY.to_string().into(),
                next: None,
            }
        ),
        format!(
            "{:?}",
            ChangePassword {
                current_password: PASSWORD_CANARY.to_string().into(),
                new_password: NEW_PASSWORD_CANARY.to_string().into(),
            }
        ),
    ];
    for text in printed {
        assert!(text.contains("[redacted]"), "{text}");
        for marker in MARKERS {
            assert!(!text.contains(marker), "{text}");
        }
    }
}

/// The Stripe secret key, the webhook secret and the platform's Anthropic key.
const BILLING_MARKERS: [&str; 3] = ["CANARY3stripe3", "CANARY4webhook4", "CANARY5platform5"];

async fn billing_paths(app: &TestApp) -> Vec<String> {
    let mut seen = Vec::new();
    let (_, sub) = crate::billing::pro_user(app).await;
    seen.push(body_of(app.get("/api/v1/billing/status").await).await);
    seen.push(body_of(app.post_json("/api/v1/billing/checkout", &json!({})).await).await);
    seen.push(body_of(app.post_json("/api/v1/billing/portal", &json!({})).await).await);
    seen.push(body_of(app.post_json("/api/fn/billing_status", &json!({})).await).await);
    seen.push(
        body_of(
            app.client
                .post(app.url("/api/fn/open_billing_portal"))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    // Chat on the platform key, then with Anthropic refusing it and Stripe failing.
    seen.push(
        body_of(
            app.post_json("/api/v1/chat", &json!({"message": "Hi"}))
                .await,
        )
        .await,
    );
    app.stripe.state.set_fault_for(StripeFault::Status(401), 3);
    seen.push(body_of(app.post_json("/api/v1/billing/portal", &json!({})).await).await);
    app.stub.state.revoke(crate::helpers::PLATFORM_KEY);
    seen.push(
        body_of(
            app.post_json("/api/v1/chat", &json!({"message": "Hi"}))
                .await,
        )
        .await,
    );
    seen.push(body_of(app.post_json("/api/fn/models", &json!({})).await).await);
    app.stripe.state.set_subscription_status(&sub, "past_due");
    let object = app.stripe.state.subscription(&sub).unwrap().to_json();
    app.stripe
        .state
        .send("customer.subscription.updated", object)
        .await;
    seen.push(
        body_of(
            app.post_json("/api/v1/chat", &json!({"message": "Hi"}))
                .await,
        )
        .await,
    );
    seen.push(body_of(app.get("/settings").await).await);
    seen.push(body_of(app.get("/chat").await).await);
    seen
}

async fn billing_secrets_appear_in_no_response_log_or_database_file(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let responses = billing_paths(&app).await;
    for (i, body) in responses.iter().enumerate() {
        for marker in BILLING_MARKERS {
            assert!(
                !body.contains(marker),
                "response {i} contains a secret: {body}"
            );
        }
    }
    // They did reach where they belong.
    assert!(app.stripe.state.requests().iter().any(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.contains("CANARY3stripe3"))));
    assert!(app.stub.state.requests().iter().any(|r| r
        .api_key
        .as_deref()
        .is_some_and(|k| k.contains("CANARY5platform5"))));

    let logs = captured_logs();
    for marker in BILLING_MARKERS {
        assert!(!logs.contains(marker), "the logs contain {marker}");
    }
    match &app.db_file {
        Some(file) => {
            for path in [
                file.clone(),
                file.with_extension("db-wal"),
                file.with_extension("db-shm"),
            ] {
                if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    for marker in BILLING_MARKERS {
                        assert!(
                            !text.contains(marker),
                            "{} contains {marker}",
                            path.display()
                        );
                    }
                }
            }
        }
        None => {
            let apexaurum::server::db::Db::Postgres(pool) = &app.db else {
                unreachable!()
            };
            let dump: Vec<(String,)> = sqlx::query_as(
                "SELECT settings::text FROM users \
                 UNION ALL SELECT encode(data, 'escape') FROM tower_sessions.session \
                 UNION ALL SELECT row_to_json(t)::text FROM stripe_events t \
                 UNION ALL SELECT row_to_json(t)::text FROM meter_outbox t \
                 UNION ALL SELECT row_to_json(t)::text FROM usage_ledger t \
                 UNION ALL SELECT row_to_json(t)::text FROM messages t",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            assert!(!dump.is_empty());
            for (row,) in dump {
                for marker in BILLING_MARKERS {
                    assert!(!row.contains(marker), "the database contains {marker}");
                }
            }
        }
    }
}

crate::db_tests!(
    billing_secrets_appear_in_no_response_log_or_database_file,
    a_panic_carrying_a_key_is_logged_masked,
    a_canary_key_appears_in_no_response_log_or_database_file,
    the_log_safety_net_masks_a_key_that_reaches_a_log_line,
);
