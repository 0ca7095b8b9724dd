//! SQLite's checkpoints, off the writers' path.
//!
//! In WAL mode a commit appends its pages to the write-ahead log, and a checkpoint copies
//! them back into the database file. By default the connection that commits runs it, inside
//! its `COMMIT`, once the log has passed 1,000 pages: every few dozen chat messages, one
//! message's write took about 4 ms instead of 0.1 ms (copying a thousand pages), before its
//! answer could start, and every other writer queued behind it (the `ttft` bench's p99).
//!
//! Here a task checkpoints on its own connection after every [`TURNS`] writes, or
//! [`GATHER`] after the first of fewer, in two steps:
//! - most of the log beside the writers (`PASSIVE`: it waits for no reader and no writer,
//!   and none waits for it);
//! - then, in a turn of the writer's, the few pages committed meanwhile. A log is started
//!   again from its beginning only once all of it is in the file; with writes going on
//!   all the while the first step never gets there, and the log would grow for as long
//!   as they do (to 40 MB in the bench, with reads slowing as it grew).
//!
//! The writer's own checkpoints start only at [`WRITER_CHECKPOINT_PAGES`]: a safety net
//! for when no task runs (a command of the CLI, a test of the database alone). Durability
//! is as before: a page is in the log or in the file, both synced as SQLite does, and
//! after a crash at any moment SQLite recovers from the log.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::{sqlite::SqliteConnection, ConnectOptions as _};
use tokio::{sync::Notify, task::JoinHandle};

use super::Sqlite;

/// The log's length in pages (4 KiB each) past which the writer checkpoints itself.
pub(super) const WRITER_CHECKPOINT_PAGES: &str = "10000";

/// Writers' turns between checkpoints: a chat message takes two of about 15 pages each,
/// so about SQLite's own 1,000 pages. Copying a page that changed since the last
/// checkpoint costs the same however often it changed: checkpoints much more frequent
/// than this copied the same few pages again and again (3 % more instructions per chat).
const TURNS: usize = 64;

/// The longest fewer writes wait for their checkpoint; an idle server does nothing.
const GATHER: Duration = Duration::from_secs(1);

/// What the checkpointer hears of the writers.
#[derive(Debug, Default)]
pub(super) struct Writes {
    turns: AtomicUsize,
    /// After the first turn since the last checkpoint.
    some: Notify,
    /// After every [`TURNS`]th.
    many: Notify,
}

impl Writes {
    /// A writer's turn began.
    pub(super) fn one_more(&self) {
        let before = self.turns.fetch_add(1, Ordering::Relaxed);
        self.some.notify_one();
        if before % TURNS == TURNS - 1 {
            self.many.notify_one();
        }
    }

    /// Until [`TURNS`] writes or [`GATHER`] after the first, whichever comes first.
    async fn gathered(&self) {
        self.some.notified().await;
        let _ = tokio::time::timeout(GATHER, self.many.notified()).await;
    }
}

/// Passes beside the writers after the first, at most, while each finds many new pages.
const BESIDE_AT_MOST: usize = 3;
/// Pages few enough to copy in a writer's turn (about 4 µs each here).
const CAUGHT_UP: i64 = 64;

impl Sqlite {
    /// Checkpoints after each spell of writes until aborted. An abort or a kill mid-way is
    /// harmless: the log keeps every page the file does not have yet.
    pub(super) fn spawn_checkpointer(&self) -> JoinHandle<()> {
        let sqlite = self.clone();
        tokio::spawn(async move {
            let mut connection = None;
            loop {
                sqlite.wrote.gathered().await;
                let opened = match connection.take() {
                    Some(open) => open,
                    None => match sqlite.options.connect().await {
                        Ok(opened) => opened,
                        Err(e) => {
                            // The writer's own checkpoints stand in meanwhile.
                            tracing::warn!(error = %e, "could not open SQLite's checkpoint connection");
                            continue;
                        }
                    },
                };
                let conn = connection.insert(opened);
                if let Err(e) = checkpoint_all(&sqlite, conn).await {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                    connection = None;
                }
            }
        })
    }
}

/// Copies the whole log into the file, holding up the writers only for the last few pages.
async fn checkpoint_all(sqlite: &Sqlite, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // Beside the writers, again while they add many pages meanwhile.
    let mut copied = checkpoint(conn).await?;
    for _ in 0..BESIDE_AT_MOST {
        let now = checkpoint(conn).await?;
        if now < copied + CAUGHT_UP {
            break;
        }
        copied = now;
    }
    let _turn = sqlite.turn().await?;
    checkpoint(conn).await.map(|_| ())
}

/// Copies what it can of the log into the file, waiting for nobody; returns how many of
/// the log's pages are in the file.
async fn checkpoint(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    // (busy, pages in the log, pages copied to the file)
    let (_, log, copied) = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await?;
    tracing::trace!(log, copied, "SQLite checkpoint");
    Ok(copied)
}
