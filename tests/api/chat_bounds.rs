//! What one person's chatting may cost: the history sent with a message stays within a
//! budget (and the answer says when older turns were left out), answers streaming at once
//! and messages a minute are limited, answered 429 `rate_limited` with `Retry-After`.

use apexaurum::server::config::RuntimeFile;
use serde_json::json;

use crate::{
    chat::{app_with_key, chat},
    helpers::{assert_error, Backend, TestApp},
};

/// The messages of the last request the stand-in received for an answer.
fn last_sent_history(app: &TestApp) -> Vec<String> {
    let sent = app
        .stub
        .state
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/messages")
        .expect("a messages request");
    let body = sent.body.expect("a JSON body");
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        // The latest message is a text block with a cache breakpoint.
        .map(|m| {
            m["content"]
                .as_str()
                .or_else(|| m["content"][0]["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

async fn a_long_conversation_sends_its_newest_turns_and_says_older_ones_were_left_out(
    backend: Backend,
) {
    let app = app_with_key(
        backend,
        RuntimeFile {
            history_budget_chars: 400,
            ..Default::default()
        },
    )
    .await;
    let first = chat(
        &app,
        json!({ "message": format!("first {}", "a".repeat(100)) }),
    )
    .await;
    assert_eq!(first.last().0, "done");
    assert!(first.last().1.get("history_truncated").is_none());
    let id = first.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 0..3 {
        let message = format!("turn {n} {}", "b".repeat(100));
        let answer = chat(&app, json!({ "message": message, "conversation_id": id })).await;
        assert_eq!(answer.last().0, "done");
    }
    let sent = last_sent_history(&app);
    assert!(sent.last().unwrap().starts_with("turn 2"), "{sent:?}");
    assert!(!sent.iter().any(|m| m.starts_with("first")), "{sent:?}");
    assert!(
        sent.first().unwrap().starts_with("turn"),
        "begins with the person: {sent:?}"
    );
    let total: usize = sent.iter().map(|m| m.chars().count()).sum();
    assert!(total <= 400, "{total}");

    let last = chat(
        &app,
        json!({ "message": "and now?", "conversation_id": id }),
    )
    .await;
    assert_eq!(last.last().1["history_truncated"], true);
    // Nothing is deleted: the whole conversation is still there to read.
    let stored: serde_json::Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["messages"].as_array().unwrap().len(), 10);
}

async fn a_person_may_have_only_so_many_answers_streaming_at_once(backend: Backend) {
    let app = app_with_key(
        backend,
        RuntimeFile {
            chat_streams_per_user: 1,
            ..Default::default()
        },
    )
    .await;
    // An answer that takes seconds, left open.
    let open = app
        .client
        .post(app.url("/api/v1/chat"))
        .json(&json!({ "message": "take your time [[slow]]" }))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let refused = app
        .client
        .post(app.url("/api/v1/chat"))
        .json(&json!({ "message": "me too" }))
        .send()
        .await
        .unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "rate_limited").await;
    // Once the first answer has ended (here: read to its end), the place is free again.
    open.text().await.unwrap();
    let mut freed = false;
    for _ in 0..50 {
        let next = chat(&app, json!({ "message": "now?" })).await;
        if next.status == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(freed, "the place of a finished answer is given back");
}

async fn messages_a_minute_are_limited_with_retry_after(backend: Backend) {
    let app = app_with_key(
        backend,
        RuntimeFile {
            chat_messages_per_minute: 2,
            ..Default::default()
        },
    )
    .await;
    for n in 0..2 {
        assert_eq!(
            chat(&app, json!({ "message": format!("m{n}") }))
                .await
                .status,
            200
        );
    }
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .json(&json!({ "message": "one too many" }))
        .send()
        .await
        .unwrap();
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(response, 429, "rate_limited").await;
}

/// Many messages at once, each starting a conversation or going on with one, while answers
/// are stored: on SQLite every write waits its turn (none fails with "database is locked"),
/// and every message and answer is kept.
async fn many_messages_at_once_are_all_answered_and_kept(backend: Backend) {
    let app = app_with_key(
        backend,
        RuntimeFile {
            chat_streams_per_user: 100,
            chat_messages_per_minute: 1_000,
            ..Default::default()
        },
    )
    .await;
    let first = chat(&app, json!({ "message": "the one to go on with" })).await;
    let ongoing = first.events.last().unwrap().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let chats = (0..40).map(|i| {
        let body = if i % 2 == 0 {
            json!({ "message": format!("new {i}") })
        } else {
            json!({ "message": format!("more {i}"), "conversation_id": ongoing })
        };
        let app = &app;
        async move { chat(app, body).await }
    });
    for answered in futures::future::join_all(chats).await {
        assert_eq!(answered.status, 200);
        assert_eq!(answered.events.last().unwrap().0, "done");
    }
    let list: serde_json::Value = app.get("/api/v1/conversations").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 21);
    let stored: serde_json::Value = app
        .get(&format!("/api/v1/conversations/{ongoing}"))
        .await
        .json()
        .await
        .unwrap();
    // Each message after the last one on the path: the answers of the others are versions
    // beside it, so the path holds the first turn and one more at least.
    assert!(stored["messages"].as_array().unwrap().len() >= 4);
}

crate::db_tests!(
    many_messages_at_once_are_all_answered_and_kept,
    a_long_conversation_sends_its_newest_turns_and_says_older_ones_were_left_out,
    a_person_may_have_only_so_many_answers_streaming_at_once,
    messages_a_minute_are_limited_with_retry_after,
);
