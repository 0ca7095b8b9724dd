//! A server killed outright (SIGKILL) in the middle of an answer: the answer's draft is
//! stored, once, by the instances that find it abandoned.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use apexaurum::{
    server::{
        config::RuntimeFile,
        db::{
            drafts::{DraftRow, NewDraft},
            Db,
        },
    },
    sse::SseParser,
    stubs::anthropic::{self as anthropic_stub, Fault},
    types::chat::Payer,
};
use futures::StreamExt as _;
use serde_json::json;

use crate::{
    api_keys::CANARY,
    billing::pro_user,
    helpers::{
        fresh_postgres_database, new_client, spawn_app_on, spawn_app_with, Backend, Options,
        TestApp, TEST_SECRET,
    },
};

/// The release binary's code, as a process of its own that a test can kill.
struct Server {
    child: Child,
    address: String,
    /// The person's browser (its cookies: their session).
    client: reqwest::Client,
}

impl Server {
    /// Starts `apexaurum` on `database_url`, saving drafts every second, with `anthropic`
    /// as its Anthropic.
    async fn start(database_url: &str, anthropic: &str, dir: &std::path::Path) -> Self {
        std::fs::write(dir.join("Leptos.toml"), "answer-draft-secs = 1\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_apexaurum"))
            .current_dir(dir)
            .env_clear()
            .env("APP_ENV", "development")
            .env("DATABASE_URL", database_url)
            .env("APP_DATA_DIR", dir.join("data"))
            .env("JWT_SECRET", TEST_SECRET)
            .env("ANTHROPIC_BASE_URL", anthropic)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .expect("the server binary starts");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: new_client(),
        };
        let started = Instant::now();
        while server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server process on a database of its own, and a person signed in to it with a key.
async fn killable_server(
    backend: Backend,
) -> (
    tempfile::TempDir,
    String,
    anthropic_stub::StubHandle,
    Server,
) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("kill.db").display()),
        Backend::Postgres(url) => fresh_postgres_database(&url).await,
    };
    let stub = anthropic_stub::spawn().await;
    let server = Server::start(&database_url, &stub.base_url, dir.path()).await;
    let registered = server
        .post_json(
            "/api/v1/auth/register",
            &json!({ "email": "killed@example.org", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let saved = server
        .post_json("/api/v1/user/api-key", &json!({ "api_key": CANARY }))
        .await;
    assert_eq!(saved.status(), 200);
    (dir, database_url, stub, server)
}

/// The first draft a server saves (every second here); `dir` holds a server process's log.
async fn first_draft(db: &Db, dir: Option<&std::path::Path>) -> DraftRow {
    let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let started = Instant::now();
    loop {
        if let Some(draft) = db.drafts_saved_before(far_ahead, 10).await.unwrap().pop() {
            return draft;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no draft was saved; the server said:\n{}",
            dir.and_then(|dir| std::fs::read_to_string(dir.join("server.log")).ok())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Killed with SIGKILL while its answer streams, the server stores nothing itself. The draft
/// it saved holds the words that had arrived, with who pays. Two instances started on the
/// database afterwards both look for abandoned drafts: the answer is stored once, marked
/// incomplete, with one ledger row, and the draft is gone.
async fn an_answer_a_killed_server_was_streaming_is_stored_once_from_its_draft(backend: Backend) {
    let (dir, database_url, stub, mut server) = killable_server(backend).await;
    // A first exchange, whole.
    let first = server
        .post_json("/api/v1/chat", &json!({ "message": "first" }))
        .await
        .text()
        .await
        .unwrap();
    let conversation_id = SseParser::default()
        .push(first.as_bytes())
        .into_iter()
        .find(|e| e.event == "done")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).unwrap())
        .expect("the first answer is done")["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The next answer: three words ("Hello from the "), then silence on an open connection.
    stub.state
        .set_fault_for(Fault::StallStream { after_deltas: 3 }, 1);
    let message = json!({
        "conversation_id": conversation_id,
        "message": "tell me everything",
        "client_message_id": "m-2",
    });
    let answer = server.post_json("/api/v1/chat", &message).await;
    assert_eq!(answer.status(), 200);
    let mut body = answer.bytes_stream();
    let mut parser = SseParser::default();
    let mut text = String::new();
    while text != "Hello from the " {
        let chunk = body.next().await.expect("the stream goes on").unwrap();
        for event in parser.push(&chunk) {
            if event.event == "delta" {
                let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                text.push_str(data["text"].as_str().unwrap());
            }
        }
    }

    // The draft, within a second or two of the first words.
    let db = Db::connect(&database_url).await.unwrap();
    let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let draft = first_draft(&db, Some(dir.path())).await;
    assert_eq!(
        (draft.content.as_str(), draft.payer.as_str()),
        ("Hello from the ", "byok")
    );

    server.child.kill().unwrap(); // SIGKILL: no code of the server's runs after it
    server.child.wait().unwrap();
    drop(body);
    let messages = db.messages(&conversation_id).await.unwrap();
    assert_eq!(
        messages.len(),
        3,
        "no answer to the second message was stored"
    );

    // Two instances, each looking every second, taking a draft unsaved for 5 s as
    // abandoned (stalled-reader 1 s + 4 × 1 s).
    let runtime = RuntimeFile {
        answer_draft_secs: 1,
        stalled_reader_secs: 1,
        ..Default::default()
    };
    let options = || Options {
        runtime: Some(runtime.clone()),
        ..Default::default()
    };
    let apps: Vec<TestApp> = vec![
        spawn_app_on(&database_url, tempfile::tempdir().unwrap(), options()).await,
        spawn_app_on(&database_url, tempfile::tempdir().unwrap(), options()).await,
    ];
    // Meanwhile the person retries the message, and has a whole answer to it at once.
    let app = &apps[0];
    assert_eq!(
        app.login("killed@example.org", "correct horse battery")
            .await
            .status(),
        200
    );
    let retried = crate::chat::chat(app, message.clone()).await;
    let full = "Hello from the Anthropic stand-in. You said: tell me everything";
    assert_eq!(
        (retried.last().0.as_str(), retried.text()),
        ("done", full.into())
    );

    let started = Instant::now();
    let stored = loop {
        let messages = db.messages(&conversation_id).await.unwrap();
        if let Some(stored) = messages.into_iter().find(|m| m.id == draft.message_id) {
            break stored;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the abandoned answer was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A few more looks by both, which must find nothing more to do.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let messages = db.messages(&conversation_id).await.unwrap();
    assert_eq!(messages.len(), 5, "stored once");
    assert_eq!(
        (
            stored.role.as_str(),
            stored.content.as_str(),
            stored.incomplete,
            stored.payer.as_deref(),
            stored.parent_id.as_deref(),
        ),
        (
            "assistant",
            "Hello from the ",
            true,
            Some("byok"),
            Some(draft.parent_id.as_str())
        )
    );
    // Dated when its words went out, before the retry's answer: that one stays shown,
    // the cut one is the other version.
    let shown = crate::chat::conversation(app, &conversation_id).await;
    let shown = shown["messages"].as_array().unwrap();
    assert_eq!(shown.len(), 4);
    assert_eq!(shown[3]["content"], full);
    assert_eq!(stored.created_at, draft.first_words_at);
    let ledger = db
        .ledger_since(draft.user_id, far_ahead - chrono::Duration::days(2))
        .await
        .unwrap();
    assert_eq!(
        ledger.iter().map(|totals| totals.answers).sum::<i64>(),
        3,
        "one ledger row an answer"
    );
    assert_eq!(
        db.payer_of(&draft.message_id).await.unwrap().as_deref(),
        Some("byok")
    );
    assert!(db
        .drafts_saved_before(far_ahead, 10)
        .await
        .unwrap()
        .is_empty());
    drop(apps);
    db.close().await;
}

crate::db_tests!(an_answer_a_killed_server_was_streaming_is_stored_once_from_its_draft);

/// A relay only slow to save its draft is taken for gone, and its answer stored from the
/// draft, while it still streams (here the draft is made to look old). The relay notices
/// that its draft is gone and stops saving it; the answer it then finishes is not stored
/// again: the browser's `done` names the answer stored from the draft, which stays as it
/// was stored, with one ledger row. Returns the draft.
async fn outlive_the_draft(app: &TestApp) -> DraftRow {
    // Half a second a word: about six seconds of answer.
    app.stub
        .state
        .set_fault_for(Fault::Slow { delay_ms: 500 }, 1);
    let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let db = &app.db;
    let make_old = async {
        // Until the answer is stored from its draft: the relay saves it every second.
        let mut drafted = None;
        loop {
            if let Some(draft) = db.drafts_saved_before(far_ahead, 10).await.unwrap().pop() {
                db.save_draft(&as_saved(&draft), false, long_ago)
                    .await
                    .unwrap();
                drafted = Some(draft);
            } else if let Some(draft) = &drafted {
                if db.messages(&draft.conversation_id).await.unwrap().len() > 1 {
                    return drafted.unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (answer, draft) = futures::future::join(
        crate::chat::chat(app, json!({ "message": "one two three four five" })),
        make_old,
    )
    .await;
    let (name, done) = answer.last();
    assert_eq!(name, "done", "the browser's answer ends as ever");
    assert_eq!(done["message_id"], draft.message_id.as_str());
    let full = "Hello from the Anthropic stand-in. You said: one two three four five";
    assert_eq!(answer.text(), full);
    let messages = db.messages(&draft.conversation_id).await.unwrap();
    assert_eq!(messages.len(), 2, "stored once");
    let stored = &messages[1];
    assert_eq!(stored.id, draft.message_id);
    assert!(stored.incomplete, "as stored from the draft");
    assert!(
        !stored.content.is_empty()
            && stored.content.len() < full.len()
            && full.starts_with(&stored.content),
        "the draft's words: {:?}",
        stored.content
    );
    assert_eq!(stored.payer.as_deref(), Some(draft.payer.as_str()));
    let ledger = db.ledger_since(draft.user_id, long_ago).await.unwrap();
    assert_eq!(
        ledger.iter().map(|t| t.answers).sum::<i64>(),
        1,
        "one ledger row"
    );
    assert!(db
        .drafts_saved_before(far_ahead, 10)
        .await
        .unwrap()
        .is_empty());
    draft
}

/// A draft as read back, to save again (with another time, say).
fn as_saved(draft: &DraftRow) -> NewDraft<'_> {
    NewDraft {
        message_id: &draft.message_id,
        conversation_id: &draft.conversation_id,
        parent_id: &draft.parent_id,
        user_id: draft.user_id,
        model: &draft.model,
        content: &draft.content,
        input_tokens: draft.input_tokens,
        output_tokens: draft.output_tokens,
        cache_creation_input_tokens: draft.cache_creation_input_tokens,
        cache_read_input_tokens: draft.cache_read_input_tokens,
        payer: Payer::parse(&draft.payer).unwrap(),
        stripe_customer_id: draft.stripe_customer_id.as_deref(),
        first_words_at: draft.first_words_at,
        touch: draft.touch,
    }
}

/// A draft unsaved for 5 s is abandoned (stalled-reader 1 s + 4 × 1 s).
fn saving_every_second() -> RuntimeFile {
    RuntimeFile {
        answer_draft_secs: 1,
        stalled_reader_secs: 1,
        ..Default::default()
    }
}

async fn an_answer_stored_from_its_draft_while_its_relay_lives_is_not_stored_twice(
    backend: Backend,
) {
    let app = crate::chat::app_with_key(backend, saving_every_second()).await;
    let draft = outlive_the_draft(&app).await;
    assert_eq!(draft.payer, "byok");
}

/// The same on the platform's key: the answer stored from its draft is reported to Stripe's
/// meter once, with the tokens its ledger row holds.
async fn a_platform_paid_answer_stored_from_its_draft_is_metered_once(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            runtime: Some(saving_every_second()),
            ..Options::billing()
        },
    )
    .await;
    pro_user(&app).await;
    let draft = outlive_the_draft(&app).await;
    assert_eq!(draft.payer, "platform");
    crate::metering::until_reported(&app.db, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = app.stripe.state.meter_events();
    assert_eq!(events.len(), 1, "reported once");
    assert_eq!(events[0].identifier, draft.message_id);
    let since = chrono::Utc::now() - chrono::Duration::days(1);
    let ledger = app.db.ledger_since(draft.user_id, since).await.unwrap();
    assert_eq!(events[0].value, ledger[0].platform_tokens);
    assert!(events[0].value > 0);
}

/// A draft whose conversation is gone before its first save (deleted while the answer
/// streamed) is not saved, and the relay is told it is gone, so it stops trying (before,
/// each later attempt failed again and logged a warning until the answer ended).
async fn a_draft_of_a_deleted_conversation_is_gone_at_once(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let email = crate::chat::user_with_key(&app).await;
    let user_id = app.db.find_user_by_email(&email).await.unwrap().unwrap().id;
    let done = crate::chat::chat(&app, json!({ "message": "hello" })).await;
    let (_, data) = done.last();
    let conversation = data["conversation_id"].as_str().unwrap();
    let messages = app.db.messages(conversation).await.unwrap();
    let draft = |conversation_id| NewDraft {
        message_id: "draft-1",
        conversation_id,
        parent_id: &messages[0].id,
        user_id,
        model: "claude-sonnet-4-5",
        content: "Hello",
        input_tokens: 1,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        payer: Payer::Byok,
        stripe_customer_id: None,
        first_words_at: chrono::Utc::now(),
        touch: false,
    };
    let now = chrono::Utc::now();
    assert!(
        !app.db
            .save_draft(&draft("no-such-conversation"), true, now)
            .await
            .unwrap(),
        "gone"
    );
    assert!(!app.db.draft_exists("draft-1").await.unwrap());
    assert!(app
        .db
        .save_draft(&draft(conversation), true, now)
        .await
        .unwrap());
    assert!(app.db.draft_exists("draft-1").await.unwrap());
    // Saved again, once its first words went out (it was saved before them, when
    // Anthropic read the prompt): the draft takes their time.
    // Whole seconds: PostgreSQL keeps microseconds only.
    let words_at = chrono::DateTime::from_timestamp(now.timestamp() + 3, 0).unwrap();
    let later = NewDraft {
        first_words_at: words_at,
        ..draft(conversation)
    };
    assert!(app.db.save_draft(&later, false, now).await.unwrap());
    let far_ahead = now + chrono::Duration::days(1);
    let saved = app.db.drafts_saved_before(far_ahead, 10).await.unwrap();
    assert_eq!(
        saved.iter().map(|d| d.first_words_at).collect::<Vec<_>>(),
        [words_at]
    );
    app.db.delete_draft("draft-1").await.unwrap();
    assert!(!app.db.draft_exists("draft-1").await.unwrap());
}

crate::db_tests!(
    a_draft_of_a_deleted_conversation_is_gone_at_once,
    an_answer_stored_from_its_draft_while_its_relay_lives_is_not_stored_twice,
    a_platform_paid_answer_stored_from_its_draft_is_metered_once,
);

/// Killed while Anthropic is silent after `message_start` (it has read the prompt, and
/// bills it), before the first word: the draft saved meanwhile has no words but the
/// prompt's tokens, and an instance that finds it abandoned counts them, once, with no
/// message stored (as the relay does for an answer cut off before its first word).
async fn a_prompt_a_killed_server_had_sent_is_counted_from_its_draft(backend: Backend) {
    let (dir, database_url, stub, mut server) = killable_server(backend).await;
    stub.state
        .set_fault_for(Fault::StallStream { after_deltas: 0 }, 1);
    let answer = server
        .post_json("/api/v1/chat", &json!({ "message": "think hard" }))
        .await;
    assert_eq!(answer.status(), 200);
    let db = Db::connect(&database_url).await.unwrap();
    let draft = first_draft(&db, Some(dir.path())).await;
    assert_eq!(draft.content, "");
    assert!(
        draft.input_tokens + draft.cache_creation_input_tokens > 0,
        "{draft:?}"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(answer);

    let app = spawn_app_on(
        &database_url,
        tempfile::tempdir().unwrap(),
        Options {
            runtime: Some(saving_every_second()),
            ..Default::default()
        },
    )
    .await;
    let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let started = Instant::now();
    while !db
        .drafts_saved_before(far_ahead, 10)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the abandoned draft was never counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more looks, which must find nothing more to do.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let ledger = db
        .ledger_since(draft.user_id, far_ahead - chrono::Duration::days(2))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (
            ledger[0].answers,
            ledger[0].input_tokens,
            ledger[0].cache_creation_input_tokens,
            ledger[0].cache_read_input_tokens,
        ),
        (
            1,
            draft.input_tokens,
            draft.cache_creation_input_tokens,
            draft.cache_read_input_tokens,
        ),
        "counted once, as the draft had it"
    );
    assert_eq!(
        db.payer_of(&draft.message_id).await.unwrap().as_deref(),
        Some("byok")
    );
    let messages = db.messages(&draft.conversation_id).await.unwrap();
    assert_eq!(
        messages.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
        ["user"],
        "no empty answer"
    );
    drop(app);
    db.close().await;
}

crate::db_tests!(a_prompt_a_killed_server_had_sent_is_counted_from_its_draft);

/// A relay that saved a draft while Anthropic was silent, then is stopped before the first
/// word, counts the prompt itself and removes the draft in that transaction: nothing is
/// left for another instance to count again.
async fn a_prompt_drafted_in_silence_and_then_stopped_is_counted_once(backend: Backend) {
    let app = crate::chat::app_with_key(backend, saving_every_second()).await;
    app.stub
        .state
        .set_fault_for(Fault::StallStream { after_deltas: 0 }, 1);
    let response = app
        .post_json("/api/v1/chat", &json!({ "message": "think hard" }))
        .await;
    assert_eq!(response.status(), 200);
    let draft = first_draft(&app.db, None).await;
    assert_eq!(draft.content, "");
    drop(response); // Stop
    assert_eq!(
        app.stub
            .state
            .wait_for_cut_streams(1, Duration::from_secs(5))
            .await,
        1
    );
    let started = Instant::now();
    while app.db.payer_of(&draft.message_id).await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!app.db.draft_exists(&draft.message_id).await.unwrap());
    let since = chrono::Utc::now() - chrono::Duration::days(1);
    let ledger = app.db.ledger_since(draft.user_id, since).await.unwrap();
    assert_eq!(ledger.iter().map(|t| t.answers).sum::<i64>(), 1);
    let messages = app.db.messages(&draft.conversation_id).await.unwrap();
    assert_eq!(messages.len(), 1, "no empty answer");
}

crate::db_tests!(a_prompt_drafted_in_silence_and_then_stopped_is_counted_once);

/// A relay whose draft, saved while Anthropic was silent before the first word, is taken
/// for abandoned (made to look old here) has the prompt counted from it. The words that
/// arrive afterwards are stored when the answer ends, under the id the browser's `done`
/// names, and not counted again: one message, one ledger row.
async fn an_answer_whose_wordless_draft_was_counted_is_still_stored(backend: Backend) {
    let app = crate::chat::app_with_key(backend, saving_every_second()).await;
    app.stub
        .state
        .set_fault_for(Fault::SilentStart { delay_ms: 4_000 }, 1);
    let far_ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let db = &app.db;
    let count_from_draft = async {
        let mut drafted = None;
        loop {
            if let Some(draft) = db.drafts_saved_before(far_ahead, 10).await.unwrap().pop() {
                assert_eq!(draft.content, "", "saved before the first word");
                db.save_draft(&as_saved(&draft), false, long_ago)
                    .await
                    .unwrap();
                drafted = Some(draft);
            } else if let Some(draft) = &drafted {
                if db.payer_of(&draft.message_id).await.unwrap().is_some() {
                    return drafted.unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (answer, draft) = futures::future::join(
        crate::chat::chat(&app, json!({ "message": "think first" })),
        count_from_draft,
    )
    .await;
    let (name, done) = answer.last();
    assert_eq!(name, "done");
    assert_eq!(done["message_id"], draft.message_id.as_str());
    let full = "Hello from the Anthropic stand-in. You said: think first";
    assert_eq!(answer.text(), full);
    let messages = db.messages(&draft.conversation_id).await.unwrap();
    assert_eq!(messages.len(), 2);
    let stored = &messages[1];
    assert_eq!(
        (
            stored.id.as_str(),
            stored.content.as_str(),
            stored.incomplete
        ),
        (draft.message_id.as_str(), full, false)
    );
    let ledger = db.ledger_since(draft.user_id, long_ago).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (
            ledger[0].answers,
            ledger[0].input_tokens,
            ledger[0].output_tokens
        ),
        (1, draft.input_tokens, draft.output_tokens),
        "counted once, as the draft had it"
    );
    assert!(db
        .drafts_saved_before(far_ahead, 10)
        .await
        .unwrap()
        .is_empty());
}

crate::db_tests!(an_answer_whose_wordless_draft_was_counted_is_still_stored);
