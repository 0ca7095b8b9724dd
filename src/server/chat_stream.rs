//! An answer's events on the wire, from the one [`ChatEvent`] type. `POST /api/v1/chat`
//! sends them as Server-Sent Events for API clients; the page's `send_message` server
//! function as newline-delimited JSON frames ([`ChatEvent::frame`]). Both flush each event
//! as it comes, tell proxies not to buffer, and send a keep-alive while Anthropic is
//! silent (thinking, or slow to start) so that nothing between here and the browser
//! cuts the connection. When the browser goes away the body is dropped, and with it the
//! receiver: the relay sees that and cancels the upstream call.

use std::{convert::Infallible, time::Duration};

use axum::{
    http::{header, HeaderName, HeaderValue},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::Stream;
use tokio::sync::mpsc;

use crate::{error::AppError, types::chat::ChatEvent};

/// How long the stream may stay silent before a keep-alive goes out.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The headers that keep proxies (nginx, most CDNs) from buffering or caching the stream.
pub fn unbuffered_headers() -> [(HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ),
    ]
}

/// The events as a `text/event-stream` response: `event:` the event's name, `data:` its
/// JSON (`{"text"}`, `{"conversation_id", "message_id", "usage", "cost_usd"}`,
/// `{"code", "message", "conversation_id"}`), and a `: keep-alive` comment when silent.
pub fn sse(events: mpsc::Receiver<ChatEvent>) -> Response {
    let stream = futures::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        Some((Ok::<_, Infallible>(sse_event(&event)), events))
    });
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    (unbuffered_headers(), sse).into_response()
}

/// One event as Server-Sent Event fields: its serde form's tag and content, which the
/// frames carry too (a test holds them together, so the two transports cannot drift apart).
fn sse_event(event: &ChatEvent) -> Event {
    let (name, data) = sse_fields(event);
    Event::default().event(name).data(data)
}

/// The content is serialised straight to its text: no `serde_json::Value` tree built and
/// taken apart for every word of an answer.
fn sse_fields(event: &ChatEvent) -> (&'static str, String) {
    let data = match event {
        ChatEvent::Delta(delta) => serde_json::to_string(delta),
        ChatEvent::Done(done) => serde_json::to_string(done),
        ChatEvent::Error(error) => serde_json::to_string(error),
    };
    (event.name(), data.unwrap_or_default())
}

/// The events as newline-delimited JSON frames, with an empty line as the keep-alive.
pub fn frames(
    events: mpsc::Receiver<ChatEvent>,
) -> impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static {
    frames_every(KEEP_ALIVE, events)
}

fn frames_every(
    keep_alive: Duration,
    mut events: mpsc::Receiver<ChatEvent>,
) -> impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static {
    async_stream::stream! {
        loop {
            match tokio::time::timeout(keep_alive, events.recv()).await {
                Ok(Some(event)) => yield Ok(event.frame()),
                Ok(None) => break,
                Err(_) => yield Ok(b"\n".to_vec()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;
    use crate::types::chat::{Delta, FrameDecoder, StreamError, StreamErrorCode};

    #[test]
    fn sse_events_are_named_after_the_variant_and_carry_its_data() {
        assert_eq!(
            sse_fields(&ChatEvent::Delta(Delta {
                text: "h\u{e9}".into()
            })),
            ("delta", "{\"text\":\"h\u{e9}\"}".into())
        );
        let error = ChatEvent::Error(StreamError {
            code: StreamErrorCode::Internal,
            message: "m".into(),
            conversation_id: "c".into(),
            retry_after: Some(5),
        });
        let (name, data) = sse_fields(&error);
        assert_eq!(name, "error");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            serde_json::json!({"code": "internal", "message": "m", "conversation_id": "c", "retry_after": 5})
        );
    }

    #[test]
    fn every_events_sse_fields_are_its_serde_tag_and_content() {
        use crate::types::chat::{Done, Payer, RateLimitWarning, Usage};
        let events = [
            ChatEvent::Delta(Delta {
                text: "a \"quoted\"\nline".into(),
            }),
            ChatEvent::Done(Done {
                conversation_id: "c".into(),
                message_id: "m".into(),
                usage: Usage {
                    input_tokens: 1,
                    output_tokens: 2,
                    cache_creation_input_tokens: 3,
                    cache_read_input_tokens: 4,
                },
                cost_usd: Some(0.5),
                saved_usd: Some(0.25),
                payer: Payer::Byok,
                history_truncated: true,
                rate_limit: Some(RateLimitWarning {
                    resource: "tokens".into(),
                    remaining: 1,
                    limit: 100,
                    reset: None,
                }),
            }),
            ChatEvent::Error(StreamError {
                code: StreamErrorCode::AnthropicOverloaded,
                message: "m".into(),
                conversation_id: "c".into(),
                retry_after: None,
            }),
        ];
        for event in events {
            let serde_form = serde_json::to_value(&event).unwrap();
            let (name, data) = sse_fields(&event);
            assert_eq!(serde_form["event"], name);
            assert_eq!(
                serde_form["data"],
                serde_json::from_str::<serde_json::Value>(&data).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn frames_flow_in_order_with_keep_alives_while_silent() {
        let (tx, rx) = mpsc::channel(4);
        let mut frames = Box::pin(frames_every(Duration::from_millis(20), rx));
        tx.send(ChatEvent::Delta(Delta { text: "a".into() }))
            .await
            .unwrap();
        assert_eq!(
            frames.next().await.unwrap().unwrap(),
            b"{\"event\":\"delta\",\"data\":{\"text\":\"a\"}}\n"
        );
        // Nothing for a while: an empty line, which the decoder skips.
        assert_eq!(frames.next().await.unwrap().unwrap(), b"\n");
        let error = ChatEvent::Error(StreamError {
            code: StreamErrorCode::AnthropicUnavailable,
            message: "m".into(),
            conversation_id: "c".into(),
            retry_after: None,
        });
        tx.send(error.clone()).await.unwrap();
        drop(tx);
        let mut decoder = FrameDecoder::default();
        let mut decoded = Vec::new();
        while let Some(frame) = frames.next().await {
            decoded.extend(decoder.push(&frame.unwrap()).unwrap());
        }
        assert_eq!(decoded, vec![error]);
    }

    #[test]
    fn dropping_the_frames_closes_the_channel_for_the_relay() {
        let (tx, rx) = mpsc::channel::<ChatEvent>(1);
        let frames = frames(rx);
        assert!(!tx.is_closed());
        drop(frames);
        assert!(tx.is_closed());
    }
}
