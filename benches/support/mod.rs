//! What the benches share: the app and the Anthropic stand-in each on their own runtime
//! (so the CPU each spends can be read from its threads), users signed in with a key, and
//! figures printed as a person reads them.

#![allow(dead_code)] // each bench uses its own part

use std::time::Duration;

use apexaurum::{
    server::{
        config::{AppEnv, RuntimeFile, Settings},
        startup::Application,
        telemetry,
    },
    stubs::anthropic as anthropic_stub,
};
use serde_json::json;
use tokio::runtime::Runtime;

pub const KEY: &str = "sk-ant-api03-benchmark-benchmark-benchmark-benchmark-0000";
/// Thread names (at most 15 bytes: the kernel's `comm`) by which CPU time is told apart.
pub const APP_THREADS: &str = "apx-app";
pub const STUB_THREADS: &str = "apx-stub";
/// sqlx runs each SQLite connection on a thread of its own, named `sqlx-sqlite-worker-N`:
/// the app's database work is done there, not on the app's runtime.
pub const SQLITE_THREADS: &str = "sqlx-sqlite";

/// The app on SQLite in a temporary folder, talking to the stand-in.
pub struct Harness {
    pub base: String,
    pub stub_base: String,
    /// The stand-in's state: its faults (a pace, say) for the next requests.
    pub stub: anthropic_stub::StubState,
    app_runtime: Runtime,
    stub_runtime: Runtime,
    _dir: tempfile::TempDir,
}

fn runtime(name: &'static str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Harness {
    pub fn start() -> Self {
        // The app's own log on stderr, when asked for (`RUST_LOG=warn cargo bench ...`):
        // a failing request under load says why.
        if std::env::var_os("RUST_LOG").is_some() {
            telemetry::init(AppEnv::Development, std::io::stderr);
        }
        let stub_runtime = runtime(STUB_THREADS, 1);
        let (stub_base, stub) = stub_runtime.block_on(async {
            let stub = anthropic_stub::spawn().await;
            let base = (stub.base_url.clone(), stub.state.clone());
            // The handle's server lives as long as the runtime.
            std::mem::forget(stub);
            base
        });
        let app_runtime = runtime(APP_THREADS, 2);
        let dir = tempfile::tempdir().unwrap();
        let file = RuntimeFile {
            site_addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().into(),
            // The load is the point: no per-person chat limits in the way.
            chat_messages_per_minute: 1_000_000,
            chat_streams_per_user: 1_000,
            ..Default::default()
        };
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let vars = [
            ("DATABASE_URL", db),
            ("ANTHROPIC_BASE_URL", stub_base.clone()),
            (
                "JWT_SECRET",
                "bench-secret-bench-secret-bench-secret-00".into(),
            ),
            // Each person signs up from an address of their own (per-address limits).
            ("TRUSTED_PROXIES", "127.0.0.1".into()),
        ];
        let settings = Settings::from_lookup(file, |k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .unwrap();
        let base = app_runtime.block_on(async {
            let app = Application::build(settings).await.unwrap();
            let base = format!("http://127.0.0.1:{}", app.port());
            tokio::spawn(app.run_until_stopped(std::future::pending()));
            base
        });
        Self {
            base,
            stub_base,
            stub,
            app_runtime,
            stub_runtime,
            _dir: dir,
        }
    }

    /// A client (own cookies, keep-alive, no Nagle) logged in as a new user with a key.
    pub async fn user(&self, n: usize) -> reqwest::Client {
        let client = client();
        let address = format!("10.2.{}.{}", n / 250, n % 250 + 1);
        let registered = client
            .post(format!("{}/api/v1/auth/register", self.base))
            .header("x-forwarded-for", &address)
            .json(&json!({"email": format!("bench{n}@example.org"), "password": "benchmark-password"}))
            .send()
            .await
            .unwrap();
        assert!(registered.status().is_success(), "{}", registered.status());
        let saved = client
            .post(format!("{}/api/v1/user/api-key", self.base))
            .header("x-forwarded-for", &address)
            .json(&json!({"api_key": KEY}))
            .send()
            .await
            .unwrap();
        assert!(saved.status().is_success(), "{}", saved.status());
        client
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap()
}

/// CPU time (user + system) spent so far by this process's threads named `prefix…`.
pub fn thread_cpu(prefix: &str) -> Duration {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... : comm may hold spaces, so split after its closing paren.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After comm: state is field 0, utime field 11, stime field 12.
        let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        ticks += utime + stime;
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_sec)
}

/// The `p`th percentile (0–100) of `samples`.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
