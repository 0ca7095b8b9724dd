//! The page's way to send a message: the `send_message` server function, whose answer
//! streams as newline-delimited JSON frames of the same events as `POST /api/v1/chat`.

use apexaurum::{
    error::AppError,
    stubs::anthropic::Fault,
    types::chat::{ChatEvent, FrameDecoder, StreamErrorCode},
};
use futures::StreamExt as _;
use leptos::server_fn::error::FromServerFnError as _;
use serde_json::{json, Value};

use crate::{
    api_keys::CANARY,
    helpers::{spawn_app, Backend, TestApp},
};

const SEND: &str = "/api/fn/send_message";

/// A finished call: its HTTP status and headers, and every event or the call's error.
struct Sent {
    status: u16,
    headers: reqwest::header::HeaderMap,
    events: Vec<ChatEvent>,
    error: Option<AppError>,
    /// How many network chunks the answer came in.
    chunks: usize,
}

impl Sent {
    fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::Delta(d) => Some(d.text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn last(&self) -> &ChatEvent {
        self.events.last().expect("at least one event")
    }

    fn conversation_id(&self) -> String {
        match self.last() {
            ChatEvent::Done(done) => done.conversation_id.clone(),
            ChatEvent::Error(error) => error.conversation_id.clone(),
            ChatEvent::Delta(_) => panic!("the stream ended without done or error"),
        }
    }
}

async fn send(app: &TestApp, body: Value) -> Sent {
    let response = app.post_json(SEND, &body).await;
    read(response).await
}

async fn read(response: reqwest::Response) -> Sent {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut sent = Sent {
        status,
        headers,
        events: Vec::new(),
        error: None,
        chunks: 0,
    };
    if status != 200 {
        sent.error = Some(AppError::de(response.bytes().await.unwrap()));
        return sent;
    }
    let mut decoder = FrameDecoder::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        sent.chunks += 1;
        sent.events
            .extend(decoder.push(&chunk.unwrap()).expect("well-formed frames"));
    }
    assert!(!decoder.is_mid_frame(), "the stream ended mid-frame");
    sent
}

async fn user_with_key(app: &TestApp) {
    app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
}

async fn conversation(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn the_answer_streams_as_framed_deltas_then_done(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let sent = send(&app, json!({ "message": "  hi there  " })).await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.headers["cache-control"], "no-cache");
    assert_eq!(sent.headers["x-accel-buffering"], "no");
    assert!(sent.events.len() > 3);
    let (last, deltas) = sent.events.split_last().unwrap();
    assert!(deltas.iter().all(|e| matches!(e, ChatEvent::Delta(_))));
    let ChatEvent::Done(done) = last else {
        panic!("ended with {last:?}");
    };
    assert_eq!(
        sent.text(),
        "Hello from the Anthropic stand-in. You said: hi there"
    );
    assert_eq!(done.usage.output_tokens, deltas.len() as i64);
    assert!(done.usage.cache_creation_input_tokens > 0);
    assert!(done.cost_usd.unwrap() > 0.0, "claude-sonnet-4-5 is priced");
    assert_eq!(app.stub.state.cut_streams(), 0, "a whole answer is not cut");

    let stored = conversation(&app, &done.conversation_id).await;
    let answer = &stored["messages"][1];
    assert_eq!(answer["id"], done.message_id.as_str());
    assert_eq!(answer["content"], sent.text());
    assert_eq!(answer["incomplete"], false);
    assert_eq!(answer["output_tokens"], done.usage.output_tokens);
}

async fn the_frames_are_the_same_events_as_the_sse_route_sends(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let response = app.post_json(SEND, &json!({ "message": "frame me" })).await;
    let body = response.text().await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        json!({ "event": "delta", "data": { "text": "Hello " } })
    );
    let done = lines.last().unwrap();
    assert_eq!(done["event"], "done");
    for field in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        assert!(done["data"]["usage"][field].is_i64(), "{field}: {done}");
    }
    assert!(done["data"]["cost_usd"].is_f64());
}

async fn a_non_ascii_answer_arrives_intact(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    // Slow, so that the answer comes in many chunks.
    app.stub.state.set_fault_for(Fault::Slow { delay_ms: 5 }, 1);
    let words = "Gr\u{fc}\u{df}e \u{1f600} \u{65e5}\u{672c}\u{8a9e} \u{10348}";
    let sent = send(&app, json!({ "message": words })).await;
    assert!(
        matches!(sent.last(), ChatEvent::Done(_)),
        "{:?}",
        sent.last()
    );
    assert!(sent.chunks > 3, "{} chunks", sent.chunks);
    let expected = format!("Hello from the Anthropic stand-in. You said: {words}");
    assert_eq!(sent.text(), expected);
    let stored = conversation(&app, &sent.conversation_id()).await;
    assert_eq!(stored["messages"][0]["content"], words);
    assert_eq!(stored["messages"][1]["content"], expected.as_str());
}

async fn an_error_mid_stream_is_the_error_event_and_keeps_what_arrived(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let overloaded = send(&app, json!({ "message": "please [[overloaded]]" })).await;
    assert_eq!(overloaded.status, 200);
    let ChatEvent::Error(error) = overloaded.last() else {
        panic!("ended with {:?}", overloaded.last());
    };
    assert_eq!(error.code, StreamErrorCode::AnthropicOverloaded);
    assert!(!error.message.is_empty());
    assert_eq!(app.key_status().await["valid"], true);

    app.stub
        .state
        .set_fault_for(Fault::DropStream { after_deltas: 3 }, 1);
    let dropped = send(&app, json!({ "message": "tell me everything" })).await;
    assert!(
        matches!(dropped.last(), ChatEvent::Error(e) if e.code == StreamErrorCode::AnthropicUnavailable)
    );
    assert_eq!(dropped.text(), "Hello from the ");
    let stored = conversation(&app, &dropped.conversation_id()).await;
    assert_eq!(stored["messages"][1]["content"], "Hello from the ");
    assert_eq!(stored["messages"][1]["incomplete"], true);
}

async fn failures_before_the_stream_are_the_call_s_error_with_its_status(backend: Backend) {
    let app = spawn_app(backend).await;

    let anonymous = read(
        app.other_client()
            .post(app.url(SEND))
            .json(&json!({ "message": "hi" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error, Some(AppError::Unauthenticated));

    app.signed_in_user().await;
    let no_key = send(&app, json!({ "message": "hi" })).await;
    assert_eq!(
        (no_key.status, no_key.error),
        (403, Some(AppError::ApiKeyRequired))
    );
    assert!(app.stub.state.requests().is_empty());

    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let malformed = app
        .post_json(SEND, &json!({ "text": "no message field" }))
        .await;
    let malformed = read(malformed).await;
    assert_eq!(malformed.status, 422);
    assert!(matches!(malformed.error, Some(AppError::InvalidRequest(_))));
    let empty = send(&app, json!({ "message": "   " })).await;
    assert!(matches!(
        (empty.status, empty.error),
        (422, Some(AppError::InvalidRequest(_)))
    ));
    let unknown = send(&app, json!({ "message": "hi", "conversation_id": "nope" })).await;
    assert_eq!(
        (unknown.status, unknown.error),
        (404, Some(AppError::ConversationNotFound))
    );

    app.stub.state.set_fault_for(Fault::Status(529), 1);
    let overloaded = send(&app, json!({ "message": "hi" })).await;
    assert_eq!(
        (overloaded.status, overloaded.error),
        (503, Some(AppError::AnthropicOverloaded))
    );

    app.stub.state.revoke(CANARY);
    let revoked = send(&app, json!({ "message": "hi again" })).await;
    assert_eq!(
        (revoked.status, revoked.error),
        (403, Some(AppError::ApiKeyInvalid))
    );
    assert_eq!(app.key_status().await["valid"], false);
}

async fn a_retry_through_the_server_function_stores_the_message_once(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    app.stub.state.set_fault_for(Fault::Status(529), 1);
    let body = json!({ "message": "retry me", "client_message_id": "c-1" });
    assert_eq!(send(&app, body.clone()).await.status, 503);
    let list: Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let retried = send(
        &app,
        json!({ "message": "retry me", "client_message_id": "c-1", "conversation_id": id }),
    )
    .await;
    assert!(matches!(retried.last(), ChatEvent::Done(_)));
    let messages = conversation(&app, &id).await["messages"].clone();
    let roles: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
}

async fn closing_the_stream_mid_answer_keeps_what_arrived_as_incomplete(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    app.stub
        .state
        .set_fault_for(Fault::Slow { delay_ms: 150 }, 1);
    let response = app
        .post_json(SEND, &json!({ "message": "slowly now" }))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut decoder = FrameDecoder::default();
    let mut deltas = 0;
    while deltas < 2 {
        let chunk = body.next().await.unwrap().unwrap();
        deltas += decoder
            .push(&chunk)
            .unwrap()
            .iter()
            .filter(|e| matches!(e, ChatEvent::Delta(_)))
            .count();
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
    let content = answer["content"].as_str().unwrap();
    assert!(content.starts_with("Hello from"), "{content}");
}

crate::db_tests!(
    the_answer_streams_as_framed_deltas_then_done,
    the_frames_are_the_same_events_as_the_sse_route_sends,
    a_non_ascii_answer_arrives_intact,
    an_error_mid_stream_is_the_error_event_and_keeps_what_arrived,
    failures_before_the_stream_are_the_call_s_error_with_its_status,
    a_retry_through_the_server_function_stores_the_message_once,
    closing_the_stream_mid_answer_keeps_what_arrived_as_incomplete,
);
