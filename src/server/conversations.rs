//! Conversations and usage: listing, reading, renaming and deleting a person's
//! conversations, storing the messages of a chat, and the month's token totals. Every
//! read and write is scoped to its owner.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};

use super::{
    agents::Agent,
    branches::Tree,
    db::{
        billing::{LedgerEntry, Payer},
        ConversationRow, DbError, FirstWords, MessageRow, NewConversation, NewMessage,
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

fn message_view(row: MessageRow, tree: &Tree<'_>) -> MessageView {
    MessageView {
        siblings: tree.siblings(&row.id),
        parent_id: row.parent_id,
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

/// [`owned`] with its messages (see [`super::db::Db::messages`]), read together.
pub(crate) async fn owned_with_messages(
    state: &AppState,
    user_id: i64,
    id: &str,
) -> Result<(ConversationRow, Vec<MessageRow>), AppError> {
    state
        .db
        .conversation_with_messages(id, user_id)
        .await?
        // Someone else's conversation and a missing one look the same: ids cannot be probed.
        .ok_or(AppError::ConversationNotFound)
}

/// The conversation along its current path (see [`super::branches`]), each message with
/// its place among its versions.
pub async fn get(state: &AppState, user_id: i64, id: &str) -> Result<ConversationView, AppError> {
    let (conversation, rows) = owned_with_messages(state, user_id, id).await?;
    let tree = Tree::new(&rows);
    let mut messages: Vec<MessageView> = tree
        .current_path()
        .into_iter()
        .map(|row| message_view(row.clone(), &tree))
        .collect();
    let cost_usd = super::usage::price_messages(state, id, &mut messages).await?;
    Ok(ConversationView {
        summary: summary(conversation),
        messages,
        cost_usd,
    })
}

/// Switches the conversation to the branch through `message_id` (one of its versions,
/// then the turns last seen under it) and returns the conversation along it. Someone
/// else's conversation or a message not in it: `ConversationNotFound`.
pub async fn select(
    state: &AppState,
    user_id: i64,
    id: &str,
    message_id: &str,
) -> Result<ConversationView, AppError> {
    owned(state, user_id, id).await?;
    if !state.db.select_message(id, message_id).await? {
        return Err(AppError::ConversationNotFound);
    }
    get(state, user_id, id).await
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
    state.search_index.nudge();
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

/// A new conversation with `agent`, titled after its first message, and that message, in
/// one transaction. Returns the conversation and the message (the whole of what Anthropic
/// is sent).
pub(crate) async fn start(
    state: &AppState,
    user_id: i64,
    first_message: &str,
    client_message_id: Option<&ClientMessageId>,
    agent: &Agent,
    model: &ModelName,
) -> Result<(ConversationRow, MessageRow), AppError> {
    let conversation_id = uuid::Uuid::new_v4().to_string();
    let message_id = uuid::Uuid::new_v4().to_string();
    let client_message_id = client_message_id.map(ClientMessageId::as_str);
    let (conversation, at) = state
        .db
        .create_conversation_with_message(
            &NewConversation {
                id: &conversation_id,
                user_id,
                title: &conversation_title(first_message),
                agent: &agent.id,
                model: model.as_str(),
            },
            &person_message(
                &message_id,
                &conversation_id,
                first_message,
                client_message_id,
                None,
            ),
        )
        .await?;
    let message = stored_person_message(message_id, first_message, client_message_id, None, at);
    Ok((conversation, message))
}

fn person_message<'a>(
    id: &'a str,
    conversation_id: &'a str,
    content: &'a str,
    client_message_id: Option<&'a str>,
    parent_id: Option<&'a str>,
) -> NewMessage<'a> {
    NewMessage {
        id,
        conversation_id,
        role: "user",
        content,
        model: None,
        incomplete: false,
        input_tokens: None,
        output_tokens: None,
        client_message_id,
        parent_id,
    }
}

/// The row of a message of the person just stored, as a read would return it.
fn stored_person_message(
    id: String,
    content: &str,
    client_message_id: Option<&str>,
    parent_id: Option<&str>,
    at: chrono::DateTime<Utc>,
) -> MessageRow {
    MessageRow {
        id,
        role: "user".into(),
        content: content.into(),
        model: None,
        incomplete: false,
        input_tokens: None,
        output_tokens: None,
        created_at: at,
        payer: None,
        parent_id: parent_id.map(String::from),
        selected_at: at,
        client_message_id: client_message_id.map(String::from),
    }
}

/// Marks a conversation as used at `at`, with the model it now talks to.
pub(crate) async fn touch(
    state: &AppState,
    id: &str,
    model: &str,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    Ok(state.db.touch_conversation(id, model, at).await?)
}

/// What a chat request asks to be answered.
pub(crate) enum Turn<'a> {
    /// A new message of the person, continuing the current path.
    New {
        message: &'a str,
        client_message_id: Option<&'a ClientMessageId>,
    },
    /// A new version of the person's message `of`, beside it.
    Edit {
        of: &'a str,
        message: &'a str,
        client_message_id: Option<&'a ClientMessageId>,
    },
    /// A new version of the answer `answer`: the same message of the person, answered anew.
    Regenerate { answer: &'a str },
}

/// Stores the person's message of `turn` (if it has one) where it belongs in the tree, and
/// returns the message to answer and the conversation down to it, oldest first: what
/// Anthropic is sent. `rows` are the conversation's messages as just read
/// ([`Db::messages`](crate::server::db::Db::messages)). A message id not in this
/// conversation (someone else's, say) is `ConversationNotFound`; one of the wrong kind is
/// `InvalidRequest`.
pub(crate) async fn store_turn(
    state: &AppState,
    conversation_id: &str,
    mut rows: Vec<MessageRow>,
    turn: Turn<'_>,
) -> Result<(String, Vec<MessageRow>), AppError> {
    // What to answer: a message already stored, or one to store after its parent.
    let plan = {
        let tree = Tree::new(&rows);
        let of_role = |id: &str, role: &str, wrong: &str| match tree.get(id) {
            None => Err(AppError::ConversationNotFound),
            Some(m) if m.role != role => Err(AppError::InvalidRequest(wrong.into())),
            Some(m) => Ok(m),
        };
        match turn {
            Turn::Regenerate { answer } => {
                let answer = of_role(answer, "assistant", "Only an answer can be regenerated.")?;
                match answer.parent_id.as_deref().and_then(|p| tree.get(p)) {
                    Some(asked) if asked.role == "user" => Plan::Answer(asked.id.clone()),
                    _ => {
                        return Err(AppError::InvalidRequest(
                            "This answer follows no message of yours to answer again.".into(),
                        ))
                    }
                }
            }
            Turn::Edit {
                of,
                message,
                client_message_id,
            } => {
                let old = of_role(of, "user", "Only your own messages can be edited.")?;
                Plan::Store {
                    message,
                    client_message_id,
                    parent: old.parent_id.clone(),
                }
            }
            Turn::New {
                message,
                client_message_id,
            } => Plan::Store {
                message,
                client_message_id,
                parent: tree.current_path().last().map(|m| m.id.clone()),
            },
        }
    };
    let answered = match plan {
        Plan::Answer(id) => id,
        Plan::Store {
            message,
            client_message_id,
            parent,
        } => {
            match store_user_message(
                state,
                conversation_id,
                &rows,
                message,
                client_message_id,
                parent.as_deref(),
            )
            .await?
            {
                Stored::New(row) => {
                    let id = row.id.clone();
                    rows.push(row);
                    id
                }
                Stored::Before(id) => {
                    if !rows.iter().any(|m| m.id == id) {
                        // A concurrent retry stored it after the read above.
                        rows = state.db.messages(conversation_id).await?;
                    }
                    id
                }
            }
        }
    };
    let tree = Tree::new(&rows);
    let chain = tree
        .chain_to(&answered)
        .ok_or(AppError::ConversationNotFound)?
        .into_iter()
        .cloned()
        .collect();
    Ok((answered, chain))
}

/// What a turn answers: a message of the person stored before (regenerate), or a new one
/// to store after `parent`.
enum Plan<'a> {
    Answer(String),
    Store {
        message: &'a str,
        client_message_id: Option<&'a ClientMessageId>,
        parent: Option<String>,
    },
}

/// A message of the person: stored now (its row, as a read would return it), or found
/// stored before under the same client id. (Returned once and taken apart at once: boxing
/// the row would only add an allocation.)
#[allow(clippy::large_enum_variant)]
enum Stored {
    New(MessageRow),
    Before(String),
}

/// Stores the person's message after `parent`, once: a retry with the same client id finds
/// it (among `rows`, the conversation as just read) instead of storing it again, and a
/// concurrent retry that stored it first wins.
async fn store_user_message(
    state: &AppState,
    conversation_id: &str,
    rows: &[MessageRow],
    content: &str,
    client_message_id: Option<&ClientMessageId>,
    parent_id: Option<&str>,
) -> Result<Stored, AppError> {
    let client_message_id = client_message_id.map(ClientMessageId::as_str);
    if let Some(cid) = client_message_id {
        if let Some(before) = rows
            .iter()
            .find(|m| m.client_message_id.as_deref() == Some(cid))
        {
            return Ok(Stored::Before(before.id.clone()));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let stored = state
        .db
        .insert_message(&person_message(
            &id,
            conversation_id,
            content,
            client_message_id,
            parent_id,
        ))
        .await;
    match stored {
        Ok(at) => Ok(Stored::New(stored_person_message(
            id,
            content,
            client_message_id,
            parent_id,
            at,
        ))),
        // A concurrent retry stored it first.
        Err(DbError::UniqueViolation) => match client_message_id {
            Some(cid) => state
                .db
                .find_client_message(conversation_id, cid)
                .await?
                .map(Stored::Before)
                .ok_or(AppError::Internal),
            None => Err(AppError::Internal),
        },
        Err(e) => Err(e.into()),
    }
}

/// An answer as it ended.
pub(crate) struct Answer<'a> {
    /// The id it is stored under, chosen when it began (its draft's, if one was saved).
    pub id: &'a str,
    pub conversation_id: &'a str,
    /// The person's message it answers.
    pub parent_id: &'a str,
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
    /// What its first words left to record, if any reached the browser.
    pub first_words: Option<FirstWords<'a>>,
    /// A draft of it was saved (see `server::drafts`): removed as it is stored.
    pub drafted: bool,
    /// When it is stored as having happened (`None`: now). An answer stored from its draft
    /// is dated when its first words went out, minutes or days before: it stays in its
    /// month, and a version the person asked for meanwhile stays the one shown.
    pub at: Option<DateTime<Utc>>,
}

/// Stores an answer with its ledger row, what its first words left to record and, when the
/// platform paid, its meter report, in one transaction. An answer with a draft may have
/// been stored from that draft already (its relay was taken for dead): it is then left as
/// it is, never stored or billed twice, and this is not an error.
pub(crate) async fn store_answer(state: &AppState, answer: &Answer<'_>) -> Result<(), AppError> {
    let id = answer.id;
    let message = NewMessage {
        id,
        conversation_id: answer.conversation_id,
        role: "assistant",
        content: answer.content,
        model: Some(answer.model),
        incomplete: answer.incomplete,
        input_tokens: Some(answer.input_tokens),
        output_tokens: Some(answer.output_tokens),
        client_message_id: None,
        parent_id: Some(answer.parent_id),
    };
    let stored = state
        .db
        .insert_answer(
            &message,
            &answer.ledger_entry(),
            answer.stripe_customer_id,
            answer.first_words.as_ref(),
            answer.drafted,
            answer.at,
        )
        .await;
    match stored {
        Ok(()) => {}
        Err(DbError::UniqueViolation) if answer.drafted => {
            // Its draft was taken for abandoned while this relay went on. A draft with
            // words was stored: that answer stays as it is. A draft saved before the first
            // words was only counted: these words are stored now, not counted again.
            let first_words = answer.first_words.as_ref();
            match state
                .db
                .insert_counted_answer(&message, answer.user_id, first_words)
                .await
            {
                Ok(()) => tracing::info!("an answer counted from its draft is stored"),
                Err(DbError::UniqueViolation) => {
                    tracing::info!("an answer was stored from its draft already; left as it is");
                    // Its draft, should this relay have saved it again since.
                    state.db.delete_draft(id).await?;
                }
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    answer.wake_meter(state);
    Ok(())
}

/// Counts what an answer cut off before its first words was billed (Stop, a closed tab, a
/// dropped stream or an upstream error after Anthropic's `message_start`, which reports
/// the prompt's tokens): Anthropic bills the prompt it read all the same. Its ledger row
/// and, when the platform paid, its meter report are stored in one transaction, under the
/// id the answer would have had; no message is stored, as there is nothing to show. Also
/// for an answer that could not be stored (its conversation deleted while it streamed).
/// Counted under that id before (its store did commit after all) is left as it is. Its
/// draft, if one was saved (Anthropic silent a while after `message_start`), goes with it.
pub(crate) async fn record_unanswered(
    state: &AppState,
    answer: &Answer<'_>,
) -> Result<(), AppError> {
    match state
        .db
        .record_usage(
            &answer.ledger_entry(),
            answer.stripe_customer_id,
            answer.drafted,
            answer.at,
        )
        .await
    {
        Ok(()) => answer.wake_meter(state),
        Err(DbError::UniqueViolation) if answer.drafted => state.db.delete_draft(answer.id).await?,
        Err(DbError::UniqueViolation) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

impl Answer<'_> {
    /// Its row in the usage ledger.
    pub(crate) fn ledger_entry(&self) -> LedgerEntry<'_> {
        LedgerEntry {
            message_id: self.id,
            user_id: self.user_id,
            model: self.model,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_creation_input_tokens: self.cache_creation_input_tokens,
            cache_read_input_tokens: self.cache_read_input_tokens,
            payer: self.payer,
        }
    }

    /// Tells the meter's worker that a report is waiting, when the platform paid.
    fn wake_meter(&self, state: &AppState) {
        if self.payer == Payer::Platform && self.stripe_customer_id.is_some() {
            if let Some(billing) = &state.billing {
                billing.meter_wake.notify_one();
            }
        }
    }
}
