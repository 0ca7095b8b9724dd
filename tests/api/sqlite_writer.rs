//! SQLite's one writer connection (`apexaurum::server::db::Sqlite`): writers queue in the
//! process and are served in turn, none failing with "database is locked"; a write put on
//! the readers fails at once; another process holding the file's write lock is waited for
//! (the busy timeout), not failed; the write-ahead log is checkpointed beside the writers.

use std::{str::FromStr as _, time::Duration};

use apexaurum::server::{
    db::{Db, NewConversation, NewMessage, Sqlite},
    user_settings::UserSettings,
};
use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions as _, Connection as _};

async fn fresh() -> (tempfile::TempDir, String, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("writer.db").display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    (dir, url, db)
}

fn sqlite(db: &Db) -> &Sqlite {
    match db {
        Db::Sqlite(sqlite) => sqlite,
        Db::Postgres(_) => unreachable!("a SQLite URL"),
    }
}

async fn user(db: &Db) -> i64 {
    db.insert_user("writer@example.org", "x", &UserSettings::default())
        .await
        .unwrap()
        .id
}

/// A new conversation with its first message (after `parent_id`, when given), as the
/// chat stores one.
async fn create(
    db: &Db,
    user_id: i64,
    ids: (&str, &str, &str),
    parent_id: Option<&str>,
) -> Result<(), String> {
    create_saying(db, user_id, ids, parent_id, "hello").await
}

async fn create_saying(
    db: &Db,
    user_id: i64,
    (id, message_id, title): (&str, &str, &str),
    parent_id: Option<&str>,
    content: &str,
) -> Result<(), String> {
    db.create_conversation_with_message(
        &NewConversation {
            id,
            user_id,
            title,
            agent: "azoth",
            model: "claude-sonnet-4-5",
        },
        &NewMessage {
            id: message_id,
            conversation_id: id,
            role: "user",
            content,
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            client_message_id: None,
            parent_id,
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Conversation `n`, titled `n`.
async fn start_conversation(db: &Db, user_id: i64, n: usize) -> Result<(), String> {
    let (id, message_id, title) = (format!("c{n:03}"), format!("m{n:03}"), n.to_string());
    create(db, user_id, (&id, &message_id, &title), None).await
}

/// The conversations' titles in the order they were stored.
async fn stored_order(db: &Db) -> Vec<String> {
    sqlx::query_scalar("SELECT title FROM conversations ORDER BY rowid")
        .fetch_all(&sqlite(db).reads)
        .await
        .unwrap()
}

/// One thread: each writer below asks for its turn before the next is spawned, so the
/// order they asked in is the order they were spawned in.
#[tokio::test]
async fn writers_behind_a_held_turn_are_all_served_in_the_order_they_asked() {
    let (_dir, _, db) = fresh().await;
    let me = user(&db).await;
    let held = sqlite(&db).writer().await.unwrap();
    let mut writers = Vec::new();
    for n in 0..50 {
        let db = db.clone();
        writers.push(tokio::spawn(
            async move { start_conversation(&db, me, n).await },
        ));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Longer than SQLite's busy handler would sleep between its first tries.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "all wait their turn"
    );
    drop(held);
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let expected: Vec<String> = (0..50).map(|n| n.to_string()).collect();
    assert_eq!(
        stored_order(&db).await,
        expected,
        "first come, first served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_all_succeed_while_reads_go_on() {
    let (_dir, _, db) = fresh().await;
    let me = user(&db).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            start_conversation(&db, me, n).await?;
            // A read beside the writes, on the readers.
            db.list_conversations(me)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(stored_order(&db).await.len(), 200);
}

#[tokio::test]
async fn a_write_on_the_readers_fails_at_once() {
    let (_dir, _, db) = fresh().await;
    user(&db).await;
    let error = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("UPDATE users SET email = email").execute(&sqlite(&db).reads),
    )
    .await
    .expect("no wait for a lock")
    .unwrap_err();
    assert!(error.to_string().contains("readonly"), "{error}");
}

/// Another process (here another connection, outside the app's writer) holds the file's
/// write lock for a while: the app's writers wait for it within the busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_wait_for_another_process_holding_the_lock() {
    let (_dir, url, db) = fresh().await;
    let me = user(&db).await;
    let mut other = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mut foreign = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("UPDATE users SET updated_at = updated_at")
        .execute(&mut *foreign)
        .await
        .unwrap();
    let mut writers = Vec::new();
    for n in 0..20 {
        let db = db.clone();
        writers.push(tokio::spawn(
            async move { start_conversation(&db, me, n).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "the lock is taken"
    );
    // Reads go on all the while (WAL).
    assert_eq!(db.list_conversations(me).await.unwrap().len(), 0);
    foreign.commit().await.unwrap();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    assert_eq!(stored_order(&db).await.len(), 20);
}

/// A transaction sent as one command (`Sqlite::run_script`) that fails half-way keeps
/// nothing, and the writer goes on: the conversation is stored, then its message is not
/// (it names a parent that does not exist), so neither is kept.
#[tokio::test]
async fn a_script_that_fails_half_way_keeps_nothing_and_the_writer_goes_on() {
    let (_dir, _, db) = fresh().await;
    let me = user(&db).await;
    let failed = create(&db, me, ("c-bad", "m-bad", "bad"), Some("no-such-message")).await;
    assert!(failed.is_err(), "a foreign key fails the message");
    assert!(stored_order(&db).await.is_empty(), "nor the conversation");
    start_conversation(&db, me, 1).await.unwrap();
    assert_eq!(stored_order(&db).await, ["1"]);
}

/// Writes cut off at every moment (their request gone): each conversation is kept whole
/// (with its message) or not at all, and the writes after them all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cut_off_anywhere_leave_whole_conversations_and_a_working_writer() {
    let (_dir, _, db) = fresh().await;
    let me = user(&db).await;
    for n in 0..60 {
        let db2 = db.clone();
        let write = tokio::spawn(async move { start_conversation(&db2, me, n).await });
        // From before the command is sent to after it ran.
        for _ in 0..(n % 12) {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_micros(20 * (n as u64 % 5))).await;
        write.abort();
        let _ = write.await;
        start_conversation(&db, me, 1000 + n).await.unwrap();
    }
    let conversations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
        .fetch_one(&sqlite(&db).reads)
        .await
        .unwrap();
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversations c WHERE NOT EXISTS \
         (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
    )
    .fetch_one(&sqlite(&db).reads)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "a conversation without its message");
    assert!(conversations >= 60, "every write after a cut succeeded");
}

/// Commits land in the write-ahead log; the checkpointer copies them into the database
/// file shortly after, beside the writers. The writer never does it itself below 10,000
/// pages: a checkpoint inside a chat's write held up its answer by milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_the_log_into_the_file_and_the_writer_does_not() {
    let (dir, _, db) = fresh().await;
    let file = dir.path().join("writer.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let me = user(&db).await;
    // 1.6 MB of messages: with their indexes and search queue more than SQLite's default
    // of 1,000 pages of log, and far below the writer's own threshold of 10,000.
    let long = "word ".repeat(4_000);
    for n in 0..80 {
        let (id, message_id) = (format!("c{n:03}"), format!("m{n:03}"));
        create_saying(&db, me, (&id, &message_id, "long"), None, &long)
            .await
            .unwrap();
    }
    let before = size();
    assert!(
        before < 1_000_000,
        "the writer checkpointed itself: {before} bytes"
    );
    let checkpointer = db.spawn_checkpointer().expect("SQLite has one");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < 1_600_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "not checkpointed: {} bytes",
            size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the writer goes on meanwhile.
    start_conversation(&db, me, 1000).await.unwrap();
    checkpointer.abort();
}

/// The server runs the checkpointer from its start: what the start itself wrote (the
/// migrations' tables and indexes, a few dozen pages) reaches the database file within
/// seconds, far below the writer's own threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_checkpoints_what_it_writes() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let file = app.db_file.clone().expect("a SQLite file");
    let size = || std::fs::metadata(&file).unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < 64 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "not checkpointed: {} bytes",
            size()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
