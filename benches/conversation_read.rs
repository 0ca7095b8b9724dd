//! How long reading one conversation takes: the read the chat makes before calling
//! Anthropic for a continued conversation (`Db::conversation_with_messages`), on SQLite,
//! through the app's own read pool, one at a time. Prints the median and p90 per read for
//! a conversation of 10 and of 40 messages.
//!
//!   cargo bench --features ssr,stub --bench conversation_read

use std::time::{Duration, Instant};

use apexaurum::server::{
    db::{Db, NewConversation, NewMessage},
    user_settings::UserSettings,
};

const READS: usize = 3_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("read.db").display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let user = db
        .insert_user("read@example.org", "x", &UserSettings::default())
        .await
        .unwrap()
        .id;
    for messages in [10, 40] {
        let id = format!("conversation-{messages}");
        let ids: Vec<String> = (0..messages).map(|n| format!("{id}-m{n:03}")).collect();
        for (n, message_id) in ids.iter().enumerate() {
            let m = NewMessage {
                id: message_id,
                conversation_id: &id,
                role: if n % 2 == 0 { "user" } else { "assistant" },
                content: "Hello from the Anthropic stand-in. You said: hello",
                model: None,
                incomplete: false,
                input_tokens: None,
                output_tokens: None,
                client_message_id: None,
                parent_id: n.checked_sub(1).map(|p| ids[p].as_str()),
            };
            if n == 0 {
                let c = NewConversation {
                    id: &id,
                    user_id: user,
                    title: "read",
                    agent: "azoth",
                    model: "claude-sonnet-4-5",
                };
                db.create_conversation_with_message(&c, &m).await.unwrap();
            } else {
                db.insert_message(&m).await.unwrap();
            }
        }
        let mut took = Vec::with_capacity(READS);
        for _ in 0..READS {
            let start = Instant::now();
            let (_, rows) = db
                .conversation_with_messages(&id, user)
                .await
                .unwrap()
                .unwrap();
            took.push(start.elapsed());
            assert_eq!(rows.len(), messages);
        }
        took.sort();
        let at = |p: usize| took[took.len() * p / 100];
        println!(
            "a conversation of {messages} messages, {READS} reads: p50 {}  p90 {}",
            us(at(50)),
            us(at(90))
        );
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
