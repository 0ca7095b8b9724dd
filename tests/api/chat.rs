use std::time::Duration;

use apexaurum::{
    server::{config::RuntimeFile, db::Db},
    sse::SseParser,
    stubs::anthropic::Fault,
};
use futures::StreamExt as _;
use serde_json::{json, Value};

use crate::{
    api_keys::{CANARY, OTHER},
    helpers::{assert_error, spawn_app, spawn_app_with, Backend, Options, TestApp},
};

/// A finished chat: its HTTP status, headers and every event (name, data).
pub struct Chat {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub events: Vec<(String, Value)>,
}

impl Chat {
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter(|(e, _)| e == "delta")
            .map(|(_, d)| d["text"].as_str().unwrap())
            .collect()
    }
    pub fn last(&self) -> &(String, Value) {
        self.events.last().expect("at least one event")
    }
    fn conversation_id(&self) -> String {
        self.last().1["conversation_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

async fn chat_with(client: &reqwest::Client, app: &TestApp, body: Value) -> Chat {
    let response = client
        .post(app.url("/api/v1/chat"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut events = Vec::new();
    if status == 200 {
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            for e in parser.push(&chunk.unwrap()) {
                events.push((e.event, serde_json::from_str(&e.data).unwrap()));
            }
        }
    } else {
        events.push(("http_error".into(), response.json().await.unwrap()));
    }
    Chat {
        status,
        headers,
        events,
    }
}

pub async fn chat(app: &TestApp, body: Value) -> Chat {
    chat_with(&app.client, app, body).await
}

pub async fn user_with_key(app: &TestApp) -> String {
    let email = app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    email
}

/// Another person, in their own browser, with their own key (`OTHER`).
pub async fn second_user_with_key(app: &TestApp, email: &str) -> reqwest::Client {
    let other = app.other_client();
    let registered = other
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let saved = other
        .post(app.url("/api/v1/user/api-key"))
        .json(&json!({ "api_key": OTHER }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    other
}

pub async fn conversation(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn without_a_key_chat_is_refused_before_anything_else(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let refused = chat(&app, json!({ "message": "hi" })).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.last().1["error"]["code"], "api_key_required");
    // Even a malformed body gets the key answer first.
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "api_key_required").await;
    assert!(app.stub.state.requests().is_empty());
    let anonymous = app
        .other_client()
        .post(app.url("/api/v1/chat"))
        .json(&json!({ "message": "hi" }))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthenticated").await;
}

async fn the_answer_streams_as_deltas_then_done_with_usage(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let done = chat(&app, json!({ "message": "  hi there  " })).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.headers["content-type"], "text/event-stream");
    assert_eq!(done.headers["cache-control"], "no-cache");
    assert_eq!(done.headers["x-accel-buffering"], "no");
    let names: Vec<&str> = done.events.iter().map(|(e, _)| e.as_str()).collect();
    assert!(names.len() > 3);
    assert!(
        names[..names.len() - 1].iter().all(|n| *n == "delta"),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"done"));
    assert_eq!(
        done.text(),
        "Hello from the Anthropic stand-in. You said: hi there"
    );
    let data = &done.last().1;
    let deltas = names.len() as i64 - 1;
    assert_eq!(data["usage"]["output_tokens"], deltas);
    // The whole prompt is written to the cache (its breakpoints end it).
    assert!(
        data["usage"]["cache_creation_input_tokens"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(data["message_id"].is_string());
    assert_eq!(app.stub.state.cut_streams(), 0, "a whole answer is not cut");

    // Stored, with usage, in a conversation with the default Agent.
    let stored = conversation(&app, data["conversation_id"].as_str().unwrap()).await;
    assert_eq!(stored["agent"], "azoth");
    assert_eq!(stored["title"], "hi there");
    let messages = stored["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "hi there");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["id"], data["message_id"]);
    assert_eq!(messages[1]["incomplete"], false);
    assert_eq!(messages[1]["output_tokens"], deltas);
    assert_eq!(messages[1]["input_tokens"], data["usage"]["input_tokens"]);
    assert_eq!(messages[1]["model"], "claude-sonnet-4-5");

    let usage: Value = app
        .post_json("/api/fn/usage_this_month", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage[0]["model"], "claude-sonnet-4-5");
    assert_eq!(usage[0]["output_tokens"], deltas);
    assert_eq!(usage[0]["answers"], 1);
    // The key's last use is recorded.
    assert!(app.key_status().await["last_used"].is_string());
}

async fn the_history_agent_and_model_go_to_anthropic(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let first = chat(&app, json!({ "message": "one", "agent": "vajra" })).await;
    let id = first.conversation_id();
    let second = chat(
        &app,
        json!({ "message": "two", "conversation_id": id, "model": "claude-haiku-4-5" }),
    )
    .await;
    assert_eq!(second.last().0, "done");
    let request = app
        .stub
        .state
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/messages")
        .unwrap();
    let body = request.body.unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert!(body["system"][0]["text"]
        .as_str()
        .unwrap()
        .contains("VAJRA"));
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(
        conversation(&app, &id).await["model"],
        "claude-haiku-4-5",
        "the model is kept per conversation"
    );
}

/// The conversation and its messages are read in one query that finds nothing for a
/// conversation without messages (the app never leaves one; a database edited by hand
/// may hold one): it is still
/// its owner's, opens empty and takes a message, and to anyone else it does not exist.
async fn a_conversation_without_messages_is_still_its_owner_s(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "one" }))
        .await
        .conversation_id();
    let sql = "DELETE FROM messages WHERE conversation_id = $1";
    let deleted = match &app.db {
        Db::Sqlite(sqlite) => sqlx::query(sql)
            .bind(&id)
            .execute(&mut *sqlite.writer().await.unwrap())
            .await
            .map(|r| r.rows_affected()),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(&id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    };
    // The person's message; its answer goes with it (counted on PostgreSQL only).
    assert!(deleted.unwrap() >= 1);
    assert_eq!(conversation(&app, &id).await["messages"], json!([]));
    let other = second_user_with_key(&app, "eve@example.org").await;
    let hijack = chat_with(
        &other,
        &app,
        json!({ "message": "mine?", "conversation_id": id }),
    )
    .await;
    assert_eq!(hijack.last().1["error"]["code"], "conversation_not_found");
    let again = chat(&app, json!({ "message": "two", "conversation_id": id })).await;
    assert_eq!(again.last().0, "done");
    let messages = conversation(&app, &id).await["messages"].clone();
    let contents: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 2, "{messages}");
    assert_eq!(contents[0], "two");
}

async fn each_user_s_own_key_goes_upstream_and_no_other(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let other = second_user_with_key(&app, "b@example.org").await;
    chat(&app, json!({ "message": "from a" })).await;
    chat_with(&other, &app, json!({ "message": "from b" })).await;
    for r in app
        .stub
        .state
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/messages")
    {
        let said = r.body.unwrap()["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        let expected = if said == "from a" { CANARY } else { OTHER };
        assert_eq!(r.api_key.as_deref(), Some(expected), "{said}");
    }
}

async fn a_key_revoked_mid_conversation_is_marked_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "hello" }))
        .await
        .conversation_id();
    app.stub.state.revoke(CANARY);
    let refused = chat(&app, json!({ "message": "again", "conversation_id": id })).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.last().1["error"]["code"], "api_key_invalid");
    assert_eq!(app.key_status().await["valid"], false);
    let me: Value = app.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["has_api_key"], true);
    // The next attempt is refused at once, without calling Anthropic.
    let calls = app.stub.state.requests().len();
    assert_eq!(
        chat(&app, json!({ "message": "third" })).await.last().1["error"]["code"],
        "api_key_invalid"
    );
    assert_eq!(app.stub.state.requests().len(), calls);
    // Saving a new key lifts it.
    assert_eq!(app.save_key(OTHER).await.status(), 200);
    assert_eq!(
        chat(&app, json!({ "message": "fourth", "conversation_id": id }))
            .await
            .last()
            .0,
        "done"
    );
}

async fn overload_and_server_errors_are_retryable_and_keep_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "hello" }))
        .await
        .conversation_id();
    for (status, answered, code) in [
        (429u16, 429, "anthropic_rate_limited"),
        (529, 503, "anthropic_overloaded"),
        (500, 503, "anthropic_unavailable"),
    ] {
        app.stub.state.set_fault_for(Fault::Status(status), 1);
        let failed = chat(
            &app,
            json!({ "message": format!("after {status}"), "conversation_id": id }),
        )
        .await;
        assert_eq!(failed.status, answered, "{status}");
        assert_eq!(failed.last().1["error"]["code"], code);
        assert_eq!(app.key_status().await["valid"], true, "{status}");
    }
    // Nothing lost: the messages were stored before the call.
    let messages = conversation(&app, &id).await["messages"]
        .as_array()
        .unwrap()
        .clone();
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"after 429")
            && texts.contains(&"after 529")
            && texts.contains(&"after 500")
    );
}

async fn a_dropped_stream_keeps_the_partial_answer_marked_incomplete(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    app.stub
        .state
        .set_fault_for(Fault::DropStream { after_deltas: 3 }, 1);
    let dropped = chat(&app, json!({ "message": "tell me everything" })).await;
    assert_eq!(dropped.status, 200);
    let (name, data) = dropped.last();
    assert_eq!(name, "error");
    assert_eq!(data["code"], "anthropic_unavailable");
    assert_eq!(dropped.text(), "Hello from the ");
    let stored = conversation(&app, &dropped.conversation_id()).await;
    let answer = &stored["messages"][1];
    assert_eq!(answer["content"], "Hello from the ");
    assert_eq!(answer["incomplete"], true);
}

/// An app with `runtime` in place of the runtime file's defaults, and a person signed in
/// with a key.
pub async fn app_with_key(backend: Backend, runtime: RuntimeFile) -> TestApp {
    let app = spawn_app_with(
        backend,
        Options {
            runtime: Some(runtime),
            ..Default::default()
        },
    )
    .await;
    user_with_key(&app).await;
    app
}

/// An app with `runtime`, a person with a key, and the stand-in's next answer stalling:
/// three words ("Hello from the "), then silence on an open connection.
async fn app_whose_next_answer_stalls(backend: Backend, runtime: RuntimeFile) -> TestApp {
    let app = app_with_key(backend, runtime).await;
    app.stub
        .state
        .set_fault_for(Fault::StallStream { after_deltas: 3 }, 1);
    app
}

/// The stalled answer (see [`app_whose_next_answer_stalls`]) ended with an error event
/// after its three words, and its upstream call was ended, not left open.
async fn assert_stalled_answer_cut(app: &TestApp, cut: &Chat) {
    assert_eq!(cut.status, 200);
    let (name, data) = cut.last();
    assert_eq!(name, "error");
    assert_eq!(data["code"], "anthropic_unavailable");
    assert_eq!(cut.text(), "Hello from the ");
    assert_eq!(
        app.stub
            .state
            .wait_for_cut_streams(1, std::time::Duration::from_secs(10))
            .await,
        1
    );
}

/// Anthropic falls silent mid-answer (no event, not even a ping) and keeps the connection
/// open: after `anthropic-idle-secs` the relay takes the stream as broken, ends the upstream
/// call, keeps what arrived marked incomplete and tells the browser, as for a cut stream.
async fn a_stream_that_falls_silent_ends_after_the_idle_time_and_keeps_what_arrived(
    backend: Backend,
) {
    let runtime = RuntimeFile {
        anthropic_idle_secs: 1,
        ..Default::default()
    };
    let app = app_whose_next_answer_stalls(backend, runtime).await;
    let started = std::time::Instant::now();
    let stalled = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        chat(&app, json!({ "message": "tell me everything" })),
    )
    .await
    .expect("the relay never gave up on the silent stream");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "given up after {waited:?}, before the idle time"
    );
    assert_stalled_answer_cut(&app, &stalled).await;
    let stored = conversation(&app, &stalled.conversation_id()).await;
    let answer = &stored["messages"][1];
    assert_eq!(answer["content"], "Hello from the ");
    assert_eq!(answer["incomplete"], true);
}

/// Asked to stop mid-answer, the server lets the answer go on for `shutdown-grace-secs`,
/// then cuts it: what arrived is stored, marked incomplete, with its usage, before the
/// process ends, and the browser is told. (Before, the server waited for every answer to
/// end however long it took, and its supervisor's kill lost them with their usage.)
async fn an_answer_still_streaming_when_the_server_stops_is_kept(backend: Backend) {
    let runtime = RuntimeFile {
        shutdown_grace_secs: 1,
        ..Default::default()
    };
    // The answer never ends by itself.
    let mut app = app_whose_next_answer_stalls(backend, runtime).await;
    let stop = app.stopper();
    let stub = app.stub.state.clone();
    let stopping = async move {
        while stub.requests().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let asked = std::time::Instant::now();
        stop.await;
        asked.elapsed()
    };
    let (cut, took) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        futures::future::join(
            chat(&app, json!({ "message": "tell me everything" })),
            stopping,
        ),
    )
    .await
    .expect("the server waited for the answer to end by itself");
    assert!(
        took >= std::time::Duration::from_secs(1),
        "cut after {took:?}, before the grace time"
    );
    assert_stalled_answer_cut(&app, &cut).await;
    // Stored before the server's end, with who paid for it.
    let db = Db::connect(&app.database_url).await.unwrap();
    let messages = db.messages(&cut.conversation_id()).await.unwrap();
    let answer = messages.last().unwrap();
    assert_eq!(
        (
            answer.role.as_str(),
            answer.content.as_str(),
            answer.incomplete
        ),
        ("assistant", "Hello from the ", true)
    );
    assert_eq!(answer.payer.as_deref(), Some("byok"));
    db.close().await;
}

async fn an_error_event_mid_stream_is_relayed_and_the_key_stays_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let failed = chat(&app, json!({ "message": "please [[overloaded]]" })).await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.last().0, "error");
    assert_eq!(failed.last().1["code"], "anthropic_overloaded");
    assert_eq!(app.key_status().await["valid"], true);
}

async fn a_retry_does_not_store_the_message_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "first" }))
        .await
        .conversation_id();
    app.stub.state.set_fault_for(Fault::Status(529), 1);
    let body =
        json!({ "message": "retry me", "conversation_id": id, "client_message_id": "c-123" });
    assert_eq!(chat(&app, body.clone()).await.status, 503);
    assert_eq!(chat(&app, body).await.last().0, "done");
    let messages = conversation(&app, &id).await["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m["content"] == "retry me")
            .count(),
        1
    );
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
}

/// A person with a key sends `message`, and its answer comes slowly (150 ms a delta): the
/// answer's response, its stream still open.
async fn slow_chat(app: &TestApp, message: &str) -> reqwest::Response {
    user_with_key(app).await;
    app.stub
        .state
        .set_fault_for(Fault::Slow { delay_ms: 150 }, 1);
    app.client
        .post(app.url("/api/v1/chat"))
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap()
}

/// Stop, or a closed tab: the app cancels the upstream call (the stand-in sees its stream
/// cut before `message_stop`) and keeps what arrived, marked incomplete.
async fn closing_the_stream_cancels_upstream_and_keeps_what_arrived_as_incomplete(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut body = slow_chat(&app, "slowly now").await.bytes_stream();
    let mut parser = SseParser::default();
    let mut deltas = 0;
    while deltas < 2 {
        for e in parser.push(&body.next().await.unwrap().unwrap()) {
            if e.event == "delta" {
                deltas += 1;
            }
        }
    }
    assert_eq!(app.stub.state.cut_streams(), 0);
    drop(body); // the Stop button, or a closed tab
    assert_eq!(
        app.stub
            .state
            .wait_for_cut_streams(1, std::time::Duration::from_secs(10))
            .await,
        1,
        "the stand-in saw its stream closed before message_stop"
    );
    let mut stored = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
        stored = conversation(&app, list[0]["id"].as_str().unwrap()).await;
        if stored["messages"].as_array().unwrap().len() == 2 {
            break;
        }
    }
    let answer = &stored["messages"][1];
    assert_eq!(answer["incomplete"], true, "{stored}");
    assert!(answer["content"]
        .as_str()
        .unwrap()
        .starts_with("Hello from"));
}

async fn another_user_s_conversation_answers_404(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let id = chat(&app, json!({ "message": "private" }))
        .await
        .conversation_id();
    let other = second_user_with_key(&app, "eve@example.org").await;
    let url = app.url(&format!("/api/v1/conversations/{id}"));
    assert_error(
        other.get(&url).send().await.unwrap(),
        404,
        "conversation_not_found",
    )
    .await;
    assert_error(
        other.delete(&url).send().await.unwrap(),
        404,
        "conversation_not_found",
    )
    .await;
    assert_error(
        other
            .patch(&url)
            .json(&json!({ "title": "mine" }))
            .send()
            .await
            .unwrap(),
        404,
        "conversation_not_found",
    )
    .await;
    let hijack = chat_with(
        &other,
        &app,
        json!({ "message": "let me in", "conversation_id": id }),
    )
    .await;
    assert_eq!(hijack.status, 404);
    assert_eq!(hijack.last().1["error"]["code"], "conversation_not_found");
    let unknown = app
        .get("/api/v1/conversations/00000000-0000-0000-0000-000000000000")
        .await;
    assert_error(unknown, 404, "conversation_not_found").await;
    assert_eq!(
        conversation(&app, &id).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn conversations_are_listed_renamed_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let a = chat(&app, json!({ "message": "first topic" }))
        .await
        .conversation_id();
    let b = chat(
        &app,
        json!({ "message": "second topic", "agent": "kether" }),
    )
    .await
    .conversation_id();
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str(), a.as_str()], "newest first");
    assert_eq!(
        list[0]["model"], "claude-opus-4-1",
        "KETHER's default model"
    );
    let renamed = app
        .client
        .patch(app.url(&format!("/api/v1/conversations/{a}")))
        .json(&json!({ "title": "  Renamed \n topic " }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        renamed.json::<Value>().await.unwrap()["title"],
        "Renamed topic"
    );
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{a}"))
            .await
            .status(),
        204
    );
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn bad_chat_requests_are_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    for body in [
        json!({ "message": "   " }),
        json!({ "message": "x", "agent": "nobody" }),
        json!({ "message": "x", "model": "gpt-4" }),
        json!({}),
    ] {
        let refused = chat(&app, body.clone()).await;
        assert_eq!(refused.status, 422, "{body}");
        assert_eq!(refused.last().1["error"]["code"], "invalid_request");
    }
}

/// What an answer's first words leave to record (the key's last use; an existing
/// conversation raised to the top with the model it now talks to) is stored with the
/// answer, in its transaction.
async fn continuing_a_conversation_raises_it_and_records_the_key_s_use(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    assert!(app.key_status().await["last_used"].is_null());
    let older = chat(&app, json!({ "message": "older" }))
        .await
        .conversation_id();
    let newer = chat(&app, json!({ "message": "newer" }))
        .await
        .conversation_id();
    let order = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    assert_eq!(order(&list), [newer.clone(), older.clone()]);
    assert!(app.key_status().await["last_used"].is_string());

    let again = chat(
        &app,
        json!({ "message": "again", "conversation_id": older, "model": "claude-haiku-4-5" }),
    )
    .await;
    assert_eq!(again.last().0, "done");
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    assert_eq!(
        order(&list),
        [older.clone(), newer],
        "used last, listed first"
    );
    assert_eq!(list[0]["model"], "claude-haiku-4-5");
    // Its "updated" is when the answer began: not after the answer was stored.
    let stored = conversation(&app, &older).await;
    let answer_at = stored["messages"][3]["created_at"].as_str().unwrap();
    assert!(
        list[0]["updated_at"].as_str().unwrap() <= answer_at,
        "{list} {stored}"
    );
}

/// An answer that cannot be stored (its conversation deleted while it streamed) still
/// leaves the key's use recorded, and its usage counted: the key was used, and Anthropic
/// billed it, all the same.
async fn the_key_s_use_is_recorded_when_the_answer_cannot_be_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    answer_of_a_deleted_conversation_counts(&app, "doomed", Duration::ZERO).await;
}

/// The same with a draft of the answer saved before the conversation was deleted (which
/// takes the draft with it): the answer is counted by its relay, not left to the draft.
async fn an_answer_with_a_draft_is_counted_when_its_conversation_is_deleted(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            runtime: Some(RuntimeFile {
                answer_draft_secs: 1,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    // A long answer, a word every 300 ms.
    answer_of_a_deleted_conversation_counts(&app, "doomed [[slow]]", Duration::from_millis(1800))
        .await;
}

/// A slow answer to `message` whose conversation is deleted `after` its first words (a
/// draft saved meanwhile, when there is time for one): the browser is told the answer
/// could not be stored, the key's use is recorded, and the answer's usage counted.
async fn answer_of_a_deleted_conversation_counts(app: &TestApp, message: &str, after: Duration) {
    let mut body = slow_chat(app, message).await.bytes_stream();
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    while !events
        .iter()
        .any(|e: &apexaurum::sse::SseEvent| e.event == "delta")
    {
        events.extend(parser.push(&body.next().await.unwrap().unwrap()));
    }
    if !after.is_zero() {
        // The answer goes on meanwhile: its words are read as they come.
        let _ = tokio::time::timeout(after, async {
            while let Some(chunk) = body.next().await {
                events.extend(parser.push(&chunk.unwrap()));
            }
        })
        .await;
        let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
        let drafts = app.db.drafts_saved_before(far_ahead, 10).await.unwrap();
        assert_eq!(drafts.len(), 1, "a draft was saved");
    }
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{id}"))
            .await
            .status(),
        204
    );
    while let Some(chunk) = body.next().await {
        events.extend(parser.push(&chunk.unwrap()));
    }
    let last = events.last().unwrap();
    assert_eq!(last.event, "error", "nowhere to store the answer");
    assert!(app.key_status().await["last_used"].is_string());
    let month: Value = app.get("/api/v1/usage").await.json().await.unwrap();
    assert_eq!(month["models"][0]["answers"], 1, "{month}");
    assert!(month["byok_cost_usd"].as_f64().unwrap() > 0.0, "{month}");
}

crate::db_tests!(
    without_a_key_chat_is_refused_before_anything_else,
    the_answer_streams_as_deltas_then_done_with_usage,
    the_history_agent_and_model_go_to_anthropic,
    a_conversation_without_messages_is_still_its_owner_s,
    each_user_s_own_key_goes_upstream_and_no_other,
    a_key_revoked_mid_conversation_is_marked_invalid,
    overload_and_server_errors_are_retryable_and_keep_the_key,
    a_dropped_stream_keeps_the_partial_answer_marked_incomplete,
    a_stream_that_falls_silent_ends_after_the_idle_time_and_keeps_what_arrived,
    an_answer_still_streaming_when_the_server_stops_is_kept,
    an_error_event_mid_stream_is_relayed_and_the_key_stays_valid,
    a_retry_does_not_store_the_message_twice,
    closing_the_stream_cancels_upstream_and_keeps_what_arrived_as_incomplete,
    another_user_s_conversation_answers_404,
    conversations_are_listed_renamed_and_deleted,
    bad_chat_requests_are_invalid,
    continuing_a_conversation_raises_it_and_records_the_key_s_use,
    the_key_s_use_is_recorded_when_the_answer_cannot_be_stored,
    an_answer_with_a_draft_is_counted_when_its_conversation_is_deleted,
);
