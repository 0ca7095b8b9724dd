//! Sending a message: the `send_message` server function, and reading its answer as it
//! arrives. The events are the server's own [`ChatEvent`] type; reading is plain Rust
//! (tested on the server side), so the browser build only adds the call itself.

use futures::{Stream, StreamExt as _};

use crate::{
    error::AppError,
    types::chat::{ChatEvent, Done, FrameDecoder, StreamError},
};

/// How a message's stream ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The answer is complete and stored.
    Done(Done),
    /// The answer stopped midway (the stream's `error` event); what arrived is stored.
    Stopped(StreamError),
    /// The message was not taken: the call's own error, before any answer.
    Refused(AppError),
    /// The connection broke, or the stream ended without saying how the answer ended.
    Lost,
    /// The person pressed Stop (or left the conversation or the page).
    Aborted,
}

/// Reads an answer's frames, handing the text to `on_text` as it arrives (one call per
/// network chunk, however many deltas it held), until the stream says how it ended.
/// Returning drops `body`, which in the browser cancels the response's reader.
pub async fn read_answer<S, B>(body: S, mut on_text: impl FnMut(&str)) -> Outcome
where
    S: Stream<Item = Result<B, AppError>>,
    B: AsRef<[u8]>,
{
    let mut body = std::pin::pin!(body);
    let mut decoder = FrameDecoder::default();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return Outcome::Lost;
        };
        let Ok(events) = decoder.push(chunk.as_ref()) else {
            return Outcome::Lost;
        };
        let mut text = String::new();
        let mut ending = None;
        for event in events {
            match event {
                ChatEvent::Delta(delta) => text.push_str(&delta.text),
                ChatEvent::Done(done) => ending = Some(Outcome::Done(done)),
                ChatEvent::Error(error) => ending = Some(Outcome::Stopped(error)),
            }
            if ending.is_some() {
                break;
            }
        }
        if !text.is_empty() {
            on_text(&text);
        }
        if let Some(ending) = ending {
            return ending;
        }
    }
    Outcome::Lost
}

/// Sends `request` through `send_message` and reads the answer (see [`read_answer`]).
/// Dropping the returned future stops it: before the answer starts, server_fn aborts the
/// fetch; after, the stream is dropped and its reader cancelled. Either closes the
/// connection, and the server cancels the call to Anthropic.
#[cfg(feature = "hydrate")]
pub async fn send(request: &crate::types::chat::ChatRequest, on_text: impl FnMut(&str)) -> Outcome {
    let request = request.clone();
    let call = crate::api::chat::send_message(
        request.message,
        request.conversation_id,
        request.agent,
        request.model,
        request.client_message_id,
        request.regenerate,
        request.edit_of,
        request.over_cap,
    );
    match call.await {
        Ok(body) => read_answer(body.into_inner(), on_text).await,
        Err(error) => Outcome::Refused(error),
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

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;
    use crate::types::chat::{Delta, Payer, StreamErrorCode, Usage};

    fn delta(text: &str) -> ChatEvent {
        ChatEvent::Delta(Delta { text: text.into() })
    }

    fn done() -> Done {
        Done {
            conversation_id: "c1".into(),
            message_id: "m1".into(),
            usage: Usage::default(),
            cost_usd: None,
            saved_usd: None,
            payer: Payer::Byok,
            history_truncated: false,
            rate_limit: None,
        }
    }

    /// Reads `frames`' bytes cut into chunks of `size`; returns the outcome and the texts.
    async fn read(frames: &[ChatEvent], tail: &[u8], size: usize) -> (Outcome, Vec<String>) {
        let mut bytes: Vec<u8> = frames.iter().flat_map(ChatEvent::frame).collect();
        bytes.extend_from_slice(tail);
        let chunks: Vec<Result<Vec<u8>, AppError>> =
            bytes.chunks(size).map(|c| Ok(c.to_vec())).collect();
        let mut texts = Vec::new();
        let outcome = read_answer(stream::iter(chunks), |t| texts.push(t.to_string())).await;
        (outcome, texts)
    }

    #[tokio::test]
    async fn deltas_arrive_as_text_until_done() {
        let frames = [
            delta("Gr\u{fc}\u{df} "),
            delta("\u{1f600}!"),
            ChatEvent::Done(done()),
        ];
        for size in 1..40 {
            let (outcome, texts) = read(&frames, b"", size).await;
            assert_eq!(outcome, Outcome::Done(done()), "chunks of {size}");
            assert_eq!(
                texts.concat(),
                "Gr\u{fc}\u{df} \u{1f600}!",
                "chunks of {size}"
            );
        }
        // One chunk with everything: one text, then the ending.
        let (_, texts) = read(&frames, b"", 4096).await;
        assert_eq!(texts, ["Gr\u{fc}\u{df} \u{1f600}!"]);
    }

    #[tokio::test]
    async fn an_error_event_ends_the_answer_with_what_arrived() {
        let error = StreamError {
            code: StreamErrorCode::AnthropicUnavailable,
            message: "Try again.".into(),
            conversation_id: "c9".into(),
            retry_after: None,
        };
        let frames = [delta("part"), ChatEvent::Error(error.clone())];
        let (outcome, texts) = read(&frames, b"", 4096).await;
        assert_eq!(outcome, Outcome::Stopped(error));
        assert_eq!(texts, ["part"]);
    }

    #[tokio::test]
    async fn a_stream_that_ends_or_breaks_without_an_ending_is_lost() {
        assert_eq!(read(&[delta("a")], b"", 3).await.0, Outcome::Lost);
        assert_eq!(
            read(&[delta("a")], b"{\"event\":", 3).await.0,
            Outcome::Lost
        );
        assert_eq!(read(&[delta("a")], b"<html>\n", 3).await.0, Outcome::Lost);
        let broken = stream::iter([Ok(delta("a").frame()), Err(AppError::Transport)]);
        assert_eq!(read_answer(broken, |_| {}).await, Outcome::Lost);
    }
}
