//! Sessions read once per request and written only when they change, yet ending as the
//! contract says: after `session-days` of inactivity, and at once on every instance when
//! they are ended on one.

use apexaurum::server::{config::RuntimeFile, db::Db};
use reqwest::{header, Response};
use time::OffsetDateTime;

use crate::helpers::{
    assert_error, set_cookie, spawn_app_on, spawn_app_with, Backend, Options, TestApp,
};

const PASSWORD: &str = "correct horse battery";
const KEY: &str = "sk-ant-api03-sessions-sessions-sessions-sessions-0000";

/// The one stored session of the test: its record (as tower-sessions encodes it), its
/// expiry and its user id column.
async fn stored_session(db: &Db) -> (Vec<u8>, OffsetDateTime, Option<i64>) {
    match db {
        Db::Sqlite(sqlite) => {
            sqlx::query_as("SELECT data, expiry_date, user_id FROM tower_sessions")
                .fetch_one(&sqlite.reads)
                .await
                .unwrap()
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT data, expiry_date, user_id FROM \"tower_sessions\".\"session\"")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    }
}

/// Sets every stored session's expiry, as time passing would leave it.
async fn set_stored_expiry(db: &Db, expiry: OffsetDateTime) {
    match db {
        Db::Sqlite(sqlite) => {
            sqlx::query("UPDATE tower_sessions SET expiry_date = ?1")
                .bind(expiry)
                .execute(&mut *sqlite.writer().await.unwrap())
                .await
                .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query("UPDATE \"tower_sessions\".\"session\" SET expiry_date = $1")
                .bind(expiry)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// A session written before the store kept its user id in a column of its own.
async fn forget_user_id_column(db: &Db) {
    match db {
        Db::Sqlite(sqlite) => {
            sqlx::query("UPDATE tower_sessions SET user_id = NULL")
                .execute(&mut *sqlite.writer().await.unwrap())
                .await
                .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query("UPDATE \"tower_sessions\".\"session\" SET user_id = NULL")
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

fn one_day_sessions() -> Options {
    Options {
        runtime: Some(RuntimeFile {
            session_days: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn status(app: &TestApp, client: &reqwest::Client) -> Response {
    client
        .get(app.url("/api/v1/user/api-key/status"))
        .send()
        .await
        .unwrap()
}

async fn a_session_is_not_written_again_on_every_request(backend: Backend) {
    let app = spawn_app_with(backend, one_day_sessions()).await;
    app.signed_in_user().await;
    let before = stored_session(&app.db).await;
    for _ in 0..5 {
        let response = status(&app, &app.client).await;
        assert_eq!(response.status(), 200);
        assert_eq!(set_cookie(&response), None, "no cookie sent again");
    }
    let page = app.get("/settings").await;
    assert_eq!(page.status(), 200);
    assert_eq!(stored_session(&app.db).await, before, "nothing written");
}

async fn an_active_session_is_extended_and_an_idle_one_ends(backend: Backend) {
    let app = spawn_app_with(backend, one_day_sessions()).await;
    app.signed_in_user().await;
    let day = time::Duration::days(1);

    // Used two hours after its last write: the stored expiry moves on by those two hours,
    // and the browser's cookie with it.
    set_stored_expiry(
        &app.db,
        OffsetDateTime::now_utc() + day - time::Duration::hours(2),
    )
    .await;
    let response = status(&app, &app.client).await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response).expect("the cookie is sent again");
    assert!(cookie.contains("Max-Age=86400"), "{cookie}");
    let (_, expiry, _) = stored_session(&app.db).await;
    assert!(
        expiry > OffsetDateTime::now_utc() + day - time::Duration::minutes(1),
        "extended to a day from now: {expiry}"
    );

    // Idle past its lifetime: over, and the browser told to forget the cookie.
    set_stored_expiry(
        &app.db,
        OffsetDateTime::now_utc() - time::Duration::seconds(1),
    )
    .await;
    let response = status(&app, &app.client).await;
    let cookie = set_cookie(&response).expect("the cookie is removed");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_error(response, 401, "unauthenticated").await;
    let page = app.get("/settings").await;
    assert!(
        page.status().is_redirection(),
        "the page asks to log in again"
    );
}

async fn a_session_from_before_the_user_column_still_works_and_gets_it(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let email = app.signed_in_user().await;
    let user_id = app.db.find_user_by_email(&email).await.unwrap().unwrap().id;
    assert_eq!(stored_session(&app.db).await.2, Some(user_id));
    forget_user_id_column(&app.db).await;
    assert_eq!(status(&app, &app.client).await.status(), 200);
    assert_eq!(stored_session(&app.db).await.2, Some(user_id));
    assert_eq!(status(&app, &app.client).await.status(), 200);
}

/// Two instances on one database: what one does to a person's sessions and settings, the
/// other sees at the next request (the same browser, cookies for 127.0.0.1 on both).
async fn what_one_instance_ends_every_instance_sees_at_once(backend: Backend) {
    let first = spawn_app_with(backend, Options::default()).await;
    let second = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options {
            anthropic_base_url: Some(first.stub.base_url.clone()),
            ..Default::default()
        },
    )
    .await;
    let email = first.signed_in_user().await;
    let browser = &first.client;

    // A key saved on one instance, then removed: the other sees both at once.
    assert_eq!(first.save_key(KEY).await.status(), 200);
    let seen: serde_json::Value = status(&second, browser).await.json().await.unwrap();
    assert_eq!(seen["configured"], true, "{seen}");
    assert_eq!(first.delete("/api/v1/user/api-key").await.status(), 204);
    let seen: serde_json::Value = status(&second, browser).await.json().await.unwrap();
    assert_eq!(seen["configured"], false, "{seen}");

    // "Log out other sessions" on the first ends the phone's session on the second.
    let phone = first.other_client();
    let login = phone
        .post(second.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(status(&second, &phone).await.status(), 200);
    let response = browser
        .post(first.url("/api/fn/log_out_other_sessions"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_error(status(&second, &phone).await, 401, "unauthenticated").await;

    // Logging out on the first ends the session on the second.
    assert_eq!(status(&second, browser).await.status(), 200);
    let logout = browser
        .post(first.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    // The browser forgot its cookie; a copy of it kept elsewhere is worthless too.
    assert_error(status(&second, browser).await, 401, "unauthenticated").await;
}

async fn a_copied_cookie_is_worthless_after_logout_on_another_instance(backend: Backend) {
    let first = spawn_app_with(backend, Options::default()).await;
    let second = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options::default(),
    )
    .await;
    let registered = first
        .client
        .post(first.url("/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "copy@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let cookie = set_cookie(&registered).expect("a session cookie");
    let pair = cookie.split(';').next().unwrap().to_string();
    let copy = reqwest::Client::new();
    let with_copy = |app: &TestApp| {
        copy.get(app.url("/api/v1/auth/me"))
            .header(header::COOKIE, pair.clone())
            .send()
    };
    assert_eq!(with_copy(&second).await.unwrap().status(), 200);
    assert_eq!(
        first
            .post_json("/api/v1/auth/logout", &serde_json::json!({}))
            .await
            .status(),
        204
    );
    assert_error(with_copy(&second).await.unwrap(), 401, "unauthenticated").await;
}

crate::db_tests!(
    a_session_is_not_written_again_on_every_request,
    an_active_session_is_extended_and_an_idle_one_ends,
    a_session_from_before_the_user_column_still_works_and_gets_it,
    what_one_instance_ends_every_instance_sees_at_once,
    a_copied_cookie_is_worthless_after_logout_on_another_instance,
);
