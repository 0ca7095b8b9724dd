use apexaurum::{
    server::{api_keys::rotate_all, crypto::KeyCipher, user_settings::KeyEntry},
    stubs::anthropic::Fault,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, captured_logs, spawn_app, spawn_app_on, spawn_app_with, Backend, Options,
    TEST_SECRET,
};

/// Recognisable keys the stand-in accepts; their plaintext must never surface anywhere.
pub const CANARY: &str = "sk-ant-api03-CANARY0canary0CANARY0canary0CANARY0-zX7f4";
pub const OTHER: &str = "sk-ant-api03-CANARY1other1CANARY1other1CANARY1-Ab12";
/// Shaped right, but the stand-in refuses it.
pub const REFUSED: &str = "sk-ant-api03-CANARY2invalid2CANARY2invalid2CANARY2-Q9";

async fn a_valid_key_is_saved_encrypted_and_shows_only_its_hint(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let response = app.save_key(&format!("  {CANARY}\n")).await;
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["configured"], true);
    assert_eq!(status["valid"], true);
    assert_eq!(status["key_hint"], "sk-ant-api...X7f4");
    assert!(status["added_at"].as_str().unwrap().ends_with('Z'));
    assert!(status["last_used"].is_null());

    let settings = app.settings_of(&email).await;
    let entry = &settings["api_keys"]["anthropic"];
    let token = entry["encrypted_key"].as_str().unwrap();
    assert!(token.starts_with("gAAAAA"));
    assert!(!token.contains("CANARY"));
    assert_eq!(entry["key_hint"], "sk-ant-api...X7f4");
    assert_eq!(entry["valid"], true);
    assert!(entry.get("last_used").is_some_and(Value::is_null));
    assert_eq!(
        settings["subscription"]["status"], "beta",
        "other fields untouched"
    );
    let cipher = KeyCipher::new(&SecretString::from(TEST_SECRET.to_string()), &[]);
    assert_eq!(
        cipher.decrypt(token).unwrap().0.expose_secret(),
        CANARY,
        "the design's Fernet scheme"
    );

    let me: Value = app.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["has_api_key"], true);
    // The stand-in saw the key only on the check, with the API version.
    let requests = app.stub.state.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/models");
    assert_eq!(requests[0].api_key.as_deref(), Some(CANARY));
}

async fn malformed_keys_are_refused_before_asking_anthropic(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    for bad in [
        "",
        "sk-ant-short",
        "not-a-key-at-all-not-a-key-at-all-not-a-key",
        "sk-ant-api03 has spaces 00000000000000000000000000",
    ] {
        assert_error(app.save_key(bad).await, 422, "invalid_key_format").await;
    }
    let message = assert_error(
        app.save_key("sk-ant-admin01-CANARY3admin3CANARY3admin3CANARY3admin-0000")
            .await,
        422,
        "invalid_key_format",
    )
    .await;
    assert!(message.contains("admin key"), "{message}");
    assert!(
        app.stub.state.requests().is_empty(),
        "no network call for a malformed key"
    );
    assert_eq!(app.key_status().await["configured"], false);
}

async fn a_key_anthropic_refuses_is_not_saved_and_the_old_one_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let before = app.settings_of(&email).await;
    let message = assert_error(app.save_key(REFUSED).await, 422, "key_rejected").await;
    assert!(!message.contains("CANARY"));
    assert_eq!(app.settings_of(&email).await, before);
}

async fn an_unavailable_anthropic_keeps_the_old_key_and_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let before = app.settings_of(&email).await;
    for fault in [
        Fault::Status(429),
        Fault::Status(500),
        Fault::Status(529),
        Fault::Hang,
    ] {
        app.stub.state.set_fault_for(fault.clone(), 1);
        let message = assert_error(app.save_key(OTHER).await, 503, "anthropic_unavailable").await;
        assert!(message.contains("unavailable"), "{fault:?}: {message}");
        assert_eq!(app.settings_of(&email).await, before, "{fault:?}");
    }
}

async fn a_dead_upstream_is_unavailable_and_stores_nothing(backend: Backend) {
    let options = Options {
        anthropic_base_url: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let app = spawn_app_with(backend, options).await;
    app.signed_in_user().await;
    assert_error(app.save_key(CANARY).await, 503, "anthropic_unavailable").await;
    assert_eq!(app.key_status().await["configured"], false);
}

async fn removing_a_key_clears_it_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    app.save_key(CANARY).await;
    assert_eq!(app.delete("/api/v1/user/api-key").await.status(), 204);
    let settings = app.settings_of(&email).await;
    assert!(settings["api_keys"].get("anthropic").is_none());
    assert_eq!(settings["subscription"]["byok_allowed"], true);
    assert_eq!(
        app.key_status().await,
        json!({ "configured": false, "valid": null, "key_hint": null, "added_at": null, "last_used": null, "last_checked": null })
    );
    assert_eq!(app.delete("/api/v1/user/api-key").await.status(), 204);
}

async fn testing_a_revoked_key_marks_it_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_error(
        app.post_json("/api/v1/user/api-key/test", &json!({})).await,
        404,
        "no_api_key",
    )
    .await;
    app.save_key(CANARY).await;
    let ok: Value = app
        .post_json("/api/v1/user/api-key/test", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["valid"], true);

    app.stub.state.revoke(CANARY);
    let response = app.post_json("/api/v1/user/api-key/test", &json!({})).await;
    assert_eq!(response.status(), 200);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["configured"], true);
    assert_eq!(refused["valid"], false);
    assert_eq!(app.key_status().await["valid"], false);
}

async fn testing_while_anthropic_is_down_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    app.save_key(CANARY).await;
    let before = app.settings_of(&email).await;
    app.stub.state.set_fault_for(Fault::Status(529), 1);
    assert_error(
        app.post_json("/api/v1/user/api-key/test", &json!({})).await,
        503,
        "anthropic_unavailable",
    )
    .await;
    assert_eq!(app.settings_of(&email).await, before);
}

async fn key_routes_need_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(app.save_key(CANARY).await, 401, "unauthenticated").await;
    assert_error(
        app.delete("/api/v1/user/api-key").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.get("/api/v1/user/api-key/status").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.post_json("/api/v1/user/api-key/test", &json!({})).await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(app.stub.state.requests().is_empty());
}

async fn another_user_can_neither_see_nor_change_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.signed_in_user().await;
    app.save_key(CANARY).await;
    let before = app.settings_of(&owner).await;

    let other = app.other_client();
    let register = other
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": "mallory@example.org", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let status: Value = other
        .get(app.url("/api/v1/user/api-key/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["configured"], false);
    let test = other
        .post(app.url("/api/v1/user/api-key/test"))
        .send()
        .await
        .unwrap();
    assert_error(test, 404, "no_api_key").await;
    assert_eq!(
        other
            .delete(app.url("/api/v1/user/api-key"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let save = other
        .post(app.url("/api/v1/user/api-key"))
        .json(&json!({ "api_key": OTHER }))
        .send()
        .await
        .unwrap();
    assert_eq!(save.status(), 200);
    let remove = other
        .post(app.url("/api/fn/remove_api_key"))
        .send()
        .await
        .unwrap();
    assert!(remove.status().is_success());

    // The owner's key is exactly as it was, whatever the other user did to theirs.
    assert_eq!(app.settings_of(&owner).await, before);
    assert_eq!(app.key_status().await["key_hint"], "sk-ant-api...X7f4");
}

async fn saving_too_often_is_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let mut last = None;
    for _ in 0..11 {
        last = Some(app.save_key(CANARY).await);
    }
    assert_error(last.unwrap(), 429, "rate_limited").await;
}

async fn concurrent_saves_removals_and_uses_never_corrupt_the_entry(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let user_id = app.db.find_user_by_email(&email).await.unwrap().unwrap().id;
    let cipher = KeyCipher::new(&SecretString::from(TEST_SECRET.to_string()), &[]);
    let token = |k: &str| cipher.encrypt(&SecretString::from(k.to_string()));
    let keys: Vec<String> = (0..8)
        .map(|i| format!("sk-ant-api03-CANARY{i}concurrent{i}CANARY{i}concurrent-{i:04}"))
        .collect();

    // Writers straight at the service's storage (the HTTP limiter would throttle them).
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let db = app.db.clone();
        let entry: KeyEntry = serde_json::from_value(json!({ "encrypted_key": token(key), "key_hint": format!("hint-{i}"), "added_at": "2026-01-01T00:00:00Z", "last_used": null, "valid": true })).unwrap();
        tasks.push(tokio::spawn(async move {
            db.set_anthropic_key(user_id, &entry).await.unwrap();
        }));
        if i % 3 == 0 {
            let db = app.db.clone();
            tasks.push(tokio::spawn(async move {
                db.remove_anthropic_key(user_id).await.unwrap();
            }));
        }
        let db = app.db.clone();
        let stale = token("sk-ant-api03-CANARYstale-never-stored-0000000000000000");
        tasks.push(tokio::spawn(async move {
            assert!(!db
                .mark_key_used(user_id, &stale, "2026-01-02T00:00:00Z")
                .await
                .unwrap());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let settings = app.settings_of(&email).await;
    assert_eq!(
        settings["subscription"]["status"], "beta",
        "no write touched other fields"
    );
    if let Some(entry) = settings["api_keys"].get("anthropic") {
        // Whole, from one writer: its token decrypts to the key its hint names.
        let plain = cipher
            .decrypt(entry["encrypted_key"].as_str().unwrap())
            .unwrap()
            .0;
        let i: usize = entry["key_hint"]
            .as_str()
            .unwrap()
            .trim_start_matches("hint-")
            .parse()
            .unwrap();
        assert_eq!(plain.expose_secret(), keys[i]);
        assert!(entry["last_used"].is_null(), "a stale use never lands");
    }

    // A use recorded after a removal never resurrects the key.
    let stored = token(CANARY);
    app.db.set_anthropic_key(user_id, &serde_json::from_value(json!({ "encrypted_key": stored, "key_hint": "h", "added_at": "x", "last_used": null, "valid": true })).unwrap()).await.unwrap();
    app.db.remove_anthropic_key(user_id).await.unwrap();
    assert!(!app
        .db
        .mark_key_used(user_id, &stored, "2026-01-02T00:00:00Z")
        .await
        .unwrap());
    assert!(!app.db.set_key_valid(user_id, &stored, false).await.unwrap());
    assert!(app.settings_of(&email).await["api_keys"]
        .get("anthropic")
        .is_none());
}

async fn concurrent_requests_through_the_api_leave_one_whole_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = app.client.clone();
        let base = app.address.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                client
                    .post(format!("{base}/api/v1/user/api-key"))
                    .json(&json!({ "api_key": if i % 4 == 0 { CANARY } else { OTHER } }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            } else {
                client
                    .delete(format!("{base}/api/v1/user/api-key"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 200 || status == 204, "{status}");
    }
    let settings = app.settings_of(&email).await;
    if let Some(entry) = settings["api_keys"].get("anthropic") {
        let cipher = KeyCipher::new(&SecretString::from(TEST_SECRET.to_string()), &[]);
        let plain = cipher
            .decrypt(entry["encrypted_key"].as_str().unwrap())
            .unwrap()
            .0;
        let expected_hint = format!(
            "{}...{}",
            &plain.expose_secret()[..10],
            &plain.expose_secret()[plain.expose_secret().len() - 4..]
        );
        assert_eq!(entry["key_hint"], expected_hint.as_str());
    }
}

async fn a_key_saved_under_the_previous_secret_still_works_and_is_re_encrypted(backend: Backend) {
    let old_secret = "old-secret-old-secret-old-secret-0001";
    let new_secret = "new-secret-new-secret-new-secret-0002";
    let first = spawn_app_with(
        backend,
        Options {
            secret: old_secret.into(),
            ..Default::default()
        },
    )
    .await;
    let email = first.signed_in_user().await;
    first.save_key(CANARY).await;
    let old_token = first.settings_of(&email).await["api_keys"]["anthropic"]["encrypted_key"]
        .as_str()
        .unwrap()
        .to_string();
    let url = first.database_url.clone();

    // The secret is rotated: the new app knows the old one as previous.
    let rotated = spawn_app_on(
        &url,
        tempfile::tempdir().unwrap(),
        Options {
            secret: new_secret.into(),
            previous: Some(format!("unrelated-one,{old_secret}")),
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
    let status: Value = rotated
        .post_json("/api/v1/user/api-key/test", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["valid"], true);
    let new_token = rotated.settings_of(&email).await["api_keys"]["anthropic"]["encrypted_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_token, old_token, "re-encrypted on read");
    let current = KeyCipher::new(&SecretString::from(new_secret.to_string()), &[]);
    assert_eq!(
        current.decrypt(&new_token).unwrap().0.expose_secret(),
        CANARY
    );
    assert_eq!(
        rotated
            .stub
            .state
            .requests()
            .last()
            .unwrap()
            .api_key
            .as_deref(),
        Some(CANARY)
    );
}

async fn the_rotation_command_rewrites_old_keys_and_counts_unreadable_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = SecretString::from("rotation-old-secret-rotation-old-secret".to_string());
    let lost = SecretString::from("rotation-lost-secret-rotation-lost-secret".to_string());
    let new = SecretString::from("rotation-new-secret-rotation-new-secret".to_string());
    let mut ids = Vec::new();
    for (i, secret) in [&old, &old, &lost, &new].into_iter().enumerate() {
        let row = app
            .db
            .insert_user(
                &format!("r{i}@example.org"),
                "x",
                &serde_json::from_value(json!({"api_keys": {}})).unwrap(),
            )
            .await
            .unwrap();
        let token = KeyCipher::new(secret, &[]).encrypt(&SecretString::from(CANARY.to_string()));
        app.db.set_anthropic_key(row.id, &serde_json::from_value(json!({ "encrypted_key": token, "key_hint": "h", "added_at": "x", "last_used": null, "valid": true })).unwrap()).await.unwrap();
        ids.push(row.id);
    }
    let cipher = KeyCipher::new(&new, std::slice::from_ref(&old));
    let report = rotate_all(&app.db, &cipher).await.unwrap();
    assert_eq!(
        (report.rewritten, report.current, report.unreadable),
        (2, 1, 1)
    );
    let again = rotate_all(&app.db, &cipher).await.unwrap();
    assert_eq!(
        (again.rewritten, again.current, again.unreadable),
        (0, 3, 1)
    );
}

async fn a_key_no_secret_can_read_asks_the_user_to_enter_it_again(backend: Backend) {
    let first = spawn_app_with(
        backend,
        Options {
            secret: "lost-secret-lost-secret-lost-secret-01".into(),
            ..Default::default()
        },
    )
    .await;
    let email = first.signed_in_user().await;
    first.save_key(CANARY).await;
    let other = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options::default(),
    )
    .await;
    other.login(&email, "correct horse battery").await;
    let message = assert_error(
        other
            .post_json("/api/v1/user/api-key/test", &json!({}))
            .await,
        422,
        "key_unreadable",
    )
    .await;
    assert!(message.contains("re-enter"), "{message}");
    // Never marked refused: the instance that can read it goes on using it.
    let status = other.key_status().await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["valid"], true);
    assert_eq!(
        first
            .post_json("/api/v1/user/api-key/test", &json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(first.key_status().await["valid"], true);
    // The log names the instance that could not read it, once however often it tries.
    assert_error(
        other
            .post_json("/api/v1/user/api-key/test", &json!({}))
            .await,
        422,
        "key_unreadable",
    )
    .await;
    let logs = captured_logs();
    let reports = logs
        .lines()
        .filter(|l| l.contains("cannot decrypt a stored key") && l.contains(&other.instance))
        .count();
    assert_eq!(reports, 1, "one report from {}", other.instance);
    // Saving a fresh key mends it.
    assert_eq!(other.save_key(CANARY).await.status(), 200);
    assert_eq!(other.key_status().await["valid"], true);
}

crate::db_tests!(
    a_valid_key_is_saved_encrypted_and_shows_only_its_hint,
    malformed_keys_are_refused_before_asking_anthropic,
    a_key_anthropic_refuses_is_not_saved_and_the_old_one_stays,
    an_unavailable_anthropic_keeps_the_old_key_and_says_so,
    a_dead_upstream_is_unavailable_and_stores_nothing,
    removing_a_key_clears_it_and_is_idempotent,
    testing_a_revoked_key_marks_it_refused,
    testing_while_anthropic_is_down_changes_nothing,
    key_routes_need_a_session,
    another_user_can_neither_see_nor_change_the_key,
    saving_too_often_is_rate_limited,
    concurrent_saves_removals_and_uses_never_corrupt_the_entry,
    concurrent_requests_through_the_api_leave_one_whole_key,
    a_key_saved_under_the_previous_secret_still_works_and_is_re_encrypted,
    the_rotation_command_rewrites_old_keys_and_counts_unreadable_ones,
    a_key_no_secret_can_read_asks_the_user_to_enter_it_again,
);
