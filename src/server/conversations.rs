//! Conversations and usage: listing, reading, renaming and deleting a person's
//! conversations, storing the messages of a chat, and the month's token totals. Every
//! read and write is scoped to its owner.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};

use super::{
    agents::Agent,
    db::{
        billing::{LedgerEntry, Payer},
        ConversationRow, DbError, MessageRow, NewMessage,
    },
    state::AppState,
};
use crate::{
    domain::{ClientMessageId, ModelName},
    error::AppError,
    types::chat::{
        conversation_title, ConversationSummary, ConversationView, MessageView, UsageRow,
    },
};

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn summary(row: ConversationRow) -> ConversationSummary {
    ConversationSummary {
        id: row.id,
        title: row.title,
        agent: row.agent,
        model: row.model,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

pub(crate) fn message_view(row: MessageRow) -> MessageView {
    MessageView {
        id: row.id,
        role: row.role,
        content: row.content,
        model: row.model,
        incomplete: row.incomplete,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        created_at: rfc3339(row.created_at),
        payer: row.payer.as_deref().and_then(Payer::parse),
        cache_creation_input_tokens: None,
        cache_read_input_tokens: None,
        cost_usd: None,
        saved_usd: None,
    }
}

pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<ConversationSummary>, AppError> {
    let rows = state.db.list_conversations(user_id).await?;
    Ok(rows.into_iter().map(summary).collect())
}

pub(crate) async fn owned(
    state: &AppState,
    user_id: i64,
    id: &str,
) -> Result<ConversationRow, AppError> {
    state
        .db
        .find_conversation(id, user_id)
        .await?
        // Someone else's conversation and a missing one look the same: ids cannot be probed.
        .ok_or(AppError::ConversationNotFound)
}

pub async fn get(state: &AppState, user_id: i64, id: &str) -> Result<ConversationView, AppError> {
    let conversation = owned(state, user_id, id).await?;
    let mut messages: Vec<MessageView> = state
        .db
        .messages(id)
        .await?
        .into_iter()
        .map(message_view)
        .collect();
    let cost_usd = super::usage::price_messages(state, id, &mut messages).await?;
    Ok(ConversationView {
        summary: summary(conversation),
        messages,
        cost_usd,
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
    // From the ledger, which outlives conversations: deleting one changes no month's usage.
    let rows = state.db.ledger_since(user_id, start).await?;
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

/// A new conversation with `agent`, titled after its first message.
pub(crate) async fn create(
    state: &AppState,
    user_id: i64,
    first_message: &str,
    agent: &Agent,
    model: &ModelName,
) -> Result<ConversationRow, AppError> {
    Ok(state
        .db
        .create_conversation(
            &uuid::Uuid::new_v4().to_string(),
            user_id,
            &conversation_title(first_message),
            &agent.id,
            model.as_str(),
        )
        .await?)
}

/// Marks a conversation as just used, with the model it now talks to.
pub(crate) async fn touch(state: &AppState, id: &str, model: &str) -> Result<(), AppError> {
    Ok(state.db.touch_conversation(id, model).await?)
}

/// Every message of a conversation, oldest first (its owner already checked).
pub(crate) async fn messages(state: &AppState, id: &str) -> Result<Vec<MessageRow>, AppError> {
    Ok(state.db.messages(id).await?)
}

/// Stores the person's message, once: a retry with the same client id finds it instead of
/// storing it again (and a concurrent retry that stored it first wins).
pub(crate) async fn store_user_message(
    state: &AppState,
    conversation_id: &str,
    content: &str,
    client_message_id: Option<&ClientMessageId>,
) -> Result<(), AppError> {
    let client_message_id = client_message_id.map(ClientMessageId::as_str);
    if let Some(cid) = client_message_id {
        if state
            .db
            .find_client_message(conversation_id, cid)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    let stored = state
        .db
        .insert_message(&NewMessage {
            id: &uuid::Uuid::new_v4().to_string(),
            conversation_id,
            role: "user",
            content,
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            client_message_id,
        })
        .await;
    match stored {
        Ok(()) | Err(DbError::UniqueViolation) => Ok(()), // a concurrent retry stored it
        Err(e) => Err(e.into()),
    }
}

/// An answer as it ended.
pub(crate) struct Answer<'a> {
    pub conversation_id: &'a str,
    pub model: &'a str,
    pub content: &'a str,
    /// Cut off: Stop, a closed tab, a dropped stream or an upstream error.
    pub incomplete: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub user_id: i64,
    /// Who paid Anthropic for it.
    pub payer: Payer,
    /// The Stripe customer to meter, when the platform paid.
    pub stripe_customer_id: Option<&'a str>,
}

/// Stores an answer with its ledger row and, when the platform paid, its meter report, in
/// one transaction; returns its id.
pub(crate) async fn store_answer(
    state: &AppState,
    answer: &Answer<'_>,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    state
        .db
        .insert_answer(
            &NewMessage {
                id: &id,
                conversation_id: answer.conversation_id,
                role: "assistant",
                content: answer.content,
                model: Some(answer.model),
                incomplete: answer.incomplete,
                input_tokens: Some(answer.input_tokens),
                output_tokens: Some(answer.output_tokens),
                client_message_id: None,
            },
            &LedgerEntry {
                message_id: &id,
                user_id: answer.user_id,
                model: answer.model,
                input_tokens: answer.input_tokens,
                output_tokens: answer.output_tokens,
                cache_creation_input_tokens: answer.cache_creation_input_tokens,
                cache_read_input_tokens: answer.cache_read_input_tokens,
                payer: answer.payer,
            },
            answer.stripe_customer_id,
        )
        .await?;
    if answer.payer == Payer::Platform && answer.stripe_customer_id.is_some() {
        if let Some(billing) = &state.billing {
            billing.meter_wake.notify_one();
        }
    }
    Ok(id)
}
