//! The session store: tower-sessions' records in the app's own database (the table and the
//! encoding of `tower-sessions-sqlx-store`, so sessions survive the change), plus the
//! session's user id in a column of its own, so that one query reads a session together
//! with its user: [`AppSessionStore::load_with_user`].

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::types::Json;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};
use tower_sessions_sqlx_store::PostgresStore;

use super::{
    db::{Db, Lent, Readers, Sqlite},
    user_settings::UserSettings,
};

/// Where the user id lives in a session's data (see [`super::session::AuthSession`]).
pub(crate) const USER_ID: &str = "user_id";

/// A session as stored, with its user as the same query found them.
pub struct StoredSession {
    pub record: Record,
    /// When the session ends unless it is used again (the column: what `load` compares).
    pub expiry_date: OffsetDateTime,
    /// What the `user_id` column names; `None` for a session written before the column
    /// existed (or one nobody is logged in to).
    pub column_user_id: Option<i64>,
    /// That user's session generation and settings; `None` when the account is gone.
    pub user: Option<(i64, UserSettings)>,
}

/// The session store of whichever database the app runs on. On SQLite its writes go
/// through the app's one writer connection, like every other write (see [`Sqlite`]).
#[derive(Debug, Clone)]
pub enum AppSessionStore {
    Sqlite(Sqlite, Arc<SessionReads>),
    Postgres(PostgresStore, sqlx::PgPool),
}

/// SQLite connections of the session read (every request's one query), kept apart from the
/// app's other reads so that a burst of those never makes a request wait for its session
/// (see [`Readers`]).
const READERS: usize = 4;

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn decode(data: &[u8]) -> session_store::Result<Record> {
    rmp_serde::from_slice(data).map_err(|e| session_store::Error::Decode(e.to_string()))
}

fn user_id_of(record: &Record) -> Option<i64> {
    record.data.get(USER_ID).and_then(serde_json::Value::as_i64)
}

type Row = (
    Vec<u8>,
    OffsetDateTime,
    Option<i64>,
    Option<i64>,
    Option<Json<UserSettings>>,
);

/// The session reads of SQLite, read together: every request's first query, so under load
/// the one that costs most in thread wake-ups. A read on SQLite is a round trip to its
/// connection's thread (sqlx runs each connection on a thread of its own): a command sent,
/// that thread woken, the row sent back and the request's task woken. Reads that arrive
/// while the connections are all busy wait here, and the next connection free reads all of
/// them in one query, one round trip for many sessions. A read that finds a connection free
/// goes at once, alone, as before: waiting is only ever for a connection.
///
/// Whoever gets a connection reads for everyone waiting (up to [`BATCH`]) and hands each
/// its row. A reader gone half-way (its request dropped) drops the replies it owed, and
/// those it read for queue again.
#[derive(Debug)]
pub struct SessionReads {
    readers: Readers,
    waiting: std::sync::Mutex<Vec<Waiting>>,
}

/// A session read waiting for a connection.
#[derive(Debug)]
struct Waiting {
    id: String,
    reply: tokio::sync::oneshot::Sender<Result<Option<Row>, String>>,
}

/// The most sessions one query reads.
const BATCH: usize = 64;

/// The session `?1` and its user.
const READ_ONE: &str = "SELECT s.data, s.expiry_date, s.user_id, u.session_generation, u.settings \
     FROM tower_sessions s LEFT JOIN users u ON u.id = s.user_id \
     WHERE s.id = ?1 AND s.expiry_date > ?2";
/// The sessions of a JSON array of ids (`?1`) and their users, each row with its id.
const READ_MANY: &str =
    "SELECT s.id, s.data, s.expiry_date, s.user_id, u.session_generation, u.settings \
     FROM tower_sessions s LEFT JOIN users u ON u.id = s.user_id \
     WHERE s.id IN (SELECT value FROM json_each(?1)) AND s.expiry_date > ?2";

type IdRow = (
    String,
    Vec<u8>,
    OffsetDateTime,
    Option<i64>,
    Option<i64>,
    Option<Json<UserSettings>>,
);

impl SessionReads {
    fn new(readers: Readers) -> Self {
        Self {
            readers,
            waiting: Default::default(),
        }
    }

    /// The session `id`, unless it expired by `now`, with its user.
    async fn read(&self, id: String, now: OffsetDateTime) -> session_store::Result<Option<Row>> {
        // A connection free: nobody waits for one, so this reads alone, as it did before
        // reads were read together (no queue, no reply to hand over).
        if let Some(lent) = self.readers.try_lend().await {
            let lent = lent.map_err(backend)?;
            return read_one(lent, &id, now).await.map_err(backend);
        }
        loop {
            let (reply, mut replied) = tokio::sync::oneshot::channel();
            self.queue().push(Waiting {
                id: id.clone(),
                reply,
            });
            // Until another reader has read for this one, or a connection is free to read
            // for all waiting.
            let row = loop {
                tokio::select! {
                    biased;
                    row = &mut replied => break row,
                    lent = self.readers.lend() => {
                        let lent = lent.map_err(backend)?;
                        let batch = self.take_batch();
                        if batch.is_empty() {
                            // Taken by a reader already on its way: its answer is coming.
                            lent.give_back();
                            break (&mut replied).await;
                        }
                        // This one's own among them, unless more than a batch waited. A
                        // session is read as it is now: some waited for this moment.
                        read_batch(lent, batch, OffsetDateTime::now_utc()).await;
                    }
                }
            };
            match row {
                Ok(row) => return row.map_err(session_store::Error::Backend),
                // The reader that took it went away before reading: queue again.
                Err(_) => continue,
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The oldest waiting reads, up to [`BATCH`].
    fn take_batch(&self) -> Vec<Waiting> {
        let mut waiting = self.queue();
        let n = waiting.len().min(BATCH);
        waiting.drain(..n).collect()
    }
}

/// The session `id` and its user, read alone on `lent`, which goes back to the idle
/// connections after a read that went well (dropped otherwise). At most one row: sqlx then
/// stops at it and sends nothing after it (with `fetch_all` the statement's end is one
/// more message from the connection's thread, and one more wake-up).
async fn read_one(
    mut lent: Lent<'_>,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<Row>, sqlx::Error> {
    let row = sqlx::query_as(READ_ONE)
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *lent)
        .await?;
    lent.give_back();
    Ok(row)
}

fn without_id((_, data, expiry, user_id, generation, settings): IdRow) -> Row {
    (data, expiry, user_id, generation, settings)
}

/// Reads `batch`'s sessions in one query on `lent`, and hands each its row (or the error).
async fn read_batch(mut lent: Lent<'_>, mut batch: Vec<Waiting>, now: OffsetDateTime) {
    if batch.len() == 1 {
        let one = batch.remove(0);
        let row = read_one(lent, &one.id, now).await;
        // Its request may be gone meanwhile: nothing to do then.
        let _ = one.reply.send(row.map_err(|e| e.to_string()));
        return;
    }
    let ids: Vec<&str> = batch.iter().map(|w| w.id.as_str()).collect();
    let rows: Result<Vec<IdRow>, sqlx::Error> = sqlx::query_as(READ_MANY)
        .bind(serde_json::to_string(&ids).unwrap_or_default())
        .bind(now)
        .fetch_all(&mut *lent)
        .await;
    let rows = match rows {
        Ok(rows) => {
            lent.give_back();
            rows
        }
        Err(e) => {
            let e = e.to_string();
            for waiting in batch {
                let _ = waiting.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    for waiting in batch {
        let row = rows
            .iter()
            .find(|row| row.0 == waiting.id)
            .cloned()
            .map(without_id);
        // Its request may be gone meanwhile: nothing to do then.
        let _ = waiting.reply.send(Ok(row));
    }
}

/// A session as its row has it.
fn stored(
    (data, expiry_date, column_user_id, generation, settings): Row,
) -> session_store::Result<StoredSession> {
    Ok(StoredSession {
        record: decode(&data)?,
        expiry_date,
        column_user_id,
        user: generation.zip(settings).map(|(g, Json(s))| (g, s)),
    })
}

impl AppSessionStore {
    /// Builds the store on the app's database. On PostgreSQL it creates its table
    /// (tower-sessions' own `create table if not exists`); SQLite's migration 0009 made it,
    /// with its `user_id` column.
    pub async fn new(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(sqlite) => Self::Sqlite(
                sqlite.clone(),
                // The readers' options: these connections cannot write either.
                Arc::new(SessionReads::new(Readers::new(
                    sqlite.reads.connect_options().as_ref().clone(),
                    READERS,
                ))),
            ),
            Db::Postgres(pool) => {
                let store = PostgresStore::new(pool.clone());
                store.migrate().await?;
                Self::Postgres(store, pool.clone())
            }
        })
    }

    /// The session `id` (unless expired) and, in the same query, its user's session
    /// generation and settings.
    pub async fn load_with_user(&self, id: &Id) -> session_store::Result<Option<StoredSession>> {
        let now = OffsetDateTime::now_utc();
        let row: Option<Row> = match self {
            Self::Sqlite(_, reads) => reads.read(id.to_string(), now).await?,
            Self::Postgres(_, pool) => sqlx::query_as(
                "SELECT s.data, s.expiry_date, s.user_id, u.session_generation, u.settings \
                 FROM \"tower_sessions\".\"session\" s LEFT JOIN users u ON u.id = s.user_id \
                 WHERE s.id = $1 AND s.expiry_date > $2",
            )
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(backend)?,
        };
        row.map(stored).transpose()
    }

    /// Inserts `record` (`create`: only if the id is new) or writes it over the stored one.
    async fn write(&self, record: &Record, create: bool) -> Result<(), sqlx::Error> {
        let data = encode(record).map_err(|e| sqlx::Error::Encode(e.to_string().into()))?;
        let (table, values) = match self {
            Self::Sqlite(..) => ("tower_sessions", "?1, ?2, ?3, ?4"),
            Self::Postgres(..) => ("\"tower_sessions\".\"session\"", "$1, $2, $3, $4"),
        };
        // A plain INSERT fails on an id taken (`create` draws another); else an upsert.
        let on_conflict = if create {
            ""
        } else {
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
             expiry_date = excluded.expiry_date, user_id = excluded.user_id"
        };
        let sql = format!(
            "INSERT INTO {table} (id, data, expiry_date, user_id) VALUES ({values}){on_conflict}"
        );
        let (id, expiry, user) = (
            record.id.to_string(),
            record.expiry_date,
            user_id_of(record),
        );
        match self {
            Self::Sqlite(sqlite, _) => {
                let query = sqlx::query(&sql)
                    .bind(id)
                    .bind(data)
                    .bind(expiry)
                    .bind(user);
                query.execute(&mut *sqlite.writer().await?).await?;
            }
            Self::Postgres(_, pool) => {
                let query = sqlx::query(&sql)
                    .bind(id)
                    .bind(data)
                    .bind(expiry)
                    .bind(user);
                query.execute(pool).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for AppSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            match self.write(record, true).await {
                Ok(()) => return Ok(()),
                // Another session has this id already (2^-128 unlikely): draw another.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        let data: Option<(Vec<u8>,)> = match self {
            Self::Sqlite(sqlite, _) => sqlx::query_as(
                "SELECT data FROM tower_sessions WHERE id = ?1 AND expiry_date > ?2",
            )
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(&sqlite.reads)
            .await
            .map_err(backend)?,
            Self::Postgres(_, pool) => sqlx::query_as(
                "SELECT data FROM \"tower_sessions\".\"session\" WHERE id = $1 AND expiry_date > $2",
            )
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(backend)?,
        };
        data.map(|(data,)| decode(&data)).transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(sqlite, _) => {
                let mut writer = sqlite.writer().await.map_err(backend)?;
                sqlx::query("DELETE FROM tower_sessions WHERE id = ?1")
                    .bind(id.to_string())
                    .execute(&mut *writer)
                    .await
                    .map_err(backend)?;
            }
            Self::Postgres(_, pool) => {
                sqlx::query("DELETE FROM \"tower_sessions\".\"session\" WHERE id = $1")
                    .bind(id.to_string())
                    .execute(pool)
                    .await
                    .map_err(backend)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for AppSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            // tower-sessions-sqlx-store's own statement, on the writer connection.
            Self::Sqlite(sqlite, _) => {
                let mut writer = sqlite.writer().await.map_err(backend)?;
                sqlx::query(
                    "DELETE FROM tower_sessions WHERE datetime(expiry_date) < datetime('now')",
                )
                .execute(&mut *writer)
                .await
                .map_err(backend)?;
                Ok(())
            }
            Self::Postgres(s, _) => s.delete_expired().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, time::Duration};

    use super::*;

    /// A migrated SQLite database with `people` users and a session each, one expired
    /// session besides, and a store whose session reads have one connection (`turns`), so
    /// that reads made together wait for it and are read together.
    async fn store_with_sessions(
        people: usize,
        turns: usize,
    ) -> (tempfile::TempDir, AppSessionStore, Vec<(Id, i64)>, Id) {
        let (dir, db) = crate::server::db::tests::migrated_sqlite().await;
        let Db::Sqlite(sqlite) = &db else {
            unreachable!("a SQLite URL")
        };
        let store = AppSessionStore::Sqlite(
            sqlite.clone(),
            Arc::new(SessionReads::new(Readers::new(
                sqlite.reads.connect_options().as_ref().clone(),
                turns,
            ))),
        );
        let record = |user_id: i64, expiry_date: OffsetDateTime| Record {
            id: Id::default(),
            data: HashMap::from([(USER_ID.to_string(), serde_json::json!(user_id))]),
            expiry_date,
        };
        let tomorrow = OffsetDateTime::now_utc() + time::Duration::days(1);
        let mut sessions = Vec::new();
        for n in 0..people {
            let user = db
                .insert_user(&format!("p{n}@example.com"), "x", &UserSettings::default())
                .await
                .unwrap();
            let mut session = record(user.id, tomorrow);
            store.create(&mut session).await.unwrap();
            sessions.push((session.id, user.id));
        }
        let mut expired = record(
            sessions[0].1,
            OffsetDateTime::now_utc() - time::Duration::hours(1),
        );
        store.create(&mut expired).await.unwrap();
        (dir, store, sessions, expired.id)
    }

    /// What a read returned, checked: the session asked for, its user, or none.
    fn check(read: Option<StoredSession>, expected: Option<(Id, i64)>) {
        match (read, expected) {
            (Some(read), Some((id, user_id))) => {
                assert_eq!(read.record.id, id);
                assert_eq!(user_id_of(&read.record), Some(user_id));
                assert_eq!(read.column_user_id, Some(user_id));
                assert_eq!(read.user.map(|(generation, _)| generation), Some(0));
            }
            (None, None) => {}
            (read, expected) => panic!(
                "read {:?}, expected {expected:?}",
                read.map(|r| r.record.id)
            ),
        }
    }

    /// Reads made together (hundreds, on one connection) each get their own session: the
    /// same session asked for by several at once, an expired one, an unknown one, all in
    /// the same batches.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_read_together_each_get_their_own() {
        let (_dir, store, sessions, expired) = store_with_sessions(12, 1).await;
        let store = Arc::new(store);
        let unknown = Id::default();
        let reads: Vec<_> = (0..400)
            .map(|n| {
                let (id, expected) = match n % 14 {
                    12 => (expired, None),
                    13 => (unknown, None),
                    k => (sessions[k].0, Some(sessions[k])),
                };
                let store = store.clone();
                tokio::spawn(async move { (store.load_with_user(&id).await.unwrap(), expected) })
            })
            .collect();
        for read in reads {
            let (read, expected) = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("every read answered")
                .unwrap();
            check(read, expected);
        }
    }

    /// One query reads a batch: each waiting read gets its own row, or none.
    #[tokio::test]
    async fn a_batch_is_read_in_one_query() {
        let (_dir, store, sessions, expired) = store_with_sessions(3, 1).await;
        let AppSessionStore::Sqlite(_, reads) = &store else {
            unreachable!()
        };
        let asked = [
            Some(sessions[2]),
            Some(sessions[0]),
            None,
            Some(sessions[2]),
            Some(sessions[1]),
        ];
        let mut replies = Vec::new();
        let batch = asked
            .iter()
            .map(|wanted| {
                let (reply, replied) = tokio::sync::oneshot::channel();
                replies.push(replied);
                let id = wanted.map_or(expired, |(id, _)| id);
                Waiting {
                    id: id.to_string(),
                    reply,
                }
            })
            .collect();
        let lent = reads.readers.lend().await.unwrap();
        read_batch(lent, batch, OffsetDateTime::now_utc()).await;
        for (replied, expected) in replies.into_iter().zip(asked) {
            let row = replied.await.unwrap().unwrap();
            check(row.map(stored).transpose().unwrap(), expected);
        }
    }

    /// A read that goes away while it reads for others (its request dropped half-way)
    /// leaves none of them waiting: they queue again and are read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_gone_half_way_leaves_none_waiting() {
        let (_dir, store, sessions, _expired) = store_with_sessions(5, 1).await;
        let AppSessionStore::Sqlite(_, reads) = &store else {
            unreachable!()
        };
        let reads = reads.clone();
        let now = OffsetDateTime::now_utc();
        // Until ten went away half-way (a read may be quick enough to be done at once).
        let (mut dropped_half_way, mut rounds) = (0, 0);
        while dropped_half_way < 10 {
            rounds += 1;
            assert!(rounds <= 200, "{dropped_half_way} went half-way in 200");
            // The one connection held, so that the first read waits first in line.
            let held = reads.readers.lend().await.unwrap();
            let mut first = Box::pin(reads.read(sessions[0].0.to_string(), now));
            assert!(futures::poll!(first.as_mut()).is_pending());
            let others: Vec<_> = (1..sessions.len())
                .map(|n| {
                    let (reads, (id, user_id)) = (reads.clone(), sessions[n]);
                    tokio::spawn(async move {
                        let read = reads.read(id.to_string(), now).await.unwrap();
                        (
                            read.map(|(data, ..)| decode(&data).unwrap().id),
                            id,
                            user_id,
                        )
                    })
                })
                .collect();
            while reads.queue().len() < sessions.len() {
                tokio::task::yield_now().await;
            }
            // The connection is the first read's: it takes them all and starts reading.
            held.give_back();
            let finished = futures::poll!(first.as_mut()).is_ready();
            assert!(reads.queue().is_empty(), "all taken by the first read");
            // Gone half-way, the way a request dropped mid-read goes (unless its read was
            // quick enough to be done in that one step).
            drop(first);
            dropped_half_way += usize::from(!finished);
            for other in others {
                let (read, id, _) = tokio::time::timeout(Duration::from_secs(10), other)
                    .await
                    .expect("no read left waiting")
                    .unwrap();
                assert_eq!(read, Some(id));
            }
        }
    }

    /// A batch is found through the sessions' primary key, not by reading them all.
    #[tokio::test]
    async fn a_batch_is_read_through_the_sessions_key() {
        let (_dir, store, _, _) = store_with_sessions(1, 1).await;
        let AppSessionStore::Sqlite(sqlite, _) = &store else {
            unreachable!()
        };
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {READ_MANY}"))
                .bind("[\"a\",\"b\"]")
                .bind(OffsetDateTime::now_utc())
                .fetch_all(&sqlite.reads)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.starts_with("SEARCH s USING INDEX")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("SCAN s")), "{steps:?}");
    }
}
