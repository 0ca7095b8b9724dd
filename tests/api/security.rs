//! Safe on the open internet: no open redirect, throttling a stranger cannot turn on the
//! owner, bounded cost per request, limits shared by instances, security headers, sessions
//! that end, files only the owner can read.

use apexaurum::server::config::{AppEnv, RuntimeFile};
use reqwest::{header, Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, set_cookie, spawn_app, spawn_app_on, spawn_app_with, Backend, Options, TestApp,
};

const PASSWORD: &str = "correct horse battery";

fn with_runtime(runtime: RuntimeFile) -> Options {
    Options {
        runtime: Some(runtime),
        ..Default::default()
    }
}

async fn login_from(app: &TestApp, client: &reqwest::Client, email: &str, pw: &str) -> Response {
    client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": pw }))
        .send()
        .await
        .expect("request sent")
}

async fn register_from(app: &TestApp, client: &reqwest::Client, email: &str) -> Response {
    client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("request sent")
}

/// Asserts a 429 `rate_limited` that says when to come back.
async fn assert_rate_limited(response: Response) -> u64 {
    let retry_after: u64 = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    assert_error(response, 429, "rate_limited").await;
    retry_after
}

// ---- next ------------------------------------------------------------------------------------

async fn a_logged_in_visit_to_login_never_redirects_off_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    for next in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "https://evil.example",
    ] {
        let response = app.get(&format!("/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(response.headers()[header::LOCATION], "/chat", "{next}");
    }
}

async fn the_login_function_survives_a_hostile_next_after_a_correct_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    for next in ["/\n/evil.example", "/\t/evil.example", "//evil.example"] {
        let browser = app.other_client();
        let response = browser
            .post(app.url("/api/fn/login"))
            .header("accept", "text/html")
            .form(&[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .expect("the connection is not dropped");
        assert!(response.status().is_redirection(), "{next:?}");
        assert_eq!(response.headers()[header::LOCATION], "/chat", "{next:?}");
    }
}

// ---- throttling ------------------------------------------------------------------------------

async fn a_stranger_failing_on_an_account_does_not_lock_out_its_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let stranger = app.from("198.51.100.66");
    let mut last = None;
    for _ in 0..11 {
        last = Some(login_from(&app, &stranger, &email, "wrong horse").await);
    }
    assert_rate_limited(last.unwrap()).await;
    // The stranger stays locked out even with the right password...
    assert_rate_limited(login_from(&app, &stranger, &email, PASSWORD).await).await;
    // ...while the owner, elsewhere, logs in.
    let owner = app.from("203.0.113.10");
    assert_eq!(
        login_from(&app, &owner, &email, PASSWORD).await.status(),
        200
    );
}

async fn spraying_one_password_over_many_accounts_is_slowed_per_address(backend: Backend) {
    let app = spawn_app_with(
        backend,
        with_runtime(RuntimeFile {
            login_failures_per_address_per_hour: 5,
            ..Default::default()
        }),
    )
    .await;
    let sprayer = app.from("198.51.100.7");
    for i in 0..5 {
        let response = login_from(&app, &sprayer, &format!("u{i}@example.org"), "Winter2026").await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    let retry_after =
        assert_rate_limited(login_from(&app, &sprayer, "u9@example.org", "Winter2026").await).await;
    assert!(
        retry_after > 60,
        "the address waits out its hour: {retry_after}"
    );
    // Someone at another address is unaffected.
    let other = app.from("198.51.100.8");
    assert_error(
        login_from(&app, &other, "u9@example.org", "Winter2026").await,
        401,
        "invalid_credentials",
    )
    .await;
}

async fn registrations_are_limited_per_address(backend: Backend) {
    let app = spawn_app_with(
        backend,
        with_runtime(RuntimeFile {
            registrations_per_address_per_hour: 3,
            ..Default::default()
        }),
    )
    .await;
    let farm = app.from("198.51.100.20");
    for i in 0..3 {
        let response = register_from(&app, &farm, &format!("bot{i}@example.org")).await;
        assert_eq!(response.status(), 201);
    }
    assert_rate_limited(register_from(&app, &farm, "bot3@example.org").await).await;
    let person = app.from("198.51.100.21");
    assert_eq!(
        register_from(&app, &person, "person@example.org")
            .await
            .status(),
        201
    );
}

async fn a_forwarded_address_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            trusted_proxies: None,
            runtime: Some(RuntimeFile {
                registrations_per_address_per_hour: 2,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    // Each request claims a new address; with no trusted proxy they all count as this one.
    for i in 0..2 {
        let client = app.from(&format!("198.51.100.{i}"));
        assert_eq!(
            register_from(&app, &client, &format!("s{i}@example.org"))
                .await
                .status(),
            201
        );
    }
    let spoofer = app.from("198.51.100.99");
    assert_rate_limited(register_from(&app, &spoofer, "s9@example.org").await).await;
}

async fn key_checks_are_limited_per_address_across_accounts(backend: Backend) {
    let app = spawn_app_with(
        backend,
        with_runtime(RuntimeFile {
            key_saves_per_minute: 2,
            ..Default::default()
        }),
    )
    .await;
    let key = crate::api_keys::CANARY;
    let save = |client: reqwest::Client| {
        let url = app.url("/api/v1/user/api-key");
        async move {
            client
                .post(url)
                .json(&json!({ "api_key": key }))
                .send()
                .await
                .unwrap()
        }
    };
    // Two accounts from one address share the address's budget.
    let first = app.from("198.51.100.30");
    register_from(&app, &first, "k1@example.org").await;
    let second = app.from("198.51.100.30");
    register_from(&app, &second, "k2@example.org").await;
    assert_eq!(save(first.clone()).await.status(), 200);
    assert_eq!(save(second.clone()).await.status(), 200);
    assert_rate_limited(save(second).await).await;
}

async fn a_flood_of_registrations_gets_429s_with_retry_after_and_never_a_5xx(backend: Backend) {
    let app = spawn_app_with(
        backend,
        with_runtime(RuntimeFile {
            password_hash_concurrency: 1,
            password_hash_queue: 2,
            ..Default::default()
        }),
    )
    .await;
    let requests = (0..40).map(|i| {
        let client = app.from(&format!("10.1.{}.{}", i / 250, i % 250 + 1));
        let url = app.url("/api/v1/auth/register");
        async move {
            client
                .post(url)
                .json(&json!({ "email": format!("flood{i}@example.org"), "password": PASSWORD }))
                .send()
                .await
                .expect("no dropped connection")
        }
    });
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut limited = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            429 => {
                assert_rate_limited(response).await;
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(created >= 1, "the queue was served");
    assert!(limited >= 1, "beyond the queue, requests were refused");
    // Once the flood has passed, registering works again.
    let late = app.from("10.9.9.9");
    assert_eq!(
        register_from(&app, &late, "late@example.org")
            .await
            .status(),
        201
    );
}

/// Two instances on one PostgreSQL database count failures together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_by_instances_on_one_postgresql_database() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL run skipped");
        return;
    };
    crate::helpers::within_limit(async {
        let first = spawn_app(backend).await;
        let second = spawn_app_on(
            &first.database_url,
            tempfile::tempdir().unwrap(),
            Options::default(),
        )
        .await;
        let email = first.signed_in_user().await;
        let attacker_on_first = first.from("198.51.100.50");
        let attacker_on_second = second.from("198.51.100.50");
        for i in 0..10 {
            let (app, client) = if i % 2 == 0 {
                (&first, &attacker_on_first)
            } else {
                (&second, &attacker_on_second)
            };
            assert_error(
                login_from(app, client, &email, "wrong horse").await,
                401,
                "invalid_credentials",
            )
            .await;
        }
        // Five failures on each: the eleventh attempt is refused on either instance.
        assert_rate_limited(login_from(&second, &attacker_on_second, &email, "x").await).await;
        assert_rate_limited(login_from(&first, &attacker_on_first, &email, "x").await).await;
        // A restart forgets nothing.
        drop(second);
        let third = spawn_app_on(
            &first.database_url,
            tempfile::tempdir().unwrap(),
            Options::default(),
        )
        .await;
        let attacker_on_third = third.from("198.51.100.50");
        assert_rate_limited(login_from(&third, &attacker_on_third, &email, "x").await).await;
    })
    .await
}

// ---- headers ---------------------------------------------------------------------------------

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/login",
        "/api/v1/auth/me",
        "/healthz",
        "/no-such-page",
        "/favicon.svg",
    ] {
        let response = app.get(path).await;
        let h = response.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(h.contains_key(header::REFERRER_POLICY), "{path}");
        assert!(h.contains_key("permissions-policy"), "{path}");
        assert!(
            !h.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "{path}: no HSTS in development"
        );
    }
}

async fn inline_scripts_carry_the_nonce_the_policy_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.get("/login").await;
    let csp = first.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    let html = first.text().await.unwrap();
    let script_tags: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or_default())
        .collect();
    assert!(!script_tags.is_empty(), "the page has its hydration script");
    for tag in script_tags {
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "every script carries this response's nonce: <script{tag}>"
        );
    }
    let second = app.get("/login").await;
    assert!(
        !second.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains(&nonce),
        "a nonce is used once"
    );
}

async fn production_adds_hsts_and_a_host_prefixed_cookie(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            env: AppEnv::Production,
            secret: "production-secret-production-secret-42".into(),
            ..Default::default()
        },
    )
    .await;
    let response = app.register("ada@example.org", PASSWORD).await;
    assert!(response
        .headers()
        .contains_key(header::STRICT_TRANSPORT_SECURITY));
    let cookie = set_cookie(&response).unwrap();
    assert!(cookie.starts_with("__Host-apexaurum_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

// ---- sessions --------------------------------------------------------------------------------

async fn change_password(
    app: &TestApp,
    client: &reqwest::Client,
    current: &str,
    new: &str,
) -> Response {
    client
        .post(app.url("/api/fn/change_password"))
        .form(&[("current_password", current), ("new_password", new)])
        .send()
        .await
        .unwrap()
}

/// Asserts a server function's error: its status and the `AppError` it encodes.
async fn assert_fn_error(response: Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(body["code"], code, "body: {body}");
}

async fn changing_the_password_ends_every_other_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let laptop = app.other_client();
    assert_eq!(
        login_from(&app, &laptop, &email, PASSWORD).await.status(),
        200
    );

    let wrong = change_password(&app, &app.client, "not my password", "a new password").await;
    assert_fn_error(wrong, 422, "wrong_password").await;
    let weak = change_password(&app, &app.client, PASSWORD, "short").await;
    assert_fn_error(weak, 422, "weak_password").await;

    let changed = change_password(&app, &app.client, PASSWORD, "a new password").await;
    assert_eq!(changed.status(), 200);
    // This browser goes on; the laptop is logged out.
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 200);
    let on_laptop = laptop.get(app.url("/api/v1/auth/me")).send().await.unwrap();
    assert_error(on_laptop, 401, "unauthenticated").await;
    // Only the new password works now.
    let fresh = app.other_client();
    assert_error(
        login_from(&app, &fresh, &email, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        login_from(&app, &fresh, &email, "a new password")
            .await
            .status(),
        200
    );
}

async fn log_out_other_sessions_keeps_only_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let phone = app.other_client();
    assert_eq!(
        login_from(&app, &phone, &email, PASSWORD).await.status(),
        200
    );
    let stolen_cookie = app.other_client();
    assert_eq!(
        login_from(&app, &stolen_cookie, &email, PASSWORD)
            .await
            .status(),
        200
    );

    let response = app
        .client
        .post(app.url("/api/fn/log_out_other_sessions"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 200);
    for other in [&phone, &stolen_cookie] {
        let me = other.get(app.url("/api/v1/auth/me")).send().await.unwrap();
        assert_error(me, 401, "unauthenticated").await;
    }
    // Logging in again later works as ever.
    assert_eq!(
        login_from(&app, &phone, &email, PASSWORD).await.status(),
        200
    );
}

async fn a_session_ends_at_its_absolute_lifetime_however_active(backend: Backend) {
    let app = spawn_app_with(
        backend,
        with_runtime(RuntimeFile {
            session_max_days: 0,
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(
        app.register("ada@example.org", PASSWORD).await.status(),
        201
    );
    assert_error(app.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    let page = app.get("/settings").await;
    assert!(
        page.status().is_redirection(),
        "the page asks to log in again"
    );
}

// ---- files -----------------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_database_and_secret_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt as _;

    use apexaurum::server::{config::Settings, startup::Application};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = data.join("jwt_secret");
    std::fs::write(&secret, "an-existing-secret-an-existing-secret-0001").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let db_file = data.join("app.db");
    std::fs::write(&db_file, b"").unwrap();
    std::fs::set_permissions(&db_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let url = format!("sqlite://{}", db_file.display());
    let file = RuntimeFile {
        site_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        ..Default::default()
    };
    let settings = Settings::from_lookup(file, |name| match name {
        "DATABASE_URL" => Some(url.clone()),
        _ => None,
    })
    .unwrap();
    let app = Application::build(settings).await.expect("the app starts");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&db_file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "an-existing-secret-an-existing-secret-0001",
        "the secret file is never rewritten"
    );
    drop(app);
}

crate::db_tests!(
    a_logged_in_visit_to_login_never_redirects_off_site,
    the_login_function_survives_a_hostile_next_after_a_correct_password,
    a_stranger_failing_on_an_account_does_not_lock_out_its_owner,
    spraying_one_password_over_many_accounts_is_slowed_per_address,
    registrations_are_limited_per_address,
    a_forwarded_address_from_an_untrusted_peer_is_ignored,
    key_checks_are_limited_per_address_across_accounts,
    a_flood_of_registrations_gets_429s_with_retry_after_and_never_a_5xx,
    every_response_carries_the_security_headers,
    inline_scripts_carry_the_nonce_the_policy_names,
    production_adds_hsts_and_a_host_prefixed_cookie,
    changing_the_password_ends_every_other_session,
    log_out_other_sessions_keeps_only_this_one,
    a_session_ends_at_its_absolute_lifetime_however_active,
);
