//! Answers still streaming, saved every few seconds (`answer-draft-secs`), and what a
//! process killed outright left of them (see `server::drafts`).
//!
//! A draft is saved under the id its answer will be stored with. That id is the primary
//! key of the message, of its ledger row and of its meter report, so an answer is stored
//! once whoever stores it: its relay (which removes the draft in the same transaction) or
//! an instance that found the draft abandoned.

use chrono::{DateTime, Utc};

use super::{Db, DbError};
use crate::types::chat::Payer;

/// An answer as far as it got, to save.
#[derive(Debug, Clone, Copy)]
pub struct NewDraft<'a> {
    pub message_id: &'a str,
    pub conversation_id: &'a str,
    pub parent_id: &'a str,
    pub user_id: i64,
    pub model: &'a str,
    pub content: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub payer: Payer,
    pub stripe_customer_id: Option<&'a str>,
    /// When its first words went to the browser; while it has none (Anthropic silent
    /// after reading the prompt), when Anthropic began.
    pub first_words_at: DateTime<Utc>,
    pub touch: bool,
}

/// A saved draft, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftRow {
    pub message_id: String,
    pub conversation_id: String,
    pub parent_id: String,
    pub user_id: i64,
    pub model: String,
    pub content: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub payer: String,
    pub stripe_customer_id: Option<String>,
    pub first_words_at: DateTime<Utc>,
    pub touch: bool,
}

const INSERT_DRAFT: &str = "INSERT INTO answer_drafts (message_id, conversation_id, parent_id, \
     user_id, model, content, input_tokens, output_tokens, cache_creation_input_tokens, \
     cache_read_input_tokens, payer, stripe_customer_id, first_words_at, touch, saved_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

const UPDATE_DRAFT: &str = "UPDATE answer_drafts SET content = $1, input_tokens = $2, \
     output_tokens = $3, cache_creation_input_tokens = $4, cache_read_input_tokens = $5, \
     first_words_at = $6, saved_at = $7 WHERE message_id = $8";

/// Removes a draft: in the transaction that stores its answer, and on its own.
pub(crate) const DELETE_DRAFT: &str = "DELETE FROM answer_drafts WHERE message_id = $1";

impl Db {
    /// Saves a draft for the first time (`first`) or again. False when a draft saved before
    /// is gone: an instance took it for abandoned and stored its answer (or its
    /// conversation was deleted), so there is no point saving it again; false too when its
    /// conversation is gone before the first save (the answer has nowhere to go).
    pub async fn save_draft(
        &self,
        draft: &NewDraft<'_>,
        first: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let affected = if first {
            on_writer!(self, conn => sqlx::query(INSERT_DRAFT)
                .bind(draft.message_id).bind(draft.conversation_id).bind(draft.parent_id)
                .bind(draft.user_id).bind(draft.model).bind(draft.content)
                .bind(draft.input_tokens).bind(draft.output_tokens)
                .bind(draft.cache_creation_input_tokens).bind(draft.cache_read_input_tokens)
                .bind(draft.payer.as_str()).bind(draft.stripe_customer_id)
                .bind(draft.first_words_at).bind(draft.touch).bind(now)
                .execute(conn).await.map(|r| r.rows_affected()))
        } else {
            on_writer!(self, conn => sqlx::query(UPDATE_DRAFT)
                .bind(draft.content).bind(draft.input_tokens).bind(draft.output_tokens)
                .bind(draft.cache_creation_input_tokens).bind(draft.cache_read_input_tokens)
                .bind(draft.first_words_at).bind(now).bind(draft.message_id)
                .execute(conn).await.map(|r| r.rows_affected()))
        };
        match affected {
            Ok(affected) => Ok(affected == 1),
            Err(sqlx::Error::Database(e)) if first && e.is_foreign_key_violation() => Ok(false),
            Err(e) => Err(super::classify(e)),
        }
    }

    /// Up to `limit` drafts last saved before `before`, oldest first.
    pub async fn drafts_saved_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DraftRow>, DbError> {
        let sql = "SELECT message_id, conversation_id, parent_id, user_id, model, content, \
                   input_tokens, output_tokens, cache_creation_input_tokens, \
                   cache_read_input_tokens, payer, stripe_customer_id, first_words_at, touch \
                   FROM answer_drafts WHERE saved_at < $1 ORDER BY saved_at LIMIT $2";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, DraftRow>(sql)
            .bind(before).bind(limit).fetch_all(pool).await)?)
    }

    /// Whether a draft is still saved under `message_id`.
    pub async fn draft_exists(&self, message_id: &str) -> Result<bool, DbError> {
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT message_id FROM answer_drafts WHERE message_id = $1")
            .bind(message_id).fetch_optional(pool).await)?;
        Ok(row.is_some())
    }

    /// Removes a draft whose answer is stored already.
    pub async fn delete_draft(&self, message_id: &str) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query(DELETE_DRAFT)
            .bind(message_id).execute(conn).await.map(|_| ()))?;
        Ok(())
    }
}
