//! Throttling: fixed-window counters by key, and a cap on concurrent password hashes.
//!
//! On PostgreSQL the counters live in the database (`rate_limits`, with expiry), so every
//! instance sees the same counts and a restart forgets nothing. On the single-instance SQLite
//! default they live in memory, in a map of bounded size. Keys are hashed before they are
//! stored, so an attacker's megabyte-long "email" costs 16 bytes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{db::Db, internal};
use crate::error::AppError;

/// At most `max` hits per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
        }
    }

    pub fn per_hour(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(3600),
        }
    }
}

/// How many distinct keys the in-memory store keeps at most.
pub const MEMORY_CAPACITY: usize = 100_000;

/// Where the counters live.
pub enum Limiter {
    Memory(MemoryCounters),
    Database(Db),
}

impl Limiter {
    /// Counters shared through PostgreSQL, or kept in this process for SQLite.
    pub fn for_database(db: &Db) -> Self {
        match db {
            Db::Postgres(_) => Self::Database(db.clone()),
            Db::Sqlite(_) => Self::Memory(MemoryCounters::new(MEMORY_CAPACITY)),
        }
    }

    /// Counts a hit on `key`; `rate_limited` (with the time until the window ends) when the
    /// key had already used up its window.
    pub async fn hit(&self, key: &str, limit: Limit) -> Result<(), AppError> {
        let count = self.count(key, limit).await?;
        match count {
            (hits, reset_in) if hits > limit.max => Err(AppError::rate_limited(reset_in)),
            _ => Ok(()),
        }
    }

    /// `rate_limited` when `key` has used up its window, without counting a hit.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<(), AppError> {
        let digest = digest(key);
        let state = match self {
            Self::Memory(m) => m.peek(&digest),
            Self::Database(db) => db
                .peek_rate_limit(&hex(&digest), now_millis())
                .await
                .map_err(|e| internal("reading a rate limit", e))?
                .map(|(hits, reset_in_ms)| (hits, millis(reset_in_ms))),
        };
        match state {
            Some((hits, reset_in)) if hits >= limit.max => Err(AppError::rate_limited(reset_in)),
            _ => Ok(()),
        }
    }

    /// Forgets `key` (a correct password clears the failures that address had on it).
    pub async fn clear(&self, key: &str) -> Result<(), AppError> {
        let digest = digest(key);
        match self {
            Self::Memory(m) => m.clear(&digest),
            Self::Database(db) => db
                .clear_rate_limit(&hex(&digest))
                .await
                .map_err(|e| internal("clearing a rate limit", e))?,
        }
        Ok(())
    }

    /// Drops windows that have ended (the database store; memory prunes itself).
    pub async fn purge_expired(&self) {
        if let Self::Database(db) = self {
            if let Err(e) = db.purge_rate_limits(now_millis()).await {
                internal("purging old rate limits", e);
            }
        }
    }

    async fn count(&self, key: &str, limit: Limit) -> Result<(u32, Duration), AppError> {
        let digest = digest(key);
        match self {
            Self::Memory(m) => Ok(m.hit(&digest, limit.window)),
            Self::Database(db) => {
                let now = now_millis();
                let window = i64::try_from(limit.window.as_millis()).unwrap_or(i64::MAX);
                let (hits, reset_at) = db
                    .hit_rate_limit(&hex(&digest), now, now.saturating_add(window))
                    .await
                    .map_err(|e| internal("counting a rate limit", e))?;
                Ok((hits, millis(reset_at - now)))
            }
        }
    }
}

fn digest(key: &str) -> [u8; 16] {
    let full = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Fixed windows in this process's memory, never more than `capacity` keys.
pub struct MemoryCounters {
    capacity: usize,
    windows: Mutex<HashMap<[u8; 16], Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    hits: u32,
    ends: Instant,
}

impl MemoryCounters {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hit(&self, key: &[u8; 16], window: Duration) -> (u32, Duration) {
        let now = Instant::now();
        let mut windows = self.lock();
        if !windows.contains_key(key) && windows.len() >= self.capacity {
            windows.retain(|_, w| w.ends > now);
            if windows.len() >= self.capacity {
                // Still full of live windows: drop the one closest to its end.
                if let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.ends).map(|(k, _)| *k) {
                    windows.remove(&oldest);
                }
            }
        }
        let entry = windows.entry(*key).or_insert(Window {
            hits: 0,
            ends: now + window,
        });
        if entry.ends <= now {
            *entry = Window {
                hits: 0,
                ends: now + window,
            };
        }
        entry.hits = entry.hits.saturating_add(1);
        (entry.hits, entry.ends - now)
    }

    fn peek(&self, key: &[u8; 16]) -> Option<(u32, Duration)> {
        let now = Instant::now();
        self.lock()
            .get(key)
            .filter(|w| w.ends > now)
            .map(|w| (w.hits, w.ends - now))
    }

    fn clear(&self, key: &[u8; 16]) {
        self.lock().remove(key);
    }
}

/// Caps how many argon2 hashes (19 MiB each) run at once, with a bounded queue behind them:
/// a flood of logins or registrations costs bounded memory and gets `rate_limited` with a
/// `Retry-After` instead of piling up.
///
/// The hashes run on the gate's own threads, one per slot, not on tokio's blocking pool:
/// the allocator keeps a freed 19 MiB block in the arena of the thread that used it, so
/// hashing on whichever of hundreds of pool threads is free grows the process by 19 MiB per
/// thread ever used (measured: 800 MiB in a flood), while a fixed set of threads reuses theirs.
pub struct HashGate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// What a request that found the queue full is told to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

impl HashGate {
    /// `concurrency` hashes at once (0: one per CPU), `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..concurrency {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        // The gate is gone.
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                internal("starting a password-hashing thread", e);
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue,
            jobs,
        }
    }

    /// Runs `work` on a hashing thread once a slot is free, or refuses at once when the
    /// queue is full. The slot is held until `work` ends, even if the caller goes away.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, AppError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
                let _place = Queued(&self.waiting);
                if queued >= self.queue {
                    tracing::warn!("password hashing is saturated; refusing a request");
                    return Err(AppError::rate_limited(BUSY_RETRY_AFTER));
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| internal("waiting for a hashing slot", e))?
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            drop(permit);
            let _ = done.send(outcome);
        });
        if self.jobs.send(job).is_err() {
            tracing::error!("no password-hashing thread is running");
            return Err(AppError::Internal);
        }
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_panic)) => {
                tracing::error!("a password hash panicked");
                Err(AppError::Internal)
            }
            Err(e) => Err(internal("waiting for a password hash", e)),
        }
    }
}

/// Leaves the queue when the waiting request is done or dropped.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_counts_hits_per_key_within_a_window() {
        let m = MemoryCounters::new(10);
        let a = digest("a");
        assert_eq!(m.hit(&a, Duration::from_secs(60)).0, 1);
        assert_eq!(m.hit(&a, Duration::from_secs(60)).0, 2);
        assert_eq!(m.hit(&digest("b"), Duration::from_secs(60)).0, 1);
        assert_eq!(m.peek(&a).map(|p| p.0), Some(2));
        m.clear(&a);
        assert_eq!(m.peek(&a), None);
    }

    #[test]
    fn memory_windows_end() {
        let m = MemoryCounters::new(10);
        let a = digest("a");
        m.hit(&a, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(m.peek(&a), None);
        assert_eq!(m.hit(&a, Duration::from_millis(20)).0, 1);
    }

    #[test]
    fn memory_never_holds_more_than_its_capacity() {
        let m = MemoryCounters::new(100);
        for i in 0..10_000 {
            m.hit(&digest(&i.to_string()), Duration::from_secs(60));
        }
        assert_eq!(m.len(), 100);
        // The newest key is always counted.
        assert_eq!(m.peek(&digest("9999")).map(|p| p.0), Some(1));
    }

    #[tokio::test]
    async fn a_memory_limiter_refuses_past_the_limit_with_the_time_left() {
        let limiter = Limiter::Memory(MemoryCounters::new(10));
        let limit = Limit::per_minute(2);
        limiter.hit("k", limit).await.unwrap();
        limiter.check("k", limit).await.unwrap();
        limiter.hit("k", limit).await.unwrap();
        let Err(AppError::RateLimited { retry_after_secs }) = limiter.check("k", limit).await
        else {
            panic!("the third check is refused")
        };
        assert!((1..=60).contains(&retry_after_secs));
        assert!(limiter.hit("k", limit).await.is_err());
        assert!(limiter.hit("other", limit).await.is_ok());
    }

    #[tokio::test]
    async fn the_hash_gate_refuses_beyond_its_queue_and_runs_the_rest() {
        let gate = Arc::new(HashGate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let running = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move || hold.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = gate.run(|| 0).await;
        assert!(matches!(refused, Err(AppError::RateLimited { .. })));
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }
}
