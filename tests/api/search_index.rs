//! The search index catching up after the writes (SQLite, migration 0010): what a person
//! finds never depends on whether the background indexer has run yet, a deletion never
//! leaves anything in the index, and documents left pending by a killed process or stored
//! before the migration are indexed.

use std::time::Duration;

use apexaurum::server::db::{Db, NewMessage};
use serde_json::json;

use crate::{
    api_keys::CANARY,
    chat::chat,
    helpers::{migrate_before, spawn_app, spawn_app_on, Backend, Options, TestApp},
};

async fn search(app: &TestApp, q: &str) -> Vec<String> {
    crate::reading::search(app, q)
        .await
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

async fn user_id(db: &Db, email: &str) -> i64 {
    db.find_user_by_email(email).await.unwrap().unwrap().id
}

/// A conversation with these messages, written straight to the database (as the chat
/// writes them, but with no nudge to the indexer): its documents stay pending.
async fn seed(db: &Db, user_id: i64, id: &str, title: &str, messages: &[&str]) {
    db.create_conversation(id, user_id, title, "azoth", "claude-sonnet-4-5")
        .await
        .unwrap();
    let mut parent: Option<String> = None;
    for (i, content) in messages.iter().enumerate() {
        let message_id = format!("{id}-m{i}");
        db.insert_message(&NewMessage {
            id: &message_id,
            conversation_id: id,
            role: if i % 2 == 0 { "user" } else { "assistant" },
            content,
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            client_message_id: None,
            parent_id: parent.as_deref(),
        })
        .await
        .unwrap();
        parent = Some(message_id);
    }
}

fn sqlite(db: &Db) -> &apexaurum::server::db::Sqlite {
    match db {
        Db::Sqlite(sqlite) => sqlite,
        Db::Postgres(_) => panic!("these tests are about SQLite's index"),
    }
}

async fn pending(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM search_docs WHERE pending = 1")
        .fetch_one(&sqlite(db).reads)
        .await
        .unwrap()
}

/// The index holds exactly the documents marked indexed, each once: what `user_id`'s
/// token finds in the index against `search_docs`.
async fn assert_index_matches_docs(db: &Db, user_id: i64) {
    let mut in_index: Vec<i64> =
        sqlx::query_scalar("SELECT rowid FROM search_index WHERE search_index MATCH $1")
            .bind(format!("owner : \"u{user_id}\""))
            .fetch_all(&sqlite(db).reads)
            .await
            .unwrap();
    in_index.sort_unstable();
    let indexed: Vec<i64> = sqlx::query_scalar(
        "SELECT d.id FROM search_docs d JOIN conversations c ON c.id = d.conversation_id \
         WHERE c.user_id = $1 AND d.pending = 0 ORDER BY d.id",
    )
    .bind(user_id)
    .fetch_all(&sqlite(db).reads)
    .await
    .unwrap();
    assert_eq!(
        in_index, indexed,
        "the index and the indexed documents differ"
    );
}

async fn an_answered_message_is_found_at_once_and_indexed_soon_after(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let done = chat(&app, json!({ "message": "Marmalade recipes, please" })).await;
    let id = done.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Straight after the answer, whether or not the indexer has run.
    assert_eq!(search(&app, "marmalade").await, std::slice::from_ref(&id));
    assert_eq!(
        search(&app, "stand-in said").await,
        std::slice::from_ref(&id)
    );

    // A second message in the conversation, then no search: the background indexer
    // catches up by itself.
    chat(
        &app,
        json!({ "message": "And quince jelly?", "conversation_id": id }),
    )
    .await;
    if matches!(backend, Backend::Sqlite) {
        let mut waited = Duration::ZERO;
        while pending(&app.db).await > 0 {
            assert!(waited < Duration::from_secs(20), "never indexed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
    }
    assert_eq!(search(&app, "quince").await, [id]);
}

async fn a_deleted_conversations_documents_never_reach_the_index() {
    let app = spawn_app(Backend::Sqlite).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app.db, &email).await;

    // Indexed, then deleted: gone from the index.
    seed(
        &app.db,
        me,
        "c-indexed",
        "Walrus facts",
        &["walrus tusks", "ivory"],
    )
    .await;
    assert_eq!(search(&app, "walrus").await, ["c-indexed"]);
    assert_eq!(pending(&app.db).await, 0);
    assert_eq!(
        app.delete("/api/v1/conversations/c-indexed").await.status(),
        204
    );
    assert_index_matches_docs(&app.db, me).await;

    // Still pending when deleted: never indexed, and its document ids, taken again by the
    // next documents, hold only those.
    seed(
        &app.db,
        me,
        "c-pending",
        "Narwhal facts",
        &["narwhal horn", "unicorn"],
    )
    .await;
    assert!(pending(&app.db).await > 0);
    assert_eq!(
        app.delete("/api/v1/conversations/c-pending").await.status(),
        204
    );
    assert_eq!(pending(&app.db).await, 0);
    seed(
        &app.db,
        me,
        "c-after",
        "Otter facts",
        &["otter paws", "kelp"],
    )
    .await;
    assert!(search(&app, "narwhal").await.is_empty());
    assert!(search(&app, "unicorn").await.is_empty());
    assert!(search(&app, "walrus").await.is_empty());
    assert_eq!(search(&app, "otter paws").await, ["c-after"]);
    assert_index_matches_docs(&app.db, me).await;

    // A rename while pending, and one once indexed: only the new title is found.
    seed(&app.db, me, "c-renamed", "Beaver facts", &["dams"]).await;
    let rename = |title: &'static str| {
        app.client
            .patch(app.url("/api/v1/conversations/c-renamed"))
            .json(&json!({ "title": title }))
            .send()
    };
    assert_eq!(rename("Badger facts").await.unwrap().status(), 200);
    assert_eq!(search(&app, "badger").await, ["c-renamed"]);
    assert_eq!(rename("Stoat facts").await.unwrap().status(), 200);
    assert!(search(&app, "badger").await.is_empty());
    assert!(search(&app, "beaver").await.is_empty());
    assert_eq!(search(&app, "stoat").await, ["c-renamed"]);
    assert_index_matches_docs(&app.db, me).await;
}

async fn documents_a_killed_process_left_pending_are_indexed_at_start() {
    let mut first = spawn_app(Backend::Sqlite).await;
    let email = first.signed_in_user().await;
    let me = user_id(&first.db, &email).await;
    seed(
        &first.db,
        me,
        "c-left",
        "Left behind",
        &["aardvark burrows", "termites"],
    )
    .await;
    // Stopped before anything indexed them: as a kill after the commit would leave them.
    first.stop().await;
    let db = Db::connect(&first.database_url).await.unwrap();
    assert_eq!(pending(&db).await, 3);
    db.close().await;

    let second = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options::default(),
    )
    .await;
    assert_eq!(pending(&second.db).await, 0, "indexed at start");
    assert_index_matches_docs(&second.db, me).await;
    second.login(&email, "correct horse battery").await;
    assert_eq!(search(&second, "aardvark burrows").await, ["c-left"]);
    assert_eq!(search(&second, "behind").await, ["c-left"]);
}

async fn a_database_indexed_before_the_pending_mark_keeps_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let db = Db::connect(&url).await.unwrap();
    migrate_before(&db, 10).await;
    sqlx::query(
        "INSERT INTO users (email, password_hash, settings, created_at, updated_at) \
         VALUES ('old@example.org', 'x', '{}', '2026-03-01T12:00:00Z', '2026-03-01T12:00:00Z')",
    )
    .execute(&mut *sqlite(&db).writer().await.unwrap())
    .await
    .unwrap();
    let me = user_id(&db, "old@example.org").await;
    // Written under 0008's triggers: indexed at once.
    seed(
        &db,
        me,
        "c-old",
        "Old times",
        &["gramophone records", "wax cylinders"],
    )
    .await;

    db.migrate().await.unwrap();
    assert_eq!(pending(&db).await, 0, "what 0008 indexed stays indexed");
    assert_index_matches_docs(&db, me).await;
    let found = |q: &'static str| {
        let db = db.clone();
        async move {
            let terms = apexaurum::server::search::terms(q);
            db.search_conversations(me, &terms, 50)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("gramophone").await, ["c-old"]);
    assert_eq!(found("old times").await, ["c-old"]);

    // Written now: pending, then found all the same.
    seed(&db, me, "c-new", "New times", &["streaming"]).await;
    assert_eq!(pending(&db).await, 2);
    assert_eq!(found("streaming").await, ["c-new"]);
    assert_eq!(pending(&db).await, 0);
    assert_eq!(found("times").await.len(), 2);
    assert_index_matches_docs(&db, me).await;
}

crate::db_tests!(an_answered_message_is_found_at_once_and_indexed_soon_after);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_conversations_pending_documents_never_reach_the_index() {
    crate::helpers::within_limit(a_deleted_conversations_documents_never_reach_the_index()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_documents_of_a_killed_process_are_indexed_at_the_next_start() {
    crate::helpers::within_limit(documents_a_killed_process_left_pending_are_indexed_at_start())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_indexed_before_migration_0010_keeps_its_index() {
    crate::helpers::within_limit(a_database_indexed_before_the_pending_mark_keeps_its_index()).await
}

/// A backlog longer than one batch (200 documents) is indexed whole, batch after batch,
/// each document once, and the count returned is the count indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_longer_than_a_batch_is_indexed_whole_and_once() {
    crate::helpers::within_limit(async {
        let app = spawn_app(Backend::Sqlite).await;
        let email = app.signed_in_user().await;
        let me = user_id(&app.db, &email).await;
        let db = &app.db;
        let texts: Vec<String> = (0..419).map(|n| format!("message number {n}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        seed(db, me, "c-long", "A long backlog", &texts).await;
        seed(db, me, "c-short", "Another", &["aardvark"]).await;
        assert_eq!(pending(db).await, 422);

        assert_eq!(db.index_pending_search_docs().await.unwrap(), 422);
        assert_eq!(pending(db).await, 0);
        assert_index_matches_docs(db, me).await;
        assert_eq!(
            db.index_pending_search_docs().await.unwrap(),
            0,
            "nothing left"
        );
        let found = db.search_conversations(me, &["aardvark".into()], 10).await;
        assert_eq!(found.unwrap().len(), 1);
    })
    .await
}
