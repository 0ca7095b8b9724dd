//! Memory under load: the release server, in its own process on SQLite, answers 1,000
//! streaming chats at once from 100 people (the stand-in slowed so every answer stays open
//! for seconds), and this prints its resident memory idle, at its peak, and after, with
//! every failure. Run: `bash .ci/perf memory` (builds the release binaries first), or
//! `cargo bench --features ssr,stub --bench streams_memory` with APX_SERVER and APX_STUB
//! naming built binaries.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use serde_json::json;

const PEOPLE: usize = 100;
const STREAMS_EACH: usize = 10;
const KEY: &str = "sk-ant-api03-benchmark-benchmark-benchmark-benchmark-0000";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (resident now, peak resident) of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

async fn wait_until_up(url: &str) {
    for _ in 0..200 {
        if reqwest::get(url).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (stub_port, app_port) = (free_port(), free_port());
    let _stub = Process(
        Command::new(binary("APX_STUB", "target/release/anthropic-stub"))
            .env("STUB_ADDR", format!("127.0.0.1:{stub_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the stand-in binary (APX_STUB) starts"),
    );
    // Ten streams a person at once, and their messages, are over the default chat bounds.
    std::fs::write(
        dir.path().join("Leptos.toml"),
        "chat-streams-per-user = 100\nchat-messages-per-minute = 1000\n",
    )
    .unwrap();
    let server = std::fs::canonicalize(binary("APX_SERVER", "target/release/apexaurum"))
        .expect("the server binary (APX_SERVER) exists");
    let app = Process(
        Command::new(server)
            .current_dir(dir.path())
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{app_port}"))
            .env(
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{stub_port}"),
            )
            .env("APP_DATA_DIR", dir.path())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("m.db").display()),
            )
            .env("RUST_LOG", "warn")
            // Each person signs up from an address of their own (per-address limits).
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary (APX_SERVER) starts"),
    );
    let pid = app.0.id();
    let base = format!("http://127.0.0.1:{app_port}");
    wait_until_up(&format!("{base}/healthz")).await;
    wait_until_up(&format!("http://127.0.0.1:{stub_port}/v1/models")).await;
    let (idle, _) = memory(pid);

    // The people, each signed in with a key (registrations one after another: this measures
    // streams, not password hashing).
    let mut people = Vec::new();
    for n in 0..PEOPLE {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .tcp_nodelay(true)
            .build()
            .unwrap();
        let address = format!("10.1.{}.{}", n / 250, n % 250 + 1);
        let r = client
            .post(format!("{base}/api/v1/auth/register"))
            .header("x-forwarded-for", &address)
            .json(&json!({"email": format!("m{n}@example.org"), "password": "memory-password"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "register: {}", r.status());
        let r = client
            .post(format!("{base}/api/v1/user/api-key"))
            .header("x-forwarded-for", &address)
            .json(&json!({"api_key": KEY}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "key: {}", r.status());
        people.push(client);
    }
    let (after_signup, _) = memory(pid);

    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(memory(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let start = Instant::now();
    let base = &base;
    let streams = people.iter().flat_map(|client| {
        (0..STREAMS_EACH).map(move |i| {
            let client = client.clone();
            async move {
                let response = client
                    .post(format!("{base}/api/v1/chat"))
                    .json(&json!({"message": format!("stream {i} [[slow]]")}))
                    .send()
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("status {}", response.status()));
                }
                let mut body = response.bytes_stream();
                let mut tail = String::new();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| format!("read: {e}"))?;
                    tail.push_str(&String::from_utf8_lossy(&chunk));
                    if tail.len() > 4096 {
                        tail.drain(..tail.len() - 512);
                    }
                }
                if tail.contains("event: done") {
                    Ok(())
                } else {
                    Err("ended without done".to_string())
                }
            }
        })
    });
    let results = futures::future::join_all(streams).await;
    let took = start.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, hwm) = memory(pid);

    let mut failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    failures.sort();
    println!(
        "{} streaming chats at once from {PEOPLE} people, all answered in {:.1} s:",
        PEOPLE * STREAMS_EACH,
        took.as_secs_f64()
    );
    println!("  server resident memory idle:          {}", mib(idle));
    println!(
        "  after {PEOPLE} sign-ups with keys:        {}",
        mib(after_signup)
    );
    println!(
        "  peak during the streams:              {}",
        mib(peak.load(Ordering::Relaxed))
    );
    println!("  peak over the process's life (VmHWM): {}", mib(hwm));
    println!("  2 s after the last stream ended:      {}", mib(after));
    println!("  failures: {}", failures.len());
    failures.dedup();
    for f in failures.iter().take(5) {
        println!("    {f}");
    }
}
