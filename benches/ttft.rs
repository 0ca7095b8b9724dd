//! Time to first token through ApexAurum versus straight to the Anthropic stand-in, side by
//! side in one run, one request at a time and 50 at once; and the app's CPU time per chat
//! request (read from its own threads: its runtime's, and the SQLite connections' threads
//! besides). Run: `cargo bench --features ssr,stub --bench ttft`.

mod support;

use std::time::{Duration, Instant};

use apexaurum::stubs::anthropic::Fault;
use futures::StreamExt as _;
use serde_json::json;
use support::{ms, percentile, thread_cpu, Harness, APP_THREADS, KEY, SQLITE_THREADS};

const SERIAL_RUNS: usize = 200;
const CONCURRENCY: usize = 50;
const ROUNDS_EACH: usize = 10;
const WARM_UP: usize = 5;
/// Anthropic streams a few words every 20 to 50 ms; the stand-in, one word per delta.
const PACE_MS: u64 = 20;

/// Sends a request and returns the time until the first chunk that holds `marker`, then
/// reads the rest (so the answer is stored and the connection reused, as in real use).
async fn first_token(request: reqwest::RequestBuilder, marker: &str) -> Duration {
    let start = Instant::now();
    let response = request.send().await.expect("request sent");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.contains(marker) {
            let elapsed = start.elapsed();
            while body.next().await.is_some() {}
            return elapsed;
        }
    }
    panic!("no {marker} in the stream");
}

/// One person chatting: `rounds` pairs of (straight to the stand-in, through the app),
/// starting a new conversation every tenth message so history stays realistic.
async fn chat_rounds(
    harness: &Harness,
    client: &reqwest::Client,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let direct_body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
                             "messages": [{"role": "user", "content": "hello"}]});
    let (mut direct, mut via_app) = (Vec::new(), Vec::new());
    let mut conversation: Option<String> = None;
    for i in 0..rounds {
        direct.push(
            first_token(
                client
                    .post(format!("{}/v1/messages", harness.stub_base))
                    .header("x-api-key", KEY)
                    .header("anthropic-version", "2023-06-01")
                    .json(&direct_body),
                "content_block_delta",
            )
            .await,
        );
        let body = match (&conversation, i % 10) {
            (Some(id), n) if n != 0 => json!({"message": "hello", "conversation_id": id}),
            _ => json!({"message": "hello"}),
        };
        via_app.push(
            first_token(
                client
                    .post(format!("{}/api/v1/chat", harness.base))
                    .json(&body),
                "event: delta",
            )
            .await,
        );
        if conversation.is_none() || i % 10 == 0 {
            let list: serde_json::Value = client
                .get(format!("{}/api/v1/conversations", harness.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            conversation = list[0]["id"].as_str().map(String::from);
        }
    }
    (direct, via_app)
}

/// CPU time so far of the app's runtime threads and of its SQLite connections' threads.
fn app_cpu() -> (Duration, Duration) {
    (thread_cpu(APP_THREADS), thread_cpu(SQLITE_THREADS))
}

fn since(start: (Duration, Duration)) -> (Duration, Duration) {
    let now = app_cpu();
    (now.0.saturating_sub(start.0), now.1.saturating_sub(start.1))
}

fn report(
    label: &str,
    mut direct: Vec<Duration>,
    mut via_app: Vec<Duration>,
    (cpu, sqlite_cpu): (Duration, Duration),
) {
    let requests = via_app.len();
    let (d50, d99) = (percentile(&mut direct, 50.0), percentile(&mut direct, 99.0));
    let (a50, a99) = (
        percentile(&mut via_app, 50.0),
        percentile(&mut via_app, 99.0),
    );
    println!("{label} ({requests} chat requests):");
    println!(
        "  straight to the stand-in   p50 {:>9}   p99 {:>9}",
        ms(d50),
        ms(d99)
    );
    println!(
        "  through ApexAurum          p50 {:>9}   p99 {:>9}",
        ms(a50),
        ms(a99)
    );
    println!(
        "  added by the app           p50 {:>9}   p99 {:>9}",
        ms(a50.saturating_sub(d50)),
        ms(a99.saturating_sub(d99))
    );
    let per_request = |cpu: Duration| ms(cpu / requests.max(1) as u32);
    println!("  app CPU per chat request   {}", per_request(cpu));
    println!(
        "    and its SQLite threads'  {}  (together {})",
        per_request(sqlite_cpu),
        per_request(cpu + sqlite_cpu)
    );
}

fn main() {
    let harness = Harness::start();
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apx-load")
        .enable_all()
        .build()
        .unwrap();
    load.block_on(async {
        let one = harness.user(0).await;
        chat_rounds(&harness, &one, WARM_UP).await;
        let cpu = app_cpu();
        let (direct, via_app) = chat_rounds(&harness, &one, SERIAL_RUNS).await;
        report("one at a time", direct, via_app, since(cpu));

        let mut clients = Vec::new();
        for n in 1..=CONCURRENCY {
            clients.push(harness.user(n).await);
        }
        let at_once = |label: String| {
            let clients = &clients;
            let harness = &harness;
            async move {
                let cpu = app_cpu();
                let runs = clients
                    .iter()
                    .map(|client| chat_rounds(harness, client, ROUNDS_EACH));
                let results = futures::future::join_all(runs).await;
                let cpu = since(cpu);
                let (mut direct, mut via_app) = (Vec::new(), Vec::new());
                for (d, a) in results {
                    direct.extend(d);
                    via_app.extend(a);
                }
                report(&label, direct, via_app, cpu);
            }
        };
        // Every client sends its next request the moment the last one ends, and the
        // stand-in answers in no time: the two cores are saturated, so this measures how
        // the app shares them (the wait is for the CPU), not what a person waits for.
        at_once(format!("{CONCURRENCY} at once, back to back")).await;
        // Fifty answers streaming at once as they do from Anthropic, a word every
        // PACE_MS (its first word after PACE_MS too, in both columns): what people chatting
        // side by side wait for the app, new requests arriving while the others stream.
        harness.stub.set_fault(Fault::Slow { delay_ms: PACE_MS });
        at_once(format!(
            "{CONCURRENCY} at once, answers streaming a word every {PACE_MS} ms"
        ))
        .await;
        harness.stub.clear();
    });
}
