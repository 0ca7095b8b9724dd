//! Regenerate and edit: a conversation is a tree of messages, shown and sent to Anthropic
//! along one path, with every earlier version kept.

use apexaurum::server::db::{Db, DbError, NewMessage};
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::{
    chat::{chat, conversation, second_user_with_key, user_with_key},
    helpers::{assert_error, fresh_postgres_database, migrate_before, spawn_app, Backend, TestApp},
};

/// A finished answer's conversation and message ids.
async fn answered(app: &TestApp, body: Value) -> (String, String) {
    let done = chat(app, body).await;
    assert_eq!(done.status, 200, "{:?}", done.events.last());
    let (event, data) = done.last();
    assert_eq!(event, "done", "{data}");
    (
        data["conversation_id"].as_str().unwrap().to_string(),
        data["message_id"].as_str().unwrap().to_string(),
    )
}

/// The messages of the conversation's current path.
async fn path(app: &TestApp, id: &str) -> Vec<Value> {
    conversation(app, id).await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn ids(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["id"].as_str().unwrap()).collect()
}

fn contents(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect()
}

/// The messages the last call to Anthropic carried, as (role, text).
fn last_history(app: &TestApp) -> Vec<(String, String)> {
    let request = app
        .stub
        .state
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/messages")
        .expect("a call to Anthropic");
    request.body.unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            // A string, or blocks of text (the latest carries a cache breakpoint).
            let text = match &m["content"] {
                Value::String(text) => text.clone(),
                blocks => blocks
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["text"].as_str().unwrap())
                    .collect(),
            };
            (m["role"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

fn turn(role: &str, text: &str) -> (String, String) {
    (role.to_string(), text.to_string())
}

async fn select(app: &TestApp, id: &str, message_id: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/conversations/{id}/select"),
        &json!({ "message_id": message_id }),
    )
    .await
}

async fn regenerating_keeps_every_version_and_shows_the_latest(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, first) = answered(&app, json!({ "message": "hello [[numbered]]" })).await;
    let (c2, second) = answered(&app, json!({ "conversation_id": c, "regenerate": first })).await;
    assert_eq!(c2, c);
    // The new answer was asked the same message, without the answer it replaces.
    assert_eq!(last_history(&app), [turn("user", "hello [[numbered]]")]);

    let shown = path(&app, &c).await;
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[1]["id"], second);
    let second_text = shown[1]["content"].as_str().unwrap().to_string();
    assert!(second_text.contains("(answer "), "{second_text}");
    assert_eq!(
        shown[1]["siblings"],
        json!({ "index": 1, "count": 2, "prev_id": first, "next_id": null })
    );
    assert_eq!(shown[1]["parent_id"], shown[0]["id"]);
    assert_eq!(shown[0]["siblings"]["count"], 1);

    // Each version is its own row in the usage ledger: each cost money.
    let usage: Value = app
        .post_json("/api/fn/usage_this_month", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage[0]["answers"], 2);

    // Back to the first version: the view, and what the next message is sent with.
    let response = select(&app, &c, &first).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    let shown = view["messages"].as_array().unwrap();
    assert_eq!(shown[1]["id"], first);
    assert_ne!(
        shown[1]["content"],
        second_text.as_str(),
        "the versions differ"
    );
    assert_eq!(
        shown[1]["siblings"],
        json!({ "index": 0, "count": 2, "prev_id": null, "next_id": second })
    );
    assert_eq!(ids(&path(&app, &c).await), ids(shown));

    let first_text = shown[1]["content"].as_str().unwrap().to_string();
    let (_, third) = answered(&app, json!({ "conversation_id": c, "message": "go on" })).await;
    assert_eq!(
        last_history(&app),
        [
            turn("user", "hello [[numbered]]"),
            turn("assistant", &first_text),
            turn("user", "go on"),
        ]
    );
    // The follow-up lives on the first version's branch: flipping away and back keeps it.
    let response = select(&app, &c, &second).await;
    assert_eq!(response.status(), 200);
    assert_eq!(path(&app, &c).await.len(), 2);
    assert_eq!(select(&app, &c, &first).await.status(), 200);
    let shown = path(&app, &c).await;
    assert_eq!(shown.len(), 4);
    assert_eq!(shown[3]["id"], third);
}

async fn editing_a_message_branches_and_keeps_the_turns_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, _) = answered(&app, json!({ "message": "first" })).await;
    answered(&app, json!({ "conversation_id": c, "message": "second" })).await;
    let before = path(&app, &c).await;
    assert_eq!(before.len(), 4);
    let second = before[2]["id"].as_str().unwrap().to_string();

    answered(
        &app,
        json!({ "conversation_id": c, "edit_of": second, "message": "second, edited" }),
    )
    .await;
    let after = path(&app, &c).await;
    assert_eq!(
        contents(&after)[..3],
        [
            "first",
            before[1]["content"].as_str().unwrap(),
            "second, edited"
        ]
    );
    assert_eq!(after[2]["siblings"]["count"], 2);
    assert_eq!(after[2]["siblings"]["index"], 1);
    assert_eq!(after[2]["siblings"]["prev_id"], second.as_str());
    assert_eq!(
        last_history(&app),
        [
            turn("user", "first"),
            turn("assistant", before[1]["content"].as_str().unwrap()),
            turn("user", "second, edited"),
        ]
    );
    // The old message and its answer are still there, one flip away.
    let response = select(&app, &c, &second).await;
    assert_eq!(response.status(), 200);
    assert_eq!(ids(&path(&app, &c).await), ids(&before));

    // Editing the very first message starts a new root: only it is sent.
    let first = before[0]["id"].as_str().unwrap();
    answered(
        &app,
        json!({ "conversation_id": c, "edit_of": first, "message": "a new start" }),
    )
    .await;
    assert_eq!(last_history(&app), [turn("user", "a new start")]);
    let shown = path(&app, &c).await;
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["parent_id"], Value::Null);
    assert_eq!(shown[0]["siblings"]["prev_id"], first);
}

async fn regenerate_and_edit_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, answer) = answered(&app, json!({ "message": "first" })).await;
    let asked = path(&app, &c).await[0]["id"].as_str().unwrap().to_string();
    let before = app.stub.state.requests().len();
    for (body, why) in [
        (
            json!({ "conversation_id": c, "regenerate": asked }),
            "a message of the person is not an answer",
        ),
        (
            json!({ "conversation_id": c, "edit_of": answer, "message": "x" }),
            "an answer is not the person's to edit",
        ),
        (
            json!({ "conversation_id": c, "regenerate": answer, "message": "x" }),
            "a regenerated answer takes no message",
        ),
        (
            json!({ "regenerate": answer }),
            "regenerating needs the conversation",
        ),
        (
            json!({ "edit_of": asked, "message": "x" }),
            "editing needs the conversation",
        ),
        (
            json!({ "conversation_id": c, "edit_of": asked }),
            "an edit needs its new text",
        ),
    ] {
        let refused = chat(&app, body).await;
        assert_eq!(refused.status, 422, "{why}");
        assert_eq!(
            refused.last().1["error"]["code"],
            "invalid_request",
            "{why}"
        );
    }
    let refused = chat(
        &app,
        json!({ "conversation_id": c, "regenerate": "no-such-id" }),
    )
    .await;
    assert_eq!(refused.status, 404);
    assert_eq!(refused.last().1["error"]["code"], "conversation_not_found");
    assert_error(
        select(&app, &c, "no-such-id").await,
        404,
        "conversation_not_found",
    )
    .await;
    assert_eq!(
        app.stub.state.requests().len(),
        before,
        "nothing went to Anthropic"
    );
    assert_eq!(path(&app, &c).await.len(), 2, "nothing was stored");
}

async fn a_retry_with_the_same_client_message_id_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, first) = answered(
        &app,
        json!({ "message": "once", "client_message_id": "m-1" }),
    )
    .await;
    // The browser lost the answer and sends the same message again.
    let (_, again) = answered(
        &app,
        json!({ "conversation_id": c, "message": "once", "client_message_id": "m-1" }),
    )
    .await;
    let shown = path(&app, &c).await;
    assert_eq!(contents(&shown)[0], "once");
    assert_eq!(shown.len(), 2, "the message is not stored twice");
    // The retry's answer is another version of the same turn.
    assert_eq!(shown[1]["id"], again);
    assert_eq!(shown[1]["siblings"]["prev_id"], first);
    assert_eq!(shown[0]["siblings"]["count"], 1);

    // An edit sent twice makes one new version.
    let asked = shown[0]["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        answered(
            &app,
            json!({ "conversation_id": c, "edit_of": asked, "message": "twice",
                    "client_message_id": "m-2" }),
        )
        .await;
    }
    let shown = path(&app, &c).await;
    assert_eq!(shown[0]["content"], "twice");
    assert_eq!(shown[0]["siblings"]["count"], 2);
    assert_eq!(shown[1]["siblings"]["count"], 2, "both answers to the edit");
}

/// The database holds the line a concurrent retry relies on: a client id is stored once per
/// conversation (the second insert is a unique violation, and the first is found by it),
/// while any number of messages (answers, API messages) have none. Its index holds only
/// messages with an id (migration 0013) and must still do both.
async fn a_client_id_is_unique_in_its_conversation_and_none_is_not(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, _) = answered(
        &app,
        json!({ "message": "first", "client_message_id": "m-1" }),
    )
    .await;
    let (other, _) = answered(&app, json!({ "message": "other" })).await;
    fn message<'a>(id: &'a str, conversation_id: &'a str, cid: Option<&'a str>) -> NewMessage<'a> {
        NewMessage {
            id,
            conversation_id,
            role: if cid.is_some() { "user" } else { "assistant" },
            content: "x",
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            client_message_id: cid,
            parent_id: None,
        }
    }
    let (c, other) = (c.as_str(), other.as_str());
    for id in ["n-1", "n-2", "n-3"] {
        app.db
            .insert_message(&message(id, c, None))
            .await
            .expect("no client id");
    }
    app.db
        .insert_message(&message("d-1", c, Some("dup")))
        .await
        .unwrap();
    assert!(matches!(
        app.db.insert_message(&message("d-2", c, Some("dup"))).await,
        Err(DbError::UniqueViolation)
    ));
    assert!(matches!(
        app.db.insert_message(&message("d-3", c, Some("m-1"))).await,
        Err(DbError::UniqueViolation)
    ));
    app.db
        .insert_message(&message("d-4", other, Some("dup")))
        .await
        .expect("another conversation's client id");
    assert_eq!(
        app.db
            .find_client_message(c, "dup")
            .await
            .unwrap()
            .as_deref(),
        Some("d-1")
    );
    assert_eq!(
        app.db
            .find_client_message(other, "dup")
            .await
            .unwrap()
            .as_deref(),
        Some("d-4")
    );
    assert_eq!(app.db.find_client_message(c, "none").await.unwrap(), None);
}

async fn someone_elses_messages_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, answer) = answered(&app, json!({ "message": "mine" })).await;
    let asked = path(&app, &c).await[0]["id"].as_str().unwrap().to_string();

    let other = second_user_with_key(&app, "other@example.org").await;
    let post = |path: String, body: Value| {
        let other = other.clone();
        let url = app.url(&path);
        async move { other.post(url).json(&body).send().await.unwrap() }
    };
    let theirs = post(
        "/api/v1/chat".into(),
        json!({ "message": "theirs", "client_message_id": "t-1" }),
    )
    .await;
    assert_eq!(theirs.status(), 200);
    let body = theirs.text().await.unwrap();
    let own = body
        .split("\"conversation_id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let requests = app.stub.state.requests().len();

    for (path, body) in [
        (
            "/api/v1/chat".to_string(),
            json!({ "conversation_id": c, "regenerate": answer }),
        ),
        (
            "/api/v1/chat".to_string(),
            json!({ "conversation_id": own, "regenerate": answer }),
        ),
        (
            "/api/v1/chat".to_string(),
            json!({ "conversation_id": own, "edit_of": asked, "message": "x" }),
        ),
        (
            format!("/api/v1/conversations/{c}/select"),
            json!({ "message_id": answer }),
        ),
        (
            format!("/api/v1/conversations/{own}/select"),
            json!({ "message_id": answer }),
        ),
    ] {
        assert_error(post(path, body).await, 404, "conversation_not_found").await;
    }
    assert_eq!(app.stub.state.requests().len(), requests);
    assert_eq!(path(&app, &c).await.len(), 2, "mine is untouched");
}

/// Counts a conversation's messages straight in the database, every branch included.
async fn stored_messages(db: &Db, conversation_id: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM messages WHERE conversation_id = $1";
    match db {
        Db::Sqlite(sqlite) => sqlx::query_scalar(sql)
            .bind(conversation_id)
            .fetch_one(&sqlite.reads)
            .await
            .unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(conversation_id)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

async fn deleting_a_conversation_deletes_every_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let (c, answer) = answered(&app, json!({ "message": "first" })).await;
    answered(&app, json!({ "conversation_id": c, "regenerate": answer })).await;
    let asked = path(&app, &c).await[0]["id"].as_str().unwrap().to_string();
    answered(
        &app,
        json!({ "conversation_id": c, "edit_of": asked, "message": "edited" }),
    )
    .await;
    assert_eq!(stored_messages(&app.db, &c).await, 5);

    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{c}"))
            .await
            .status(),
        204
    );
    assert_eq!(stored_messages(&app.db, &c).await, 0);
    assert_error(
        app.get(&format!("/api/v1/conversations/{c}")).await,
        404,
        "conversation_not_found",
    )
    .await;
}

/// Runs one statement with its text and time arguments on either database.
async fn exec(db: &Db, sql: &str, texts: &[&str], time: Option<chrono::DateTime<Utc>>) {
    macro_rules! run {
        ($pool:expr) => {{
            let mut query = sqlx::query(sql);
            for t in texts {
                query = query.bind(*t);
            }
            if let Some(time) = time {
                query = query.bind(time);
            }
            query.execute($pool).await.unwrap();
        }};
    }
    match db {
        Db::Sqlite(sqlite) => run!(&mut *sqlite.writer().await.unwrap()),
        Db::Postgres(pool) => run!(pool),
    }
}

async fn the_migration_chains_the_messages_stored_before_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("old.db").display()),
        Backend::Postgres(url) => fresh_postgres_database(&url).await,
    };
    let db = Db::connect(&url).await.unwrap();
    migrate_before(&db, 7).await;

    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    exec(
        &db,
        "INSERT INTO users (email, password_hash, settings, created_at, updated_at) \
         VALUES ($1, $2, '{}', $3, $3)",
        &["old@example.org", "x"],
        Some(t0),
    )
    .await;
    for c in ["c1", "c2"] {
        exec(
            &db,
            "INSERT INTO conversations (id, user_id, title, agent, model, created_at, updated_at) \
             VALUES ($1, (SELECT id FROM users), 't', 'azoth', 'claude-sonnet-4-5', $2, $2)",
            &[c],
            Some(t0),
        )
        .await;
    }
    // Written out of order; two at the very same time (the id breaks the tie), and a
    // second conversation interleaved in time.
    let messages = [
        ("m3", "c1", "user", 3_000),
        ("m1", "c1", "user", 1_000),
        ("m2b", "c1", "assistant", 2_000),
        ("m2a", "c1", "assistant", 2_000),
        ("m4", "c1", "assistant", 3_500),
        ("n1", "c2", "user", 1_500),
        ("n2", "c2", "assistant", 2_500),
        ("m5", "c1", "user", 10_000),
    ];
    for (id, c, role, ms) in messages {
        exec(
            &db,
            "INSERT INTO messages (id, conversation_id, role, content, created_at) \
             VALUES ($1, $2, $3, $1, $4)",
            &[id, c, role],
            Some(t0 + Duration::milliseconds(ms)),
        )
        .await;
    }

    db.migrate()
        .await
        .expect("0007 applies to a filled database");

    for (c, chain) in [
        ("c1", vec!["m1", "m2a", "m2b", "m3", "m4", "m5"]),
        ("c2", vec!["n1", "n2"]),
    ] {
        let rows = db.messages(c).await.unwrap();
        let parents: Vec<(String, Option<String>)> = rows
            .iter()
            .map(|r| (r.id.clone(), r.parent_id.clone()))
            .collect();
        let expected: Vec<(String, Option<String>)> = chain
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.to_string(),
                    i.checked_sub(1).map(|p| chain[p].to_string()),
                )
            })
            .collect();
        assert_eq!(parents, expected, "{c}");
        assert!(rows.iter().all(|r| r.selected_at == r.created_at));
    }
    db.close().await;
}

crate::db_tests!(
    regenerating_keeps_every_version_and_shows_the_latest,
    editing_a_message_branches_and_keeps_the_turns_after_it,
    regenerate_and_edit_are_checked,
    a_retry_with_the_same_client_message_id_is_stored_once,
    a_client_id_is_unique_in_its_conversation_and_none_is_not,
    someone_elses_messages_are_not_found,
    deleting_a_conversation_deletes_every_branch,
    the_migration_chains_the_messages_stored_before_it,
);
