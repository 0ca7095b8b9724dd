//! Key activity's SQL: the `key_events` log (bounded per person) and the key check's
//! write, which records `valid` and `last_checked` together.

use chrono::{DateTime, Utc};

use super::{Db, DbError};

/// One row of a person's key activity.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyEventRow {
    pub kind: String,
    pub detail: Option<String>,
    pub key_hint: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An event to record; without a hint, the stored key's hint (if any) is taken.
pub struct NewKeyEvent<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub detail: Option<&'a str>,
    pub key_hint: Option<&'a str>,
}

struct EventSql {
    insert: &'static str,
    set_checked: &'static str,
}

const SQLITE: EventSql = EventSql {
    insert: "INSERT INTO key_events (user_id, kind, detail, key_hint, created_at) \
             VALUES ($1, $2, $3, COALESCE($4, (SELECT json_extract(settings, '$.api_keys.anthropic.key_hint') \
             FROM users WHERE id = $1)), $5)",
    set_checked: "UPDATE users SET settings = json_set(settings, \
                  '$.api_keys.anthropic.valid', json($1), '$.api_keys.anthropic.last_checked', $5), \
                  updated_at = $4 WHERE id = $2 AND json_extract(settings, '$.api_keys.anthropic.encrypted_key') = $3",
};

const POSTGRES: EventSql = EventSql {
    insert: "INSERT INTO key_events (user_id, kind, detail, key_hint, created_at) \
             VALUES ($1, $2, $3, COALESCE($4::text, (SELECT settings #>> '{api_keys,anthropic,key_hint}' \
             FROM users WHERE id = $1)), $5)",
    set_checked: "UPDATE users SET settings = jsonb_set(jsonb_set(settings, \
                  '{api_keys,anthropic,valid}', $1::jsonb), '{api_keys,anthropic,last_checked}', to_jsonb($5::text)), \
                  updated_at = $4 WHERE id = $2 AND settings #>> '{api_keys,anthropic,encrypted_key}' = $3",
};

impl Db {
    fn event_sql(&self) -> &'static EventSql {
        match self {
            Self::Sqlite(_) => &SQLITE,
            Self::Postgres(_) => &POSTGRES,
        }
    }

    /// Records an event and forgets the person's events beyond the newest `keep`.
    pub async fn insert_key_event(
        &self,
        event: &NewKeyEvent<'_>,
        keep: i64,
    ) -> Result<(), DbError> {
        let sql = self.event_sql().insert;
        on_writer!(self, conn => sqlx::query(sql)
            .bind(event.user_id).bind(event.kind).bind(event.detail).bind(event.key_hint).bind(Utc::now())
            .execute(conn).await.map(|_| ()))?;
        on_writer!(self, conn => sqlx::query(
            "DELETE FROM key_events WHERE user_id = $1 AND id NOT IN \
             (SELECT id FROM key_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2)")
            .bind(event.user_id).bind(keep).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    /// The person's newest `limit` events, newest first.
    pub async fn key_events(&self, user_id: i64, limit: i64) -> Result<Vec<KeyEventRow>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, KeyEventRow>(
            "SELECT kind, detail, key_hint, created_at FROM key_events WHERE user_id = $1 \
             ORDER BY id DESC LIMIT $2")
            .bind(user_id).bind(limit).fetch_all(pool).await)?)
    }

    /// Records Anthropic's verdict on the stored key (`valid`) and when it was given
    /// (`last_checked`), only while the key checked is still the stored one.
    pub async fn set_key_checked(
        &self,
        user_id: i64,
        token: &str,
        valid: bool,
        at: &str,
    ) -> Result<bool, DbError> {
        let sql = self.event_sql().set_checked;
        let value = if valid { "true" } else { "false" };
        let done = on_writer!(self, conn => sqlx::query(sql)
            .bind(value).bind(user_id).bind(token).bind(Utc::now()).bind(at)
            .execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
