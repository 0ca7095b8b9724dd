//! Reading one's history: export (Markdown, JSON, everything) and search.

use apexaurum::server::db::NewMessage;
use serde_json::{json, Value};

use crate::{
    api_keys::CANARY,
    chat::chat,
    helpers::{assert_error, new_client, spawn_app, Backend, TestApp},
};

/// The signed-in user's id.
async fn user_id(app: &TestApp, email: &str) -> i64 {
    app.db.find_user_by_email(email).await.unwrap().unwrap().id
}

/// A conversation of `user_id` with these messages (user, answer, user, …), written
/// straight to the database; returns its id and its messages' ids.
async fn seed(
    app: &TestApp,
    user_id: i64,
    title: &str,
    messages: &[&str],
) -> (String, Vec<String>) {
    let id = format!("conv-{}", uuid());
    app.db
        .create_conversation(&id, user_id, title, "azoth", "claude-sonnet-4-5")
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (i, content) in messages.iter().enumerate() {
        let message_id = format!("msg-{}", uuid());
        let answer = i % 2 == 1;
        app.db
            .insert_message(&NewMessage {
                id: &message_id,
                conversation_id: &id,
                role: if answer { "assistant" } else { "user" },
                content,
                model: answer.then_some("claude-sonnet-4-5"),
                incomplete: false,
                input_tokens: answer.then_some(3),
                output_tokens: answer.then_some(4),
                client_message_id: None,
                // One chain: each message follows the one before.
                parent_id: ids.last().map(String::as_str),
            })
            .await
            .unwrap();
        ids.push(message_id);
    }
    (id, ids)
}

fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The hits of a search (`GET /api/v1/conversations?q=`), asserting it answered 200.
pub(crate) async fn search(app: &TestApp, q: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/conversations"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "q = {q:?}");
    response.json::<Vec<Value>>().await.unwrap()
}

fn ids(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["id"].as_str().unwrap()).collect()
}

/// The highlighted words of a hit.
fn highlighted(hit: &Value) -> Vec<String> {
    hit["snippet_parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["highlight"] == true)
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect()
}

async fn a_conversation_exports_as_markdown_and_json_with_every_message(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let first = chat(&app, json!({ "message": "Tell me about lifetimes" })).await;
    let id = first.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    chat(
        &app,
        json!({ "message": "And borrowing?", "conversation_id": id }),
    )
    .await;

    let response = app
        .get(&format!(
            "/api/v1/conversations/{id}/export?format=markdown"
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"Tell me about lifetimes.md\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let md = response.text().await.unwrap();
    assert!(md.starts_with("# Tell me about lifetimes\n"), "{md}");
    assert_eq!(md.matches("## You (user) · ").count(), 2, "{md}");
    assert_eq!(md.matches(" (assistant) · ").count(), 2, "{md}");
    assert!(md.contains("\n\nTell me about lifetimes\n"), "{md}");
    assert!(md.contains("You said: And borrowing?"), "{md}");
    assert!(md.contains(" UTC · claude-"), "the answer's model: {md}");

    let response = app
        .get(&format!("/api/v1/conversations/{id}/export?format=json"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"Tell me about lifetimes.json\""
    );
    let exported: Value = response.json().await.unwrap();
    assert_eq!(exported["id"], id.as_str());
    assert_eq!(exported["title"], "Tell me about lifetimes");
    let messages = exported["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    for m in messages {
        assert!(m["created_at"].as_str().unwrap().ends_with('Z'), "{m}");
        assert!(m["content"].as_str().is_some_and(|c| !c.is_empty()), "{m}");
    }
    assert!(messages[1]["model"]
        .as_str()
        .unwrap()
        .starts_with("claude-"));
    assert!(messages[0]["model"].is_null());

    // A title with quotes, a line break attempt and other scripts: a safe name, and the
    // full one for browsers that read RFC 5987.
    let renamed = app
        .client
        .patch(app.url(&format!("/api/v1/conversations/{id}")))
        .json(&json!({ "title": "Grüße \"quoted\" a/b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let response = app
        .get(&format!(
            "/api/v1/conversations/{id}/export?format=markdown"
        ))
        .await;
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"Gr__e quoted a b.md\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20quoted%20a%20b.md"
    );
}

async fn exports_refuse_unknown_formats_and_other_peoples_conversations(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let (mine, _) = seed(&app, user_id(&app, &email).await, "Mine", &["hello"]).await;

    assert_error(
        app.get(&format!("/api/v1/conversations/{mine}/export?format=pdf"))
            .await,
        422,
        "invalid_request",
    )
    .await;
    assert_error(
        app.get("/api/v1/conversations/no-such-id/export?format=json")
            .await,
        404,
        "conversation_not_found",
    )
    .await;
    // No format: Markdown.
    let response = app
        .get(&format!("/api/v1/conversations/{mine}/export"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );

    // Someone else asking for it sees it as missing; nobody at all is asked to log in.
    let other = new_client();
    let registered = other
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": "other@example.org", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    for format in ["markdown", "json"] {
        let response = other
            .get(app.url(&format!(
                "/api/v1/conversations/{mine}/export?format={format}"
            )))
            .send()
            .await
            .unwrap();
        assert_error(response, 404, "conversation_not_found").await;
    }
    let response = new_client()
        .get(app.url(&format!("/api/v1/conversations/{mine}/export?format=json")))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthenticated").await;
    let response = new_client()
        .get(app.url("/api/v1/conversations/export"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthenticated").await;
}

async fn all_conversations_export_as_one_json_document_page_by_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;

    // Nothing yet: a valid, empty document.
    let response = app.get("/api/v1/conversations/export").await;
    assert_eq!(response.status(), 200);
    let empty: Value = response.json().await.unwrap();
    assert_eq!(empty["conversations"], json!([]));

    // More than one page of the export's reads.
    let mut seeded = Vec::new();
    for i in 0..105 {
        let (id, _) = seed(&app, me, &format!("Conversation {i}"), &["q", "a"]).await;
        seeded.push(id);
    }
    let other = app
        .db
        .insert_user("x@example.org", "hash", &Default::default())
        .await
        .unwrap();
    let (theirs, _) = seed(&app, other.id, "Not mine", &["secret words"]).await;

    let response = app.get("/api/v1/conversations/export").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"apexaurum-conversations-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let all: Value = response.json().await.unwrap();
    assert!(all["exported_at"].as_str().unwrap().ends_with('Z'));
    let conversations = all["conversations"].as_array().unwrap();
    let exported: Vec<&str> = conversations
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(exported.len(), 105);
    let mut expected: Vec<&str> = seeded.iter().map(String::as_str).collect();
    expected.sort();
    let mut got = exported.clone();
    got.sort();
    assert_eq!(got, expected, "each once, none of anyone else's");
    assert!(!exported.contains(&theirs.as_str()));
    for c in conversations {
        let messages = c["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{c}");
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(messages[1]["model"], "claude-sonnet-4-5");
    }
}

async fn search_finds_titles_and_messages_with_a_snippet_and_the_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;
    let (rust, rust_messages) = seed(
        &app,
        me,
        "Rust questions",
        &[
            "How do lifetimes work?",
            "Lifetimes name how long a borrow lives. The borrow checker compares them.",
            "And what about the Borrow checker in loops?",
            "In loops the checker sees each iteration.",
        ],
    )
    .await;
    let (cooking, _) = seed(
        &app,
        me,
        "Dinner plans",
        &["A recipe for bread", "Flour, water, salt."],
    )
    .await;

    // By message text: the earliest matching message, its words marked.
    let hits = search(&app, "borrow checker").await;
    assert_eq!(ids(&hits), [rust.as_str()]);
    let hit = &hits[0];
    assert_eq!(hit["message_id"], rust_messages[1].as_str());
    assert_eq!(hit["title"], "Rust questions");
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("The borrow checker compares them."),
        "{snippet}"
    );
    assert_eq!(highlighted(hit), ["borrow", "borrow", "checker"]);
    let joined: String = hit["snippet_parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(joined, snippet);
    for field in ["agent", "model", "created_at", "updated_at"] {
        assert!(hit[field].is_string(), "{field}: {hit}");
    }

    // Case and word beginnings: "LIFETIME" finds "Lifetimes".
    assert_eq!(ids(&search(&app, "LIFETIME").await), [rust.as_str()]);
    // Every word must be in one message (or the title).
    assert!(search(&app, "bread borrow").await.is_empty());

    // By title only: no message.
    let hits = search(&app, "dinner").await;
    assert_eq!(ids(&hits), [cooking.as_str()]);
    assert!(hits[0]["message_id"].is_null());
    assert_eq!(hits[0]["snippet"], "Dinner plans");
    assert_eq!(highlighted(&hits[0]), ["Dinner"]);

    // Newest first.
    let (newer, _) = seed(&app, me, "More bread", &["bread again"]).await;
    assert_eq!(
        ids(&search(&app, "bread").await),
        [newer.as_str(), cooking.as_str()]
    );
    app.db
        .touch_conversation(&cooking, "claude-sonnet-4-5", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        ids(&search(&app, "bread").await),
        [cooking.as_str(), newer.as_str()]
    );

    // No q, or a blank one: the plain list.
    for path in [
        "/api/v1/conversations",
        "/api/v1/conversations?q=",
        "/api/v1/conversations?q=%20%20",
    ] {
        let list: Vec<Value> = app.get(path).await.json().await.unwrap();
        assert_eq!(list.len(), 3, "{path}");
        assert!(list[0].get("snippet").is_none(), "{path}");
    }
}

async fn search_follows_renames_deletions_and_chats(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    let done = chat(&app, json!({ "message": "Quantum tunnelling explained" })).await;
    let id = done.last().1["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer_id = done.last().1["message_id"].as_str().unwrap().to_string();

    // A message sent through the chat is found, and so is its answer.
    let hits = search(&app, "tunnelling").await;
    assert_eq!(ids(&hits), [id.as_str()]);
    assert!(hits[0]["message_id"].is_string());
    let hits = search(&app, "stand-in said").await;
    assert_eq!(hits[0]["message_id"], answer_id.as_str());

    // Renamed: the new title is found, the old title's words only where messages hold them.
    let renamed = app
        .client
        .patch(app.url(&format!("/api/v1/conversations/{id}")))
        .json(&json!({ "title": "Physics homework zebra" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let hits = search(&app, "zebra").await;
    assert_eq!(ids(&hits), [id.as_str()]);
    assert!(hits[0]["message_id"].is_null());
    assert_eq!(hits[0]["title"], "Physics homework zebra");

    // Deleted: found no more, by title or text.
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{id}"))
            .await
            .status(),
        204
    );
    assert!(search(&app, "zebra").await.is_empty());
    assert!(search(&app, "tunnelling").await.is_empty());
    assert!(search(&app, "stand").await.is_empty());
}

async fn search_sees_only_its_owners_conversations(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;
    let other = app
        .db
        .insert_user("other@example.org", "hash", &Default::default())
        .await
        .unwrap();
    let (mine, _) = seed(&app, me, "Shared word", &["pineapple mine"]).await;
    seed(
        &app,
        other.id,
        "Shared word",
        &["pineapple theirs", "secretive answer"],
    )
    .await;
    // The owner token in the index is "u<id>": another user's id as a word finds nothing of theirs.
    seed(
        &app,
        other.id,
        &format!("u{me}"),
        &[&format!("u{me} owner u{}", other.id)],
    )
    .await;

    assert_eq!(ids(&search(&app, "pineapple").await), [mine.as_str()]);
    assert_eq!(ids(&search(&app, "shared word").await), [mine.as_str()]);
    assert!(search(&app, "secretive").await.is_empty());
    assert!(search(&app, "theirs").await.is_empty());
    assert!(search(&app, &format!("u{me}")).await.is_empty());
    assert!(search(&app, &format!("u{}", other.id)).await.is_empty());
    assert!(search(&app, "owner").await.is_empty());

    let anonymous = new_client()
        .get(app.url("/api/v1/conversations?q=pineapple"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthenticated").await;
}

async fn hostile_queries_never_fail(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;
    let (id, _) = seed(
        &app,
        me,
        "Operators",
        &["near and or not quoted \"text\" with * stars (parens) and minus - signs, o'neil's"],
    )
    .await;
    let long = "a".repeat(8_000);
    let many = "word ".repeat(1_500);
    // (query, whether the seeded conversation is found)
    let table: &[(&str, Option<bool>)] = &[
        ("\"", Some(false)),
        ("\"quoted", Some(true)),
        ("quoted\"", Some(true)),
        ("*", Some(false)),
        ("star*", Some(true)),
        ("NEAR", Some(true)),
        ("NEAR(near quoted, 2)", Some(false)),
        ("NEAR(near quoted)", Some(true)),
        ("near AND", Some(true)),
        ("OR", Some(true)),
        ("NOT", Some(true)),
        ("-", Some(false)),
        ("-minus", Some(true)),
        ("minus -signs", Some(true)),
        ("(", Some(false)),
        ("((parens", Some(true)),
        ("parens))", Some(true)),
        (")(", Some(false)),
        ("body:near", Some(false)),
        ("near:quoted", Some(true)),
        ("owner:u1", Some(false)),
        ("{owner body}: near", Some(false)),
        ("^near", Some(true)),
        ("o'neil", Some(true)),
        ("'", Some(false)),
        ("\\", Some(false)),
        ("a:*", None),
        ("& | ! <-> :*", Some(false)),
        ("'; DROP TABLE messages; --", Some(false)),
        ("%", Some(false)),
        ("_", Some(false)),
        ("\u{0}", Some(false)),
        ("\u{202E}near", Some(true)),
        ("😀", Some(false)),
        ("日本語", Some(false)),
        ("ß", Some(false)),
        (&long, Some(false)),
        (&many, Some(false)),
    ];
    for (q, found) in table {
        let hits = search(&app, q).await;
        if let Some(found) = found {
            assert_eq!(
                ids(&hits).contains(&id.as_str()),
                *found,
                "q = {:?}",
                q.chars().take(40).collect::<String>()
            );
        }
    }
    // The messages are all still there.
    let stored: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["messages"].as_array().unwrap().len(), 1);
    // And through the page's server function, too.
    let huge = "(\"".repeat(100_000);
    for q in ["\"", "NEAR(", "*", "", &huge] {
        let response = app
            .client
            .post(app.url("/api/fn/search_conversations"))
            .form(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", q.len());
    }
    let response = app
        .client
        .post(app.url("/api/fn/search_conversations"))
        .form(&[("q", "operators")])
        .send()
        .await
        .unwrap();
    let hits: Vec<Value> = response.json().await.unwrap();
    assert_eq!(ids(&hits), [id.as_str()]);
}

/// The chat page as the server renders it.
async fn chat_page(app: &TestApp, query: &str) -> String {
    let response = app.get(&format!("/chat{query}")).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn without_a_usable_key_the_chat_page_still_shows_the_conversations(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;
    let (id, messages) = seed(
        &app,
        me,
        "Golden ratio notes",
        &["What is phi?", "About 1.618."],
    )
    .await;

    // No key: the conversation, the list and the export links, and the key panel in the
    // Message field's place.
    let page = chat_page(&app, &format!("?c={id}")).await;
    assert!(page.contains("API Key Required"), "the gate");
    assert!(page.contains("Set Up API Key"));
    assert!(
        page.contains("What is phi?") && page.contains("About 1.618."),
        "the messages"
    );
    assert!(
        page.contains(&format!("id=\"m-{}\"", messages[0])),
        "messages are anchors"
    );
    assert!(page.contains("Golden ratio notes"), "the list");
    assert!(page.contains(&format!(
        "/api/v1/conversations/{id}/export?format=markdown"
    )));
    assert!(page.contains("/api/v1/conversations/export"));
    assert!(!page.contains("id=\"message\""), "no Message field");
    assert!(
        !page.contains("class=\"button primary new-conversation\""),
        "nothing to start without a key"
    );

    // A key Anthropic refused: its panel there instead.
    assert_eq!(app.save_key(CANARY).await.status(), 200);
    app.stub.state.revoke(CANARY);
    app.client
        .post(app.url("/api/v1/user/api-key/test"))
        .send()
        .await
        .unwrap();
    let page = chat_page(&app, &format!("?c={id}")).await;
    assert!(page.contains("Your API key was rejected"));
    assert!(page.contains("Update your key"));
    assert!(page.contains("What is phi?"));
    assert!(!page.contains("id=\"message\""));
}

async fn a_search_from_the_page_without_script_lists_the_results(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.signed_in_user().await;
    let me = user_id(&app, &email).await;
    seed(&app, me, "Trip", &["Pack the <b>umbrella</b> please"]).await;
    seed(&app, me, "Other", &["nothing here"]).await;
    let page = chat_page(&app, "?q=umbrella").await;
    assert!(page.contains("1 conversation found."), "{page}");
    // (The server may close the word with a hydration marker: `umbrella<!></mark>`.)
    assert!(page.contains("<mark>umbrella"), "the match marked: {page}");
    assert!(
        page.contains("&lt;b&gt;"),
        "the message's markup stays text"
    );
    assert!(
        page.contains("value=\"umbrella\""),
        "the field keeps the words"
    );
    let page = chat_page(&app, "?q=%22NEAR(").await;
    assert!(page.contains("No conversations match."));
}

crate::db_tests!(
    a_conversation_exports_as_markdown_and_json_with_every_message,
    exports_refuse_unknown_formats_and_other_peoples_conversations,
    all_conversations_export_as_one_json_document_page_by_page,
    search_finds_titles_and_messages_with_a_snippet_and_the_message,
    search_follows_renames_deletions_and_chats,
    search_sees_only_its_owners_conversations,
    hostile_queries_never_fail,
    without_a_usable_key_the_chat_page_still_shows_the_conversations,
    a_search_from_the_page_without_script_lists_the_results,
);
