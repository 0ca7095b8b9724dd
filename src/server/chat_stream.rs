//! An answer's events on the wire, from the one [`ChatEvent`] type. `POST /api/v1/chat`
//! sends them as Server-Sent Events for API clients; the page's `send_message` server
//! function as newline-delimited JSON frames ([`ChatEvent::frame`]). Both flush each event
//! as it comes, tell proxies not to buffer, and send a keep-alive while Anthropic is
//! silent (thinking, or slow to start) so that nothing between here and the browser
//! cuts the connection. When the browser goes away the body is dropped, and with it the
//! receiver: the relay sees that and cancels the upstream call.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    http::{header, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
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
    let body = Body::from_stream(with_keep_alive::<Infallible>(
        KEEP_ALIVE,
        events,
        sse_event,
        SSE_KEEP_ALIVE,
    ));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        )],
        unbuffered_headers(),
        body,
    )
        .into_response()
}

/// A comment line: ignored by every Server-Sent Events reader.
const SSE_KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// One event as Server-Sent Event fields: its serde form's tag and content, which the
/// frames carry too (a test holds them together, so the two transports cannot drift apart).
///
/// Written straight into the bytes that go out: the content is serialised once, with no
/// `serde_json::Value` tree and no second pass over it. A `data:` field ends at a line
/// end, and there is none in it: JSON written by serde_json escapes every newline and
/// carriage return inside strings, and the compact form puts none between tokens.
fn sse_event(event: &ChatEvent) -> Vec<u8> {
    let name = event.name();
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let written = match event {
        ChatEvent::Delta(delta) => serde_json::to_writer(&mut out, delta),
        ChatEvent::Done(done) => serde_json::to_writer(&mut out, done),
        ChatEvent::Error(error) => serde_json::to_writer(&mut out, error),
    };
    if written.is_err() {
        // Not reachable with these types (strings, numbers, maps with string keys); an
        // empty object keeps the stream well formed all the same.
        out.truncate(name.len() + b"event: \ndata: ".len());
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// The events as newline-delimited JSON frames, with an empty line as the keep-alive.
pub fn frames(
    events: mpsc::Receiver<ChatEvent>,
) -> impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static {
    with_keep_alive(KEEP_ALIVE, events, ChatEvent::frame, b"\n")
}

/// Each event as `encode` writes it, flushed as it comes, and `keep_alive_bytes` after
/// every `keep_alive` of silence.
///
/// One timer for the whole answer, its deadline moved on after every event (a store in
/// tokio's timer: a later deadline is only looked at when the earlier one comes), not a
/// timer set and cancelled for every word.
fn with_keep_alive<E>(
    keep_alive: Duration,
    mut events: mpsc::Receiver<ChatEvent>,
    encode: fn(&ChatEvent) -> Vec<u8>,
    keep_alive_bytes: &'static [u8],
) -> impl Stream<Item = Result<Vec<u8>, E>> + Send + 'static
where
    E: Send + 'static,
{
    async_stream::stream! {
        let silence = tokio::time::sleep(keep_alive);
        tokio::pin!(silence);
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(event) => yield Ok(encode(&event)),
                    None => break,
                },
                _ = &mut silence => yield Ok(keep_alive_bytes.to_vec()),
            }
            // Silence counts from when the last bytes were taken.
            silence.as_mut().reset(tokio::time::Instant::now() + keep_alive);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;
    use crate::types::chat::{Delta, FrameDecoder, StreamError, StreamErrorCode};

    /// An encoded event read back with the project's own Server-Sent Events parser (the
    /// one Anthropic's stream is read with): its name and data, and nothing else in it.
    fn sse_fields(event: &ChatEvent) -> (String, String) {
        let mut parsed = crate::sse::SseParser::default().push(&sse_event(event));
        assert_eq!(parsed.len(), 1, "exactly one whole event");
        let only = parsed.remove(0);
        (only.event, only.data)
    }

    fn delta(text: &str) -> ChatEvent {
        ChatEvent::Delta(Delta { text: text.into() })
    }

    /// The last event of an answer that failed.
    fn failed(code: StreamErrorCode) -> ChatEvent {
        ChatEvent::Error(StreamError {
            code,
            message: "m".into(),
            conversation_id: "c".into(),
            retry_after: None,
        })
    }

    #[test]
    fn sse_events_are_named_after_the_variant_and_carry_its_data() {
        assert_eq!(
            sse_event(&delta("h\u{e9}")),
            "event: delta\ndata: {\"text\":\"h\u{e9}\"}\n\n".as_bytes()
        );
        assert_eq!(
            sse_fields(&delta("h\u{e9}")),
            ("delta".into(), "{\"text\":\"h\u{e9}\"}".into())
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
            // Line ends of every kind in the text: escaped, so the event stays whole.
            delta("a \"quoted\"\nline\r\nand\rmore\n\n"),
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
            failed(StreamErrorCode::AnthropicOverloaded),
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
        let mut frames = Box::pin(with_keep_alive::<AppError>(
            Duration::from_millis(20),
            rx,
            ChatEvent::frame,
            b"\n",
        ));
        tx.send(delta("a")).await.unwrap();
        assert_eq!(
            frames.next().await.unwrap().unwrap(),
            b"{\"event\":\"delta\",\"data\":{\"text\":\"a\"}}\n"
        );
        // Nothing for a while: an empty line, which the decoder skips.
        assert_eq!(frames.next().await.unwrap().unwrap(), b"\n");
        let error = failed(StreamErrorCode::AnthropicUnavailable);
        tx.send(error.clone()).await.unwrap();
        drop(tx);
        let mut decoder = FrameDecoder::default();
        let mut decoded = Vec::new();
        while let Some(frame) = frames.next().await {
            decoded.extend(decoder.push(&frame.unwrap()).unwrap());
        }
        assert_eq!(decoded, vec![error]);
    }

    /// The keep-alive is for silence: none while events come more often than it, and the
    /// first one a whole interval after the last event, not after the stream began. (Real
    /// time, checked from below only: a timer never fires early, however busy the
    /// machine.)
    #[tokio::test]
    async fn a_keep_alive_comes_after_an_interval_of_silence_and_only_then() {
        let interval = Duration::from_millis(200);
        let (tx, rx) = mpsc::channel(4);
        let mut stream = Box::pin(with_keep_alive::<Infallible>(
            interval,
            rx,
            sse_event,
            SSE_KEEP_ALIVE,
        ));
        // Events for 2.5 intervals: with the deadline not moved on, a keep-alive would be
        // overdue by the time they stop.
        for n in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let event = delta(&n.to_string());
            tx.send(event.clone()).await.unwrap();
            assert_eq!(stream.next().await.unwrap().unwrap(), sse_event(&event));
        }
        let silent_since = tokio::time::Instant::now();
        assert_eq!(stream.next().await.unwrap().unwrap(), SSE_KEEP_ALIVE);
        let waited = silent_since.elapsed();
        assert!(
            waited >= interval,
            "a keep-alive after {waited:?} of silence"
        );
        // And the next a whole interval after that one.
        let since_first = tokio::time::Instant::now();
        assert_eq!(stream.next().await.unwrap().unwrap(), SSE_KEEP_ALIVE);
        assert!(since_first.elapsed() >= interval);
        let end = failed(StreamErrorCode::Internal);
        tx.send(end.clone()).await.unwrap();
        drop(tx);
        assert_eq!(stream.next().await.unwrap().unwrap(), sse_event(&end));
        assert!(stream.next().await.is_none());
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
