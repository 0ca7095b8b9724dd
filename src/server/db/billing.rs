//! Billing's SQL: the subscription block of `users.settings`, the Stripe events already
//! handled, the usage ledger and the meter-report outbox.
//!
//! Subscription writes merge their fields into `settings.subscription` in one `UPDATE`,
//! like the key's writes, so they never lose another write's fields. A webhook's effect and
//! its event id commit together: a repeated event finds its id and changes nothing.

use super::{
    classify, drafts::DELETE_DRAFT, Db, DbError, FirstWords, NewMessage, WriteBatch,
    TOUCH_CONVERSATION,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

pub use crate::types::chat::Payer;

/// One answer's usage, for the ledger.
#[derive(Debug, Clone)]
pub struct LedgerEntry<'a> {
    pub message_id: &'a str,
    pub user_id: i64,
    pub model: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub payer: Payer,
}

impl LedgerEntry<'_> {
    /// Every token the answer was billed for, as reported to the meter.
    pub fn billed_tokens(&self) -> i64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }
}

/// A Stripe webhook event, as recorded once it took effect.
#[derive(Debug, Clone)]
pub struct EventRecord<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    /// Stripe's `created`, Unix seconds.
    pub created: i64,
    pub subscription_id: Option<&'a str>,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Recorded, and its change (if any) applied.
    Applied,
    /// This id was handled before: nothing changed.
    Duplicate,
    /// Recorded, but an event created later for the same subscription was applied
    /// already, so this one's change was left out.
    Stale,
}

/// Per-user token totals of one model, from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerTotals {
    pub model: String,
    pub answers: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub platform_tokens: i64,
}

/// A claimed outbox row: one platform-paid answer to report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MeterClaim {
    pub message_id: String,
    pub user_id: i64,
    pub stripe_customer_id: String,
    pub value: i64,
    pub occurred_at: DateTime<Utc>,
    pub attempts: i32,
}

/// How many outbox rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub reported: i64,
    pub failed: i64,
}

struct BillingSql {
    merge_subscription: &'static str,
    set_customer_if_absent: &'static str,
    user_by_customer: &'static str,
    claim: &'static str,
}

const SQLITE_SQL: BillingSql = BillingSql {
    merge_subscription: "UPDATE users SET settings = json_set(settings, '$.subscription', \
                             json_patch(COALESCE(json_extract(settings, '$.subscription'), '{}'), json($1))), \
                         updated_at = $2 WHERE id = $3",
    set_customer_if_absent: "UPDATE users SET settings = json_set(settings, '$.subscription', \
                                 json_patch(COALESCE(json_extract(settings, '$.subscription'), '{}'), \
                                            json_object('stripe_customer_id', $1))), \
                             updated_at = $2 \
                             WHERE id = $3 AND json_extract(settings, '$.subscription.stripe_customer_id') IS NULL",
    user_by_customer: "SELECT id FROM users \
                       WHERE json_extract(settings, '$.subscription.stripe_customer_id') = $1 ORDER BY id LIMIT 1",
    // SQLite has one writer at a time: the statement claims atomically.
    claim: "UPDATE meter_outbox SET claimed_until = $1, claimed_by = $2, attempts = attempts + 1 \
            WHERE message_id IN (SELECT message_id FROM meter_outbox \
                WHERE reported_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
                  AND (claimed_until IS NULL OR claimed_until < $3) \
                ORDER BY next_attempt_at LIMIT $4) \
            RETURNING message_id, user_id, stripe_customer_id, value, occurred_at, attempts",
};

const POSTGRES_SQL: BillingSql = BillingSql {
    merge_subscription: "UPDATE users SET settings = jsonb_set(settings, '{subscription}', \
                             COALESCE(settings->'subscription', '{}'::jsonb) || $1::jsonb), \
                         updated_at = $2 WHERE id = $3",
    set_customer_if_absent: "UPDATE users SET settings = jsonb_set(settings, '{subscription}', \
                                 COALESCE(settings->'subscription', '{}'::jsonb) \
                                 || jsonb_build_object('stripe_customer_id', $1::text)), \
                             updated_at = $2 \
                             WHERE id = $3 AND settings #>> '{subscription,stripe_customer_id}' IS NULL",
    user_by_customer: "SELECT id FROM users \
                       WHERE settings #>> '{subscription,stripe_customer_id}' = $1 ORDER BY id LIMIT 1",
    // Rows another instance is claiming right now are skipped, not waited for.
    claim: "UPDATE meter_outbox SET claimed_until = $1, claimed_by = $2, attempts = attempts + 1 \
            WHERE message_id IN (SELECT message_id FROM meter_outbox \
                WHERE reported_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
                  AND (claimed_until IS NULL OR claimed_until < $3) \
                ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
            RETURNING message_id, user_id, stripe_customer_id, value, occurred_at, attempts",
};

const INSERT_LEDGER: &str =
    "INSERT INTO usage_ledger (message_id, user_id, model, input_tokens, output_tokens, \
     cache_creation_input_tokens, cache_read_input_tokens, payer, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const INSERT_OUTBOX: &str =
    "INSERT INTO meter_outbox (message_id, user_id, stripe_customer_id, value, occurred_at, \
     next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)";

impl Db {
    fn billing_sql(&self) -> &'static BillingSql {
        match self {
            Self::Sqlite(_) => &SQLITE_SQL,
            Self::Postgres(_) => &POSTGRES_SQL,
        }
    }

    /// Stores the user's Stripe customer unless one is stored already; false when one was.
    pub async fn set_stripe_customer_if_absent(
        &self,
        user_id: i64,
        customer_id: &str,
    ) -> Result<bool, DbError> {
        let sql = self.billing_sql().set_customer_if_absent;
        let done = on_writer!(self, conn => sqlx::query(sql).bind(customer_id).bind(Utc::now()).bind(user_id)
            .execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The user whose `settings.subscription.stripe_customer_id` is `customer_id`.
    pub async fn user_by_stripe_customer(&self, customer_id: &str) -> Result<Option<i64>, DbError> {
        let sql = self.billing_sql().user_by_customer;
        let row: Option<(i64,)> = on_pool!(self, pool =>
            sqlx::query_as(sql).bind(customer_id).fetch_optional(pool).await)?;
        Ok(row.map(|(id,)| id))
    }

    /// Records a webhook event and, in the same transaction, merges `patch` into the
    /// user's `settings.subscription`: only if the id is new, and only if no event created
    /// later for the same subscription was applied before.
    pub async fn apply_stripe_event(
        &self,
        event: &EventRecord<'_>,
        change: Option<(i64, &Value)>,
    ) -> Result<EventOutcome, DbError> {
        let merge = self.billing_sql().merge_subscription;
        let now = Utc::now();
        on_writer!(self, conn => {
            let mut tx = super::begin_write(conn).await?;
            let inserted = sqlx::query(
                "INSERT INTO stripe_events (id, type, created, subscription_id, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
                .bind(event.id).bind(event.kind).bind(event.created).bind(event.subscription_id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Ok(EventOutcome::Duplicate);
            }
            let Some((user_id, patch)) = change else {
                tx.commit().await?;
                return Ok(EventOutcome::Applied);
            };
            // Lock the user's row first, so events for one user apply one at a time and
            // each sees what the one before it committed.
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            let newer: (i64,) = sqlx::query_as(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM stripe_events \
                 WHERE subscription_id = $1 AND created > $2 AND id <> $3")
                .bind(event.subscription_id).bind(event.created).bind(event.id)
                .fetch_one(&mut *tx).await?;
            if newer.0 > 0 {
                tx.commit().await?;
                return Ok(EventOutcome::Stale);
            }
            sqlx::query(merge).bind(patch.to_string()).bind(now).bind(user_id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(EventOutcome::Applied)
        })
    }

    /// True when this event id took effect before.
    pub async fn stripe_event_seen(&self, id: &str) -> Result<bool, DbError> {
        let row: Option<(String,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT id FROM stripe_events WHERE id = $1").bind(id).fetch_optional(pool).await)?;
        Ok(row.is_some())
    }

    /// Records one answer's usage (and, when the platform paid, its meter report) without
    /// a message: an answer cut off before its first words, whose prompt Anthropic billed.
    /// An answer with words is stored with [`Db::insert_answer`], which does all in one go.
    /// Its draft goes in the same transaction (`drafted`), and all is dated `at` (`None`:
    /// now), as there.
    pub async fn record_usage(
        &self,
        entry: &LedgerEntry<'_>,
        stripe_customer_id: Option<&str>,
        drafted: bool,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        self.store_usage(None, entry, stripe_customer_id, None, drafted, at)
            .await
    }

    /// Stores an answer, its ledger row and (when the platform paid) its meter report in
    /// one transaction: an answer is never billed without being stored, nor stored without
    /// being counted. What its first words left to record (`first_words`) commits with it,
    /// and so does the removal of its draft, when one was saved (`drafted`; see
    /// [`Db::save_draft`]). An answer stored before under the same id (from its draft) is a
    /// `UniqueViolation`, and nothing of this is kept. All of it is dated `at` (`None`: now).
    pub async fn insert_answer(
        &self,
        message: &NewMessage<'_>,
        entry: &LedgerEntry<'_>,
        stripe_customer_id: Option<&str>,
        first_words: Option<&FirstWords<'_>>,
        drafted: bool,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        self.store_usage(
            Some(message),
            entry,
            stripe_customer_id,
            first_words,
            drafted,
            at,
        )
        .await
    }

    /// The answer (when given) with its first words' records, its ledger row and its meter
    /// report, in one transaction.
    async fn store_usage(
        &self,
        message: Option<&NewMessage<'_>>,
        entry: &LedgerEntry<'_>,
        stripe_customer_id: Option<&str>,
        first_words: Option<&FirstWords<'_>>,
        drafted: bool,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        let now = at.unwrap_or_else(Utc::now);
        let mut batch = self.write_batch();
        if let Some(m) = message {
            batch = self.with_message(batch, m, entry.user_id, first_words, now);
        }
        batch = batch
            .statement(INSERT_LEDGER)
            .bind(entry.message_id)
            .bind(entry.user_id)
            .bind(entry.model)
            .bind(entry.input_tokens)
            .bind(entry.output_tokens)
            .bind(entry.cache_creation_input_tokens)
            .bind(entry.cache_read_input_tokens)
            .bind(entry.payer.as_str())
            .bind(now);
        if let (Payer::Platform, Some(customer)) = (entry.payer, stripe_customer_id) {
            batch = batch
                .statement(INSERT_OUTBOX)
                .bind(entry.message_id)
                .bind(entry.user_id)
                .bind(customer)
                .bind(entry.billed_tokens())
                .bind(now);
        }
        if drafted {
            batch = batch.statement(DELETE_DRAFT).bind(entry.message_id);
        }
        batch.commit().await.map_err(classify)?;
        Ok(())
    }

    /// Stores an answer whose usage was counted before under its id, from a draft saved
    /// before its first words (see `server::drafts`), with what its first words left to
    /// record, and removes its draft, in one transaction: its words, not its usage again.
    /// A message stored before under the id (from a draft with words) is a
    /// `UniqueViolation`, and nothing of this is kept.
    pub async fn insert_counted_answer(
        &self,
        message: &NewMessage<'_>,
        user_id: i64,
        first_words: Option<&FirstWords<'_>>,
    ) -> Result<(), DbError> {
        let batch = self.write_batch();
        let batch = self.with_message(batch, message, user_id, first_words, Utc::now());
        batch
            .statement(DELETE_DRAFT)
            .bind(message.id)
            .commit()
            .await
            .map_err(classify)
    }

    /// `batch` with a message stored, and what its first words left to record.
    fn with_message<'q>(
        &self,
        mut batch: WriteBatch<'q>,
        m: &NewMessage<'q>,
        user_id: i64,
        first_words: Option<&FirstWords<'q>>,
        now: DateTime<Utc>,
    ) -> WriteBatch<'q> {
        batch = batch.insert_message(m, now);
        if let Some(words) = first_words {
            let last_used = self.key_sql().set_last_used;
            // Only while the key used is still the stored one (see
            // `Db::mark_key_used`), so a key removed meanwhile is not resurrected.
            if let Some(token) = words.own_key {
                batch = batch
                    .statement(last_used)
                    .bind(words.at.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .bind(user_id)
                    .bind(token);
            }
            if words.touch {
                batch = batch
                    .statement(TOUCH_CONVERSATION)
                    .bind(m.model)
                    .bind(words.at)
                    .bind(m.conversation_id);
            }
        }
        batch
    }

    /// Token totals per model of a user's answers since `since`, from the ledger.
    pub async fn ledger_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<LedgerTotals>, DbError> {
        let sql = "SELECT model, CAST(COUNT(*) AS BIGINT) AS answers, \
                   CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
                   CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
                   CAST(COALESCE(SUM(cache_creation_input_tokens), 0) AS BIGINT) AS cache_creation_input_tokens, \
                   CAST(COALESCE(SUM(cache_read_input_tokens), 0) AS BIGINT) AS cache_read_input_tokens, \
                   CAST(COALESCE(SUM(CASE WHEN payer = 'platform' THEN input_tokens + output_tokens \
                        + cache_creation_input_tokens + cache_read_input_tokens ELSE 0 END), 0) AS BIGINT) \
                        AS platform_tokens \
                   FROM usage_ledger WHERE user_id = $1 AND created_at >= $2 GROUP BY model ORDER BY model";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, LedgerTotals>(sql)
            .bind(user_id).bind(since).fetch_all(pool).await)?,
        )
    }

    /// Who paid for one answer, from the ledger.
    pub async fn payer_of(&self, message_id: &str) -> Result<Option<String>, DbError> {
        let row: Option<(String,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT payer FROM usage_ledger WHERE message_id = $1")
                .bind(message_id).fetch_optional(pool).await)?;
        Ok(row.map(|(p,)| p))
    }

    /// Claims up to `limit` due reports for `worker` until `lease_until`.
    pub async fn claim_meter_reports(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<MeterClaim>, DbError> {
        let sql = self.billing_sql().claim;
        Ok(
            on_writer!(self, conn => sqlx::query_as::<_, MeterClaim>(sql)
            .bind(lease_until).bind(worker).bind(now).bind(limit).fetch_all(conn).await)?,
        )
    }

    /// Stripe accepted the report: it is never sent again.
    pub async fn mark_meter_reported(&self, message_id: &str) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query(
            "UPDATE meter_outbox SET reported_at = $1, claimed_until = NULL, last_error = NULL \
             WHERE message_id = $2")
            .bind(Utc::now()).bind(message_id).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    /// Stripe could not take the report now: release the claim and try again at `next`.
    pub async fn reschedule_meter_report(
        &self,
        message_id: &str,
        worker: &str,
        next: DateTime<Utc>,
        error: &str,
    ) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query(
            "UPDATE meter_outbox SET next_attempt_at = $1, claimed_until = NULL, claimed_by = NULL, \
             last_error = $2 WHERE message_id = $3 AND claimed_by = $4 AND reported_at IS NULL")
            .bind(next).bind(error).bind(message_id).bind(worker).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    /// Stripe refused the report for good: keep it, never send it again.
    pub async fn fail_meter_report(&self, message_id: &str, error: &str) -> Result<(), DbError> {
        on_writer!(self, conn => sqlx::query(
            "UPDATE meter_outbox SET failed_at = $1, claimed_until = NULL, last_error = $2 \
             WHERE message_id = $3 AND reported_at IS NULL")
            .bind(Utc::now()).bind(error).bind(message_id).execute(conn).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn meter_outbox_counts(&self) -> Result<OutboxCounts, DbError> {
        let row: (i64, i64, i64) = on_pool!(self, pool => sqlx::query_as(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN reported_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN reported_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM meter_outbox").fetch_one(pool).await)?;
        Ok(OutboxCounts {
            pending: row.0,
            reported: row.1,
            failed: row.2,
        })
    }
}
