//! Requests per second of `GET /api/v1/user/api-key/status` (session and settings read from
//! the database, every middleware of the app) against a bare axum route answering a constant,
//! both served by two worker threads and loaded by the same client on this machine: the
//! status route once for one person on every connection (the figure the README's goal is
//! measured by), once for a person on each.
//! Run: `cargo bench --features ssr,stub --bench status_rps`.

mod support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use support::Harness;

const CONNECTIONS: usize = 32;
const SECONDS: u64 = 5;

/// Requests per second that `CONNECTIONS` connections get from `url` in `SECONDS`, the
/// connections shared out among `clients` (each a person signed in, or not).
/// Also the process's context switches per request meanwhile (the app, its SQLite threads
/// and the client alike): the thread wake-ups that set the pace on a busy machine, and a
/// steadier measure than the rate.
async fn requests_per_second(clients: &[reqwest::Client], url: &str) -> (f64, u64, f64) {
    let switches_before = context_switches();
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let (client, url) = (clients[n % clients.len()].clone(), url.to_string());
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = match client.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if ok { &done } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let requests = done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed);
    let switches = (context_switches() - switches_before) as f64 / requests.max(1) as f64;
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        switches,
    )
}

/// Voluntary and involuntary context switches of this process so far.
fn context_switches() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage for getrusage to fill in.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_nvcsw + usage.ru_nivcsw
}

fn main() {
    let harness = Harness::start();
    let bare_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apx-bare")
        .enable_all()
        .build()
        .unwrap();
    let bare = bare_runtime.block_on(async {
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"configured": true, "valid": true}))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    });
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apx-load")
        .enable_all()
        .build()
        .unwrap();
    load.block_on(async {
        let one = [harness.user(0).await];
        let mut people = Vec::new();
        for n in 1..=CONNECTIONS {
            people.push(harness.user(n).await);
        }
        let status = format!("{}/api/v1/user/api-key/status", harness.base);
        // Warm both up (connections, caches), then measure.
        requests_per_second(&one, &status).await;
        let (app_rps, app_failed, app_switches) = requests_per_second(&one, &status).await;
        requests_per_second(&people, &status).await;
        let (people_rps, people_failed, people_switches) =
            requests_per_second(&people, &status).await;
        let (bare_rps, bare_failed, bare_switches) = requests_per_second(&one, &bare).await;
        println!("{CONNECTIONS} connections, {SECONDS} s each, 2 server threads each:");
        println!(
            "  bare axum route:                 {bare_rps:>9.0} req/s ({bare_failed} failed; \
             {bare_switches:.1} context switches a request)"
        );
        println!(
            "  GET /api/v1/user/api-key/status: {app_rps:>9.0} req/s ({app_failed} failed; \
             {app_switches:.1} context switches a request)"
        );
        println!(
            "  status route / bare route:       {:>9.1} %",
            100.0 * app_rps / bare_rps
        );
        println!(
            "  the same, a person on each:      {people_rps:>9.0} req/s ({people_failed} failed; \
             {people_switches:.1} context switches a request), {:.1} %",
            100.0 * people_rps / bare_rps
        );
    });
}
