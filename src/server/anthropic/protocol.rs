//! The Anthropic Messages API on the wire, typed once: what the client sends to
//! `POST /v1/messages`, what comes back (a message, or a stream of events), and the error
//! envelope. The client and the project's stand-in (`crate::stubs::anthropic`) both speak
//! through these types.
//!
//! Only what the app uses, or may soon use, is typed; anything else Anthropic adds is
//! tolerated: unknown event, block and delta types deserialize to an `Unknown` variant,
//! unknown fields are ignored.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------

/// The body of `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
}

/// The body of `POST /v1/messages/count_tokens`: a Messages request without `max_tokens`
/// and `stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountTokensRequest {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
}

impl From<&MessagesRequest> for CountTokensRequest {
    fn from(request: &MessagesRequest) -> Self {
        Self {
            model: request.model.clone(),
            system: request.system.clone(),
            messages: request.messages.clone(),
            thinking: request.thinking.clone(),
        }
    }
}

/// What `POST /v1/messages/count_tokens` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTokensResponse {
    pub input_tokens: u64,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A message's `content`, or the `system` prompt: plain text, or a list of blocks (which
/// can carry `cache_control`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<RequestBlock>),
}

impl Content {
    /// The text it holds: the string, or the `text` blocks joined by newlines (other blocks,
    /// such as images, carry no text).
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Blocks(blocks) => blocks
                .iter()
                .filter_map(|block| match block {
                    RequestBlock::Text { text, .. } => Some(text.as_str()),
                    RequestBlock::Unknown => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// No text and no blocks.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Blocks(blocks) => blocks.is_empty(),
        }
    }
}

/// A content block of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBlock {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// Images, documents, tool results and whatever else: accepted, not read.
    #[serde(other)]
    Unknown,
}

/// Marks a prompt prefix for caching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheControl {
    /// `ephemeral`, the only kind there is.
    #[serde(rename = "type")]
    pub kind: String,
    /// `5m` (the default) or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

impl CacheControl {
    pub fn ephemeral() -> Self {
        Self {
            kind: "ephemeral".into(),
            ttl: None,
        }
    }
}

/// Extended thinking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u32 },
    Disabled,
}

// ---------------------------------------------------------------------------------------
// The answer
// ---------------------------------------------------------------------------------------

/// A message as Anthropic answers it: the whole answer of a non-streaming request, or the
/// empty shell `message_start` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: Role,
    pub model: String,
    pub content: Vec<ResponseBlock>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

/// A content block of an answer, whole or (in `content_block_start`) empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    #[serde(other)]
    Unknown,
}

/// Token counts. In `message_start` they are the counts so far; in `message_delta` they
/// are cumulative totals, not increments, and may name only some of the fields: see
/// [`Usage::update`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

impl Usage {
    /// Takes a later report into account: every count it carries replaces the one held
    /// (they are running totals, so adding them up would count tokens twice); the counts it
    /// leaves out stay.
    pub fn update(&mut self, later: &Usage) {
        fn keep(held: &mut Option<u64>, later: Option<u64>) {
            if later.is_some() {
                *held = later;
            }
        }
        keep(&mut self.input_tokens, later.input_tokens);
        keep(&mut self.output_tokens, later.output_tokens);
        keep(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        keep(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
    }

    /// Whether it counts any token (what Anthropic bills).
    pub fn counts_any(&self) -> bool {
        [
            self.input_tokens,
            self.output_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ]
        .into_iter()
        .any(|n| n.is_some_and(|n| n > 0))
    }
}

/// One server-sent event of a streamed answer. The event's name is its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessageResponse,
    },
    ContentBlockStart {
        index: u32,
        content_block: ResponseBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default)]
        usage: Usage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorDetail,
    },
    /// An event type this code does not know yet; Anthropic may add some at any time.
    #[serde(other)]
    Unknown,
}

impl StreamEvent {
    /// The SSE event name, equal to the `type` in its data.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error { .. } => "error",
            Self::Unknown => "unknown",
        }
    }

    /// An event's data read into its type (`name`, the SSE event's name, is only a hint:
    /// the `type` in the data decides). Nearly every event of an answer is a text delta,
    /// and those are read straight into their variant: the derived reader of an internally
    /// tagged enum first copies every field into a buffer of its own to find the tag, at
    /// each level. Any other event, or data that does not read that way, goes to the
    /// derived reader, whose answer (or error) it then is.
    pub fn from_data(name: &str, data: &str) -> serde_json::Result<Self> {
        if name == "content_block_delta" {
            if let Ok(event) = serde_json::from_str::<TextDeltaEvent<'_>>(data) {
                if event.kind == "content_block_delta" && event.delta.kind == "text_delta" {
                    return Ok(Self::ContentBlockDelta {
                        index: event.index,
                        delta: BlockDelta::TextDelta {
                            text: event.delta.text,
                        },
                    });
                }
            }
        }
        serde_json::from_str(data)
    }

    /// The event as it goes on the wire: `event: <name>` and `data: <json>`.
    pub fn to_sse(&self) -> String {
        let data = serde_json::to_string(self).expect("stream events serialize");
        format!("event: {}\ndata: {data}\n\n", self.name())
    }
}

/// A `content_block_delta` read as if it carried a text delta (see
/// [`StreamEvent::from_data`]): both tags are checked after reading.
#[derive(Deserialize)]
struct TextDeltaEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    index: u32,
    #[serde(borrow)]
    delta: TextDeltaBody<'a>,
}

#[derive(Deserialize)]
struct TextDeltaBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    text: String,
}

/// What a `content_block_delta` adds to its block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Unknown,
}

/// The message-level fields a `message_delta` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDelta {
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// Anthropic's error envelope, the same over HTTP and as an `error` event:
/// `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `overloaded_error`, `rate_limit_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::sse::SseParser;

    #[test]
    fn a_usage_counts_any_token_it_names_above_nothing() {
        assert!(!Usage::default().counts_any());
        let zero = Usage {
            input_tokens: Some(0),
            ..Usage::default()
        };
        assert!(!zero.counts_any());
        let cached = Usage {
            input_tokens: Some(0),
            cache_read_input_tokens: Some(12),
            ..Usage::default()
        };
        assert!(cached.counts_any());
    }

    /// The basic streaming example of Anthropic's streaming documentation, as sent.
    const DOCS_STREAM: &str = r#"event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-6", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"#;

    /// Events of the documentation's extended-thinking and tool-use examples, and an error.
    const DOCS_EVENTS: [&str; 7] = [
        r#"{"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}"#,
        r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453"}}"#,
        r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}"#,
        r#"{"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}"#,
        r#"{"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"location\": \"San Fra"}}"#,
        r#"{"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2048, "output_tokens": 89}}"#,
        r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
    ];

    fn round_trips(data: &str) -> StreamEvent {
        let event: StreamEvent = serde_json::from_str(data).expect(data);
        let original: Value = serde_json::from_str(data).unwrap();
        assert_eq!(serde_json::to_value(&event).unwrap(), original, "{data}");
        event
    }

    #[test]
    fn the_documented_stream_round_trips_event_by_event() {
        let events = SseParser::default().push(DOCS_STREAM.as_bytes());
        assert_eq!(events.len(), 8);
        let typed: Vec<StreamEvent> = events.iter().map(|e| round_trips(&e.data)).collect();
        for (sse, event) in events.iter().zip(&typed) {
            assert_eq!(sse.event, event.name());
        }
        let StreamEvent::MessageStart { message } = &typed[0] else {
            panic!("{:?}", typed[0]);
        };
        assert_eq!(message.usage.input_tokens, Some(25));
        let text: String = typed
            .iter()
            .filter_map(|event| match event {
                StreamEvent::ContentBlockDelta {
                    delta: BlockDelta::TextDelta { text },
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello!");
        assert_eq!(typed[7], StreamEvent::MessageStop);
    }

    #[test]
    fn thinking_signature_tool_input_usage_and_error_events_round_trip() {
        let typed: Vec<StreamEvent> = DOCS_EVENTS.iter().map(|data| round_trips(data)).collect();
        assert!(matches!(
            &typed[2],
            StreamEvent::ContentBlockDelta { delta: BlockDelta::SignatureDelta { signature }, .. }
                if signature.starts_with("EqQB")
        ));
        assert!(matches!(
            &typed[4],
            StreamEvent::ContentBlockDelta { delta: BlockDelta::InputJsonDelta { partial_json }, .. }
                if partial_json == "{\"location\": \"San Fra"
        ));
        let StreamEvent::Error { error } = &typed[6] else {
            panic!("{:?}", typed[6]);
        };
        assert_eq!(error.kind, "overloaded_error");
    }

    #[test]
    fn unknown_events_blocks_and_deltas_are_tolerated() {
        let unknown: StreamEvent =
            serde_json::from_str(r#"{"type": "message_annotation", "anything": [1, 2]}"#).unwrap();
        assert_eq!(unknown, StreamEvent::Unknown);
        let delta: StreamEvent = serde_json::from_str(
            r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}}"#,
        )
        .unwrap();
        assert_eq!(
            delta,
            StreamEvent::ContentBlockDelta {
                index: 0,
                delta: BlockDelta::Unknown
            }
        );
        let block: StreamEvent = serde_json::from_str(
            r#"{"type": "content_block_start", "index": 2, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1"}}"#,
        )
        .unwrap();
        assert!(matches!(
            block,
            StreamEvent::ContentBlockStart {
                content_block: ResponseBlock::Unknown,
                ..
            }
        ));
    }

    /// The text-delta path reads every event exactly as the derived reader does: the same
    /// value, or the same error.
    #[test]
    fn fuzz_from_data_reads_as_the_derived_reader() {
        const FRAGMENTS: [&str; 22] = [
            "{",
            "}",
            ",",
            ":",
            "\"type\"",
            "\"content_block_delta\"",
            "\"text_delta\"",
            "\"thinking_delta\"",
            "\"index\"",
            "\"delta\"",
            "\"text\"",
            "\"h\\u00e9\\n\"",
            "\"\"",
            "0",
            "7",
            "-1",
            "4294967296",
            "null",
            "{\"type\":\"text_delta\",\"text\":\"a\"}",
            "\"type\":\"content_block_delta\",\"index\":0,",
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"}",
            "\"extra\":[1,{\"type\":\"x\"}]",
        ];
        let read = |data: &str| {
            let fast = StreamEvent::from_data("content_block_delta", data);
            let derived = serde_json::from_str::<StreamEvent>(data);
            assert_eq!(format!("{fast:?}"), format!("{derived:?}"), "{data}");
            fast.is_ok()
        };
        for data in DOCS_STREAM
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .chain(DOCS_EVENTS)
        {
            assert!(read(data), "{data}");
        }
        crate::fuzz::run("stream_event", |g| {
            let mut data = String::from("{");
            data.push_str(&g.text(&FRAGMENTS, 24));
            read(&data);
        });
        // Valid events in odd shapes: field order, unknown fields, duplicates, other tags.
        let both = [
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x\u00e9"},"extra":1}"#,
            r#"{"index":3,"delta":{"text":"x","type":"text_delta"},"type":"content_block_delta"}"#,
            r#"{"type":"content_block_delta","type":"ping","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","text":"y"}}"#,
            r#"{"type":"ping","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","text":"x"}}"#,
        ];
        let read_ok = both.map(read);
        assert!(read_ok[0] && read_ok[1], "the first two are valid");
    }

    #[test]
    fn usage_is_cumulative_and_later_reports_replace_earlier_counts() {
        let mut usage = Usage {
            input_tokens: Some(25),
            output_tokens: Some(1),
            cache_creation_input_tokens: Some(0),
            cache_read_input_tokens: Some(2048),
        };
        // A message_delta naming only the output: the other counts stay.
        usage.update(&Usage {
            output_tokens: Some(15),
            ..Usage::default()
        });
        // A second one (server tools send several): totals, so not added up.
        usage.update(&Usage {
            input_tokens: Some(472),
            output_tokens: Some(89),
            cache_creation_input_tokens: Some(12),
            cache_read_input_tokens: None,
        });
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(472),
                output_tokens: Some(89),
                cache_creation_input_tokens: Some(12),
                cache_read_input_tokens: Some(2048),
            }
        );
    }

    #[test]
    fn requests_serialize_as_the_api_reads_them() {
        let request = MessagesRequest {
            model: "claude-sonnet-4-5".into(),
            max_tokens: 1024,
            system: Some(Content::Blocks(vec![RequestBlock::Text {
                text: "Be brief.".into(),
                cache_control: Some(CacheControl::ephemeral()),
            }])),
            messages: vec![Message {
                role: Role::User,
                content: Content::Text("Hello".into()),
            }],
            stream: true,
            thinking: Some(Thinking::Enabled {
                budget_tokens: 2048,
            }),
        };
        let wire = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Hello"}],
            "stream": true,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        });
        assert_eq!(serde_json::to_value(&request).unwrap(), wire);
        assert_eq!(
            serde_json::from_value::<MessagesRequest>(wire).unwrap(),
            request
        );
    }

    #[test]
    fn content_text_joins_text_blocks_and_skips_others() {
        let content: Content = serde_json::from_value(json!([
            {"type": "text", "text": "one"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            {"type": "text", "text": "two"},
        ]))
        .unwrap();
        assert_eq!(content.text(), "one\ntwo");
        assert!(serde_json::from_value::<Content>(json!(7)).is_err());
        assert!(serde_json::from_value::<Content>(json!([{"type": "text"}])).is_err());
    }
}
