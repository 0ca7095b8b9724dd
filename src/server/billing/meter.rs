//! Reports platform-paid usage to Stripe's Billing Meters, exactly once per answer.
//!
//! The chat writes an outbox row in the same transaction as the answer; this worker (one
//! per instance) claims due rows with a lease, sends each as a meter event whose
//! `identifier` and `Idempotency-Key` are the answer's message id, and marks it reported
//! only once Stripe accepted it. Stripe errors and outages are retried with exponential
//! backoff; a worker killed mid-way leaves its lease to run out and another takes over, and
//! the identifier makes Stripe count a resent event once.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use rand::Rng as _;
use tokio::{sync::watch, task::JoinHandle};

use super::{stripe::MeterEvent, Billing};
use crate::server::db::{billing::MeterClaim, Db};

/// Reports claimed per round.
const BATCH: i64 = 20;

/// A running worker; [`MeterWorker::stop`] ends it after the report in flight.
pub struct MeterWorker {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl MeterWorker {
    pub fn spawn(db: Db, billing: Arc<Billing>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let id = format!("meter-{}", uuid::Uuid::new_v4());
        let handle = tokio::spawn(run(db, billing, id, stopped));
        Self { stop, handle }
    }

    /// Asks the worker to stop and waits for it (at most `grace`).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, self.handle).await.is_err() {
            tracing::warn!("the meter worker did not stop in time; its claims will expire");
        }
    }
}

/// How long to wait before the `attempts`-th retry: doubling from one second up to
/// `max`, with a fifth of jitter so several instances do not retry in step.
pub fn backoff(attempts: i32, max: Duration) -> Duration {
    let base = Duration::from_secs(1).min(max);
    let doubled = base.saturating_mul(1u32 << attempts.clamp(1, 20).saturating_sub(1) as u32);
    let capped = doubled.min(max);
    let jitter = rand::thread_rng().gen_range(0.8..=1.0);
    capped.mul_f64(jitter)
}

async fn run(db: Db, billing: Arc<Billing>, id: String, mut stopped: watch::Receiver<bool>) {
    tracing::info!(worker = %id, "meter worker started");
    loop {
        if *stopped.borrow() {
            break;
        }
        let handled = match round(&db, &billing, &id, &stopped).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "meter worker could not read the outbox");
                0
            }
        };
        if handled as i64 >= BATCH {
            continue;
        }
        tokio::select! {
            _ = stopped.changed() => {}
            () = billing.meter_wake.notified() => {}
            () = tokio::time::sleep(billing.settings.meter_poll) => {}
        }
    }
    tracing::info!(worker = %id, "meter worker stopped");
}

/// Claims due reports and sends each; returns how many were claimed.
async fn round(
    db: &Db,
    billing: &Billing,
    worker: &str,
    stopped: &watch::Receiver<bool>,
) -> Result<usize, crate::server::db::DbError> {
    let now = Utc::now();
    let lease = chrono::Duration::from_std(billing.settings.meter_lease)
        .unwrap_or_else(|_| chrono::Duration::seconds(60));
    let claims = db
        .claim_meter_reports(worker, now, now + lease, BATCH)
        .await?;
    let count = claims.len();
    for claim in claims {
        if *stopped.borrow() {
            // Unsent claims run out and are taken again after a restart.
            break;
        }
        report(db, billing, worker, &claim).await?;
    }
    Ok(count)
}

async fn report(
    db: &Db,
    billing: &Billing,
    worker: &str,
    claim: &MeterClaim,
) -> Result<(), crate::server::db::DbError> {
    let event = MeterEvent {
        event_name: &billing.settings.meter_event,
        customer: &claim.stripe_customer_id,
        value: claim.value,
        identifier: &claim.message_id,
        timestamp: claim.occurred_at.timestamp(),
    };
    match billing.stripe.create_meter_event(&event).await {
        Ok(()) => {
            db.mark_meter_reported(&claim.message_id).await?;
            tracing::info!(message_id = %claim.message_id, value = claim.value, "usage reported to Stripe");
        }
        Err(failure) if failure.is_final() => {
            tracing::error!(
                message_id = %claim.message_id,
                detail = %failure.detail,
                "Stripe refused a usage report for good; it stays in the outbox, marked failed"
            );
            db.fail_meter_report(&claim.message_id, &failure.detail)
                .await?;
        }
        Err(failure) => {
            let wait = backoff(claim.attempts, billing.settings.meter_backoff_max);
            let next = Utc::now()
                + chrono::Duration::from_std(wait)
                    .unwrap_or_else(|_| chrono::Duration::seconds(60));
            tracing::warn!(
                message_id = %claim.message_id,
                attempts = claim.attempts,
                detail = %failure.detail,
                retry_in_ms = wait.as_millis() as u64,
                "usage report not accepted yet; will retry"
            );
            db.reschedule_meter_report(&claim.message_id, worker, next, &failure.detail)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_some_jitter() {
        let max = Duration::from_secs(300);
        let first = backoff(1, max);
        assert!(first <= Duration::from_secs(1) && first >= Duration::from_millis(800));
        let fourth = backoff(4, max);
        assert!(fourth <= Duration::from_secs(8) && fourth >= Duration::from_millis(6400));
        assert!(backoff(30, max) <= max);
        assert!(backoff(3, Duration::from_millis(50)) <= Duration::from_millis(50));
    }
}
