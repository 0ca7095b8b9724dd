//! Chat with the Agents, as orchestration: check the request, store the person's message
//! (through [`conversations`]), call Anthropic (the typed [`protocol`]), and relay its stream
//! to the browser delta by delta, storing the answer when it ends, complete or not.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{
    anthropic::{
        errors,
        protocol::{self, BlockDelta, Content, ErrorDetail, MessagesRequest, Role, StreamEvent},
        EventStream, Verdict,
    },
    api_keys,
    billing::{chat_key, ChatKey},
    chat_limits::StreamSlot,
    chat_upstream,
    conversations::{self, Answer, Turn},
    db::{drafts::NewDraft, FirstWords, MessageRow},
    drafts::Drafts,
    prompt_cache,
    rate_limit::Limit,
    session::SignedIn,
    spend_cap,
    state::AppState,
};
use crate::{
    domain::{ClientMessageId, ModelName},
    error::AppError,
    types::chat::{
        ChatEvent, ChatRequest, Delta, Done, RateLimitWarning, StreamError, StreamErrorCode, Usage,
    },
};

/// Longest message a person may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// The models the user's key can use (the Agents' defaults when Anthropic cannot say).
pub async fn available_models(state: &AppState, user_id: i64) -> Result<Vec<String>, AppError> {
    let key = chat_key(state, user_id).await?;
    match state.anthropic.list_models(key.secret()).await {
        Ok(models) if !models.is_empty() => Ok(models),
        Ok(_) | Err(Verdict::Unavailable) | Err(Verdict::Accepted) => {
            Ok(state.agents.default_models())
        }
        Err(Verdict::Refused) => match &key {
            ChatKey::Own(own) => {
                api_keys::mark_refused(state, user_id, own).await;
                Err(AppError::ApiKeyInvalid)
            }
            // The platform's key is the operator's problem; the user's models are the defaults.
            ChatKey::Platform { .. } => {
                tracing::error!("Anthropic refused the platform key listing models");
                Ok(state.agents.default_models())
            }
        },
    }
}

/// Everything checked and stored before the stream starts.
struct Prepared {
    conversation_id: String,
    /// The person's message being answered.
    parent_id: String,
    model: String,
    system: String,
    history: Vec<protocol::Message>,
    /// Older turns were left out to fit the history budget.
    history_truncated: bool,
    /// An existing conversation, to mark as used (with this model) when the answer began.
    touch: bool,
}

/// What the relay needs besides the streams themselves.
struct RelayJob {
    state: AppState,
    user_id: i64,
    key: ChatKey,
    conversation_id: String,
    parent_id: String,
    model: String,
    history_truncated: bool,
    /// Mark the conversation as used when the answer began.
    touch: bool,
    /// Less than a tenth left of a limit of the person's own key.
    rate_limit: Option<RateLimitWarning>,
    /// This answer's place among the person's streams, freed when the relay ends.
    _slot: StreamSlot,
}

/// Checks the request with the key already found by [`chat_key`] (the caller
/// checks the key before anything else, even before parsing the body); stores the user's
/// message; calls Anthropic. Errors before the first byte are returned as HTTP errors;
/// after it, as `error` events.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn start(
    state: AppState,
    user: &SignedIn,
    key: ChatKey,
    request: ChatRequest,
) -> Result<mpsc::Receiver<ChatEvent>, AppError> {
    let user_id = user.id;
    let over_cap = request.over_cap;
    let request = ValidRequest::try_from(request)?;
    let slot = state
        .streams
        .take(user_id, state.settings.chat_streams_per_user)?;
    state
        .limits
        .hit(
            &format!("chat:{user_id}"),
            Limit::per_minute(state.settings.chat_messages_per_minute),
        )
        .await?;
    let prepared = prepare(&state, user_id, request).await?;

    let mut body = MessagesRequest {
        model: prepared.model.clone(),
        max_tokens: state.settings.max_tokens,
        system: Some(Content::Text(prepared.system)),
        messages: prepared.history,
        stream: true,
        thinking: None,
    };
    prompt_cache::mark(&mut body);
    spend_cap::check(&state, user, &key, &body, over_cap).await?;
    let sent = tokio::time::timeout(
        state.settings.anthropic_timeout,
        state.anthropic.messages(key.secret(), &body).send(),
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
    if !response.status().is_success() {
        return Err(chat_upstream::failure(&state, user_id, &key, response).await);
    }
    let rate_limit = chat_upstream::rate_limit_warning(&key, response.headers());
    let (tx, rx) = mpsc::channel(64);
    let job = RelayJob {
        state,
        user_id,
        key,
        conversation_id: prepared.conversation_id,
        parent_id: prepared.parent_id,
        model: prepared.model,
        history_truncated: prepared.history_truncated,
        touch: prepared.touch,
        rate_limit,
        _slot: slot,
    };
    tokio::spawn(relay(job, response, tx));
    Ok(rx)
}

/// A [`ChatRequest`] whose raw strings passed their checks.
struct ValidRequest {
    message: String,
    conversation_id: Option<String>,
    agent: Option<String>,
    model: Option<ModelName>,
    client_message_id: Option<ClientMessageId>,
    regenerate: Option<String>,
    edit_of: Option<String>,
}

impl TryFrom<ChatRequest> for ValidRequest {
    type Error = AppError;

    fn try_from(request: ChatRequest) -> Result<Self, AppError> {
        let message = request.message.trim();
        if request.regenerate.is_some() {
            if !message.is_empty() || request.edit_of.is_some() {
                return Err(AppError::InvalidRequest(
                    "A regenerated answer takes no message and no edit.".into(),
                ));
            }
        } else if message.is_empty() {
            return Err(AppError::InvalidRequest("Write a message first.".into()));
        }
        if (request.regenerate.is_some() || request.edit_of.is_some())
            && request.conversation_id.is_none()
        {
            return Err(AppError::InvalidRequest(
                "Regenerating or editing needs the conversation_id.".into(),
            ));
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(AppError::InvalidRequest(format!(
                "Messages can be at most {MAX_MESSAGE_CHARS} characters."
            )));
        }
        Ok(Self {
            message: message.to_string(),
            conversation_id: request.conversation_id,
            agent: request.agent,
            model: request.model.map(ModelName::try_from).transpose()?,
            client_message_id: request
                .client_message_id
                .map(ClientMessageId::try_from)
                .transpose()?,
            regenerate: request.regenerate,
            edit_of: request.edit_of,
        })
    }
}

async fn prepare(
    state: &AppState,
    user_id: i64,
    request: ValidRequest,
) -> Result<Prepared, AppError> {
    let (conversation, parent_id, rows, created) = match &request.conversation_id {
        Some(id) => {
            // The conversation (is it theirs?) and its messages, in one read.
            let (conversation, rows) =
                conversations::owned_with_messages(state, user_id, id).await?;
            // Stored before Anthropic is called, where it belongs in the conversation's tree.
            let turn = match (&request.regenerate, &request.edit_of) {
                (Some(answer), _) => Turn::Regenerate { answer },
                (None, Some(of)) => Turn::Edit {
                    of,
                    message: &request.message,
                    client_message_id: request.client_message_id.as_ref(),
                },
                (None, None) => Turn::New {
                    message: &request.message,
                    client_message_id: request.client_message_id.as_ref(),
                },
            };
            let (parent_id, rows) =
                conversations::store_turn(state, &conversation.id, rows, turn).await?;
            (conversation, parent_id, rows, false)
        }
        None => {
            let agent = match &request.agent {
                Some(id) => state.agents.get(id).ok_or_else(|| {
                    AppError::InvalidRequest("There is no Agent by that name.".into())
                })?,
                None => state.agents.default_agent(),
            };
            let model = request.model.as_ref().unwrap_or(&agent.model);
            // The conversation and the person's message, stored together before Anthropic
            // is called; the message is all there is to send.
            let (conversation, message) = conversations::start(
                state,
                user_id,
                &request.message,
                request.client_message_id.as_ref(),
                agent,
                model,
            )
            .await?;
            (conversation, message.id.clone(), vec![message], true)
        }
    };
    let model = request
        .model
        .map_or_else(|| conversation.model.clone(), ModelName::into_string);

    let system = state
        .agents
        .get(&conversation.agent)
        .unwrap_or_else(|| state.agents.default_agent())
        .system
        .clone();
    let (history, history_truncated) = history(&rows, state.settings.history_budget_chars);
    Ok(Prepared {
        conversation_id: conversation.id,
        parent_id,
        model,
        system,
        history,
        history_truncated,
        touch: !created,
    })
}

/// The conversation as Anthropic wants it: alternating roles, starting with the person,
/// empty cut-off answers left out; of it, the newest turns that fit in `budget` characters
/// (the latest message always). True when older turns were left out.
fn history(rows: &[MessageRow], budget: usize) -> (Vec<protocol::Message>, bool) {
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
    let mut used = 0;
    let mut first_kept = turns.len();
    for (i, (_, text)) in turns.iter().enumerate().rev() {
        let size = text.chars().count();
        if first_kept < turns.len() && used + size > budget {
            break;
        }
        used += size;
        first_kept = i;
    }
    let mut kept = turns.split_off(first_kept);
    // What is sent must still begin with the person.
    let mut left_out = turns.len();
    while kept.len() > 1 && kept.first().is_some_and(|(role, _)| role != "user") {
        kept.remove(0);
        left_out += 1;
    }
    let truncated = left_out > 0;
    let messages = kept
        .into_iter()
        .map(|(role, content)| protocol::Message {
            role: if role == "user" {
                Role::User
            } else {
                Role::Assistant
            },
            content: Content::Text(content.trim_end().to_string()),
        })
        .collect::<Vec<_>>();
    (messages, truncated)
}

enum Outcome {
    Complete,
    /// The browser went away (closed tab, Stop).
    Cancelled,
    /// The stream broke off: network, idle timeout, or end without `message_stop`.
    Dropped,
    /// Anthropic sent an `error` event after the 200.
    UpstreamError(ErrorDetail),
    /// The server is stopping and the answer's grace time is over.
    Stopped,
}

/// Relays Anthropic's stream to the browser and stores the answer when it ends. Dropping
/// the receiver (the browser left) stops the loop, which drops the upstream response and
/// so cancels the call.
async fn relay(job: RelayJob, response: reqwest::Response, tx: mpsc::Sender<ChatEvent>) {
    let RelayJob {
        state,
        user_id,
        key,
        conversation_id,
        parent_id,
        model,
        history_truncated,
        touch,
        rate_limit,
        _slot,
    } = job;
    let stalled = state.settings.stalled_reader;
    // How long Anthropic's stream may stay silent (it pings well within the default).
    let idle = state.settings.anthropic_idle;
    let mut events = EventStream::new(response);
    let mut answer = String::new();
    let mut usage = protocol::Usage::default();
    // When the first words went to the browser: the key's and the conversation's "last
    // used". Nothing is written for it before those words, and then nothing until the
    // answer is stored, which records it in its own transaction (see `FirstWords`).
    let mut first_words_at = None;
    // When Anthropic reported reading the prompt (its `message_start` counts it), which it
    // bills: from then on the answer is drafted, words or not.
    let mut prompt_read_at = None;
    // The id the answer is stored under, and its drafts' (see `drafts`).
    let answer_id = uuid::Uuid::new_v4().to_string();
    let mut drafts = Drafts::default();
    let draft_every = state.settings.answer_draft;

    // One wait for the browser's leaving and one timer for the whole answer, not a new one
    // of each for every word: each event only moves the deadline on, which tokio's timer
    // takes as a store (a later deadline is looked at when the earlier one comes).
    let browser_left = tx.closed();
    tokio::pin!(browser_left);
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    // An answer still going after this is saved as a draft, and again as often.
    let draft_due = tokio::time::sleep(draft_every);
    tokio::pin!(draft_due);
    // The server stopping: what arrived is stored before the process ends.
    let cut = state.streams.cut();
    tokio::pin!(cut);
    let outcome = loop {
        let next = tokio::select! {
            _ = &mut browser_left => break Outcome::Cancelled,
            _ = &mut silence => break Outcome::Dropped,
            () = &mut cut => break Outcome::Stopped,
            // Only once Anthropic read the prompt (the condition), which it bills, words or
            // not. The draft keeps the first words' time, or the prompt's until then.
            () = &mut draft_due, if prompt_read_at.is_some() && drafts.wanted() => {
                let Some(at) = first_words_at.or(prompt_read_at) else { continue };
                let counts = counted(&usage);
                let draft = NewDraft {
                    message_id: &answer_id,
                    conversation_id: &conversation_id,
                    parent_id: &parent_id,
                    user_id,
                    model: &model,
                    content: &answer,
                    input_tokens: counts.input_tokens,
                    output_tokens: counts.output_tokens,
                    cache_creation_input_tokens: counts.cache_creation_input_tokens,
                    cache_read_input_tokens: counts.cache_read_input_tokens,
                    payer: key.payer(),
                    stripe_customer_id: key.customer(),
                    first_words_at: at,
                    touch,
                };
                drafts.save(&state, &draft).await;
                draft_due.as_mut().reset(tokio::time::Instant::now() + draft_every);
                // Not an event: the silence goes on counting.
                continue;
            }
            next = events.next() => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) | Err(_) => break Outcome::Dropped,
        };
        match event {
            StreamEvent::MessageStart { message } => {
                usage.update(&message.usage);
                if usage.counts_any() {
                    prompt_read_at.get_or_insert_with(chrono::Utc::now);
                }
            }
            StreamEvent::ContentBlockDelta {
                delta: BlockDelta::TextDelta { text },
                ..
            } => {
                answer.push_str(&text);
                if !deliver(&tx, ChatEvent::Delta(Delta { text }), stalled).await {
                    break Outcome::Cancelled;
                }
                first_words_at.get_or_insert_with(chrono::Utc::now);
            }
            // Cumulative totals, the cache counts among them.
            StreamEvent::MessageDelta { usage: later, .. } => usage.update(&later),
            StreamEvent::MessageStop => break Outcome::Complete,
            StreamEvent::Error { error } => break Outcome::UpstreamError(error),
            // ping, block starts and stops, thinking and tool deltas, and anything new
            StreamEvent::ContentBlockStart { .. }
            | StreamEvent::ContentBlockDelta { .. }
            | StreamEvent::ContentBlockStop { .. }
            | StreamEvent::Ping
            | StreamEvent::Unknown => {}
        }
        // Silence counts from here: not the time the browser took to take the last word.
        silence.as_mut().reset(tokio::time::Instant::now() + idle);
    };
    drop(events); // ends the upstream request now, if it is still open

    let complete = matches!(outcome, Outcome::Complete);
    let usage = counted(&usage);
    let first_words = first_words_at.map(|at| FirstWords {
        at,
        own_key: match &key {
            ChatKey::Own(own) => Some(own.token.as_str()),
            ChatKey::Platform { .. } => None,
        },
        touch,
    });
    let record = Answer {
        id: &answer_id,
        conversation_id: &conversation_id,
        parent_id: &parent_id,
        model: &model,
        content: &answer,
        incomplete: !complete,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        user_id,
        payer: key.payer(),
        stripe_customer_id: key.customer(),
        first_words,
        drafted: drafts.saved(),
        at: None,
    };
    let stored = if complete || !answer.is_empty() {
        let stored = conversations::store_answer(&state, &record).await;
        if stored.is_err() && !draft_left(&state, &record).await {
            // Nowhere to keep it (its conversation deleted meanwhile, say): what Anthropic
            // billed for it is counted all the same.
            count_unshown(&state, &record).await;
        }
        Some(stored)
    } else {
        // Cut off before its first word: nothing to show, but a prompt Anthropic read (its
        // `message_start` counted it) is billed all the same.
        if count_unshown(&state, &record).await {
            if let ChatKey::Own(own) = &key {
                api_keys::mark_used(&state, user_id, own, chrono::Utc::now()).await;
            }
        }
        // A draft saved while Anthropic was silent (it has tokens to count: see
        // `prompt_read_at`) goes in the transaction that counts them, or is left for an
        // instance to count from when counting failed.
        None
    };
    let first_words = record.first_words;
    if let (Some(words), false) = (&first_words, matches!(stored, Some(Ok(())))) {
        // No answer stored to carry them (its words were all empty, or storing it failed):
        // the key was used all the same.
        record_first_words(&state, user_id, &key, &conversation_id, &model, words).await;
    }
    // The exchange is over: its words (the person's message, the answer) may be indexed.
    state.search_index.nudge();
    let message_id = match stored {
        Some(Ok(())) => answer_id,
        Some(Err(e)) => {
            let _ = tx
                .send(ChatEvent::Error(StreamError {
                    code: StreamErrorCode::Internal,
                    message: e.to_string(),
                    conversation_id: conversation_id.clone(),
                    retry_after: None,
                }))
                .await;
            return;
        }
        None => String::new(), // not Complete, so no `done` event will carry it
    };

    let event = match outcome {
        Outcome::Complete => ChatEvent::Done(Done {
            conversation_id,
            message_id,
            cost_usd: state.prices.cost_usd(&model, &usage),
            saved_usd: state.prices.saved_usd(&model, &usage),
            usage,
            payer: key.payer(),
            history_truncated,
            rate_limit,
        }),
        Outcome::Cancelled => {
            tracing::info!(
                kept = answer.len(),
                "chat cancelled by the browser; partial answer kept"
            );
            return;
        }
        Outcome::Stopped => {
            tracing::info!(
                kept = answer.len(),
                "answer cut short: the server is stopping"
            );
            ChatEvent::Error(StreamError {
                code: StreamErrorCode::AnthropicUnavailable,
                message: "The server restarted while answering, so the answer was cut off. What arrived is kept; please try again.".into(),
                conversation_id,
                retry_after: None,
            })
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
        Outcome::UpstreamError(error) => {
            tracing::warn!(kind = error.kind, "Anthropic sent an error mid-stream");
            // The key stays valid: a mid-stream error is about load or the account.
            let (code, message) =
                errors::classify_event(&error).stream_error(matches!(key, ChatKey::Own(_)));
            ChatEvent::Error(StreamError {
                code,
                message,
                conversation_id,
                retry_after: None,
            })
        }
    };
    deliver(&tx, event, stalled).await;
}

/// Whether an answer that could not be stored has a draft left, which an instance will
/// store (words and usage) once it is abandoned: counting its usage now as well would
/// leave that draft's words unstored (its id counted already), so it is left to that.
async fn draft_left(state: &AppState, record: &Answer<'_>) -> bool {
    record.drafted && state.db.draft_exists(record.id).await.unwrap_or(true)
}

/// Counts what an answer not stored was billed, if anything (see
/// `conversations::record_unanswered`); true when it was counted here.
async fn count_unshown(state: &AppState, record: &Answer<'_>) -> bool {
    if record.ledger_entry().billed_tokens() == 0 {
        return false;
    }
    match conversations::record_unanswered(state, record).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not count an answer's usage");
            false
        }
    }
}

/// The records of an answer's first words on their own, for an answer not stored.
async fn record_first_words(
    state: &AppState,
    user_id: i64,
    key: &ChatKey,
    conversation_id: &str,
    model: &str,
    words: &FirstWords<'_>,
) {
    if let ChatKey::Own(own) = key {
        api_keys::mark_used(state, user_id, own, words.at).await;
    }
    if words.touch {
        if let Err(e) = conversations::touch(state, conversation_id, model, words.at).await {
            tracing::warn!(error = %e, "could not mark a conversation as used");
        }
    }
}

/// Hands an event to the browser's side; false when the browser is gone, or has read
/// nothing for `stalled` (its buffers full): the relay then gives up rather than hold the
/// upstream call and this task open for someone who no longer reads.
async fn deliver(tx: &mpsc::Sender<ChatEvent>, event: ChatEvent, stalled: Duration) -> bool {
    // Room in the channel, as nearly always: no timer set.
    let event = match tx.try_send(event) {
        Ok(()) => return true,
        Err(mpsc::error::TrySendError::Closed(_)) => return false,
        Err(mpsc::error::TrySendError::Full(event)) => event,
    };
    match tokio::time::timeout(stalled, tx.send(event)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("the browser stopped reading the answer; giving up on it");
            false
        }
    }
}

/// Anthropic's counts as the `done` event carries them (a count it never gave is 0).
fn counted(usage: &protocol::Usage) -> Usage {
    let tokens = |count: Option<u64>| count.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
    Usage {
        input_tokens: tokens(usage.input_tokens),
        output_tokens: tokens(usage.output_tokens),
        cache_creation_input_tokens: tokens(usage.cache_creation_input_tokens),
        cache_read_input_tokens: tokens(usage.cache_read_input_tokens),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            created_at: chrono::Utc::now(),
            payer: None,
            parent_id: None,
            selected_at: chrono::Utc::now(),
            client_message_id: None,
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
        let (h, truncated) = history(&rows, 1_000);
        assert!(!truncated);
        assert_eq!(
            serde_json::to_value(h).unwrap(),
            json!([
                {"role": "user", "content": "a\n\nb"},
                {"role": "assistant", "content": "c"},
                {"role": "user", "content": "d"},
            ])
        );
    }

    #[tokio::test]
    async fn a_browser_that_stops_reading_is_given_up_on() {
        let delta = |text: &str| ChatEvent::Delta(Delta { text: text.into() });
        let stalled = Duration::from_millis(20);
        let (tx, rx) = mpsc::channel(1);
        assert!(deliver(&tx, delta("a"), stalled).await);
        assert!(
            !deliver(&tx, delta("b"), stalled).await,
            "the buffer is full and nobody reads"
        );
        drop(rx);
        assert!(
            !deliver(&tx, delta("c"), stalled).await,
            "the browser is gone"
        );
    }

    #[test]
    fn history_keeps_the_newest_turns_that_fit_the_budget_and_the_latest_always() {
        let rows = [
            row("user", "aaaaaaaaaa"),
            row("assistant", "bbbbbbbbbb"),
            row("user", "cccccccccc"),
            row("assistant", "dddddddddd"),
            row("user", "eeeeeeeeee"),
        ];
        let texts = |budget| {
            let (h, truncated) = history(&rows, budget);
            let v = serde_json::to_value(h).unwrap();
            let texts: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_string())
                .collect();
            (texts, truncated)
        };
        assert!(!texts(50).1);
        assert_eq!(texts(50).0.len(), 5);
        // 30 characters fit c, d, e; 25 fit d and e, but a history must begin with the
        // person, so only e is sent.
        assert_eq!(
            texts(30),
            (
                vec![
                    "cccccccccc".into(),
                    "dddddddddd".into(),
                    "eeeeeeeeee".into()
                ],
                true
            )
        );
        assert_eq!(texts(25), (vec!["eeeeeeeeee".to_string()], true));
        // The latest message goes even when it alone is over the budget.
        assert_eq!(texts(3), (vec!["eeeeeeeeee".to_string()], true));
    }

    fn request(message: &str, model: Option<&str>, cid: Option<&str>) -> ChatRequest {
        ChatRequest {
            message: message.into(),
            model: model.map(String::from),
            client_message_id: cid.map(String::from),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn a_request_is_parsed_into_checked_values_first() {
        let valid =
            ValidRequest::try_from(request("  hi  ", Some("claude-haiku-4-5"), Some(" c1 ")))
                .unwrap();
        assert_eq!(valid.message, "hi");
        assert_eq!(valid.model.unwrap().as_str(), "claude-haiku-4-5");
        assert_eq!(valid.client_message_id.unwrap().as_str(), "c1");
        for bad in [
            request("  ", None, None),
            request(&"x".repeat(MAX_MESSAGE_CHARS + 1), None, None),
            request("hi", Some("gpt-4"), None),
            request("hi", None, Some("")),
        ] {
            assert!(matches!(
                ValidRequest::try_from(bad),
                Err(AppError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn the_done_event_carries_every_count_anthropic_gave() {
        let usage = protocol::Usage {
            input_tokens: Some(10),
            output_tokens: Some(42),
            cache_creation_input_tokens: Some(7),
            cache_read_input_tokens: None,
        };
        assert_eq!(
            counted(&usage),
            Usage {
                input_tokens: 10,
                output_tokens: 42,
                cache_creation_input_tokens: 7,
                cache_read_input_tokens: 0,
            }
        );
    }
}
