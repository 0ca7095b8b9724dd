//! Drafts of answers still streaming, so that a process killed outright (SIGKILL, out of
//! memory, its machine gone) loses at most a few seconds of an answer, and never its usage.
//!
//! A stop the process is asked for keeps every answer already (see `startup`); a kill runs
//! no code at all. So the relay saves an answer that is still going after
//! `answer-draft-secs` as a draft, and again every `answer-draft-secs` (an answer that ends
//! sooner, as most do, costs nothing more), and removes the draft in the transaction that
//! stores the answer. A draft nobody has saved for [`abandoned_after`] belongs to a relay
//! that is gone: every instance looks for such drafts every `answer-draft-secs` (and as it
//! starts), and stores each as an incomplete answer with its ledger row and, when the
//! platform paid, its meter report, exactly as its relay would have stored what it had.
//!
//! Nothing is stored twice: the draft's id is the answer's, the primary key of the message,
//! the ledger row and the meter report, all written in one transaction. When two instances
//! find the same draft, or a relay only slow to save turns out alive after all, the second
//! to store it finds it stored (and leaves it; `conversations::store_answer`).
//!
//! An answer is drafted from Anthropic's `message_start` on, words or not: the prompt it
//! read is billed even when the process dies before the first word. A draft without words
//! is counted (its ledger row and meter report) and no message is stored, as when its
//! relay sees the answer cut off before its first word.
//!
//! What a draft cannot know is what Anthropic counts at the end of an answer: its output
//! tokens come with its last events. An answer stored from its draft is billed the tokens
//! known when the draft was saved, as an answer cut off by the browser is.

use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use super::{
    config::Settings,
    conversations::{self, Answer},
    db::{
        drafts::{DraftRow, NewDraft},
        FirstWords,
    },
    state::AppState,
};
use crate::{error::AppError, types::chat::Payer};

/// The most drafts one look stores (the rest wait for the next look).
const BATCH: i64 = 100;

/// How long a draft may go unsaved before its relay is taken for gone: it saves every
/// `answer-draft-secs` unless it is waiting on a browser that stopped reading (up to
/// `stalled-reader-secs`), with room for three saves that were slow to get their turn.
pub fn abandoned_after(settings: &Settings) -> Duration {
    settings.stalled_reader + settings.answer_draft * 4
}

/// The relay's side: whether to save, and whether it saved.
#[derive(Debug, Default)]
pub struct Drafts {
    saved: bool,
    /// The draft saved before is gone: stored from elsewhere, or its conversation deleted.
    gone: bool,
}

impl Drafts {
    /// Whether a draft is worth saving now.
    pub fn wanted(&self) -> bool {
        !self.gone
    }

    /// Whether a draft was saved, so the answer's transaction removes it.
    pub fn saved(&self) -> bool {
        self.saved
    }

    /// Saves the answer as it is. A failure is only logged: the answer goes on, and the
    /// next save tries again.
    pub async fn save(&mut self, state: &AppState, draft: &NewDraft<'_>) {
        match state.db.save_draft(draft, !self.saved, Utc::now()).await {
            Ok(true) => self.saved = true,
            Ok(false) => {
                tracing::info!("an answer's draft is gone (stored from it, or deleted)");
                self.gone = true;
            }
            Err(e) => tracing::warn!(error = %e, "could not save an answer's draft"),
        }
    }
}

/// Stores the answers of drafts abandoned [`abandoned_after`] ago; returns how many.
pub async fn store_abandoned(state: &AppState) -> Result<usize, AppError> {
    let age = chrono::Duration::from_std(abandoned_after(&state.settings))
        .map_err(|_| AppError::Internal)?;
    let drafts = state
        .db
        .drafts_saved_before(Utc::now() - age, BATCH)
        .await?;
    let mut stored = 0;
    for draft in &drafts {
        match store_draft(state, draft).await {
            Ok(()) => stored += 1,
            // Left for the next look; the others are not held up by it.
            Err(e) => tracing::warn!(error = %e, "could not store an abandoned answer"),
        }
    }
    if stored > 0 {
        tracing::warn!(
            answers = stored,
            "stored answers a stopped process left as drafts"
        );
        state.search_index.nudge();
    }
    Ok(stored)
}

async fn store_draft(state: &AppState, draft: &DraftRow) -> Result<(), AppError> {
    let payer = Payer::parse(&draft.payer).ok_or(AppError::Internal)?;
    let answer = Answer {
        id: &draft.message_id,
        conversation_id: &draft.conversation_id,
        parent_id: &draft.parent_id,
        model: &draft.model,
        content: &draft.content,
        incomplete: true,
        input_tokens: draft.input_tokens,
        output_tokens: draft.output_tokens,
        cache_creation_input_tokens: draft.cache_creation_input_tokens,
        cache_read_input_tokens: draft.cache_read_input_tokens,
        user_id: draft.user_id,
        payer,
        stripe_customer_id: draft.stripe_customer_id.as_deref(),
        // The key's "last used" is not kept with drafts (nor anything of the key).
        first_words: Some(FirstWords {
            at: draft.first_words_at,
            own_key: None,
            touch: draft.touch,
        }),
        drafted: true,
        at: Some(draft.first_words_at),
    };
    if draft.content.is_empty() {
        // Killed while Anthropic was silent after reading the prompt: nothing to show, but
        // the prompt is billed (its ledger row and meter report, and the draft removed, in
        // one transaction).
        return conversations::record_unanswered(state, &answer).await;
    }
    conversations::store_answer(state, &answer).await
}

/// Looks for abandoned drafts as the server starts and every `answer-draft-secs` after.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(state.settings.answer_draft);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = store_abandoned(&state).await {
                tracing::warn!(error = %e, "could not look for abandoned answers");
            }
        }
    })
}
