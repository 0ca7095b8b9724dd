//! SQL of search and export: conversations by the words of their titles and messages
//! (SQLite FTS5 or PostgreSQL full-text, see the 0008 migrations; SQLite's index catching
//! up after the writes, 0010), and a person's conversations page by page.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::{ConversationRow, Db, DbError, CONVERSATION_COLUMNS};

/// A conversation found, with its first matching message (none when only the title matched).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SearchRow {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub model: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub message_content: Option<String>,
}

/// `hits` (conversation_id, message_id: NULL for a title) differs by database; the rest is
/// shared: the newest `$3` conversations of user `$2` with a hit, each with its earliest
/// matching message.
const SEARCH_REST: &str = "\
found AS (
    SELECT c.id, c.title, c.agent, c.model, c.created_at, c.updated_at FROM conversations c
    WHERE c.user_id = $2 AND c.id IN (SELECT conversation_id FROM hits)
    ORDER BY c.updated_at DESC, c.id LIMIT $3
),
firsts AS (
    SELECT m.conversation_id, m.id, m.content,
           ROW_NUMBER() OVER (PARTITION BY m.conversation_id ORDER BY m.created_at, m.id) AS n
    FROM hits h JOIN messages m ON m.id = h.message_id
    WHERE h.conversation_id IN (SELECT id FROM found)
)
SELECT f.id, f.title, f.agent, f.model, f.created_at, f.updated_at,
       x.id AS message_id, x.content AS message_content
FROM found f LEFT JOIN firsts x ON x.conversation_id = f.id AND x.n = 1
ORDER BY f.updated_at DESC, f.id";

/// `$1` is an FTS5 query that names the owner (`search::fts5_query`).
const SQLITE_HITS: &str = "WITH hits AS (
    SELECT d.conversation_id, d.message_id
    FROM search_index JOIN search_docs d ON d.id = search_index.rowid
    WHERE search_index MATCH $1
),";

/// `$1` is a `to_tsquery` text (`search::tsquery`); the expressions are the indexes'.
const POSTGRES_HITS: &str = "WITH hits AS (
    SELECT m.conversation_id, m.id AS message_id
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.user_id = $2
      AND to_tsvector('simple'::regconfig, m.content) @@ to_tsquery('simple'::regconfig, $1)
    UNION ALL
    SELECT c.id, NULL FROM conversations c
    WHERE c.user_id = $2
      AND to_tsvector('simple'::regconfig, c.title) @@ to_tsquery('simple'::regconfig, $1)
),";

impl Db {
    /// `user_id`'s conversations whose title, or one of whose messages, holds every one of
    /// `terms` (as word prefixes), newest first, at most `limit`. On SQLite, what is still
    /// pending is indexed first, so nothing stored before the search is missed.
    pub async fn search_conversations(
        &self,
        user_id: i64,
        terms: &[String],
        limit: i64,
    ) -> Result<Vec<SearchRow>, DbError> {
        self.index_pending_search_docs().await?;
        // Each database's own match, then the same query.
        let (hits, query) = match self {
            Db::Sqlite(_) => (
                SQLITE_HITS,
                crate::server::search::fts5_query(user_id, terms),
            ),
            Db::Postgres(_) => (POSTGRES_HITS, crate::server::search::tsquery(terms)),
        };
        let sql = format!("{hits}\n{SEARCH_REST}");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SearchRow>(&sql)
            .bind(&query).bind(user_id).bind(limit).fetch_all(pool).await)?)
    }

    /// A page of `user_id`'s conversations, oldest first, after `after` (the last one of the
    /// page before: its creation time and id).
    pub async fn conversations_page(
        &self,
        user_id: i64,
        after: Option<(DateTime<Utc>, String)>,
        limit: i64,
    ) -> Result<Vec<ConversationRow>, DbError> {
        let rows = match after {
            None => {
                let sql = format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_id = $1 \
                     ORDER BY created_at, id LIMIT $2"
                );
                on_pool!(self, pool => sqlx::query_as::<_, ConversationRow>(&sql)
                    .bind(user_id).bind(limit).fetch_all(pool).await)?
            }
            Some((created_at, id)) => {
                let sql = format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_id = $1 \
                     AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                     ORDER BY created_at, id LIMIT $4"
                );
                on_pool!(self, pool => sqlx::query_as::<_, ConversationRow>(&sql)
                    .bind(user_id).bind(created_at).bind(id).bind(limit).fetch_all(pool).await)?
            }
        };
        Ok(rows)
    }
}

/// Documents indexed per transaction at most, so that a long backlog (after a kill, say)
/// never holds SQLite's write lock for long: other writers wait for it.
const INDEX_BATCH: i64 = 200;

/// Adds the next `$1` pending documents to the index (see migration 0010): a title, or a
/// message's text, each with its owner's token.
const INDEX_PENDING: &str = "\
INSERT INTO search_index (rowid, owner, body)
SELECT d.id, 'u' || c.user_id, CASE WHEN d.message_id IS NULL THEN c.title ELSE m.content END
FROM search_docs d
JOIN conversations c ON c.id = d.conversation_id
LEFT JOIN messages m ON m.id = d.message_id
WHERE d.pending = 1 AND d.id <= (SELECT max(id) FROM (SELECT id FROM search_docs \
    WHERE pending = 1 ORDER BY id LIMIT $1))";

/// Marks the next `$1` pending documents indexed: the ones [`INDEX_PENDING`] added.
const MARK_INDEXED: &str = "UPDATE search_docs SET pending = 0 WHERE pending = 1 AND id <= \
    (SELECT max(id) FROM (SELECT id FROM search_docs WHERE pending = 1 ORDER BY id LIMIT $1))";

impl Db {
    /// Adds every search document still pending to SQLite's full-text index, in batches of
    /// one transaction each; returns how many. Nothing to do on PostgreSQL.
    pub async fn index_pending_search_docs(&self) -> Result<u64, DbError> {
        let Db::Sqlite(sqlite) = self else {
            return Ok(0);
        };
        let mut indexed = 0;
        loop {
            // A read first: most calls (every search) find nothing and take no write lock.
            let any: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
                "SELECT id FROM search_docs WHERE pending = 1 LIMIT 1")
                .fetch_optional(pool).await)?;
            if any.is_none() {
                return Ok(indexed);
            }
            // One command to the writer (see `Sqlite::run_script`) instead of one per
            // statement. The batch is chosen under the write lock, so no other indexer
            // takes the same documents (one indexed twice would be in the index twice);
            // both statements find the same last id, as the first changes no document.
            let script = super::Script::new()
                .statement(INDEX_PENDING)
                .bind(INDEX_BATCH)
                .statement(MARK_INDEXED)
                .bind(INDEX_BATCH)
                .statement("SELECT changes()");
            let rows = sqlite.run_script(script).await?;
            let done = match rows.first() {
                Some(row) => u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0),
                None => 0,
            };
            indexed += done;
            if done < INDEX_BATCH as u64 {
                return Ok(indexed);
            }
        }
    }
}
