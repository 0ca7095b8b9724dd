//! Searching a person's conversations by the words of their titles and messages.
//!
//! The query a person types is never handed to the database's query language: it is cut
//! into words (runs of letters and digits), and each word becomes a quoted prefix term, so
//! quotes, `*`, `NEAR`, `-`, `:` or unbalanced parentheses are only separators. Every word
//! must appear (in the title, or in one message). The databases find the conversations
//! (SQLite FTS5, PostgreSQL full-text, see `db/search.rs`); the snippet is cut here, the
//! same way for both.

use super::{db::search::SearchRow, state::AppState};
use crate::{
    error::AppError,
    types::search::{SearchHit, SnippetPart},
};

/// Words beyond this many are ignored.
const MAX_TERMS: usize = 8;
/// Characters of a query read at most; the rest is ignored.
const MAX_QUERY_CHARS: usize = 500;
/// Characters of one word used at most (a prefix of a longer word still finds it).
const MAX_TERM_CHARS: usize = 64;
/// Conversations returned at most.
pub const MAX_HITS: i64 = 50;
/// About this many characters of a message around its first match.
const SNIPPET_CHARS: usize = 160;
/// Of which this many before the match.
const SNIPPET_BEFORE: usize = 50;

/// The words of a query: lower case, letters and digits only, at most [`MAX_TERMS`],
/// without repeats.
pub fn terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word: String = word.to_lowercase().chars().take(MAX_TERM_CHARS).collect();
        if !terms.contains(&word) {
            terms.push(word);
        }
        if terms.len() == MAX_TERMS {
            break;
        }
    }
    terms
}

/// An FTS5 query for `terms` in `owner`'s documents (see `migrations/sqlite/0008_search.sql`):
/// each term a quoted prefix, all required.
pub fn fts5_query(owner: i64, terms: &[String]) -> String {
    let body: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    format!("owner : \"u{owner}\" AND body : ({})", body.join(" AND "))
}

/// A PostgreSQL `to_tsquery` text for `terms`: each a quoted prefix lexeme, all required.
pub fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("'{}':*", t.replace('\\', "\\\\").replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// Finds `user_id`'s conversations matching `query`, newest first. A query without any
/// word finds nothing.
pub async fn search(
    state: &AppState,
    user_id: i64,
    query: &str,
) -> Result<Vec<SearchHit>, AppError> {
    let terms = terms(query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let rows = state
        .db
        .search_conversations(user_id, &terms, MAX_HITS)
        .await?;
    Ok(rows.into_iter().map(|row| hit(row, &terms)).collect())
}

fn hit(row: SearchRow, terms: &[String]) -> SearchHit {
    let snippet_parts = match &row.message_content {
        Some(content) => snippet(content, terms),
        None => snippet(&row.title, terms),
    };
    SearchHit {
        id: row.id,
        title: row.title,
        agent: row.agent,
        model: row.model,
        created_at: super::conversations::rfc3339(row.created_at),
        updated_at: super::conversations::rfc3339(row.updated_at),
        snippet: snippet_parts.iter().map(|p| p.text.as_str()).collect(),
        snippet_parts,
        message_id: row.message_id,
    }
}

/// The words of `text` around its first word starting with one of `terms`, on one line,
/// with every such word marked; `…` where it was cut. Without a match, its start.
pub fn snippet(text: &str, terms: &[String]) -> Vec<SnippetPart> {
    let flat: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    // Each word (run of letters and digits) as a char range, and whether it matches.
    let mut words: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < flat.len() {
        if flat[i].is_alphanumeric() {
            let start = i;
            while i < flat.len() && flat[i].is_alphanumeric() {
                i += 1;
            }
            let word: String = flat[start..i].iter().collect::<String>().to_lowercase();
            let matched = terms.iter().any(|t| word.starts_with(t.as_str()));
            words.push((start, i, matched));
        } else {
            i += 1;
        }
    }
    let first = words.iter().find(|w| w.2).map_or(0, |w| w.0);
    // Start a little before the match, at a word's start.
    let mut start = first.saturating_sub(SNIPPET_BEFORE);
    if start > 0 {
        start = words
            .iter()
            .map(|w| w.0)
            .find(|&s| s >= start)
            .unwrap_or(first)
            .min(first);
    }
    // End at about the snippet's length, after a whole word (unless one word is longer).
    let mut end = (start + SNIPPET_CHARS).min(flat.len());
    if end < flat.len() {
        if let Some(&(_, word_end, _)) = words.iter().rfind(|w| w.1 <= end && w.0 > start) {
            end = word_end;
        }
    }

    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |text: String, highlight: bool| {
        if text.is_empty() {
            return;
        }
        match parts.last_mut() {
            Some(last) if last.highlight == highlight => last.text.push_str(&text),
            _ => parts.push(SnippetPart { text, highlight }),
        }
    };
    if start > 0 {
        push("…".into(), false);
    }
    let mut at = start;
    for &(ws, we, matched) in &words {
        if !matched || we <= start || ws >= end {
            continue;
        }
        let (ws, we) = (ws.max(start), we.min(end));
        push(flat[at..ws].iter().collect(), false);
        push(flat[ws..we].iter().collect(), true);
        at = we;
    }
    push(flat[at..end].iter().collect(), false);
    if end < flat.len() {
        push("…".into(), false);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn render(parts: &[SnippetPart]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.highlight {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn a_query_becomes_plain_lower_case_words() {
        assert_eq!(terms("Rust  lifetimes"), t(&["rust", "lifetimes"]));
        assert_eq!(
            terms("\"quoted\" AND (unbalanced"),
            t(&["quoted", "and", "unbalanced"])
        );
        assert_eq!(
            terms("NEAR(a b) -x * col:val"),
            t(&["near", "a", "b", "x", "col", "val"])
        );
        assert_eq!(terms("Grüße 日本語"), t(&["grüße", "日本語"]));
        assert!(terms("").is_empty());
        assert!(terms("*** --- \"\" ()").is_empty());
        assert_eq!(terms("a a A"), t(&["a"]));
        assert_eq!(terms(&"word ".repeat(1000)), t(&["word"]));
        assert_eq!(terms("1 2 3 4 5 6 7 8 9 10").len(), MAX_TERMS);
        assert_eq!(
            terms(&"x".repeat(10_000))[0].chars().count(),
            MAX_TERM_CHARS
        );
    }

    #[test]
    fn query_strings_quote_every_term() {
        assert_eq!(
            fts5_query(42, &t(&["near", "x"])),
            "owner : \"u42\" AND body : (\"near\"* AND \"x\"*)"
        );
        assert_eq!(tsquery(&t(&["rust", "o'neil"])), "'rust':* & 'o''neil':*");
        assert_eq!(tsquery(&t(&["a\\b"])), "'a\\\\b':*");
    }

    #[test]
    fn a_snippet_marks_the_matching_words() {
        let parts = snippet(
            "How do I export my\nconversations?",
            &t(&["export", "conv"]),
        );
        assert_eq!(render(&parts), "How do I [export] my [conversations]?");
        let plain: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(plain, "How do I export my conversations?");
    }

    #[test]
    fn a_long_text_is_cut_around_its_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let parts = snippet(&text, &t(&["needle"]));
        let shown = render(&parts);
        assert!(shown.starts_with("…hay"), "{shown}");
        assert!(shown.ends_with("straw…"), "{shown}");
        assert!(shown.contains("[needle]"), "{shown}");
        assert!(shown.chars().count() <= SNIPPET_CHARS + 6, "{shown}");
    }

    #[test]
    fn without_a_match_the_snippet_is_the_start() {
        let parts = snippet(&"word ".repeat(100), &t(&["absent"]));
        assert!(parts.iter().all(|p| !p.highlight));
        assert!(render(&parts).starts_with("word word"));
        assert!(render(&parts).ends_with('…'));
        assert!(snippet("", &t(&["x"])).is_empty());
    }

    #[test]
    fn markup_stays_text() {
        let parts = snippet("<b>bold</b> & <script>", &t(&["bold"]));
        assert_eq!(render(&parts), "<b>[bold]</b> & <script>");
    }

    #[test]
    fn a_word_longer_than_the_snippet_is_cut_not_lost() {
        let long = "x".repeat(1000);
        let parts = snippet(&long, &t(&["xx"]));
        let shown: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert!(shown.chars().count() <= SNIPPET_CHARS + 2, "{shown}");
        assert!(parts[0].highlight);
    }
}
