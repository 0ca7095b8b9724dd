//! Requests per second of `GET /api/v1/user/api-key/status` (session and settings read from
//! the database, every middleware of the app) against a bare axum route answering a constant,
//! both served by two worker threads and loaded by the same client on this machine.
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

/// Requests per second that `CONNECTIONS` clients get from `url` in `SECONDS`.
async fn requests_per_second(client: &reqwest::Client, url: &str) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
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
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        failed.load(Ordering::Relaxed),
    )
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
        let client = harness.user(0).await;
        let status = format!("{}/api/v1/user/api-key/status", harness.base);
        // Warm both up (connections, caches), then measure.
        requests_per_second(&client, &status).await;
        let (app_rps, app_failed) = requests_per_second(&client, &status).await;
        let (bare_rps, bare_failed) = requests_per_second(&client, &bare).await;
        println!("{CONNECTIONS} connections, {SECONDS} s each, 2 server threads each:");
        println!("  bare axum route:                 {bare_rps:>9.0} req/s ({bare_failed} failed)");
        println!("  GET /api/v1/user/api-key/status: {app_rps:>9.0} req/s ({app_failed} failed)");
        println!(
            "  status route / bare route:       {:>9.1} %",
            100.0 * app_rps / bare_rps
        );
    });
}
