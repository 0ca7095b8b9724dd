//! The pages' server functions, called as a browser's fetch calls them: every failure
//! answers its error's HTTP status (never a blanket 500), with the encoded `AppError`.

use apexaurum::server::startup::SERVER_FN_PREFIX;
use leptos::server_fn::axum::server_fn_paths;
use reqwest::Response;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend, TestApp};

/// Posts a server function's arguments as a form (their default encoding).
async fn call(app: &TestApp, endpoint: &str, args: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url(&format!("{SERVER_FN_PREFIX}/{endpoint}")))
        .form(args)
        .send()
        .await
        .expect("request sent")
}

/// Posts a server function's JSON body (for those whose input encoding is JSON).
async fn call_json(app: &TestApp, endpoint: &str, body: &str) -> Response {
    app.client
        .post(app.url(&format!("{SERVER_FN_PREFIX}/{endpoint}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

async fn assert_fn_error(response: Response, status: u16, code: &str, what: &str) {
    assert_eq!(response.status().as_u16(), status, "{what}");
    let body: Value = response.json().await.expect("an encoded AppError");
    assert_eq!(body["code"], code, "{what}: {body}");
}

/// A server function's endpoint, its form arguments, and the status and code it answers.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    u16,
    &'static str,
);

/// Each server function with arguments that fail when nobody is logged in, and the error.
const ANONYMOUS: &[Case] = &[
    ("agents", &[], 401, "unauthenticated"),
    ("models", &[], 401, "unauthenticated"),
    ("conversations", &[], 401, "unauthenticated"),
    ("conversation", &[("id", "x")], 401, "unauthenticated"),
    (
        "rename_conversation",
        &[("id", "x"), ("title", "t")],
        401,
        "unauthenticated",
    ),
    (
        "delete_conversation",
        &[("id", "x")],
        401,
        "unauthenticated",
    ),
    ("usage_this_month", &[], 401, "unauthenticated"),
    (
        "search_conversations",
        &[("q", "x")],
        401,
        "unauthenticated",
    ),
    (
        "select_branch",
        &[("conversation_id", "x"), ("message_id", "y")],
        401,
        "unauthenticated",
    ),
    ("usage", &[], 401, "unauthenticated"),
    (
        "set_spend_cap",
        &[("monthly_usd", "5")],
        401,
        "unauthenticated",
    ),
    ("api_key_status", &[], 401, "unauthenticated"),
    (
        "save_api_key",
        &[("api_key", "sk-ant-x")],
        401,
        "unauthenticated",
    ),
    ("remove_api_key", &[], 401, "unauthenticated"),
    ("test_api_key", &[], 401, "unauthenticated"),
    ("key_activity", &[], 401, "unauthenticated"),
    ("billing_status", &[], 401, "unauthenticated"),
    ("start_checkout", &[], 401, "unauthenticated"),
    ("open_billing_portal", &[], 401, "unauthenticated"),
    (
        "change_password",
        &[
            ("current_password", "long enough"),
            ("new_password", "longer still"),
        ],
        401,
        "unauthenticated",
    ),
    ("log_out_other_sessions", &[], 401, "unauthenticated"),
    (
        "login",
        &[
            ("email", "nobody@example.org"),
            ("password", "wrong password"),
        ],
        401,
        "invalid_credentials",
    ),
    (
        "login",
        &[("email", "nobody@example.org")],
        422,
        "invalid_request",
    ),
    (
        "register",
        &[("email", "not-an-email"), ("password", "long enough")],
        422,
        "invalid_email",
    ),
    (
        "register",
        &[("email", "ada@example.org"), ("password", "short")],
        422,
        "weak_password",
    ),
    (
        "register",
        &[("password", "long enough")],
        422,
        "invalid_request",
    ),
];

/// The same for someone logged in, without a key and without conversations.
const SIGNED_IN: &[Case] = &[
    ("models", &[], 403, "api_key_required"),
    (
        "conversation",
        &[("id", "no-such-conversation")],
        404,
        "conversation_not_found",
    ),
    ("conversation", &[], 422, "invalid_request"),
    ("search_conversations", &[], 422, "invalid_request"),
    (
        "rename_conversation",
        &[("id", "no-such-conversation"), ("title", "t")],
        404,
        "conversation_not_found",
    ),
    (
        "rename_conversation",
        &[("id", "no-such-conversation"), ("title", "   ")],
        422,
        "invalid_request",
    ),
    (
        "delete_conversation",
        &[("id", "no-such-conversation")],
        404,
        "conversation_not_found",
    ),
    (
        "delete_conversation",
        &[("idd", "x")],
        422,
        "invalid_request",
    ),
    (
        "select_branch",
        &[
            ("conversation_id", "no-such-conversation"),
            ("message_id", "m"),
        ],
        404,
        "conversation_not_found",
    ),
    (
        "select_branch",
        &[("conversation_id", "x")],
        422,
        "invalid_request",
    ),
    (
        "save_api_key",
        &[("api_key", "not a key")],
        422,
        "invalid_key_format",
    ),
    ("save_api_key", &[], 422, "invalid_request"),
    ("test_api_key", &[], 404, "no_api_key"),
    ("usage", &[("month", "2026-13")], 422, "invalid_request"),
    (
        "set_spend_cap",
        &[("monthly_usd", "-1")],
        422,
        "invalid_request",
    ),
    ("set_spend_cap", &[], 422, "invalid_request"),
    // Billing is off in this app.
    ("start_checkout", &[], 503, "billing_unavailable"),
    ("open_billing_portal", &[], 503, "billing_unavailable"),
    (
        "change_password",
        &[
            ("current_password", "not the password"),
            ("new_password", "longer still"),
        ],
        422,
        "wrong_password",
    ),
    (
        "change_password",
        &[("current_password", "x")],
        422,
        "invalid_request",
    ),
    (
        "register",
        &[("email", "taken@example.org"), ("password", "long enough")],
        409,
        "email_taken",
    ),
];

/// Server functions that take JSON: an endpoint, its body, and the status and code it
/// answers, nobody logged in and then someone logged in without a key.
type JsonCase = (&'static str, &'static str, u16, &'static str);

const JSON_ANONYMOUS: &[JsonCase] = &[(
    "send_message",
    r#"{"message":"hi"}"#,
    401,
    "unauthenticated",
)];

const JSON_SIGNED_IN: &[JsonCase] = &[
    (
        "send_message",
        r#"{"message":"hi"}"#,
        403,
        "api_key_required",
    ),
    ("send_message", r#"{"text":"hi"}"#, 422, "invalid_request"),
    ("send_message", "message=hi", 422, "invalid_request"),
];

/// Server functions that cannot fail for a well-formed call (they answer "nobody" or
/// succeed); listed so that a new server function must be added to a table above.
const NEVER_FAIL: &[&str] = &["session_user", "logout"];

async fn every_server_function_answers_its_errors_http_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut covered: Vec<&str> = NEVER_FAIL.to_vec();
    for (endpoint, args, status, code) in ANONYMOUS {
        let what = format!("anonymous {endpoint} {args:?}");
        assert_fn_error(call(&app, endpoint, args).await, *status, code, &what).await;
        covered.push(endpoint);
    }
    for (endpoint, body, status, code) in JSON_ANONYMOUS {
        let what = format!("anonymous {endpoint} {body}");
        assert_fn_error(call_json(&app, endpoint, body).await, *status, code, &what).await;
        covered.push(endpoint);
    }

    app.register("taken@example.org", "long enough").await;
    app.signed_in_user().await;
    for (endpoint, args, status, code) in SIGNED_IN {
        let what = format!("signed-in {endpoint} {args:?}");
        assert_fn_error(call(&app, endpoint, args).await, *status, code, &what).await;
        covered.push(endpoint);
    }
    for (endpoint, body, status, code) in JSON_SIGNED_IN {
        let what = format!("signed-in {endpoint} {body}");
        assert_fn_error(call_json(&app, endpoint, body).await, *status, code, &what).await;
        covered.push(endpoint);
    }

    let registered: Vec<String> = server_fn_paths()
        .map(|(path, _)| {
            path.trim_start_matches(SERVER_FN_PREFIX)
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    assert!(
        registered.iter().any(|e| e == "conversation"),
        "{registered:?}"
    );
    let mut missing: Vec<&String> = registered
        .iter()
        .filter(|endpoint| !covered.contains(&endpoint.as_str()))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "server functions no test walks: {missing:?}"
    );
}

async fn a_plain_form_post_that_fails_still_goes_back_to_its_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url(&format!("{SERVER_FN_PREFIX}/login")))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[
            ("email", "nobody@example.org"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("/login"), "{location}");
}

/// The header's Log out is a plain form posted by the browser (a page load, never handled
/// in a page that may still be hydrating): it ends the session and sends the browser to
/// the login page.
async fn the_log_out_form_ends_the_session_and_goes_to_the_login_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let page = app.get("/chat").await.text().await.unwrap();
    assert!(
        page.contains(&format!(r#"action="{SERVER_FN_PREFIX}/logout""#)),
        "the header's form posts to the logout server function"
    );
    let response = app
        .client
        .post(app.url(&format!("{SERVER_FN_PREFIX}/logout")))
        .header("accept", "text/html")
        .header("origin", app.url(""))
        .header("referer", app.url("/chat"))
        // What a browser sends for a form with only a button that has no name.
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(location, "/login");
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 401);
}

crate::db_tests!(
    every_server_function_answers_its_errors_http_status,
    a_plain_form_post_that_fails_still_goes_back_to_its_form,
    the_log_out_form_ends_the_session_and_goes_to_the_login_page,
);
