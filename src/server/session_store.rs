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
    db::{Db, Readers, Sqlite},
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
    Sqlite(Sqlite, Arc<Readers>),
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

impl AppSessionStore {
    /// Builds the store on the app's database. On PostgreSQL it creates its table
    /// (tower-sessions' own `create table if not exists`); SQLite's migration 0009 made it,
    /// with its `user_id` column.
    pub async fn new(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(sqlite) => Self::Sqlite(
                sqlite.clone(),
                // The readers' options: these connections cannot write either.
                Arc::new(Readers::new(
                    sqlite.reads.connect_options().as_ref().clone(),
                    READERS,
                )),
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
            Self::Sqlite(_, readers) => {
                let mut conn = readers.lend().await.map_err(backend)?;
                let row = sqlx::query_as(
                    "SELECT s.data, s.expiry_date, s.user_id, u.session_generation, u.settings \
                     FROM tower_sessions s LEFT JOIN users u ON u.id = s.user_id \
                     WHERE s.id = ?1 AND s.expiry_date > ?2",
                )
                .bind(id.to_string())
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
                conn.give_back();
                row
            }
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
        let Some((data, expiry_date, column_user_id, generation, settings)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredSession {
            record: decode(&data)?,
            expiry_date,
            column_user_id,
            user: generation.zip(settings).map(|(g, Json(s))| (g, s)),
        }))
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
