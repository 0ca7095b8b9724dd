//! The usage ledger read for money (a month per model and payer, the answers of one
//! conversation) and the spending cap in `users.settings.limits`.

use chrono::{DateTime, Utc};

use super::{Db, DbError};

/// One model's and payer's token totals over a period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerSums {
    pub model: String,
    pub payer: String,
    pub answers: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
}

/// One answer's ledger row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerRow {
    pub message_id: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
}

struct CapSql {
    set: &'static str,
    remove: &'static str,
}

const SQLITE_CAP: CapSql = CapSql {
    set: "UPDATE users SET settings = json_set(settings, '$.limits', \
              json_patch(COALESCE(json_extract(settings, '$.limits'), '{}'), json_object('monthly_usd', $1))), \
          updated_at = $2 WHERE id = $3",
    remove: "UPDATE users SET settings = json_remove(settings, '$.limits.monthly_usd'), updated_at = $1 WHERE id = $2",
};

const POSTGRES_CAP: CapSql = CapSql {
    set: "UPDATE users SET settings = jsonb_set(settings, '{limits}', \
              COALESCE(settings->'limits', '{}'::jsonb) || jsonb_build_object('monthly_usd', $1::float8)), \
          updated_at = $2 WHERE id = $3",
    remove: "UPDATE users SET settings = settings #- '{limits,monthly_usd}', updated_at = $1 WHERE id = $2",
};

impl Db {
    /// A user's ledger in `[start, end)`, summed per model and payer.
    pub async fn ledger_between(
        &self,
        user_id: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<LedgerSums>, DbError> {
        let sql = "SELECT model, payer, CAST(COUNT(*) AS BIGINT) AS answers, \
                   CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
                   CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
                   CAST(COALESCE(SUM(cache_creation_input_tokens), 0) AS BIGINT) AS cache_creation_input_tokens, \
                   CAST(COALESCE(SUM(cache_read_input_tokens), 0) AS BIGINT) AS cache_read_input_tokens \
                   FROM usage_ledger WHERE user_id = $1 AND created_at >= $2 AND created_at < $3 \
                   GROUP BY model, payer ORDER BY model, payer";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, LedgerSums>(sql)
            .bind(user_id).bind(start).bind(end).fetch_all(pool).await)?)
    }

    /// The ledger rows of one conversation's answers (its owner already checked).
    pub async fn ledger_of_conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<LedgerRow>, DbError> {
        let sql = "SELECT l.message_id, l.model, l.input_tokens, l.output_tokens, \
                   l.cache_creation_input_tokens, l.cache_read_input_tokens \
                   FROM usage_ledger l JOIN messages m ON m.id = l.message_id \
                   WHERE m.conversation_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, LedgerRow>(sql)
            .bind(conversation_id).fetch_all(pool).await)?)
    }

    /// Sets (or, with `None`, removes) `settings.limits.monthly_usd`, leaving every other
    /// field untouched.
    pub async fn set_spend_cap(
        &self,
        user_id: i64,
        monthly_usd: Option<f64>,
    ) -> Result<(), DbError> {
        let sql = match self {
            Self::Sqlite(_) => &SQLITE_CAP,
            Self::Postgres(_) => &POSTGRES_CAP,
        };
        let now = Utc::now();
        on_writer!(self, conn => match monthly_usd {
            Some(usd) => sqlx::query(sql.set).bind(usd).bind(now).bind(user_id).execute(conn).await.map(|_| ()),
            None => sqlx::query(sql.remove).bind(now).bind(user_id).execute(conn).await.map(|_| ()),
        })?;
        Ok(())
    }
}
