//! Sending a message: `POST /api/v1/chat` and reading its Server-Sent Events as they
//! arrive. The parsing is plain Rust (tested on the server side); the fetch itself exists
//! only in the browser build.

use serde::Deserialize;

/// One event of the answer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Delta(String),
    Done(Done),
    Error(StreamError),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Done {
    pub conversation_id: String,
    #[serde(default)]
    pub message_id: String,
}

/// An `error` event: the answer stopped; what arrived is kept on the server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// Why a message got no (complete) answer, before or instead of the stream's own `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The server answered with an HTTP error: `{"error": {"code", "message"}}`.
    Http { code: String, message: String },
    /// The connection failed or the stream ended without `done` or `error`.
    Network,
    /// The person pressed Stop (or left the conversation).
    Aborted,
}

/// The body of an HTTP error, as the contract gives it.
pub fn http_failure(status: u16, body: &str) -> SendFailure {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(Envelope { error }) => SendFailure::Http {
            code: error.code,
            message: error.message,
        },
        Err(_) if status == 503 || status == 502 || status == 504 => SendFailure::Http {
            code: "anthropic_unavailable".into(),
            message: "The service is unavailable right now. Please try again in a moment.".into(),
        },
        Err(_) => SendFailure::Http {
            code: "internal".into(),
            message: "Something went wrong on our side. Please try again.".into(),
        },
    }
}

/// The app's chat events, read with the shared Server-Sent Events parser.
#[derive(Default)]
pub struct SseParser(crate::sse::SseParser);

impl SseParser {
    /// Feeds a chunk; returns the chat events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<StreamEvent> {
        self.0
            .push(chunk)
            .into_iter()
            .filter_map(|e| decode(&e.event, &e.data))
            .collect()
    }
}

fn decode(event: &str, data: &str) -> Option<StreamEvent> {
    #[derive(Deserialize)]
    struct Delta {
        text: String,
    }
    match event {
        "delta" => serde_json::from_str::<Delta>(data)
            .ok()
            .map(|d| StreamEvent::Delta(d.text)),
        "done" => serde_json::from_str(data).ok().map(StreamEvent::Done),
        "error" => Some(StreamEvent::Error(
            serde_json::from_str(data).unwrap_or_else(|_| StreamError {
                code: "internal".into(),
                message: "Something went wrong on our side. Please try again.".into(),
                conversation_id: None,
            }),
        )),
        _ => None, // events this page does not know yet
    }
}

/// A random id for a message, so that sending it again (Retry) never stores it twice.
pub fn new_client_message_id() -> String {
    #[cfg(feature = "hydrate")]
    {
        let mut id = String::with_capacity(32);
        for _ in 0..4 {
            // 2^32 values from each call; four calls give 128 bits.
            let part = (js_sys::Math::random() * 4_294_967_296.0) as u32;
            id.push_str(&format!("{part:08x}"));
        }
        id
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

#[cfg(feature = "hydrate")]
pub use browser::post_chat;

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Reflect, Uint8Array};
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        AbortSignal, Headers, ReadableStreamDefaultReader, Request, RequestCredentials,
        RequestInit, Response,
    };

    use super::{http_failure, SendFailure, SseParser, StreamEvent};
    use crate::types::chat::ChatRequest;

    /// Sends `request` and hands each batch of events to `on_events` as it arrives.
    /// Returns once the stream has ended with `done` or `error` (both given to
    /// `on_events`), or with the reason it could not.
    pub async fn post_chat(
        request: &ChatRequest,
        signal: &AbortSignal,
        mut on_events: impl FnMut(Vec<StreamEvent>),
    ) -> Result<(), SendFailure> {
        let fail = |_: JsValue| {
            if signal.aborted() {
                SendFailure::Aborted
            } else {
                SendFailure::Network
            }
        };

        let body = serde_json::to_string(request).map_err(|_| SendFailure::Network)?;
        let headers = Headers::new().map_err(fail)?;
        headers
            .set("content-type", "application/json")
            .map_err(fail)?;
        headers.set("accept", "text/event-stream").map_err(fail)?;
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
        init.set_credentials(RequestCredentials::SameOrigin);
        init.set_signal(Some(signal));
        let request = Request::new_with_str_and_init("/api/v1/chat", &init).map_err(fail)?;

        let window = web_sys::window().ok_or(SendFailure::Network)?;
        let response: Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(fail)?
            .unchecked_into();
        if !response.ok() {
            let text = match response.text() {
                Ok(promise) => JsFuture::from(promise)
                    .await
                    .ok()
                    .and_then(|t| t.as_string()),
                Err(_) => None,
            };
            return Err(http_failure(
                response.status(),
                text.as_deref().unwrap_or(""),
            ));
        }

        let body = response.body().ok_or(SendFailure::Network)?;
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let mut parser = SseParser::default();
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(fail)?;
            let done = Reflect::get(&chunk, &JsValue::from_str("done"))
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                // The server always ends with `done` or `error`; anything else was cut off.
                return Err(if signal.aborted() {
                    SendFailure::Aborted
                } else {
                    SendFailure::Network
                });
            }
            let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(fail)?;
            let events = parser.push(&Uint8Array::new(&value).to_vec());
            if events.is_empty() {
                continue;
            }
            let finished = events.iter().any(|e| !matches!(e, StreamEvent::Delta(_)));
            on_events(events);
            if finished {
                let _ = reader.cancel();
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_events_split_anywhere() {
        let stream = "event: delta\ndata: {\"text\":\"H\u{e9}llo \"}\n\n: keep-alive\n\nevent: delta\r\ndata: {\"text\":\"world\"}\r\n\r\nevent: done\ndata: {\"conversation_id\":\"c1\",\"message_id\":\"m1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}\n\n";
        let bytes = stream.as_bytes();
        for split in 0..bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&bytes[..split]);
            events.extend(parser.push(&bytes[split..]));
            assert_eq!(
                events,
                vec![
                    StreamEvent::Delta("H\u{e9}llo ".into()),
                    StreamEvent::Delta("world".into()),
                    StreamEvent::Done(Done {
                        conversation_id: "c1".into(),
                        message_id: "m1".into()
                    }),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn reads_an_error_event_with_its_conversation() {
        let mut parser = SseParser::default();
        let events = parser.push(b"event: error\ndata: {\"code\":\"anthropic_unavailable\",\"message\":\"Try again.\",\"conversation_id\":\"c9\"}\n\n");
        assert_eq!(
            events,
            vec![StreamEvent::Error(StreamError {
                code: "anthropic_unavailable".into(),
                message: "Try again.".into(),
                conversation_id: Some("c9".into()),
            })]
        );
    }

    #[test]
    fn ignores_unknown_events_and_keeps_alive_comments() {
        let mut parser = SseParser::default();
        assert!(parser
            .push(b": keep-alive\n\nevent: ping\ndata: {}\n\n")
            .is_empty());
    }

    #[test]
    fn http_errors_carry_the_contract_code() {
        let body = r#"{"error":{"code":"api_key_invalid","message":"Anthropic rejected your saved API key."}}"#;
        assert_eq!(
            http_failure(403, body),
            SendFailure::Http {
                code: "api_key_invalid".into(),
                message: "Anthropic rejected your saved API key.".into()
            }
        );
        assert!(
            matches!(http_failure(503, "<html>"), SendFailure::Http { code, .. } if code == "anthropic_unavailable")
        );
    }
}
