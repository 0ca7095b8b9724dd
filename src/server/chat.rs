//! Chat with the Agents: the key gate, conversations, and the stream from Anthropic to the
//! browser. The user's message is stored before Anthropic is called; the answer is relayed
//! delta by delta as it arrives and stored when it ends, complete or not.

use std::time::Duration;

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};
use futures::StreamExt as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    anthropic::Verdict,
    api_keys::{self, StoredKey},
    db::{ConversationRow, DbError, MessageRow, NewMessage},
    internal,
    state::AppState,
};
use crate::{
    error::AppError,
    sse::SseParser,
    types::chat::{
        conversation_title, ChatEvent, ChatRequest, ConversationSummary, ConversationView, Delta,
        Done, MessageView, StreamError, StreamErrorCode, Usage, UsageRow,
    },
};

/// Longest message a person may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
/// How long the stream may stay silent (Anthropic pings well within this).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub fn is_model_name(model: &str) -> bool {
    model.starts_with("claude-")
        && model.len() <= 100
        && model.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b'.'
                || b == b'_'
                || b == b'@'
        })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn summary(row: ConversationRow) -> ConversationSummary {
    ConversationSummary {
        id: row.id,
        title: row.title,
        agent: row.agent,
        model: row.model,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

fn message_view(row: MessageRow) -> MessageView {
    MessageView {
        id: row.id,
        role: row.role,
        content: row.content,
        model: row.model,
        incomplete: row.incomplete,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        created_at: rfc3339(row.created_at),
    }
}

pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<ConversationSummary>, AppError> {
    let rows = state.db.list_conversations(user_id).await?;
    Ok(rows.into_iter().map(summary).collect())
}

async fn owned(state: &AppState, user_id: i64, id: &str) -> Result<ConversationRow, AppError> {
    state
        .db
        .find_conversation(id, user_id)
        .await?
        // Someone else's conversation and a missing one look the same: ids cannot be probed.
        .ok_or(AppError::ConversationNotFound)
}

pub async fn get(state: &AppState, user_id: i64, id: &str) -> Result<ConversationView, AppError> {
    let conversation = owned(state, user_id, id).await?;
    let messages = state.db.messages(id).await?;
    Ok(ConversationView {
        summary: summary(conversation),
        messages: messages.into_iter().map(message_view).collect(),
    })
}

fn clean_title(title: &str) -> Result<String, AppError> {
    let title: String = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(AppError::InvalidRequest(
            "A conversation needs a title.".into(),
        ));
    }
    Ok(title.chars().take(120).collect())
}

pub async fn rename(
    state: &AppState,
    user_id: i64,
    id: &str,
    title: &str,
) -> Result<ConversationSummary, AppError> {
    let title = clean_title(title)?;
    if !state.db.rename_conversation(id, user_id, &title).await? {
        return Err(AppError::ConversationNotFound);
    }
    Ok(summary(owned(state, user_id, id).await?))
}

pub async fn delete(state: &AppState, user_id: i64, id: &str) -> Result<(), AppError> {
    if state.db.delete_conversation(id, user_id).await? {
        Ok(())
    } else {
        Err(AppError::ConversationNotFound)
    }
}

pub async fn usage_this_month(state: &AppState, user_id: i64) -> Result<Vec<UsageRow>, AppError> {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let rows = state.db.usage_since(user_id, start).await?;
    Ok(rows
        .into_iter()
        .map(|r| UsageRow {
            model: r.model,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            answers: r.answers,
        })
        .collect())
}

/// The models the user's key can use (the Agents' defaults when Anthropic cannot say).
pub async fn available_models(state: &AppState, user_id: i64) -> Result<Vec<String>, AppError> {
    let key = api_keys::usable_key(state, user_id).await?;
    match state.anthropic.list_models(&key.secret).await {
        Ok(models) if !models.is_empty() => Ok(models),
        Ok(_) | Err(Verdict::Unavailable) | Err(Verdict::Accepted) => {
            Ok(state.agents.default_models())
        }
        Err(Verdict::Refused) => {
            api_keys::mark_refused(state, user_id, &key).await;
            Err(AppError::ApiKeyInvalid)
        }
    }
}

/// Everything checked and stored before the stream starts.
struct Prepared {
    conversation_id: String,
    model: String,
    system: String,
    history: Vec<Value>,
}

/// Checks the request with the key already found by [`api_keys::usable_key`] (the caller
/// checks the key before anything else, even before parsing the body); stores the user's
/// message; calls Anthropic. Errors before the first byte are returned as HTTP errors;
/// after it, as `error` events.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn start(
    state: AppState,
    user_id: i64,
    key: StoredKey,
    request: ChatRequest,
) -> Result<mpsc::Receiver<ChatEvent>, AppError> {
    let prepared = prepare(&state, user_id, &request).await?;

    let body = json!({
        "model": prepared.model,
        "max_tokens": state.settings.max_tokens,
        "system": prepared.system,
        "messages": prepared.history,
        "stream": true,
    });
    let sent = tokio::time::timeout(
        state.settings.anthropic_timeout,
        state
            .anthropic
            .request(reqwest::Method::POST, "/v1/messages", &key.secret)
            .json(&body)
            .send(),
    )
    .await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::warn!(
                timeout = e.is_timeout(),
                connect = e.is_connect(),
                "Anthropic unreachable for a chat"
            );
            return Err(AppError::AnthropicUnavailable);
        }
        Err(_) => {
            tracing::warn!("Anthropic did not answer a chat in time");
            return Err(AppError::AnthropicUnavailable);
        }
    };
    let status = response.status();
    match Verdict::of_status(status) {
        Verdict::Accepted => {}
        Verdict::Refused => {
            tracing::info!(
                status = status.as_u16(),
                "Anthropic refused the stored key during chat"
            );
            api_keys::mark_refused(&state, user_id, &key).await;
            return Err(AppError::ApiKeyInvalid);
        }
        Verdict::Unavailable if status.is_client_error() && status.as_u16() != 429 => {
            tracing::info!(status = status.as_u16(), "Anthropic refused a chat request");
            return Err(AppError::InvalidRequest(
                "Anthropic could not take this request. The model may not be available to your key; try another.".into(),
            ));
        }
        Verdict::Unavailable => {
            tracing::info!(status = status.as_u16(), "Anthropic unavailable for a chat");
            return Err(AppError::AnthropicUnavailable);
        }
    }
    api_keys::mark_used(&state, user_id, &key).await;

    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(relay(
        state,
        key,
        prepared.conversation_id,
        prepared.model,
        response,
        tx,
    ));
    Ok(rx)
}

async fn prepare(
    state: &AppState,
    user_id: i64,
    request: &ChatRequest,
) -> Result<Prepared, AppError> {
    let message = request.message.trim();
    if message.is_empty() {
        return Err(AppError::InvalidRequest("Write a message first.".into()));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::InvalidRequest(format!(
            "Messages can be at most {MAX_MESSAGE_CHARS} characters."
        )));
    }
    if let Some(model) = &request.model {
        if !is_model_name(model) {
            return Err(AppError::InvalidRequest(
                "That is not a Claude model name.".into(),
            ));
        }
    }
    let client_message_id = match request.client_message_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() && id.len() <= 64 => Some(id),
        Some(_) => {
            return Err(AppError::InvalidRequest(
                "client_message_id must be 1 to 64 characters.".into(),
            ))
        }
        None => None,
    };

    let conversation = match &request.conversation_id {
        Some(id) => owned(state, user_id, id).await?,
        None => {
            let agent = match &request.agent {
                Some(id) => state.agents.get(id).ok_or_else(|| {
                    AppError::InvalidRequest("There is no Agent by that name.".into())
                })?,
                None => state.agents.default_agent(),
            };
            let model = request.model.clone().unwrap_or_else(|| agent.model.clone());
            let title = conversation_title(message);
            state
                .db
                .create_conversation(
                    &uuid::Uuid::new_v4().to_string(),
                    user_id,
                    &title,
                    &agent.id,
                    &model,
                )
                .await?
        }
    };
    let model = request
        .model
        .clone()
        .unwrap_or_else(|| conversation.model.clone());
    state
        .db
        .touch_conversation(&conversation.id, &model)
        .await?;

    // Store the user's message before calling Anthropic; a retry with the same client id
    // finds it instead of storing it again.
    let existing = match client_message_id {
        Some(cid) => state.db.find_client_message(&conversation.id, cid).await?,
        None => None,
    };
    if existing.is_none() {
        let id = uuid::Uuid::new_v4().to_string();
        let stored = state
            .db
            .insert_message(&NewMessage {
                id: &id,
                conversation_id: &conversation.id,
                role: "user",
                content: message,
                model: None,
                incomplete: false,
                input_tokens: None,
                output_tokens: None,
                client_message_id,
            })
            .await;
        match stored {
            Ok(()) | Err(DbError::UniqueViolation) => {} // a concurrent retry stored it
            Err(e) => return Err(e.into()),
        }
    }

    let system = state
        .agents
        .get(&conversation.agent)
        .unwrap_or_else(|| state.agents.default_agent())
        .system
        .clone();
    let rows = state.db.messages(&conversation.id).await?;
    Ok(Prepared {
        conversation_id: conversation.id,
        model,
        system,
        history: history(&rows),
    })
}

/// The conversation as Anthropic wants it: alternating roles, starting with the user,
/// empty cut-off answers left out.
fn history(rows: &[MessageRow]) -> Vec<Value> {
    let mut turns: Vec<(String, String)> = Vec::new();
    for row in rows.iter().filter(|r| !r.content.trim().is_empty()) {
        if turns.is_empty() && row.role != "user" {
            continue;
        }
        match turns.last_mut() {
            Some((role, text)) if *role == row.role => {
                text.push_str("\n\n");
                text.push_str(&row.content);
            }
            _ => turns.push((row.role.clone(), row.content.clone())),
        }
    }
    // The last turn must be the person's: a trailing answer (say, one cut off before a
    // retry) would be taken as a prefill for Anthropic to continue.
    while turns.last().is_some_and(|(role, _)| role != "user") {
        turns.pop();
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content.trim_end() }))
        .collect()
}

enum Outcome {
    Complete,
    /// The browser went away (closed tab, Stop).
    Cancelled,
    /// The stream broke off: network, idle timeout, or end without `message_stop`.
    Dropped,
    /// Anthropic sent an `error` event after the 200.
    UpstreamError(String),
}

/// Relays Anthropic's stream to the browser and stores the answer when it ends. Dropping
/// the receiver (the browser left) stops the loop, which drops the upstream response and
/// so cancels the call.
async fn relay(
    state: AppState,
    key: StoredKey,
    conversation_id: String,
    model: String,
    response: reqwest::Response,
    tx: mpsc::Sender<ChatEvent>,
) {
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    let mut answer = String::new();
    let mut usage = Usage::default();

    let outcome = 'stream: loop {
        let chunk = tokio::select! {
            _ = tx.closed() => break Outcome::Cancelled,
            chunk = tokio::time::timeout(IDLE_TIMEOUT, body.next()) => chunk,
        };
        let bytes = match chunk {
            Ok(Some(Ok(bytes))) => bytes,
            Ok(Some(Err(_))) | Ok(None) | Err(_) => break Outcome::Dropped,
        };
        for event in parser.push(&bytes) {
            let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            match event.event.as_str() {
                "message_start" => {
                    if let Some(counted) = data.pointer("/message/usage") {
                        usage = Usage::default();
                        count_usage(&mut usage, counted);
                    }
                }
                "content_block_delta" => {
                    if let Some(text) = data.pointer("/delta/text").and_then(Value::as_str) {
                        answer.push_str(text);
                        let delta = ChatEvent::Delta(Delta {
                            text: text.to_string(),
                        });
                        if tx.send(delta).await.is_err() {
                            break 'stream Outcome::Cancelled;
                        }
                    }
                }
                "message_delta" => {
                    if let Some(counted) = data.get("usage") {
                        count_usage(&mut usage, counted);
                    }
                }
                "message_stop" => break 'stream Outcome::Complete,
                "error" => {
                    let kind = data
                        .pointer("/error/type")
                        .and_then(Value::as_str)
                        .unwrap_or("api_error");
                    break 'stream Outcome::UpstreamError(kind.to_string());
                }
                _ => {} // ping, content_block_start/stop, and anything new
            }
        }
    };
    drop(body); // ends the upstream request now, if it is still open

    let complete = matches!(outcome, Outcome::Complete);
    let message_id = uuid::Uuid::new_v4().to_string();
    if complete || !answer.is_empty() {
        let stored = state
            .db
            .insert_message(&NewMessage {
                id: &message_id,
                conversation_id: &conversation_id,
                role: "assistant",
                content: &answer,
                model: Some(&model),
                incomplete: !complete,
                input_tokens: Some(usage.input_tokens),
                output_tokens: Some(usage.output_tokens),
                client_message_id: None,
            })
            .await;
        if let Err(e) = stored {
            let _ = tx
                .send(ChatEvent::Error(StreamError {
                    code: StreamErrorCode::Internal,
                    message: internal("storing an answer", e).to_string(),
                    conversation_id: conversation_id.clone(),
                    retry_after: None,
                }))
                .await;
            return;
        }
    }

    let event = match outcome {
        Outcome::Complete => ChatEvent::Done(Done {
            conversation_id,
            message_id,
            usage,
            cost_usd: None,
        }),
        Outcome::Cancelled => {
            tracing::info!(
                kept = answer.len(),
                "chat cancelled by the browser; partial answer kept"
            );
            return;
        }
        Outcome::Dropped => {
            tracing::warn!(kept = answer.len(), "Anthropic's stream broke off");
            ChatEvent::Error(StreamError {
                code: StreamErrorCode::AnthropicUnavailable,
                message: "The answer was cut off before it finished. What arrived is kept; please try again.".into(),
                conversation_id,
                retry_after: None,
            })
        }
        Outcome::UpstreamError(kind) => {
            tracing::warn!(kind, "Anthropic sent an error mid-stream");
            let _ = &key; // the key stays valid: a mid-stream error is about load, not the key
            ChatEvent::Error(StreamError {
                code: StreamErrorCode::AnthropicUnavailable,
                message: "Anthropic is overloaded right now and stopped answering. What arrived is kept; please try again in a moment.".into(),
                conversation_id,
                retry_after: None,
            })
        }
    };
    let _ = tx.send(event).await;
}

/// Takes the counts Anthropic gives in a `usage` object (`message_start` has them all,
/// `message_delta` the cumulative ones it updates).
fn count_usage(usage: &mut Usage, counted: &Value) {
    let fields: [(&str, &mut i64); 4] = [
        ("input_tokens", &mut usage.input_tokens),
        ("output_tokens", &mut usage.output_tokens),
        (
            "cache_creation_input_tokens",
            &mut usage.cache_creation_input_tokens,
        ),
        (
            "cache_read_input_tokens",
            &mut usage.cache_read_input_tokens,
        ),
    ];
    for (name, count) in fields {
        if let Some(n) = counted.get(name).and_then(Value::as_i64) {
            *count = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(role: &str, content: &str) -> MessageRow {
        MessageRow {
            id: String::new(),
            role: role.into(),
            content: content.into(),
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn history_alternates_and_skips_empty_answers() {
        let rows = [
            row("assistant", "stray"),
            row("user", "a"),
            row("assistant", ""),
            row("user", "b"),
            row("assistant", "c  \n"),
            row("user", "d"),
            row("assistant", "partial"),
        ];
        let h = history(&rows);
        assert_eq!(
            h,
            vec![
                json!({"role": "user", "content": "a\n\nb"}),
                json!({"role": "assistant", "content": "c"}),
                json!({"role": "user", "content": "d"}),
            ]
        );
    }

    #[test]
    fn model_names_are_checked() {
        assert!(is_model_name("claude-sonnet-4-5"));
        assert!(is_model_name("claude-3-5-haiku@20241022"));
        assert!(!is_model_name("gpt-4"));
        assert!(!is_model_name("claude-<script>"));
    }

    #[test]
    fn usage_takes_every_count_anthropic_gives() {
        let mut usage = Usage::default();
        count_usage(
            &mut usage,
            &json!({"input_tokens": 10, "output_tokens": 1,
                "cache_creation_input_tokens": 7, "cache_read_input_tokens": 5}),
        );
        count_usage(&mut usage, &json!({"output_tokens": 42}));
        assert_eq!(
            usage,
            Usage {
                input_tokens: 10,
                output_tokens: 42,
                cache_creation_input_tokens: 7,
                cache_read_input_tokens: 5,
            }
        );
    }
}
