use apexaurum::server::config::AppEnv;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, set_cookie, spawn_app, spawn_app_with, Backend, Options};

async fn registering_creates_an_account_and_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("Ada@Example.org", "correct horse").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(set_cookie(&response).is_some(), "a session cookie is set");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.org");
    assert!(body["id"].as_i64().is_some());

    let me: Value = app.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(
        me,
        json!({ "id": body["id"], "email": "ada@example.org", "has_api_key": false })
    );
}

async fn new_accounts_get_the_design_settings_document(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let row = app.db.find_user_by_email(&email).await.unwrap().unwrap();
    let settings = app.settings_of(&email).await;
    assert_eq!(settings["subscription"]["status"], "beta");
    assert_eq!(settings["subscription"]["byok_allowed"], true);
    assert!(settings["subscription"]["stripe_customer_id"].is_null());
    assert!(row.password_hash.starts_with("$argon2id$"));
}

async fn a_duplicate_email_is_refused_whatever_its_case(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.register("ada@example.org", "correct horse")
            .await
            .status(),
        201
    );
    let other = app.other_client();
    let response = other
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": "ADA@example.org", "password": "another password" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "email_taken").await;
}

async fn a_short_password_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(
        app.register("ada@example.org", "1234567").await,
        422,
        "weak_password",
    )
    .await;
    assert!(app
        .db
        .find_user_by_email("ada@example.org")
        .await
        .unwrap()
        .is_none());
}

async fn a_malformed_email_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for bad in ["", "ada", "ada@", "ada@example", "a b@example.org"] {
        assert_error(
            app.register(bad, "correct horse").await,
            422,
            "invalid_email",
        )
        .await;
    }
}

async fn a_malformed_body_is_an_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, 422, "invalid_request").await;
}

async fn login_succeeds_with_the_right_password_and_renews_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = app.register("ada@example.org", "correct horse").await;
    let first_cookie = set_cookie(&registered).unwrap();
    let response = app.login("ADA@example.org", "correct horse").await;
    assert_eq!(response.status(), 200);
    let second_cookie = set_cookie(&response).expect("login sets a new session cookie");
    assert_ne!(
        cookie_value(&first_cookie),
        cookie_value(&second_cookie),
        "the session id is renewed"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.org");
}

async fn wrong_password_and_unknown_email_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.org", "correct horse").await;
    let anonymous = app.other_client();
    let wrong = anonymous
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "ada@example.org", "password": "wrong horse" }))
        .send()
        .await
        .unwrap();
    let unknown = anonymous
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@example.org", "password": "wrong horse" }))
        .send()
        .await
        .unwrap();
    let a = assert_error(wrong, 401, "invalid_credentials").await;
    let b = assert_error(unknown, 401, "invalid_credentials").await;
    assert_eq!(a, b);
}

async fn repeated_failed_logins_are_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut last = None;
    for _ in 0..12 {
        last = Some(app.login("ada@example.org", "wrong horse").await);
    }
    assert_error(last.unwrap(), 429, "rate_limited").await;
}

async fn logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 200);
    let response = app.post_json("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(response.status(), 204);
    assert_error(app.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
}

async fn a_logged_out_session_cookie_cannot_be_replayed(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("ada@example.org", "correct horse").await;
    let cookie = cookie_value(&set_cookie(&response).unwrap()).to_string();
    app.post_json("/api/v1/auth/logout", &json!({})).await;
    let replay = app
        .other_client()
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_error(replay, 401, "unauthenticated").await;
}

async fn me_without_a_session_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(app.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    assert_error(
        app.post_json("/api/v1/auth/logout", &json!({})).await,
        401,
        "unauthenticated",
    )
    .await;
}

async fn the_session_cookie_is_http_only_and_same_site_lax(backend: Backend) {
    let app = spawn_app(backend).await;
    let cookie = set_cookie(&app.register("ada@example.org", "correct horse").await).unwrap();
    assert!(cookie.starts_with("apexaurum_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "development serves plain http");
}

async fn production_marks_the_session_cookie_secure(backend: Backend) {
    let options = Options {
        env: AppEnv::Production,
        secret: "production-secret-production-secret-42".into(),
        ..Default::default()
    };
    let app = spawn_app_with(backend, options).await;
    let cookie = set_cookie(&app.register("ada@example.org", "correct horse").await).unwrap();
    assert!(cookie.contains("Secure"));
    assert!(cookie.contains("HttpOnly"));
}

async fn a_post_from_a_foreign_origin_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/fn/login",
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .json(&json!({ "email": "ada@example.org", "password": "correct horse" }))
            .send()
            .await
            .unwrap();
        assert_error(response, 403, "csrf_rejected").await;
    }
    assert!(app
        .db
        .find_user_by_email("ada@example.org")
        .await
        .unwrap()
        .is_none());
    // The same request from the app's own origin goes through.
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("origin", &app.address)
        .json(&json!({ "email": "ada@example.org", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn protected_pages_send_anonymous_visitors_to_login_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    for page in ["/settings", "/chat"] {
        let response = app.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(
            response.headers()["location"],
            format!("/login?next={page}")
        );
    }
}

/// Posts a login or registration form as a browser does (no WASM on those pages).
async fn post_form(
    client: &reqwest::Client,
    url: String,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(url)
        .header("accept", "text/html")
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn the_login_form_posts_to_the_page_and_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.org", "correct horse").await;
    let browser = app.other_client();
    let fields = [
        ("next", "/settings"),
        ("email", "Ada@Example.org"),
        ("password", "correct horse"),
    ];
    let response = post_form(&browser, app.url("/login"), &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/settings");
    assert!(set_cookie(&response).is_some(), "a session cookie is set");
    let page = browser.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ada@example.org"));

    // Off-site `next`s land on the chat instead.
    for next in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "",
    ] {
        let fields = [
            ("next", next),
            ("email", "ada@example.org"),
            ("password", "correct horse"),
        ];
        let response = post_form(&app.other_client(), app.url("/login"), &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()["location"], "/chat", "{next:?}");
    }
}

async fn a_refused_login_shows_the_form_again_with_the_email_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.org", "correct horse").await;
    let browser = app.other_client();
    let canary = "canary-password-5b1e";
    let fields = [
        ("next", "/settings"),
        ("email", "ada@example.org"),
        ("password", canary),
    ];
    let response = post_form(&browser, app.url("/login"), &fields).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Email or password is incorrect."),
        "the error is on the page"
    );
    assert!(
        html.contains(r#"value="ada@example.org""#),
        "the email is kept"
    );
    assert!(
        html.contains(r#"value="/settings""#),
        "and where to go after"
    );
    assert!(!html.contains(canary), "the password never comes back");
    assert!(!html.contains(".wasm"), "the page ships no WASM");
    // Not signed in.
    let me = browser
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);

    // Whatever was typed comes back as text, never as markup.
    let hostile = r#""><script>alert(1)</script>@example.org"#;
    let fields = [
        ("next", "\"><b>"),
        ("email", hostile),
        ("password", "whatever!"),
    ];
    let html = post_form(&browser, app.url("/login"), &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)"), "the email is escaped");
    assert!(!html.contains("\"><b>"), "next is escaped");
}

async fn the_registration_form_refuses_with_the_contract_texts_and_creates_accounts(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let browser = app.other_client();
    let cases = [
        ("not-an-email", "correct horse", 422, "invalid_email"),
        ("ada@example.org", "short", 422, "weak_password"),
    ];
    for (email, password, status, _code) in cases {
        let fields = [("next", ""), ("email", email), ("password", password)];
        let response = post_form(&browser, app.url("/register"), &fields).await;
        assert_eq!(response.status(), status, "{email} {password}");
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!(r#"value="{email}""#)), "{email}");
        assert!(html.contains(r#"class="form-error""#));
    }
    let fields = [
        ("next", "/settings"),
        ("email", "ada@example.org"),
        ("password", "correct horse"),
    ];
    let response = post_form(&browser, app.url("/register"), &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/settings");
    let me: Value = browser
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ada@example.org");

    // The same email again: the form says so, with the status the API uses.
    let response = post_form(&app.other_client(), app.url("/register"), &fields).await;
    assert_eq!(response.status(), 409);
}

async fn the_login_and_registration_pages_ship_no_wasm_and_the_others_do(backend: Backend) {
    let app = spawn_app(backend).await;
    for page in ["/login", "/register", "/login?next=/settings"] {
        let html = app
            .other_client()
            .get(app.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !html.contains(".wasm") && !html.contains("hydrate"),
            "{page}"
        );
        assert!(html.contains(r#"src="/forms.js""#), "{page}");
        assert!(html.contains(r#"<form method="post" action=""#), "{page}");
    }
    app.signed_in_user().await;
    let html = app.get("/settings").await.text().await.unwrap();
    assert!(
        html.contains(".wasm") || html.contains("hydrate"),
        "the app's pages hydrate"
    );
    assert!(!html.contains("/forms.js"));
}

async fn the_forms_script_is_served_from_the_site(backend: Backend) {
    // As cargo-leptos copies `public/` into the site.
    let site = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/public/forms.js"),
        site.path().join("forms.js"),
    )
    .unwrap();
    let options = Options {
        site_root: Some(site.path().display().to_string()),
        ..Default::default()
    };
    let app = spawn_app_with(backend, options).await;
    let script = app
        .other_client()
        .get(app.url("/forms.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(script.text().await.unwrap().contains("data-hydrated"));
}

async fn a_login_form_from_another_site_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.org", "correct horse").await;
    let response = app
        .other_client()
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", "ada@example.org"), ("password", "correct horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(set_cookie(&response).is_none());
}

async fn a_next_parameter_cannot_send_people_off_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.org", "correct horse").await;
    let response = app
        .other_client()
        .post(app.url("/api/fn/login"))
        .header("accept", "text/html")
        .form(&[
            ("next", "//evil.example"),
            ("email", "ada@example.org"),
            ("password", "correct horse"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/chat");
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

crate::db_tests!(
    registering_creates_an_account_and_signs_in,
    new_accounts_get_the_design_settings_document,
    a_duplicate_email_is_refused_whatever_its_case,
    a_short_password_is_refused,
    a_malformed_email_is_refused,
    a_malformed_body_is_an_invalid_request,
    login_succeeds_with_the_right_password_and_renews_the_session,
    wrong_password_and_unknown_email_get_the_same_answer,
    repeated_failed_logins_are_rate_limited,
    logout_ends_the_session,
    a_logged_out_session_cookie_cannot_be_replayed,
    me_without_a_session_is_unauthenticated,
    the_session_cookie_is_http_only_and_same_site_lax,
    production_marks_the_session_cookie_secure,
    a_post_from_a_foreign_origin_is_refused,
    protected_pages_send_anonymous_visitors_to_login_and_back,
    the_login_form_posts_to_the_page_and_signs_in,
    a_refused_login_shows_the_form_again_with_the_email_kept,
    the_registration_form_refuses_with_the_contract_texts_and_creates_accounts,
    the_login_and_registration_pages_ship_no_wasm_and_the_others_do,
    a_login_form_from_another_site_is_refused,
    the_forms_script_is_served_from_the_site,
    a_next_parameter_cannot_send_people_off_site,
);
