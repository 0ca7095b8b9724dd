//! Cost in money, prompt caching and the monthly spending cap: the price of each answer,
//! the month's usage object, cache breakpoints and savings, and the cap that holds before
//! anything is sent to Anthropic.

use apexaurum::{server::db::Db, stubs::anthropic::Fault, types::usage::format_usd};
use futures::StreamExt as _;
use serde_json::{json, Value};

use crate::{
    api_keys::CANARY,
    billing::pro_user,
    chat::chat,
    helpers::{assert_error, spawn_app, spawn_app_with, Backend, Options, TestApp},
};

/// Sonnet's list prices, in micro-dollars per million tokens.
const SONNET: [i64; 4] = [3_000_000, 15_000_000, 3_750_000, 300_000];

/// The exact dollar cost of `usage` at `prices` (input, output, cache write, cache read).
fn cost(usage: &Value, prices: [i64; 4]) -> f64 {
    let fields = [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ];
    let pico: i64 = fields
        .iter()
        .zip(prices)
        .map(|(field, price)| usage[field].as_i64().unwrap() * price)
        .sum();
    pico as f64 / 1e12
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn user_with_key(app: &TestApp) -> String {
    let email = app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    email
}

async fn usage(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/usage{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

async fn put_cap(app: &TestApp, body: &str) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/user/spend-cap"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The requests that reached Anthropic's Messages endpoint (not count_tokens).
fn message_calls(app: &TestApp) -> Vec<Value> {
    app.stub
        .state
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/messages")
        .filter_map(|r| r.body)
        .collect()
}

async fn done_carries_the_cost_of_a_priced_model_and_null_for_an_unknown_one(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let priced = chat(&app, json!({ "message": "price me" })).await;
    let (event, done) = priced.last();
    assert_eq!(event, "done");
    let expected = cost(&done["usage"], SONNET);
    assert!(expected > 0.0);
    assert!(
        close(done["cost_usd"].as_f64().unwrap(), expected),
        "{done}"
    );
    let id = done["conversation_id"].as_str().unwrap().to_string();

    let unknown = chat(
        &app,
        json!({ "message": "and me", "conversation_id": id, "model": "claude-unknown-9" }),
    )
    .await;
    let (event, done) = unknown.last();
    assert_eq!(event, "done");
    assert!(done["cost_usd"].is_null(), "{done}");
    assert!(done["usage"]["output_tokens"].as_i64().unwrap() > 0);

    // Each stored answer shows its cost (tokens only for the unknown model), and the
    // conversation its total.
    let stored: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let messages = stored["messages"].as_array().unwrap();
    assert!(close(messages[1]["cost_usd"].as_f64().unwrap(), expected));
    assert!(messages[1]["cache_creation_input_tokens"].as_i64().unwrap() > 0);
    assert!(
        messages[0]["cost_usd"].is_null(),
        "a question costs nothing"
    );
    assert!(messages[3]["cost_usd"].is_null());
    assert!(messages[3]["cache_read_input_tokens"].is_i64());
    assert!(close(stored["cost_usd"].as_f64().unwrap(), expected));
}

async fn the_usage_object_prices_each_model_and_outlives_deleted_conversations(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let empty = usage(&app, "").await;
    assert_eq!(
        empty,
        json!({
            "period_start": empty["period_start"],
            "cost_usd": 0.0, "saved_usd": 0.0, "cap_usd": null, "models": [],
            "byok_cost_usd": 0.0, "platform_cost_usd": 0.0,
        })
    );
    let now = chrono::Utc::now();
    assert_eq!(
        empty["period_start"],
        now.format("%Y-%m-01T00:00:00Z").to_string()
    );

    let first = chat(&app, json!({ "message": "one two three" })).await;
    let id = first.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = chat(&app, json!({ "message": "four", "conversation_id": id })).await;
    chat(
        &app,
        json!({ "message": "five", "model": "claude-unknown-9" }),
    )
    .await;
    let sonnet_cost =
        cost(&first.last().1["usage"], SONNET) + cost(&second.last().1["usage"], SONNET);

    let month = usage(&app, "").await;
    let models = month["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let sonnet = &models[0];
    assert_eq!(sonnet["model"], "claude-sonnet-4-5");
    assert_eq!(sonnet["answers"], 2);
    let sum = |field: &str| {
        first.last().1["usage"][field].as_i64().unwrap()
            + second.last().1["usage"][field].as_i64().unwrap()
    };
    for field in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        assert_eq!(sonnet[field], sum(field), "{field}");
    }
    assert!(close(sonnet["cost_usd"].as_f64().unwrap(), sonnet_cost));
    let saved = sum("cache_read_input_tokens") as f64 * 2.7 / 1e6;
    assert!(close(sonnet["saved_usd"].as_f64().unwrap(), saved));
    let unknown = &models[1];
    assert_eq!(unknown["model"], "claude-unknown-9");
    assert_eq!(unknown["answers"], 1);
    assert!(unknown["cost_usd"].is_null() && unknown["saved_usd"].is_null());
    assert!(close(month["cost_usd"].as_f64().unwrap(), sonnet_cost));
    assert!(close(month["byok_cost_usd"].as_f64().unwrap(), sonnet_cost));
    assert!(close(month["saved_usd"].as_f64().unwrap(), saved));

    // Deleting the conversation changes nothing the month shows.
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(usage(&app, "").await, month);
    assert_eq!(
        usage(&app, &format!("?month={}", now.format("%Y-%m"))).await,
        month
    );
}

/// Moves one answer's ledger row to another time.
async fn backdate(db: &Db, message_id: &str, at: chrono::DateTime<chrono::Utc>) {
    let sql = "UPDATE usage_ledger SET created_at = $1 WHERE message_id = $2";
    let done = match db {
        Db::Sqlite(sqlite) => sqlx::query(sql)
            .bind(at)
            .bind(message_id)
            .execute(&mut *sqlite.writer().await.unwrap())
            .await
            .map(|r| r.rows_affected()),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(at)
            .bind(message_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    };
    assert_eq!(done.unwrap(), 1);
}

async fn usage_is_read_by_month_and_a_bad_month_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let answer = chat(&app, json!({ "message": "long ago" })).await;
    let message_id = answer.last().1["message_id"].as_str().unwrap().to_string();
    let march = chrono::DateTime::parse_from_rfc3339("2025-03-31T23:59:59Z")
        .unwrap()
        .to_utc();
    backdate(&app.db, &message_id, march).await;

    let then = usage(&app, "?month=2025-03").await;
    assert_eq!(then["period_start"], "2025-03-01T00:00:00Z");
    assert_eq!(then["models"][0]["answers"], 1);
    assert!(then["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(usage(&app, "").await["models"], json!([]));
    assert_eq!(usage(&app, "?month=2025-04").await["models"], json!([]));
    assert_eq!(usage(&app, "?month=2025-02").await["models"], json!([]));

    for bad in ["2025-13", "2025-3", "march", "2025-03-01", "-2025-03"] {
        assert_error(
            app.get(&format!("/api/v1/usage?month={bad}")).await,
            422,
            "invalid_request",
        )
        .await;
    }
    let anonymous = app
        .other_client()
        .get(app.url("/api/v1/usage"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthenticated").await;
}

async fn follow_ups_read_earlier_turns_from_the_cache_and_show_the_savings(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    let first = chat(&app, json!({ "message": "remember the number seven" })).await;
    let first_usage = first.last().1["usage"].clone();
    assert_eq!(
        first_usage["cache_read_input_tokens"], 0,
        "nothing cached yet"
    );
    assert!(first_usage["cache_creation_input_tokens"].as_i64().unwrap() > 0);
    let id = first.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();

    let second = chat(
        &app,
        json!({ "message": "which number?", "conversation_id": id }),
    )
    .await;
    let done = &second.last().1;
    let read = done["usage"]["cache_read_input_tokens"].as_i64().unwrap();
    assert!(
        read >= first_usage["cache_creation_input_tokens"].as_i64().unwrap(),
        "the follow-up reads the whole first request from the cache: {done}"
    );
    assert!(
        done["usage"]["cache_creation_input_tokens"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(close(
        done["saved_usd"].as_f64().unwrap(),
        read as f64 * 2.7 / 1e6
    ));
    assert!(close(
        done["cost_usd"].as_f64().unwrap(),
        cost(&done["usage"], SONNET)
    ));

    // The request carried the breakpoints: the system prompt and the latest message.
    let calls = message_calls(&app);
    let body = calls.last().unwrap();
    let marked = json!({ "type": "ephemeral" });
    assert_eq!(body["system"][0]["type"], "text");
    assert_eq!(body["system"][0]["cache_control"], marked);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2]["content"][0]["text"], "which number?");
    assert_eq!(messages[2]["content"][0]["cache_control"], marked);
    assert!(messages[0]["content"].is_string() && messages[1]["content"].is_string());

    // The savings per answer and per month.
    let stored: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["messages"][3]["cache_read_input_tokens"], read);
    assert_eq!(stored["messages"][3]["saved_usd"], done["saved_usd"]);
    let month = usage(&app, "").await;
    assert!(close(
        month["saved_usd"].as_f64().unwrap(),
        read as f64 * 2.7 / 1e6
    ));
}

async fn the_spend_cap_is_set_and_removed_and_nonsense_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = user_with_key(&app).await;
    let set = put_cap(&app, r#"{"monthly_usd": 12.5}"#).await;
    assert_eq!(set.status(), 200);
    let view: Value = set.json().await.unwrap();
    assert_eq!(view["cap_usd"], 12.5);
    assert_eq!(view["cost_usd"], 0.0);
    assert_eq!(usage(&app, "").await["cap_usd"], 12.5);
    let settings = app.settings_of(&email).await;
    assert_eq!(settings["limits"]["monthly_usd"], 12.5);
    assert!(
        settings["api_keys"]["anthropic"]["encrypted_key"].is_string(),
        "the key is kept"
    );

    for bad in [
        r#"{"monthly_usd": -1}"#,
        r#"{"monthly_usd": 1e300}"#,
        r#"{"monthly_usd": 2000000}"#,
        r#"{"monthly_usd": "5"}"#,
        r#"{"monthly_usd": NaN}"#,
        r#"{}"#,
        "nonsense",
    ] {
        assert_error(put_cap(&app, bad).await, 422, "invalid_request").await;
    }
    assert_eq!(
        usage(&app, "").await["cap_usd"],
        12.5,
        "a refused change changes nothing"
    );

    let removed = put_cap(&app, r#"{"monthly_usd": null}"#).await;
    assert_eq!(removed.status(), 200);
    assert!(removed.json::<Value>().await.unwrap()["cap_usd"].is_null());
    assert!(app.settings_of(&email).await["limits"]
        .get("monthly_usd")
        .is_none());

    // The Settings form's server function takes dollars as typed.
    let form = app
        .client
        .post(app.url("/api/fn/set_spend_cap"))
        .form(&[("monthly_usd", "$20")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(usage(&app, "").await["cap_usd"], 20.0);
    let form = app
        .client
        .post(app.url("/api/fn/set_spend_cap"))
        .form(&[("monthly_usd", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(usage(&app, "").await["cap_usd"].is_null());
}

/// Whitespace-separated words: the stand-in's tokens.
fn words(value: &Value) -> usize {
    match value {
        Value::String(text) => text.split_whitespace().count(),
        Value::Array(blocks) => blocks.iter().map(|b| words(&b["text"])).sum(),
        _ => 0,
    }
}

async fn a_message_over_the_cap_is_refused_before_anthropic_is_called(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    assert_eq!(
        put_cap(&app, r#"{"monthly_usd": 0.0001}"#).await.status(),
        200
    );

    let refused = chat(&app, json!({ "message": "too dear" })).await;
    assert_eq!(refused.status, 402);
    let error = &refused.last().1["error"];
    assert_eq!(error["code"], "spend_cap_reached");
    assert!(
        message_calls(&app).is_empty(),
        "nothing reached /v1/messages"
    );
    // The worst case: the counted input, all at the cache-write price, and a full answer.
    let counted = app
        .stub
        .state
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/messages/count_tokens")
        .expect("the input was counted")
        .body
        .unwrap();
    let input = words(&counted["system"])
        + counted["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| words(&m["content"]))
            .sum::<usize>();
    let worst = (input as f64 * 3.75 + 4096.0 * 15.0) / 1e6;
    let message = error["message"].as_str().unwrap();
    for figure in [
        "$0.00 of",
        "of $0.0001",
        &format!("up to {}", format_usd(worst)),
    ] {
        assert!(message.contains(figure), "{figure}: {message}");
    }

    // The page's server function is held the same way.
    let page = app
        .post_json("/api/fn/send_message", &json!({ "message": "too dear" }))
        .await;
    assert_eq!(page.status(), 402);
    let body: Value = page.json().await.unwrap();
    assert_eq!(body["code"], "spend_cap_reached");
    assert!(message_calls(&app).is_empty());

    // When Anthropic cannot count, a conservative estimate still holds.
    app.stub.state.set_fault_for(Fault::Status(500), 1);
    assert_eq!(
        chat(&app, json!({ "message": "still dear" })).await.status,
        402
    );
    assert!(message_calls(&app).is_empty());

    // A model without a price cannot be kept within the cap: refused, saying so.
    let unpriced = chat(&app, json!({ "message": "x", "model": "claude-unknown-9" })).await;
    assert_eq!(unpriced.status, 402);
    assert!(unpriced.last().1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no price for claude-unknown-9"));

    // "Send anyway", once: this request only.
    let anyway = chat(&app, json!({ "message": "too dear", "over_cap": true })).await;
    assert_eq!(anyway.last().0, "done");
    assert_eq!(message_calls(&app).len(), 1);
    let anyway = app
        .post_json(
            "/api/fn/send_message",
            &json!({ "message": "via the page", "over_cap": true }),
        )
        .await;
    assert_eq!(anyway.status(), 200);
    let _ = anyway.text().await;
    assert_eq!(chat(&app, json!({ "message": "again" })).await.status, 402);
    assert_eq!(message_calls(&app).len(), 2);

    // Without a cap, nothing is counted and everything goes.
    let counts = app.stub.state.requests().len();
    assert_eq!(
        put_cap(&app, r#"{"monthly_usd": null}"#).await.status(),
        200
    );
    assert_eq!(
        chat(&app, json!({ "message": "free" })).await.last().0,
        "done"
    );
    let after: Vec<String> = app.stub.state.requests()[counts..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(after, ["/v1/messages"]);
}

async fn a_cancelled_answer_counts_toward_the_cap(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    assert_eq!(put_cap(&app, r#"{"monthly_usd": 100}"#).await.status(), 200);
    // A slow answer, left after its first words.
    let response = app
        .post_json("/api/v1/chat", &json!({ "message": "[[slow]] go on" }))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("delta"));
    drop(body);
    assert_eq!(
        app.stub
            .state
            .wait_for_cut_streams(1, std::time::Duration::from_secs(5))
            .await,
        1
    );
    let mut spent = Value::Null;
    for _ in 0..100 {
        spent = usage(&app, "").await;
        if spent["models"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(spent["models"][0]["answers"], 1, "{spent}");
    let byok = spent["byok_cost_usd"].as_f64().unwrap();
    assert!(
        byok > 0.0,
        "the cut-off answer's input is paid for: {spent}"
    );

    // With the cap at what is spent, the next message cannot fit, and says what was spent.
    let cap = json!({ "monthly_usd": byok }).to_string();
    assert_eq!(put_cap(&app, &cap).await.status(), 200);
    let refused = chat(&app, json!({ "message": "more" })).await;
    assert_eq!(refused.status, 402);
    let message = refused.last().1["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!("{} of {}", format_usd(byok), format_usd(byok))),
        "{message}"
    );
}

/// The month's usage once it counts `answers` answers (the relay counts a cut-off answer
/// after the browser's stream has ended).
async fn usage_counting(app: &TestApp, answers: i64) -> Value {
    let mut month = Value::Null;
    for _ in 0..200 {
        month = usage(app, "").await;
        let counted: i64 = month["models"].as_array().map_or(0, |m| {
            m.iter().map(|m| m["answers"].as_i64().unwrap()).sum()
        });
        if counted >= answers {
            assert_eq!(counted, answers, "{month}");
            return month;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never counted {answers} answers: {month}");
}

/// An answer cut off before its first word (the stream dropped, an error event, or Stop
/// pressed while Anthropic had only said `message_start`) has nothing to show, but Anthropic billed the
/// prompt it read: its tokens count in the month's usage and toward the cap, and no empty
/// answer is stored. (Before, such an answer was counted nowhere.)
async fn an_answer_cut_off_before_its_first_word_still_counts_its_prompt(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_key(&app).await;
    app.stub
        .state
        .set_fault_for(Fault::DropStream { after_deltas: 0 }, 1);
    let dropped = chat(&app, json!({ "message": "tell me everything" })).await;
    let (name, data) = dropped.last();
    assert_eq!(name, "error");
    assert_eq!(data["code"], "anthropic_unavailable");
    assert_eq!(dropped.text(), "");
    let month = usage_counting(&app, 1).await;
    let model = &month["models"][0];
    // The prompt, as `message_start` counted it (the stand-in caches it).
    let prompt = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .map(|field| model[field].as_i64().unwrap())
    .sum::<i64>();
    assert!(prompt > 0, "{month}");
    assert!(month["byok_cost_usd"].as_f64().unwrap() > 0.0, "{month}");
    let id = data["conversation_id"].as_str().unwrap();
    let stored = crate::chat::conversation(&app, id).await;
    let roles: Vec<&str> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user"], "no empty answer: {stored}");
    // The key was used: Anthropic took the call.
    assert!(app.key_status().await["last_used"].is_string());

    // An error event right after `message_start` (Anthropic overloaded mid-stream).
    let overloaded = chat(&app, json!({ "message": "please [[overloaded]]" })).await;
    assert_eq!(overloaded.last().1["code"], "anthropic_overloaded");
    assert_eq!(overloaded.text(), "");
    usage_counting(&app, 2).await;

    // Stop while Anthropic is silent after `message_start`.
    app.stub
        .state
        .set_fault_for(Fault::StallStream { after_deltas: 0 }, 1);
    let calls = app.stub.state.requests().len();
    let response = app
        .post_json("/api/v1/chat", &json!({ "message": "and then?" }))
        .await;
    assert_eq!(response.status(), 200);
    while app.stub.state.requests().len() == calls {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // `message_start` is on its way before the stand-in falls silent, and the relay reads
    // it at once (nothing tells the browser: a second leaves room for a busy machine).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    drop(response);
    assert_eq!(
        app.stub
            .state
            .wait_for_cut_streams(1, std::time::Duration::from_secs(5))
            .await,
        1
    );
    let month = usage_counting(&app, 3).await;
    let spent = month["byok_cost_usd"].as_f64().unwrap();

    // Toward the cap as well: at what is spent, the next message does not fit.
    let cap = json!({ "monthly_usd": spent }).to_string();
    assert_eq!(put_cap(&app, &cap).await.status(), 200);
    assert_eq!(chat(&app, json!({ "message": "more" })).await.status, 402);
}

/// The same on the platform's key: the prompt is reported to Stripe's meter once, with the
/// tokens the ledger counts.
async fn a_platform_paid_answer_cut_off_before_its_first_word_is_metered_once(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    app.stub
        .state
        .set_fault_for(Fault::DropStream { after_deltas: 0 }, 1);
    let dropped = chat(&app, json!({ "message": "tell me everything" })).await;
    assert_eq!(dropped.last().1["code"], "anthropic_unavailable");
    usage_counting(&app, 1).await;
    crate::metering::until_reported(&app.db, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = app.stripe.state.meter_events();
    assert_eq!(events.len(), 1, "reported once");
    let platform = crate::billing::billing_status(&app).await["usage"]["platform_tokens"].clone();
    assert_eq!(events[0].value, platform.as_i64().unwrap());
    assert!(events[0].value > 0);
}

async fn the_cap_holds_the_own_key_and_leaves_the_plans_usage_alone(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    pro_user(&app).await;
    assert_eq!(put_cap(&app, r#"{"monthly_usd": 0}"#).await.status(), 200);
    // On the platform's key (Pro, no key of their own) the cap does not apply.
    let platform = chat(&app, json!({ "message": "on the plan" })).await;
    assert_eq!(platform.last().0, "done");
    assert_eq!(platform.last().1["payer"], "platform");
    assert!(platform.last().1["cost_usd"].as_f64().unwrap() > 0.0);
    let month = usage(&app, "").await;
    assert!(month["platform_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(month["byok_cost_usd"], 0.0);
    // With a key of their own, the same person is held by it.
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let own = chat(&app, json!({ "message": "on my key" })).await;
    assert_eq!(own.status, 402);
    assert!(own.last().1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("$0.00 of $0.00"));
}

crate::db_tests!(
    the_cap_holds_the_own_key_and_leaves_the_plans_usage_alone,
    done_carries_the_cost_of_a_priced_model_and_null_for_an_unknown_one,
    the_usage_object_prices_each_model_and_outlives_deleted_conversations,
    usage_is_read_by_month_and_a_bad_month_is_422,
    follow_ups_read_earlier_turns_from_the_cache_and_show_the_savings,
    the_spend_cap_is_set_and_removed_and_nonsense_is_422,
    a_message_over_the_cap_is_refused_before_anthropic_is_called,
    a_cancelled_answer_counts_toward_the_cap,
    an_answer_cut_off_before_its_first_word_still_counts_its_prompt,
    a_platform_paid_answer_cut_off_before_its_first_word_is_metered_once,
);
