//! All SQL lives here. One binary speaks SQLite (the embedded default) and PostgreSQL
//! (for several instances); [`Db`] picks the pool by URL.
//!
//! Writes to `users.settings` change only their own fields, in one `UPDATE`, so concurrent
//! saves, removals and last-used updates never lose or resurrect each other's data.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
    types::Json,
};

/// A database pool of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool; for SQL both databases share.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

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
    pub settings: Json<Value>,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, email, password_hash, settings, created_at";

impl Db {
    /// Connects by URL; a SQLite file (and its folder) is created on first use.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(parent) = options.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// Applies the migrations of this database kind; an error stops the start.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Self::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
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
        on_pool!(self, pool => pool.close().await)
    }

    // ---- users ---------------------------------------------------------------------------

    pub async fn insert_user(
        &self,
        email: &str,
        password_hash: &str,
        settings: &Value,
    ) -> Result<UserRow, DbError> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO users (email, password_hash, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {USER_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, UserRow>(&sql)
            .bind(email)
            .bind(password_hash)
            .bind(Json(settings))
            .bind(now)
            .fetch_one(pool)
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
    pub async fn user_settings(&self, id: i64) -> Result<Option<Value>, DbError> {
        let row: Option<(Json<Value>,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT settings FROM users WHERE id = $1").bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(v),)| v))
    }
}
