//! What the browser and the server both know of conversations with the Agents.

use serde::{Deserialize, Serialize};

/// An Agent as the browser sees it (no system prompt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub model: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    /// An answer cut off by a dropped stream, Stop or an upstream error.
    pub incomplete: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub created_at: String,
    /// Who paid Anthropic for an answer (none recorded for answers before billing).
    #[serde(default)]
    pub payer: Option<Payer>,
    /// The message it follows (none for a conversation's first message).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Its place among the versions of this turn (regenerated answers, edited messages).
    #[serde(default)]
    pub siblings: Siblings,
    /// An answer's cache writes and reads, from the usage ledger.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<i64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<i64>,
    /// An answer's estimated cost, null when its model is not priced (or no usage is on
    /// record for it).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// What its cache reads saved against full-price input.
    #[serde(default)]
    pub saved_usd: Option<f64>,
}

/// A message's versions: the messages with the same parent, oldest first. `index` counts
/// from 0; `prev_id`/`next_id` are the neighbouring versions, to pass to `select`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Siblings {
    pub index: u32,
    pub count: u32,
    pub prev_id: Option<String>,
    pub next_id: Option<String>,
}

impl Default for Siblings {
    fn default() -> Self {
        Self {
            index: 0,
            count: 1,
            prev_id: None,
            next_id: None,
        }
    }
}

/// A conversation with its messages: on the wire, the summary's fields beside `messages`
/// and `cost_usd` (one flat object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ConversationViewWire")]
pub struct ConversationView {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub messages: Vec<MessageView>,
    /// The estimated cost of its answers whose model is priced.
    #[serde(default)]
    pub cost_usd: f64,
}

/// [`ConversationView`] as it is read: the summary's fields spelled out. A flattened
/// field is read through serde's buffered `Content` (every field kept aside, then read
/// again), whose decoder weighs on the browser's WASM; writing stays flattened.
#[derive(Deserialize)]
struct ConversationViewWire {
    id: String,
    title: String,
    agent: String,
    model: String,
    created_at: String,
    updated_at: String,
    messages: Vec<MessageView>,
    #[serde(default)]
    cost_usd: f64,
}

impl From<ConversationViewWire> for ConversationView {
    fn from(wire: ConversationViewWire) -> Self {
        Self {
            summary: ConversationSummary {
                id: wire.id,
                title: wire.title,
                agent: wire.agent,
                model: wire.model,
                created_at: wire.created_at,
                updated_at: wire.updated_at,
            },
            messages: wire.messages,
            cost_usd: wire.cost_usd,
        }
    }
}

/// Token totals of one model over the current calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UsageRow {
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub answers: i64,
}

/// A new conversation's title: its first message on one line, at most 60 characters.
pub fn conversation_title(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(60)
        .collect()
}

/// The body of `POST /api/v1/chat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The person's message (none with `regenerate`).
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// The browser's id for this message; sending it again (a retry) never stores the
    /// message twice.
    #[serde(default)]
    pub client_message_id: Option<String>,
    /// An answer of `conversation_id` to answer anew: a new version beside it (the
    /// earlier ones are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regenerate: Option<String>,
    /// A message of the person in `conversation_id` that `message` replaces: a new version
    /// beside it, then its answer; the turns that followed the old one stay on its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_of: Option<String>,
    /// Send this one message even though it may take the month past the person's spending
    /// cap (the "Send anyway" of a `spend_cap_reached` refusal); applies to this request
    /// only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_cap: bool,
}

/// One event of an answer's stream, defined once for the server and the browser. Both
/// transports carry it: `POST /api/v1/chat` as Server-Sent Events (`event:` the tag,
/// `data:` the content), the page's `send_message` server function as one JSON object a
/// line (`{"event": …, "data": …}`, see [`ChatEvent::frame`] and [`FrameDecoder`]).
/// In order: `Delta`s, then `Done` or `Error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ChatEvent {
    Delta(Delta),
    Done(Done),
    Error(StreamError),
}

/// Reads `{"event": …, "data": …}` in that order, as [`ChatEvent`]'s `Serialize` writes
/// it: the event's name first, so its data is read straight into its type. (serde's
/// derived reader for an adjacently tagged enum also accepts the data first, keeping it
/// aside in its buffered `Content` until the name comes; that decoder weighs on the
/// browser's WASM, and no frame is ever written that way.)
impl<'de> Deserialize<'de> for ChatEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};

        struct EventVisitor;

        impl<'de> Visitor<'de> for EventVisitor {
            type Value = ChatEvent;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with \"event\", then \"data\"")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChatEvent, A::Error> {
                if map.next_key::<String>()?.as_deref() != Some("event") {
                    return Err(A::Error::missing_field("event"));
                }
                let name: String = map.next_value()?;
                if map.next_key::<String>()?.as_deref() != Some("data") {
                    return Err(A::Error::missing_field("data"));
                }
                let event = match name.as_str() {
                    "delta" => ChatEvent::Delta(map.next_value()?),
                    "done" => ChatEvent::Done(map.next_value()?),
                    "error" => ChatEvent::Error(map.next_value()?),
                    other => {
                        return Err(A::Error::unknown_variant(
                            other,
                            &["delta", "done", "error"],
                        ))
                    }
                };
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::custom("a field after \"data\""));
                }
                Ok(event)
            }
        }

        deserializer.deserialize_map(EventVisitor)
    }
}

/// More of the answer's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub text: String,
}

/// The answer is complete and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub conversation_id: String,
    pub message_id: String,
    pub usage: Usage,
    /// What the answer cost, when the operator prices its model (null otherwise).
    pub cost_usd: Option<f64>,
    /// What its cache reads saved against full-price input (absent when not priced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_usd: Option<f64>,
    /// Who paid Anthropic for it.
    pub payer: Payer,
    /// Older turns of the conversation were left out of what Anthropic saw: it is longer
    /// than the history budget.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history_truncated: bool,
    /// Less than a tenth is left of one of the person's Anthropic rate limits (their own
    /// key only); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitWarning>,
}

/// What is left of the Anthropic rate limit that is nearest to running out, read from
/// Anthropic's `anthropic-ratelimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitWarning {
    /// `requests`, `tokens`, `input_tokens` or `output_tokens`.
    pub resource: String,
    pub remaining: u64,
    pub limit: u64,
    /// When the limit is fully replenished (RFC 3339), when Anthropic said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<String>,
}

/// Who paid Anthropic for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payer {
    /// The user's own key: Anthropic bills the user; never reported to Stripe.
    Byok,
    /// The platform's key (Pro): reported to Stripe's meter.
    Platform,
}

impl Payer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Byok => "byok",
            Self::Platform => "platform",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "byok" => Some(Self::Byok),
            "platform" => Some(Self::Platform),
            _ => None,
        }
    }
}

/// The tokens an answer was billed for, as Anthropic counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    #[serde(default)]
    pub cache_creation_input_tokens: i64,
    #[serde(default)]
    pub cache_read_input_tokens: i64,
}

/// The answer stopped after it had started; what arrived of it is stored, incomplete.
/// (Failures before the stream starts are the call's `AppError` instead.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamError {
    pub code: StreamErrorCode,
    pub message: String,
    pub conversation_id: String,
    /// Seconds to wait before retrying, when Anthropic said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Why an answer stopped mid-stream; each is worth a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamErrorCode {
    /// Anthropic broke off, went silent or sent an error event.
    AnthropicUnavailable,
    /// Anthropic sent `overloaded_error`.
    AnthropicOverloaded,
    /// Anthropic sent `rate_limit_error`.
    AnthropicRateLimited,
    /// The answer could not be stored.
    Internal,
}

impl ChatEvent {
    /// The event's name, as serde writes it in `event` (a test in `chat_stream` holds the
    /// two together).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Delta(_) => "delta",
            Self::Done(_) => "done",
            Self::Error(_) => "error",
        }
    }

    /// Whether the stream ends with this event.
    pub fn is_last(&self) -> bool {
        !matches!(self, Self::Delta(_))
    }

    /// The event as one frame of the server function's stream: its JSON and a newline
    /// (JSON escapes every newline inside strings, so a frame is exactly one line).
    pub fn frame(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// A frame that is not a [`ChatEvent`]: the stream is not what this page expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer's stream carried a malformed frame")]
pub struct MalformedFrame;

/// Reads [`ChatEvent::frame`]s back from a byte stream whose chunks may end anywhere, even
/// inside a character: bytes are kept until their line is whole, and only then decoded.
/// An empty line is a keep-alive and yields nothing.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<ChatEvent>, MalformedFrame> {
        let mut events = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            rest = &after[1..];
            let event = if self.pending.is_empty() {
                decode_line(line)?
            } else {
                self.pending.extend_from_slice(line);
                let line = std::mem::take(&mut self.pending);
                decode_line(&line)?
            };
            events.extend(event);
        }
        self.pending.extend_from_slice(rest);
        Ok(events)
    }

    /// Whether bytes of an unfinished frame are waiting (a stream ending now was cut off).
    pub fn is_mid_frame(&self) -> bool {
        !self.pending.is_empty()
    }
}

fn decode_line(line: &[u8]) -> Result<Option<ChatEvent>, MalformedFrame> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(line)
        .map(Some)
        .map_err(|_| MalformedFrame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_reads_back_as_written_its_summary_beside_the_messages() {
        let view = ConversationView {
            summary: ConversationSummary {
                id: "c1".into(),
                title: "Hello".into(),
                agent: "Sage".into(),
                model: "claude-sonnet".into(),
                created_at: "2026-12-05T10:00:00Z".into(),
                updated_at: "2026-12-05T10:01:00Z".into(),
            },
            messages: vec![MessageView {
                id: "m1".into(),
                role: "user".into(),
                content: "Hi".into(),
                model: None,
                incomplete: false,
                input_tokens: None,
                output_tokens: None,
                created_at: "2026-12-05T10:00:00Z".into(),
                payer: None,
                parent_id: None,
                siblings: Siblings::default(),
                cache_creation_input_tokens: None,
                cache_read_input_tokens: None,
                cost_usd: None,
                saved_usd: None,
            }],
            cost_usd: 0.25,
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["id"], "c1");
        assert_eq!(json["title"], "Hello");
        assert!(json.get("summary").is_none(), "{json}");
        let back: ConversationView = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, view);
        // What older clients and servers send: no cost, and fields this one does not know.
        let mut older = json;
        older.as_object_mut().unwrap().remove("cost_usd");
        older["extra"] = serde_json::json!(1);
        let back: ConversationView = serde_json::from_value(older).unwrap();
        assert_eq!(back.cost_usd, 0.0);
        assert_eq!(back.summary, view.summary);
        for missing in [
            "id",
            "title",
            "agent",
            "model",
            "created_at",
            "updated_at",
            "messages",
        ] {
            let mut json = serde_json::to_value(&view).unwrap();
            json.as_object_mut().unwrap().remove(missing);
            assert!(
                serde_json::from_value::<ConversationView>(json).is_err(),
                "{missing}"
            );
        }
    }

    fn done() -> ChatEvent {
        ChatEvent::Done(Done {
            conversation_id: "c1".into(),
            message_id: "m1".into(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
                cache_creation_input_tokens: 5,
                cache_read_input_tokens: 6,
            },
            cost_usd: None,
            saved_usd: None,
            payer: Payer::Platform,
            history_truncated: false,
            rate_limit: None,
        })
    }

    #[test]
    fn frames_decode_split_at_every_byte_even_inside_a_character() {
        let events = vec![
            ChatEvent::Delta(Delta {
                text: "H\u{e9}llo \u{1f600} \u{65e5}\u{672c}\nline two".into(),
            }),
            ChatEvent::Delta(Delta {
                text: "\r\n".into(),
            }),
            done(),
        ];
        let mut bytes = Vec::new();
        for (i, event) in events.iter().enumerate() {
            bytes.extend(event.frame());
            if i == 0 {
                bytes.push(b'\n'); // a keep-alive between frames
            }
        }
        for split in 0..=bytes.len() {
            let mut decoder = FrameDecoder::default();
            let mut decoded = decoder.push(&bytes[..split]).unwrap();
            decoded.extend(decoder.push(&bytes[split..]).unwrap());
            assert_eq!(decoded, events, "split at {split}");
            assert!(!decoder.is_mid_frame());
        }
        // And one byte at a time.
        let mut decoder = FrameDecoder::default();
        let decoded: Vec<ChatEvent> = bytes
            .iter()
            .flat_map(|b| decoder.push(std::slice::from_ref(b)).unwrap())
            .collect();
        assert_eq!(decoded, events);
    }

    #[test]
    fn a_frame_is_one_line_of_the_event_and_its_data() {
        let frame = ChatEvent::Delta(Delta {
            text: "a\nb".into(),
        })
        .frame();
        assert_eq!(
            frame,
            b"{\"event\":\"delta\",\"data\":{\"text\":\"a\\nb\"}}\n"
        );
        let value: serde_json::Value = serde_json::from_slice(&done().frame()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"event": "done", "data": {
                "conversation_id": "c1", "message_id": "m1", "cost_usd": null, "payer": "platform",
                "usage": {"input_tokens": 3, "output_tokens": 4,
                    "cache_creation_input_tokens": 5, "cache_read_input_tokens": 6},
            }})
        );
    }

    #[test]
    fn an_error_event_carries_retry_after_only_when_known() {
        let mut error = StreamError {
            code: StreamErrorCode::AnthropicUnavailable,
            message: "Try again.".into(),
            conversation_id: "c9".into(),
            retry_after: None,
        };
        let value = serde_json::to_value(ChatEvent::Error(error.clone())).unwrap();
        assert_eq!(
            value["data"],
            serde_json::json!({"code": "anthropic_unavailable", "message": "Try again.", "conversation_id": "c9"})
        );
        error.retry_after = Some(30);
        let value = serde_json::to_value(ChatEvent::Error(error)).unwrap();
        assert_eq!(value["data"]["retry_after"], 30);
    }

    #[test]
    fn every_event_reads_back_from_its_frame_and_only_in_the_written_order() {
        let events = [
            ChatEvent::Delta(Delta {
                text: "hé\n".into(),
            }),
            done(),
            ChatEvent::Error(StreamError {
                code: StreamErrorCode::AnthropicRateLimited,
                message: "Wait.".into(),
                conversation_id: "c1".into(),
                retry_after: Some(7),
            }),
        ];
        let bytes: Vec<u8> = events.iter().flat_map(ChatEvent::frame).collect();
        assert_eq!(FrameDecoder::default().push(&bytes).unwrap(), events);
        for refused in [
            &b"{\"data\":{\"text\":\"a\"},\"event\":\"delta\"}\n"[..],
            b"{\"event\":\"shout\",\"data\":{\"text\":\"a\"}}\n",
            b"{\"event\":\"delta\"}\n",
            b"{\"event\":\"delta\",\"data\":{\"text\":\"a\"},\"more\":1}\n",
            b"[\"delta\",{\"text\":\"a\"}]\n",
        ] {
            assert_eq!(
                FrameDecoder::default().push(refused),
                Err(MalformedFrame),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }

    #[test]
    fn a_stream_cut_mid_frame_says_so_and_garbage_is_refused() {
        let mut decoder = FrameDecoder::default();
        assert_eq!(decoder.push(b"{\"event\":\"del").unwrap(), vec![]);
        assert!(decoder.is_mid_frame());
        assert_eq!(
            FrameDecoder::default().push(b"<html>502</html>\n"),
            Err(MalformedFrame)
        );
    }
}
