//! All SQL lives here. One binary speaks SQLite (the embedded default) and PostgreSQL
//! (for several instances); [`Db`] picks the pool by URL.
//!
//! Writes to `users.settings` change only their own fields, in one `UPDATE`, so concurrent
//! saves, removals and last-used updates never lose or resurrect each other's data.
//!
//! Reads go through [`on_pool!`], writes through [`on_writer!`]: on SQLite the two are
//! different connections (see [`Sqlite`]), and a write put on the readers fails at once.
//! Statements that commit together on the chat's path go as a `WriteBatch`: on SQLite one
//! command to the writer's thread instead of one per statement.

use std::{
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use super::user_settings::{KeyEntry, UserSettings};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
        SqliteSynchronous,
    },
    types::Json,
    Arguments as _, ConnectOptions as _, Connection as _,
};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// A database pool of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// A SQLite database: a pool of connections that only read, and one connection that
/// writes, taken in turn.
///
/// SQLite lets one connection write at a time. With every connection free to write, a
/// writer that found the lock taken slept in SQLite's busy handler (1, 2, 5, 10 ms and
/// longer) and tried again, however soon the lock was freed: at 50 chats at once every
/// message waited so. Here writers queue in the process instead, first come first served
/// (a fair [`Mutex`]), and each is handed the connection the moment the one before is done;
/// WAL lets the readers read beside it all the while. The readers cannot write (`PRAGMA
/// query_only`): a write put on them by mistake fails at once (tests catch it) instead of
/// queueing on SQLite's lock behind the writer. The busy timeout stays, for another
/// process on the same file (a second instance started by mistake, a backup, the CLI).
#[derive(Clone, Debug)]
pub struct Sqlite {
    /// Connections for reads. The app's own reads borrow from [`Self::lent`] instead; this
    /// pool stays for tests and tools, and gives its options to every reader.
    pub reads: SqlitePool,
    /// The connections [`on_pool!`] reads on (see [`Readers`]).
    lent: Arc<Readers>,
    writer: Arc<Mutex<Option<SqliteConnection>>>,
    /// Set while a [`Script`] runs on the writer, cleared once it committed or was rolled
    /// back: still set when the next turn begins, the script was cut off (its request
    /// gone) and may have left its transaction open, which that turn rolls back first.
    /// Read and written only by the holder of the writer.
    script_open: Arc<AtomicBool>,
    /// Told of every writer's turn: the checkpointer's cue (see [`checkpoint`]).
    wrote: Arc<checkpoint::Writes>,
    options: Arc<SqliteConnectOptions>,
}

/// Statements for [`Sqlite::run_script`], one transaction sent as one command. Each
/// statement is written with its own parameters `$1`…`$n` and followed by exactly its `n`
/// values: they are renumbered after the values bound before it (`$1` of the second
/// statement becomes `$7` when the first bound six). Only what the statements' text says
/// is run: values are bound, never written into the SQL.
struct Script<'q> {
    sql: String,
    args: sqlx::sqlite::SqliteArguments<'q>,
    error: Option<sqlx::error::BoxDynError>,
}

impl<'q> Script<'q> {
    fn new() -> Self {
        Self {
            sql: String::from("BEGIN IMMEDIATE;\n"),
            args: Default::default(),
            error: None,
        }
    }

    /// Adds a statement; the values bound next are its `$1`, `$2`….
    fn statement(mut self, sql: &str) -> Self {
        renumber(sql, self.args.len(), &mut self.sql);
        self.sql.push_str(";\n");
        self
    }

    fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        self
    }
}

/// Statements that commit together or not at all, written once for both databases: each
/// statement with its own `$1`…`$n`, followed by its `n` values. On SQLite they go to the
/// writer as one command ([`Sqlite::run_script`]); on PostgreSQL one after the other in a
/// transaction. Made by [`Db::write_batch`].
pub(crate) struct WriteBatch<'q>(Batch<'q>);

enum Batch<'q> {
    Sqlite(&'q Sqlite, Script<'q>),
    Postgres(
        &'q PgPool,
        Vec<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>>,
    ),
}

impl<'q> WriteBatch<'q> {
    pub fn statement(self, sql: &'q str) -> Self {
        Self(match self.0 {
            Batch::Sqlite(db, script) => Batch::Sqlite(db, script.statement(sql)),
            Batch::Postgres(db, mut queries) => {
                queries.push(sqlx::query(sql));
                Batch::Postgres(db, queries)
            }
        })
    }

    /// The next value of the statement added last.
    pub fn bind<T>(self, value: T) -> Self
    where
        T: 'q
            + sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        Self(match self.0 {
            Batch::Sqlite(db, script) => Batch::Sqlite(db, script.bind(value)),
            Batch::Postgres(db, mut queries) => {
                let query = queries.pop().expect("a statement before its values");
                queries.push(query.bind(value));
                Batch::Postgres(db, queries)
            }
        })
    }

    /// Adds the insertion of a message, stored at `now`.
    pub fn insert_message(self, m: &NewMessage<'q>, now: DateTime<Utc>) -> Self {
        self.statement(INSERT_MESSAGE)
            .bind(m.id)
            .bind(m.conversation_id)
            .bind(m.role)
            .bind(m.content)
            .bind(m.model)
            .bind(m.incomplete)
            .bind(m.input_tokens)
            .bind(m.output_tokens)
            .bind(m.client_message_id)
            .bind(now)
            .bind(m.parent_id)
    }

    /// Commits the statements.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.commit_returning::<NoRow>().await.map(|_| ())
    }

    /// Commits the statements; returns the first row one of them returned (`RETURNING`).
    /// (Boxed, as [`WriteTarget::begin_write`] is, for the callers' futures to stay `Send`.)
    pub fn commit_returning<R>(self) -> BoxFuture<'q, Result<Option<R>, sqlx::Error>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + 'q,
    {
        Box::pin(async move {
            match self.0 {
                Batch::Sqlite(db, script) => {
                    let rows = db.run_script(script).await?;
                    rows.first().map(R::from_row).transpose()
                }
                Batch::Postgres(db, queries) => {
                    let mut tx = begin_write(db).await?;
                    let mut first = None;
                    for query in queries {
                        let rows = query.fetch_all(&mut *tx).await?;
                        if let (None, Some(row)) = (&first, rows.first()) {
                            first = Some(R::from_row(row)?);
                        }
                    }
                    tx.commit().await?;
                    Ok(first)
                }
            }
        })
    }
}

/// Reads nothing of a row: for batches whose rows nobody needs.
struct NoRow;

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for NoRow {
    fn from_row(_: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self)
    }
}

/// Rolls back the writer's open transaction, if any (an error, "no transaction is active",
/// otherwise: nothing to do).
fn rollback(conn: &mut SqliteConnection) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let _ = sqlx::query("ROLLBACK").execute(conn).await;
    })
}

/// `sql` with every parameter `$N` written as `$(N + offset)`. (`$` followed by anything
/// but a digit, as in a JSON path `'$.a'`, is left alone; the statements here hold no `$`
/// in a string literal before a digit.)
fn renumber(sql: &str, offset: usize, out: &mut String) {
    use std::fmt::Write as _;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n: usize = rest[..digits].parse().expect("ASCII digits");
            let _ = write!(out, "{}", n + offset);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
}

/// The longest a write waits for its turn: the pools' `acquire_timeout`, SQLite's
/// `busy_timeout`.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// The writer connection, held until dropped.
pub type WriteTurn<'a> = MappedMutexGuard<'a, SqliteConnection>;

impl Sqlite {
    /// Waits for the writer connection (writers are served in the order they asked) and
    /// holds it until the turn is dropped. Hold it for database work only: every other
    /// writer waits meanwhile.
    ///
    /// A turn dropped half-way (its request gone) leaves the connection clean for the
    /// next: commands on a connection run in order on its thread, a dropped transaction
    /// queues its `ROLLBACK` ahead of anything the next writer sends, a `BEGIN` whose
    /// answer nobody read is rolled back by sqlx itself, and a `Script` cut off half-way
    /// is rolled back here, before the next turn begins.
    pub async fn writer(&self) -> Result<WriteTurn<'_>, sqlx::Error> {
        let turn = self.turn().await?;
        self.wrote.one_more();
        Ok(turn)
    }

    /// [`Self::writer`] without nudging the checkpointer (which takes turns itself).
    async fn turn(&self) -> Result<WriteTurn<'_>, sqlx::Error> {
        // As long as a pool would wait for a connection, or SQLite for its lock.
        let mut slot = tokio::time::timeout(WRITE_WAIT, self.writer.lock())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if self.reads.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        if slot.is_none() {
            *slot = Some(self.options.connect().await?);
        }
        let mut turn =
            MutexGuard::try_map(slot, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)?;
        if self.script_open.load(Ordering::Acquire) {
            // Fails harmlessly when the script had committed before it was cut off.
            rollback(&mut turn).await;
            self.script_open.store(false, Ordering::Release);
        }
        Ok(turn)
    }

    /// Runs `script` on the writer: its statements between `BEGIN IMMEDIATE` and `COMMIT`,
    /// sent to the connection's thread as one command instead of one each (each command is
    /// a round trip between threads: two wake-ups, and most of a statement's cost here).
    /// Returns the rows its statements returned, in order. On an error nothing of it is
    /// kept; cut off half-way, the next turn rolls back what it left (see `script_open`).
    ///
    /// (Boxed, as [`WriteTarget::begin_write`] is, for the callers' futures to stay `Send`.)
    fn run_script<'a>(
        &'a self,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error>> {
        Box::pin(async move {
            let Script {
                mut sql,
                args,
                error,
                ..
            } = script;
            if let Some(e) = error {
                return Err(sqlx::Error::Encode(e));
            }
            sql.push_str("COMMIT;");
            let mut turn = self.writer().await?;
            self.script_open.store(true, Ordering::Release);
            // Every row read (not `fetch_one`): the statements after the first row run
            // only while someone reads what they return.
            let result = sqlx::query_with(&sql, args).fetch_all(&mut *turn).await;
            if result.is_err() {
                rollback(&mut turn).await;
            }
            self.script_open.store(false, Ordering::Release);
            result
        })
    }

    async fn close(&self) {
        self.reads.close().await;
        self.lent.close();
        if let Some(writer) = self.writer.lock().await.take() {
            if let Err(e) = writer.close().await {
                tracing::warn!(error = %e, "closing the SQLite writer connection");
            }
        }
    }
}

/// SQLite connections that only read, lent one at a time: kept apart from sqlx's pool,
/// which pings a SQLite connection (a round trip to the connection's own thread, two
/// wake-ups) whenever one is given back, on top of the read itself. A connection here is
/// given back only after a read that went well; one abandoned half-way (its request gone)
/// or that failed is dropped, and another opened when needed. At most `turns` are open and
/// lent at once; more readers wait their turn. The most recently used is lent first: its
/// thread and its caches are the warmest.
#[derive(Debug)]
pub struct Readers {
    options: Arc<SqliteConnectOptions>,
    idle: std::sync::Mutex<Vec<SqliteConnection>>,
    turns: tokio::sync::Semaphore,
}

impl Readers {
    /// `options` should make the connections read-only (`PRAGMA query_only`).
    pub(crate) fn new(options: SqliteConnectOptions, turns: usize) -> Self {
        Self {
            options: Arc::new(options),
            idle: Default::default(),
            turns: tokio::sync::Semaphore::new(turns),
        }
    }

    /// A connection for one read, after waiting for a turn (at most as long as a pool
    /// would). `PoolClosed` once [`Self::close`]d.
    pub(crate) async fn lend(&self) -> Result<Lent<'_>, sqlx::Error> {
        let turn = match self.turns.try_acquire() {
            Ok(turn) => turn,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(sqlx::Error::PoolClosed),
            // No timer for the many reads that find a turn free.
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                tokio::time::timeout(WRITE_WAIT, self.turns.acquire())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?
                    .map_err(|_| sqlx::Error::PoolClosed)?
            }
        };
        self.lend_for(turn).await
    }

    /// A connection for one read if one is free now (`None`: all lent, or closed).
    pub(crate) async fn try_lend(&self) -> Option<Result<Lent<'_>, sqlx::Error>> {
        let turn = self.turns.try_acquire().ok()?;
        Some(self.lend_for(turn).await)
    }

    async fn lend_for<'a>(
        &'a self,
        turn: tokio::sync::SemaphorePermit<'a>,
    ) -> Result<Lent<'a>, sqlx::Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(Lent {
            readers: self,
            conn: Some(conn),
            _turn: turn,
        })
    }

    /// Lends no more, and closes the connections not lent.
    pub(crate) fn close(&self) {
        self.turns.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// A connection lent by [`Readers`]: dropped with it unless [`Lent::give_back`] is called.
pub(crate) struct Lent<'a> {
    readers: &'a Readers,
    conn: Option<SqliteConnection>,
    _turn: tokio::sync::SemaphorePermit<'a>,
}

impl Lent<'_> {
    /// Back to the idle connections: call it only after a read that went well.
    pub(crate) fn give_back(mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.readers.idle.lock()) {
            if !self.readers.turns.is_closed() {
                idle.push(conn);
            }
        }
    }
}

impl std::ops::Deref for Lent<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("lent until given back")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("lent until given back")
    }
}

/// Reads at once on SQLite (and connections kept for them), as many as the pool had.
const READERS: usize = 8;

/// Runs `$body` with `$pool` bound to the concrete pool, for reads both databases share.
/// On SQLite these connections cannot write: writes go through [`on_writer!`].
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite(sqlite) => match sqlite.lent.lend().await {
                Err(e) => Err(e),
                Ok(mut lent) => {
                    let result = {
                        let $pool = &mut *lent;
                        $body
                    };
                    if result.is_ok() {
                        lent.give_back();
                    }
                    result
                }
            },
            Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to where writes go: on SQLite the writer connection
/// (`&mut SqliteConnection`, held for the whole of `$body`: see [`Sqlite`]), on PostgreSQL
/// the pool. `$body` uses `$conn` once: a query's executor, or [`begin_write`]'s argument
/// for several statements.
macro_rules! on_writer {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            Db::Sqlite(sqlite) => {
                let mut turn = sqlite.writer().await?;
                let $conn = &mut *turn;
                $body
            }
            Db::Postgres($conn) => $body,
        }
    };
}

/// Where a write transaction begins: SQLite's writer connection or PostgreSQL's pool.
/// (Boxed futures: an `async fn` here left the handlers' futures short of a provable
/// `Send`.)
pub(crate) trait WriteTarget<'c> {
    type Database: sqlx::Database;

    fn begin_write(
        self,
    ) -> BoxFuture<'c, Result<sqlx::Transaction<'c, Self::Database>, sqlx::Error>>;
}

impl<'c> WriteTarget<'c> for &'c mut SqliteConnection {
    type Database = sqlx::Sqlite;

    /// `BEGIN IMMEDIATE` takes the write lock at once: a deferred transaction that begins
    /// to write after another connection (another process, now) has committed fails at
    /// once with "database is locked" (its snapshot is stale, so SQLite cannot wait),
    /// where an immediate one waits its turn within the busy timeout.
    fn begin_write(
        self,
    ) -> BoxFuture<'c, Result<sqlx::Transaction<'c, sqlx::Sqlite>, sqlx::Error>> {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl<'c> WriteTarget<'c> for &'c PgPool {
    type Database = sqlx::Postgres;

    fn begin_write(
        self,
    ) -> BoxFuture<'c, Result<sqlx::Transaction<'c, sqlx::Postgres>, sqlx::Error>> {
        Box::pin(async move { self.begin().await })
    }
}

/// Begins a transaction that writes, on what [`on_writer!`] gave.
pub(crate) fn begin_write<'c, W: WriteTarget<'c>>(
    target: W,
) -> BoxFuture<'c, Result<sqlx::Transaction<'c, W::Database>, sqlx::Error>> {
    target.begin_write()
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

pub mod billing;
mod checkpoint;
pub mod drafts;
pub mod key_events;
pub mod search;
pub mod usage;

fn classify(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbError::UniqueViolation,
        _ => DbError::Sqlx(e),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub settings: Json<UserSettings>,
    pub created_at: DateTime<Utc>,
    /// Sessions issued under an older generation are over.
    pub session_generation: i64,
}

const USER_COLUMNS: &str = "id, email, password_hash, settings, created_at, session_generation";

impl Db {
    /// Connects by URL; a SQLite file (and its folder) is created on first use.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("wal_autocheckpoint", checkpoint::WRITER_CHECKPOINT_PAGES)
                .foreign_keys(true)
                .busy_timeout(WRITE_WAIT);
            if let Some(parent) = options.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    super::config::create_private_dir(parent)?;
                }
            }
            // The writer first: it creates the file and puts it in WAL mode, which the
            // readers then find.
            let writer = options.connect().await?;
            // The pool is for tests and tools (the app reads through `Readers`), so it
            // opens no connection (a thread and a page cache each) until one is asked for.
            // No test before lending a connection: an in-process SQLite connection cannot
            // have been dropped by a server, and sqlx's test is a round trip to the
            // connection's thread, added to every query.
            let read_only = options.clone().pragma("query_only", "ON");
            let reads = SqlitePoolOptions::new()
                .max_connections(READERS as u32)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(read_only.clone());
            Ok(Self::Sqlite(Sqlite {
                reads,
                lent: Arc::new(Readers::new(read_only, READERS)),
                writer: Arc::new(Mutex::new(Some(writer))),
                script_open: Arc::new(AtomicBool::new(false)),
                wrote: Arc::default(),
                options: Arc::new(options),
            }))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// Statements to commit together: see [`WriteBatch`].
    pub(crate) fn write_batch(&self) -> WriteBatch<'_> {
        WriteBatch(match self {
            Self::Sqlite(sqlite) => Batch::Sqlite(sqlite, Script::new()),
            Self::Postgres(pool) => Batch::Postgres(pool, Vec::new()),
        })
    }

    /// On SQLite, the task that checkpoints its write-ahead log beside the writers (see
    /// [`checkpoint`]), until aborted; nothing to do on PostgreSQL.
    pub fn spawn_checkpointer(&self) -> Option<tokio::task::JoinHandle<()>> {
        match self {
            Self::Sqlite(sqlite) => Some(sqlite.spawn_checkpointer()),
            Self::Postgres(_) => None,
        }
    }

    /// Applies the migrations of this database kind; an error stops the start.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Sqlite(sqlite) => {
                let mut writer = sqlite.writer().await?;
                sqlx::migrate!("migrations/sqlite").run(&mut *writer).await
            }
            Self::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        }
    }

    /// The SQLite database file, when there is one.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Sqlite(sqlite) => {
                let path = sqlite.options.get_filename().to_path_buf();
                path.is_file().then_some(path)
            }
            Self::Postgres(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// True while the database answers a trivial query quickly.
    pub async fn ping(&self) -> bool {
        let query = async {
            on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), query).await,
            Ok(Ok(()))
        )
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(sqlite) => sqlite.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }

    // ---- users ---------------------------------------------------------------------------

    pub async fn insert_user(
        &self,
        email: &str,
        password_hash: &str,
        settings: &UserSettings,
    ) -> Result<UserRow, DbError> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO users (email, password_hash, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {USER_COLUMNS}"
        );
        on_writer!(self, conn => sqlx::query_as::<_, UserRow>(&sql)
            .bind(email)
            .bind(password_hash)
            .bind(Json(settings))
            .bind(now)
            .fetch_one(conn)
            .await)
        .map_err(classify)
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>, DbError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, UserRow>(&sql).bind(email).fetch_optional(pool).await)?,
        )
    }

    pub async fn find_user(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, UserRow>(&sql).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// The whole settings document of one user.
    pub async fn user_settings(&self, id: i64) -> Result<Option<UserSettings>, DbError> {
        let row: Option<(Json<UserSettings>,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT settings FROM users WHERE id = $1").bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(v),)| v))
    }

    /// What every signed-in request needs of its user, in one read: the session
    /// generation and the settings document; `None` when the account is gone.
    pub async fn session_user(&self, user_id: i64) -> Result<Option<(i64, UserSettings)>, DbError> {
        let row: Option<(i64, Json<UserSettings>)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT session_generation, settings FROM users WHERE id = $1").bind(user_id).fetch_optional(pool).await)?;
        Ok(row.map(|(g, Json(settings))| (g, settings)))
    }

    /// Stores a new password hash and ends every session issued before, in one statement;
    /// returns the new generation.
    pub async fn set_password_hash(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<Option<i64>, DbError> {
        let row: Option<(i64,)> = on_writer!(self, conn => sqlx::query_as(
            "UPDATE users SET password_hash = $1, session_generation = session_generation + 1, \
             updated_at = $2 WHERE id = $3 RETURNING session_generation")
            .bind(password_hash).bind(Utc::now()).bind(user_id).fetch_optional(conn).await)?;
        Ok(row.map(|(g,)| g))
    }

    /// Ends every session of the user issued before now; returns the new generation.
    pub async fn bump_session_generation(&self, user_id: i64) -> Result<Option<i64>, DbError> {
        let row: Option<(i64,)> = on_writer!(self, conn => sqlx::query_as(
            "UPDATE users SET session_generation = session_generation + 1 WHERE id = $1 \
             RETURNING session_generation")
            .bind(user_id).fetch_optional(conn).await)?;
        Ok(row.map(|(g,)| g))
    }
}

// ---- rate limits -----------------------------------------------------------------------------

impl Db {
    /// Counts a hit on `key`: a window that has ended starts again at `reset_at`. Returns the
    /// hits in the current window and when it ends (milliseconds since the epoch). One
    /// statement, so concurrent instances never lose a hit.
    pub async fn hit_rate_limit(
        &self,
        key: &str,
        now: i64,
        reset_at: i64,
    ) -> Result<(u32, i64), DbError> {
        let sql = "INSERT INTO rate_limits (key, hits, reset_at) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                   hits = CASE WHEN rate_limits.reset_at <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
                   reset_at = CASE WHEN rate_limits.reset_at <= $3 THEN $2 ELSE rate_limits.reset_at END \
                   RETURNING hits, reset_at";
        let (hits, reset_at): (i64, i64) = on_writer!(self, conn =>
            sqlx::query_as(sql).bind(key).bind(reset_at).bind(now).fetch_one(conn).await)?;
        Ok((u32::try_from(hits).unwrap_or(u32::MAX), reset_at))
    }

    /// The hits of `key`'s current window and the milliseconds until it ends, if one is open.
    pub async fn peek_rate_limit(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<(u32, i64)>, DbError> {
        let row: Option<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT hits, reset_at FROM rate_limits WHERE key = $1 AND reset_at > $2")
            .bind(key).bind(now).fetch_optional(pool).await)?;
        Ok(row.map(|(hits, reset_at)| (u32::try_from(hits).unwrap_or(u32::MAX), reset_at - now)))
    }

    pub async fn clear_rate_limit(&self, key: &str) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query("DELETE FROM rate_limits WHERE key = $1").bind(key).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    /// Deletes windows that ended before `now`.
    pub async fn purge_rate_limits(&self, now: i64) -> Result<u64, DbError> {
        let done = on_writer!(self, conn => sqlx::query("DELETE FROM rate_limits WHERE reset_at <= $1")
            .bind(now).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

/// Per-backend SQL for the writes that touch one field of `settings`.
struct KeySql {
    set_entry: &'static str,
    remove_entry: &'static str,
    set_last_used: &'static str,
    set_valid: &'static str,
    replace_token: &'static str,
}

const SQLITE_KEY_SQL: KeySql = KeySql {
    set_entry: "UPDATE users SET settings = json_set(settings, '$.api_keys.anthropic', json($1)), \
                updated_at = $2 WHERE id = $3",
    remove_entry: "UPDATE users SET settings = json_remove(settings, '$.api_keys.anthropic'), \
                   updated_at = $1 WHERE id = $2",
    set_last_used: "UPDATE users SET settings = json_set(settings, '$.api_keys.anthropic.last_used', $1) \
                    WHERE id = $2 AND json_extract(settings, '$.api_keys.anthropic.encrypted_key') = $3",
    set_valid: "UPDATE users SET settings = json_set(settings, '$.api_keys.anthropic.valid', json($1)), \
                updated_at = $4 WHERE id = $2 AND json_extract(settings, '$.api_keys.anthropic.encrypted_key') = $3",
    replace_token: "UPDATE users SET settings = json_set(settings, '$.api_keys.anthropic.encrypted_key', $1), \
                    updated_at = $4 WHERE id = $2 AND json_extract(settings, '$.api_keys.anthropic.encrypted_key') = $3",
};

const POSTGRES_KEY_SQL: KeySql = KeySql {
    set_entry: "UPDATE users SET settings = jsonb_set(\
                    settings || jsonb_build_object('api_keys', COALESCE(settings->'api_keys', '{}'::jsonb)), \
                    '{api_keys,anthropic}', $1::jsonb), \
                updated_at = $2 WHERE id = $3",
    remove_entry: "UPDATE users SET settings = settings #- '{api_keys,anthropic}', updated_at = $1 WHERE id = $2",
    set_last_used: "UPDATE users SET settings = jsonb_set(settings, '{api_keys,anthropic,last_used}', to_jsonb($1::text)) \
                    WHERE id = $2 AND settings #>> '{api_keys,anthropic,encrypted_key}' = $3",
    set_valid: "UPDATE users SET settings = jsonb_set(settings, '{api_keys,anthropic,valid}', $1::jsonb), \
                updated_at = $4 WHERE id = $2 AND settings #>> '{api_keys,anthropic,encrypted_key}' = $3",
    replace_token: "UPDATE users SET settings = jsonb_set(settings, '{api_keys,anthropic,encrypted_key}', to_jsonb($1::text)), \
                    updated_at = $4 WHERE id = $2 AND settings #>> '{api_keys,anthropic,encrypted_key}' = $3",
};

impl Db {
    fn key_sql(&self) -> &'static KeySql {
        match self {
            Self::Sqlite(_) => &SQLITE_KEY_SQL,
            Self::Postgres(_) => &POSTGRES_KEY_SQL,
        }
    }

    /// Writes `settings.api_keys.anthropic` whole, leaving every other field untouched.
    pub async fn set_anthropic_key(&self, user_id: i64, entry: &KeyEntry) -> Result<(), DbError> {
        let sql = self.key_sql().set_entry;
        let entry = serde_json::to_string(entry)
            .map_err(|e| DbError::Sqlx(sqlx::Error::Encode(e.into())))?;
        on_writer!(self, conn => sqlx::query(sql).bind(entry).bind(Utc::now()).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn remove_anthropic_key(&self, user_id: i64) -> Result<(), DbError> {
        let sql = self.key_sql().remove_entry;
        on_writer!(self, conn => sqlx::query(sql).bind(Utc::now()).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets `last_used`, only while the key that was used is still the stored one, so a
    /// late update never resurrects a removed key or touches its replacement.
    pub async fn mark_key_used(
        &self,
        user_id: i64,
        token: &str,
        at: &str,
    ) -> Result<bool, DbError> {
        let sql = self.key_sql().set_last_used;
        let done = on_writer!(self, conn => sqlx::query(sql).bind(at).bind(user_id).bind(token).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Sets `valid` for the stored key if it is still `token`.
    pub async fn set_key_valid(
        &self,
        user_id: i64,
        token: &str,
        valid: bool,
    ) -> Result<bool, DbError> {
        let sql = self.key_sql().set_valid;
        let value = if valid { "true" } else { "false" };
        let done = on_writer!(self, conn => sqlx::query(sql).bind(value).bind(user_id).bind(token).bind(Utc::now()).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Swaps the stored token `old` for `new` (re-encryption under a new secret).
    pub async fn replace_key_token(
        &self,
        user_id: i64,
        old: &str,
        new: &str,
    ) -> Result<bool, DbError> {
        let sql = self.key_sql().replace_token;
        let done = on_writer!(self, conn => sqlx::query(sql).bind(new).bind(user_id).bind(old).bind(Utc::now()).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Every user with a stored key, and its token.
    pub async fn stored_key_tokens(&self) -> Result<Vec<(i64, String)>, DbError> {
        let rows: Vec<(i64, Json<UserSettings>)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT id, settings FROM users ORDER BY id").fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, Json(settings))| {
                settings
                    .api_keys
                    .anthropic
                    .map(|entry| (id, entry.encrypted_key))
            })
            .collect())
    }
}

// ---- conversations and messages ------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub model: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A [`ConversationRow`]'s columns (but its id) and its messages as one JSON array, as
/// [`Db::conversation_with_messages`] reads them.
#[derive(sqlx::FromRow)]
struct ConversationWithMessages {
    title: String,
    agent: String,
    model: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    messages: String,
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub incomplete: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// `byok` or `platform`, from the ledger (none for answers stored before it).
    pub payer: Option<String>,
    /// The message this one follows (none for a conversation's first messages).
    pub parent_id: Option<String>,
    /// When it was last chosen among its siblings (see `server::branches`).
    pub selected_at: DateTime<Utc>,
    /// The browser's id for a message of the person (see `store_user_message`).
    pub client_message_id: Option<String>,
}

/// A conversation to store.
pub struct NewConversation<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub title: &'a str,
    pub agent: &'a str,
    pub model: &'a str,
}

/// A message to store.
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub role: &'a str,
    pub content: &'a str,
    pub model: Option<&'a str>,
    pub incomplete: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub client_message_id: Option<&'a str>,
    /// The message it follows: the turn it answers, or the last of the branch it continues.
    pub parent_id: Option<&'a str>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsageTotals {
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub answers: i64,
}

/// What a chat records once an answer's first words are on their way: when the person's
/// key was last used, and that an existing conversation was (it rises to the top, with the
/// model it now talks to). Written in the answer's own transaction
/// ([`Db::insert_answer`]): one commit for all that the answer leaves, instead of one
/// each while others wait for SQLite's single writer. Both hold the time of the first
/// words, not of the storing.
#[derive(Debug, Clone, Copy)]
pub struct FirstWords<'a> {
    pub at: DateTime<Utc>,
    /// The stored token of the key used, when it was the person's own.
    pub own_key: Option<&'a str>,
    /// The conversation existed before this answer (a new one is as new as it gets).
    pub touch: bool,
}

const TOUCH_CONVERSATION: &str =
    "UPDATE conversations SET model = $1, updated_at = $2 WHERE id = $3";

/// A stored message is the chosen one among its siblings: `selected_at` is its creation.
const INSERT_MESSAGE: &str =
    "INSERT INTO messages (id, conversation_id, role, content, model, incomplete, \
     input_tokens, output_tokens, client_message_id, created_at, parent_id, selected_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)";

/// A person's message by the id the browser gave it: through `messages_client_id`, which
/// holds only messages that have one (migration 0013; `= $2` implies its condition).
const FIND_CLIENT_MESSAGE: &str =
    "SELECT id FROM messages WHERE conversation_id = $1 AND client_message_id = $2";
const CONVERSATION_COLUMNS: &str = "id, title, agent, model, created_at, updated_at";
const INSERT_CONVERSATION: &str =
    "INSERT INTO conversations (id, user_id, title, agent, model, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id, title, agent, model, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "m.id, m.role, m.content, m.model, m.incomplete, m.input_tokens, \
     m.output_tokens, m.created_at, l.payer, m.parent_id, \
     COALESCE(m.selected_at, m.created_at) AS selected_at, m.client_message_id";

/// A message's fields in [`MessageRow`]'s order, as the names [`MESSAGE_COLUMNS`] gives
/// them: one JSON array a message in [`messages_json_sql`].
const MESSAGE_FIELDS: &str = "id, role, content, model, incomplete, input_tokens, output_tokens, \
     created_at, payer, parent_id, selected_at, client_message_id";

/// A conversation's (`$1`) messages, oldest first, as one JSON array of arrays (`[]` when
/// it has none): the rows of [`messages_sql`], each made a JSON array, all in one value.
/// One row instead of one per message: on SQLite sqlx copies every row on the
/// connection's thread and sends it across with a wake-up of its own.
fn messages_json_sql(postgres: bool) -> String {
    let rows = messages_sql();
    if postgres {
        format!(
            "SELECT COALESCE(json_agg(json_build_array({MESSAGE_FIELDS})), '[]')::text \
             FROM ({rows}) AS ms"
        )
    } else {
        format!("SELECT json_group_array(json_array({MESSAGE_FIELDS})) FROM ({rows})")
    }
}

/// A conversation (`$1`) of its owner (`$2`) in one row, its messages as
/// [`messages_json_sql`] gives them (see [`Db::conversation_with_messages`]); no row when it
/// is not theirs. The messages come out of `messages_by_conversation` in order (migration
/// 0011), unsorted afterwards.
fn conversation_with_messages_sql(postgres: bool) -> String {
    let messages = messages_json_sql(postgres);
    format!(
        "SELECT c.title, c.agent, c.model, c.created_at, c.updated_at, ({messages}) AS messages \
         FROM conversations c WHERE c.id = $1 AND c.user_id = $2"
    )
}

/// A message as [`messages_json_sql`] writes it: a JSON array of its fields.
#[derive(serde::Deserialize)]
struct MessageFields(
    String,
    String,
    String,
    Option<String>,
    StoredFlag,
    Option<i64>,
    Option<i64>,
    StoredTime,
    Option<String>,
    Option<String>,
    StoredTime,
    Option<String>,
);

impl From<MessageFields> for MessageRow {
    fn from(f: MessageFields) -> Self {
        Self {
            id: f.0,
            role: f.1,
            content: f.2,
            model: f.3,
            incomplete: f.4 .0,
            input_tokens: f.5,
            output_tokens: f.6,
            created_at: f.7 .0,
            payer: f.8,
            parent_id: f.9,
            selected_at: f.10 .0,
            client_message_id: f.11,
        }
    }
}

/// A boolean column in JSON: `true`/`false` from PostgreSQL, `1`/`0` from SQLite.
///
/// Read by a visitor of its own, not through serde's untagged enum: that buffers the value
/// and builds an error, message and all, for every variant it tries in vain (a third of the
/// decoding of a conversation's messages, `callgrind` on `benches/conversation_read.rs`).
struct StoredFlag(bool);

impl<'de> serde::Deserialize<'de> for StoredFlag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Flag;
        impl serde::de::Visitor<'_> for Flag {
            type Value = StoredFlag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean, or an integer for one")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<StoredFlag, E> {
                Ok(StoredFlag(b))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<StoredFlag, E> {
                Ok(StoredFlag(n != 0))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<StoredFlag, E> {
                Ok(StoredFlag(n != 0))
            }
        }
        d.deserialize_any(Flag)
    }
}

/// A time column in JSON: RFC 3339 (what the app writes, and PostgreSQL's JSON form of a
/// `timestamptz`), or one of the other forms sqlx reads from a SQLite text column (a row
/// written by hand), taken as UTC when it names no offset.
struct StoredTime(DateTime<Utc>);

impl<'de> serde::Deserialize<'de> for StoredTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The text as serde_json has it, not a copy: a `Cow<str>` is read by
        // `deserialize_string`, which gives its visitor an owned `String` (a `malloc` and a
        // `free` per time, two times per message).
        struct Time;
        impl serde::de::Visitor<'_> for Time {
            type Value = StoredTime;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a time")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<StoredTime, E> {
                parse_stored_time(text)
                    .map(StoredTime)
                    .ok_or_else(|| E::custom("a time in no known form"))
            }
        }
        d.deserialize_str(Time)
    }
}

fn parse_stored_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    ["%F %T%.f%:z", "%FT%T%.f%:z", "%F %R%:z", "%FT%R%:z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
        .map(|t| t.to_utc())
        .or_else(|| {
            let text = text.strip_suffix('Z').unwrap_or(text);
            ["%F %T%.f", "%FT%T%.f", "%F %R", "%FT%R"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        })
}

/// The messages of [`messages_json_sql`]'s JSON, oldest first (`created_at`,
/// then `id`, as [`messages_sql`] orders them: the array comes in that order, which is
/// checked, not assumed).
fn messages_from_json(json: &str) -> Result<Vec<MessageRow>, sqlx::Error> {
    let fields: Vec<MessageFields> =
        serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut rows: Vec<MessageRow> = fields.into_iter().map(MessageRow::from).collect();
    // Already in order, this is one pass.
    rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(rows)
}

/// A conversation's (`$1`) messages, oldest first, with who paid for each answer (from
/// the ledger).
fn messages_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN usage_ledger l ON l.message_id = m.id \
         WHERE m.conversation_id = $1 ORDER BY m.created_at, m.id"
    )
}

impl Db {
    pub async fn find_conversation(
        &self,
        id: &str,
        user_id: i64,
    ) -> Result<Option<ConversationRow>, DbError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND user_id = $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ConversationRow>(&sql).bind(id).bind(user_id).fetch_optional(pool).await)?,
        )
    }

    pub async fn list_conversations(&self, user_id: i64) -> Result<Vec<ConversationRow>, DbError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC LIMIT 500"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ConversationRow>(&sql).bind(user_id).fetch_all(pool).await)?,
        )
    }

    /// A new conversation with no message yet (the chat stores one with its first message,
    /// [`Db::create_conversation_with_message`]).
    pub async fn create_conversation(
        &self,
        id: &str,
        user_id: i64,
        title: &str,
        agent: &str,
        model: &str,
    ) -> Result<ConversationRow, DbError> {
        Ok(
            on_writer!(self, conn => sqlx::query_as::<_, ConversationRow>(INSERT_CONVERSATION)
            .bind(id).bind(user_id).bind(title).bind(agent).bind(model).bind(Utc::now())
            .fetch_one(conn).await)?,
        )
    }

    /// A new conversation and the person's first message in it, in one transaction:
    /// neither is ever stored without the other. Returns the conversation and the time the
    /// message was stored at.
    pub async fn create_conversation_with_message(
        &self,
        conversation: &NewConversation<'_>,
        m: &NewMessage<'_>,
    ) -> Result<(ConversationRow, DateTime<Utc>), DbError> {
        let now = Utc::now();
        let c = conversation;
        let row = self
            .write_batch()
            .statement(INSERT_CONVERSATION)
            .bind(c.id)
            .bind(c.user_id)
            .bind(c.title)
            .bind(c.agent)
            .bind(c.model)
            .bind(now)
            .insert_message(m, now)
            .commit_returning::<ConversationRow>()
            .await
            .map_err(classify)?
            .ok_or(sqlx::Error::RowNotFound)?;
        Ok((row, now))
    }

    /// Sets the model and bumps `updated_at` to `at` (a conversation in use rises to the
    /// top). The chat does this with the answer's storage ([`FirstWords`]).
    pub async fn touch_conversation(
        &self,
        id: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query(TOUCH_CONVERSATION)
            .bind(model).bind(at).bind(id).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn rename_conversation(
        &self,
        id: &str,
        user_id: i64,
        title: &str,
    ) -> Result<bool, DbError> {
        let done = on_writer!(self, conn => sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2 AND user_id = $3")
            .bind(title).bind(id).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn delete_conversation(&self, id: &str, user_id: i64) -> Result<bool, DbError> {
        let done = on_writer!(self, conn => sqlx::query("DELETE FROM conversations WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Stores a message; returns the time it was stored at.
    pub async fn insert_message(&self, m: &NewMessage<'_>) -> Result<DateTime<Utc>, DbError> {
        let now = Utc::now();
        on_writer!(self, conn => sqlx::query(INSERT_MESSAGE)
            .bind(m.id).bind(m.conversation_id).bind(m.role).bind(m.content).bind(m.model).bind(m.incomplete)
            .bind(m.input_tokens).bind(m.output_tokens).bind(m.client_message_id).bind(now)
            .bind(m.parent_id)
            .execute(conn).await.map(|_| ()))
        .map_err(classify)?;
        Ok(now)
    }

    /// The id of the user message the browser sent before under `client_message_id`.
    pub async fn find_client_message(
        &self,
        conversation_id: &str,
        client_message_id: &str,
    ) -> Result<Option<String>, DbError> {
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(FIND_CLIENT_MESSAGE)
            .bind(conversation_id).bind(client_message_id).fetch_optional(pool).await)?;
        Ok(row.map(|(id,)| id))
    }

    /// `user_id`'s conversation `id` with its messages (as [`Self::messages`]), in one
    /// query and one row: on the chat's path one trip to a reader instead of two, and the
    /// messages as one JSON value instead of a row each. On SQLite every row is copied on
    /// the connection's thread and sent across with a wake-up of its own; one row made a
    /// read of 10 messages about a fifth faster, of 40 about twice as fast (`cargo bench
    /// --features ssr,stub --bench conversation_read`). None when it is not theirs.
    pub async fn conversation_with_messages(
        &self,
        id: &str,
        user_id: i64,
    ) -> Result<Option<(ConversationRow, Vec<MessageRow>)>, DbError> {
        let sql = conversation_with_messages_sql(matches!(self, Db::Postgres(_)));
        let found = on_pool!(self, pool => sqlx::query_as::<_, ConversationWithMessages>(&sql)
            .bind(id).bind(user_id).fetch_optional(pool).await)?;
        let Some(c) = found else {
            return Ok(None);
        };
        let messages = messages_from_json(&c.messages)?;
        let conversation = ConversationRow {
            id: id.to_string(),
            title: c.title,
            agent: c.agent,
            model: c.model,
            created_at: c.created_at,
            updated_at: c.updated_at,
        };
        Ok(Some((conversation, messages)))
    }

    /// A conversation's messages, oldest first (in one row: see [`messages_json_sql`]).
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>, DbError> {
        let sql = messages_json_sql(matches!(self, Db::Postgres(_)));
        let json: String = on_pool!(self, pool => sqlx::query_scalar(&sql)
            .bind(conversation_id).fetch_one(pool).await)?;
        Ok(messages_from_json(&json)?)
    }

    /// Makes `message_id` and every message above it the chosen one among its siblings,
    /// so the conversation's path runs through it. False when it is not in the conversation.
    pub async fn select_message(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<bool, DbError> {
        let sql = "WITH RECURSIVE up (id, parent_id) AS ( \
                       SELECT id, parent_id FROM messages WHERE id = $2 AND conversation_id = $3 \
                       UNION ALL \
                       SELECT m.id, m.parent_id FROM messages m JOIN up ON m.id = up.parent_id \
                   ) \
                   UPDATE messages SET selected_at = $1 \
                   WHERE conversation_id = $3 AND id IN (SELECT id FROM up)";
        let done = on_writer!(self, conn => sqlx::query(sql)
            .bind(Utc::now()).bind(message_id).bind(conversation_id)
            .execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Token totals per model of a user's answers since `since`.
    pub async fn usage_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<UsageTotals>, DbError> {
        let sql = "SELECT m.model AS model, \
                   CAST(COALESCE(SUM(m.input_tokens), 0) AS BIGINT) AS input_tokens, \
                   CAST(COALESCE(SUM(m.output_tokens), 0) AS BIGINT) AS output_tokens, \
                   CAST(COUNT(*) AS BIGINT) AS answers \
                   FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                   WHERE c.user_id = $1 AND m.role = 'assistant' AND m.model IS NOT NULL AND m.created_at >= $2 \
                   GROUP BY m.model ORDER BY m.model";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, UsageTotals>(sql).bind(user_id).bind(since).fetch_all(pool).await)?,
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_scripts_statements_are_renumbered_after_the_values_before_them() {
        let mut out = String::new();
        renumber(
            "UPDATE users SET settings = json_set(settings, '$.a.b', $1) WHERE id = $2 AND x = $10, $",
            6,
            &mut out,
        );
        assert_eq!(
            out,
            "UPDATE users SET settings = json_set(settings, '$.a.b', $7) WHERE id = $8 AND x = $16, $"
        );
        let script = Script::new()
            .statement("INSERT INTO a VALUES ($1, $2, $1)")
            .bind(1_i64)
            .bind("x")
            .statement("UPDATE b SET c = $2 WHERE d = $1")
            .bind(2_i64)
            .bind("y");
        assert_eq!(
            script.sql,
            "BEGIN IMMEDIATE;\nINSERT INTO a VALUES ($1, $2, $1);\nUPDATE b SET c = $4 WHERE d = $3;\n"
        );
        assert_eq!(script.args.len(), 4);
    }

    /// A new SQLite database, migrated, in a folder that lasts as long as the first value.
    pub(crate) async fn migrated_sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    /// Reading a conversation sorts nothing: its messages come out of the index in order.
    /// (A sort there cost every read a temporary B-tree, and its buffer's allocation set
    /// the allocator tidying up after the rows freed on the other thread: about an eighth
    /// of the read's CPU.)
    #[tokio::test]
    async fn a_conversation_is_read_in_order_without_sorting() {
        let (_dir, db) = migrated_sqlite().await;
        let Db::Sqlite(sqlite) = &db else {
            unreachable!("a SQLite URL")
        };
        // Each read with its own parameters: the conversation's id (and its owner's).
        for (sql, with_owner) in [
            (conversation_with_messages_sql(false), true),
            (messages_json_sql(false), false),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain).bind("c");
            if with_owner {
                query = query.bind(1_i64);
            }
            let plan = query.fetch_all(&sqlite.reads).await.unwrap();
            let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
            assert!(
                steps.iter().any(|s| s.contains("messages_by_conversation")),
                "{steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{steps:?}"
            );
        }
    }

    /// A message's client id is found through its index, and that index is partial: an
    /// answer (no client id) writes no entry to it, and a client id is still unique within
    /// its conversation while any number of messages have none.
    #[tokio::test]
    async fn client_ids_are_indexed_only_where_there_is_one() {
        let (_dir, db) = migrated_sqlite().await;
        let Db::Sqlite(sqlite) = &db else {
            unreachable!("a SQLite URL")
        };
        let explain = format!("EXPLAIN QUERY PLAN {FIND_CLIENT_MESSAGE}");
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&explain)
            .bind("c")
            .bind("x")
            .fetch_all(&sqlite.reads)
            .await
            .unwrap();
        assert!(
            plan.iter()
                .any(|(_, _, _, s)| s.contains("messages_client_id")),
            "{plan:?}"
        );
        let partial: (i64, i64) = sqlx::query_as(
            "SELECT \"unique\", partial FROM pragma_index_list('messages') \
             WHERE name = 'messages_client_id'",
        )
        .fetch_one(&sqlite.reads)
        .await
        .unwrap();
        assert_eq!(partial, (1, 1), "unique and partial");
    }

    /// A conversation's messages as its one-row read gives them: each dialect's booleans
    /// and times, nulls, and the order checked rather than assumed.
    #[test]
    fn messages_are_read_from_their_json() {
        let json = r#"[
            ["b", "assistant", "Hi.", "claude-sonnet-4-5", 1, 12, 3,
             "2026-12-07T02:15:12.5+00:00", "byok", "a", "2026-12-07 02:15:13", null],
            ["a", "user", "Hello \"there\"\n", null, false, null, null,
             "2026-12-07T02:15:12.123456789+00:00", null, null,
             "2026-12-07T03:15:12.123456789+01:00", "c-1"],
            ["c", "user", "Again", null, 0, null, null,
             "2026-12-07T02:15:12.5Z", null, "b", "2026-12-07T02:15:12.5Z", null]
        ]"#;
        let rows = messages_from_json(json).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"], "oldest first, then by id");
        let (a, b) = (&rows[0], &rows[1]);
        assert_eq!(a.content, "Hello \"there\"\n");
        assert!(!a.incomplete && b.incomplete && !rows[2].incomplete);
        assert_eq!(
            (a.model.as_deref(), a.input_tokens, a.parent_id.as_deref()),
            (None, None, None)
        );
        assert_eq!(a.client_message_id.as_deref(), Some("c-1"));
        assert_eq!(
            a.selected_at, a.created_at,
            "an offset is taken into account"
        );
        assert_eq!(
            a.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2026-12-07T02:15:12.123456789Z"
        );
        assert_eq!((b.input_tokens, b.output_tokens), (Some(12), Some(3)));
        assert_eq!(b.payer.as_deref(), Some("byok"));
        assert_eq!(
            b.selected_at.to_rfc3339(),
            "2026-12-07T02:15:13+00:00",
            "no offset: UTC"
        );
        assert!(messages_from_json("[]").unwrap().is_empty());
        let postgres_true = r#"[["d","assistant","x",null,true,null,null,
            "2026-12-07T02:15:12Z",null,null,"2026-12-07T02:15:12Z",null]]"#;
        assert!(messages_from_json(postgres_true).unwrap()[0].incomplete);
        for bad in [
            r#"[["a","user","x",null,0,null,null,"yesterday",null,null,"2026-12-07T02:15:12Z",null]]"#,
            r#"[["a","user","x",null,"no",null,null,"2026-12-07T02:15:12Z",null,null,"2026-12-07T02:15:12Z",null]]"#,
            r#"[["a","user"]]"#,
            "not json",
        ] {
            assert!(
                matches!(messages_from_json(bad), Err(sqlx::Error::Decode(_))),
                "{bad}"
            );
        }
    }

    /// The app's SQLite reads borrow connections that cannot write, the warmest first, one
    /// per turn; a read that did not finish never hands its connection to the next.
    #[tokio::test]
    async fn readers_lend_the_last_connection_given_back_and_only_a_finished_one() {
        let (_dir, db) = migrated_sqlite().await;
        let Db::Sqlite(sqlite) = &db else {
            unreachable!("a SQLite URL")
        };
        let readers = Readers::new(sqlite.reads.connect_options().as_ref().clone(), 2);
        let cache_size = |n: i64| format!("PRAGMA cache_size = {n}");
        async fn tag(conn: &mut SqliteConnection) -> i64 {
            sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(conn)
                .await
                .unwrap()
        }

        // Two connections, tagged, given back in turn: the last one back is lent first.
        let (mut a, mut b) = (readers.lend().await.unwrap(), readers.lend().await.unwrap());
        sqlx::query(&cache_size(-111))
            .execute(&mut *a)
            .await
            .unwrap();
        sqlx::query(&cache_size(-222))
            .execute(&mut *b)
            .await
            .unwrap();
        // No third turn while two are lent.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), readers.lend())
                .await
                .is_err()
        );
        let write = sqlx::query("UPDATE users SET email = email")
            .execute(&mut *a)
            .await;
        assert!(write.is_err(), "a reader cannot write");
        a.give_back();
        b.give_back();
        let mut c = readers.lend().await.unwrap();
        assert_eq!(tag(&mut c).await, -222);
        c.give_back();

        // Dropped without being given back (a read abandoned half-way): never lent again.
        drop(readers.lend().await.unwrap());
        let mut d = readers.lend().await.unwrap();
        assert_eq!(tag(&mut d).await, -111);
        let mut e = readers.lend().await.unwrap();
        assert_ne!(tag(&mut e).await, -222, "a new connection");
        d.give_back();
        e.give_back();

        readers.close();
        assert!(matches!(readers.lend().await, Err(sqlx::Error::PoolClosed)));
    }
}
