//! Keeps SQLite's full-text index up with the conversations, off the chat's path.
//!
//! A write only marks its document pending (migration 0010); the index catches up in one
//! transaction for many documents: here, shortly after an answer is stored (the exchanges
//! that end meanwhile share it), before every search (`Db::search_conversations`, so
//! results are never stale) and at start (what a killed process left pending). On
//! PostgreSQL the expression indexes keep themselves up and there is nothing to do.

use std::{sync::Arc, time::Duration};

use tokio::{sync::Notify, task::JoinHandle};

use super::db::Db;

/// How long the indexer waits after a nudge, so that the exchanges ending meanwhile are
/// indexed together: FTS5 writes a segment per commit, whatever it holds.
const COALESCE: Duration = Duration::from_millis(500);

/// Wakes the background indexer.
#[derive(Debug, Default)]
pub struct SearchIndexer {
    wake: Notify,
}

impl SearchIndexer {
    /// Documents were written: index them soon (never before [`COALESCE`] has passed).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Indexes pending documents whenever nudged, until aborted. An abort or a kill
    /// mid-way loses nothing: what is not indexed stays pending.
    pub fn spawn(self: Arc<Self>, db: Db) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.wake.notified().await;
                tokio::time::sleep(COALESCE).await;
                if let Err(e) = db.index_pending_search_docs().await {
                    // They stay pending: the next nudge, search or start indexes them.
                    tracing::warn!(error = %e, "could not update the search index");
                }
            }
        })
    }
}
