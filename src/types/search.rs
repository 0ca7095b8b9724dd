//! Conversation search as the browser and API clients see it.

use serde::{Deserialize, Serialize};

/// One conversation found by `GET /api/v1/conversations?q=…`: its summary (the fields of
/// `ConversationSummary`, spelled out rather than `#[serde(flatten)]`, whose decoder weighs
/// on the WASM), the text around the first match, and the message that matched (`None`
/// when only the title did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub model: String,
    pub created_at: String,
    pub updated_at: String,
    /// Plain text (never HTML): the matching message's words around the match, or the title.
    pub snippet: String,
    /// `snippet` cut into pieces, the matched words marked, so a page can highlight them
    /// without interpreting any of the text as markup. Joined, they are `snippet`.
    pub snippet_parts: Vec<SnippetPart>,
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    /// A word that matched the search.
    pub highlight: bool,
}
