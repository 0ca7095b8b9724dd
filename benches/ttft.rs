//! Time to first token: through the app versus straight to the Anthropic stand-in, median
//! of 100 of each on this machine. Run: `cargo bench --features ssr,stub --bench ttft`.

use std::time::{Duration, Instant};

use apexaurum::{
    server::{
        config::{RuntimeFile, Settings},
        startup::Application,
    },
    stubs::anthropic as anthropic_stub,
};
use futures::StreamExt as _;
use serde_json::json;

const RUNS: usize = 100;
const KEY: &str = "sk-ant-api03-benchmark-benchmark-benchmark-benchmark-0000";

/// Sends a request and returns the time until the first chunk that holds `marker`.
async fn first_token(request: reqwest::RequestBuilder, marker: &str) -> Duration {
    let start = Instant::now();
    let response = request.send().await.expect("request sent");
    if std::env::var("TTFT_DEBUG").is_ok() {
        eprintln!("headers after {:?}", start.elapsed());
    }
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.contains(marker) {
            let elapsed = start.elapsed();
            // Drain so the connection is reusable and the answer is stored, as in real use.
            while body.next().await.is_some() {}
            return elapsed;
        }
    }
    panic!("no {marker} in the stream");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let stub = anthropic_stub::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = RuntimeFile {
        site_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().into(),
        ..Default::default()
    };
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let vars = [
        ("DATABASE_URL", db),
        ("ANTHROPIC_BASE_URL", stub.base_url.clone()),
        (
            "JWT_SECRET",
            "bench-secret-bench-secret-bench-secret-00".into(),
        ),
    ];
    let settings = Settings::from_lookup(file, |k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "bench@example.org", "password": "benchmark-password"}))
        .send()
        .await
        .unwrap();
    let saved = client
        .post(format!("{base}/api/v1/user/api-key"))
        .json(&json!({"api_key": KEY}))
        .send()
        .await
        .unwrap();
    assert!(saved.status().is_success());

    let direct_body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hello"}]});
    let mut direct = Vec::with_capacity(RUNS);
    let mut via_app = Vec::with_capacity(RUNS);
    let mut conversation: Option<String> = None;
    for i in 0..RUNS + 5 {
        let d = first_token(
            client
                .post(format!("{}/v1/messages", stub.base_url))
                .header("x-api-key", KEY)
                .header("anthropic-version", "2023-06-01")
                .json(&direct_body),
            "content_block_delta",
        )
        .await;
        // Every tenth run starts a new conversation, so history stays short and realistic.
        let body = match (&conversation, i % 10) {
            (Some(id), n) if n != 0 => json!({"message": "hello", "conversation_id": id}),
            _ => json!({"message": "hello"}),
        };
        let a = first_token(
            client.post(format!("{base}/api/v1/chat")).json(&body),
            "event: delta",
        )
        .await;
        if conversation.is_none() || i % 10 == 0 {
            let list: serde_json::Value = client
                .get(format!("{base}/api/v1/conversations"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            conversation = list[0]["id"].as_str().map(String::from);
        }
        if i >= 5 {
            direct.push(d);
            via_app.push(a);
        }
    }
    let (d, a) = (median(direct), median(via_app));
    println!("time to first token, median of {RUNS}:");
    println!("  straight to the stand-in: {}", ms(d));
    println!("  through ApexAurum:        {}", ms(a));
    println!("  added by the app:         {}", ms(a.saturating_sub(d)));
}
