//! Exporting conversations: one as Markdown or JSON, or all of a person's as one JSON
//! document, streamed conversation by conversation so thousands of them never sit in
//! memory at once.

use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;

use super::{conversations, state::AppState};
use crate::{error::AppError, types::chat::ConversationView};

/// How a conversation is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    /// `markdown` (or `md`) or `json`; none given is Markdown.
    pub fn parse(format: Option<&str>) -> Result<Self, AppError> {
        match format.map(str::trim) {
            None | Some("markdown") | Some("md") => Ok(Self::Markdown),
            Some("json") => Ok(Self::Json),
            Some(_) => Err(AppError::InvalidRequest(
                "Export as format=markdown or format=json.".into(),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Json => "application/json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => "json",
        }
    }
}

/// An export ready to send: its type, `Content-Disposition` and body.
pub struct Export {
    pub content_type: &'static str,
    pub disposition: String,
    pub body: String,
}

/// One of `user_id`'s conversations, every message with its role, time and model.
pub async fn one(
    state: &AppState,
    user_id: i64,
    id: &str,
    format: Format,
) -> Result<Export, AppError> {
    let view = conversations::get(state, user_id, id).await?;
    let body = match format {
        Format::Json => serde_json::to_string_pretty(&view)
            .map_err(|e| super::internal("serializing a conversation for export", e))?,
        Format::Markdown => {
            let agent = state
                .agents
                .get(&view.summary.agent)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| view.summary.agent.to_uppercase());
            markdown(&view, &agent, Utc::now())
        }
    };
    Ok(Export {
        content_type: format.content_type(),
        disposition: attachment(&view.summary.title, format.extension()),
        body,
    })
}

/// The `Content-Disposition` of the export of all conversations.
pub fn all_disposition(now: DateTime<Utc>) -> String {
    attachment(
        &format!("apexaurum-conversations-{}", now.format("%Y-%m-%d")),
        "json",
    )
}

/// Conversations read from the database per page of the export of all.
const PAGE: i64 = 100;

/// All of `user_id`'s conversations, oldest first, as `{"exported_at": …, "conversations":
/// [ConversationView, …]}`, produced a conversation at a time. A database failure midway
/// ends the stream with an error (the download fails rather than looking complete).
pub fn all(
    state: AppState,
    user_id: i64,
    now: DateTime<Utc>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    async_stream::stream! {
        let exported_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        yield Ok(Bytes::from(format!(
            "{{\"exported_at\":\"{exported_at}\",\"conversations\":["
        )));
        let failed = || std::io::Error::other("the export stopped: the database failed");
        let mut after = None;
        let mut first = true;
        loop {
            let page = match state.db.conversations_page(user_id, after.take(), PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = AppError::from(e);
                    yield Err(failed());
                    return;
                }
            };
            let full = page.len() as i64 == PAGE;
            after = page.last().map(|c| (c.created_at, c.id.clone()));
            for row in page {
                // The same view as the single export (with its costs); one deleted meanwhile
                // is left out.
                let view = match conversations::get(&state, user_id, &row.id).await {
                    Ok(view) => view,
                    Err(AppError::ConversationNotFound) => continue,
                    Err(_) => {
                        yield Err(failed());
                        return;
                    }
                };
                let mut chunk = if first { Vec::new() } else { b",".to_vec() };
                first = false;
                if let Err(e) = serde_json::to_writer(&mut chunk, &view) {
                    let _ = super::internal("serializing a conversation for export", e);
                    yield Err(failed());
                    return;
                }
                yield Ok(Bytes::from(chunk));
            }
            if !full {
                break;
            }
        }
        yield Ok(Bytes::from_static(b"]}"));
    }
}

/// A conversation as a Markdown document: title, Agent, model and times, then each message
/// under a heading naming who wrote it (and the role), when, and with which model.
pub fn markdown(view: &ConversationView, agent: &str, now: DateTime<Utc>) -> String {
    let s = &view.summary;
    let mut out = String::new();
    out.push_str(&format!("# {}\n\n", one_line(&s.title)));
    out.push_str(&format!("- Agent: {agent}\n"));
    out.push_str(&format!("- Model: {}\n", s.model));
    out.push_str(&format!("- Started: {}\n", human_time(&s.created_at)));
    out.push_str(&format!("- Last message: {}\n", human_time(&s.updated_at)));
    out.push_str(&format!(
        "- Exported from ApexAurum: {}\n",
        human_time(&now.to_rfc3339_opts(SecondsFormat::Secs, true))
    ));
    for m in &view.messages {
        out.push_str("\n---\n\n");
        let who = if m.role == "user" {
            "You (user)".to_string()
        } else {
            format!("{agent} (assistant)")
        };
        out.push_str(&format!("## {who} · {}", human_time(&m.created_at)));
        if let Some(model) = &m.model {
            out.push_str(&format!(" · {model}"));
        }
        out.push_str("\n\n");
        out.push_str(m.content.trim_end());
        out.push('\n');
        if m.incomplete {
            out.push_str("\n*(This answer is incomplete: it was cut off.)*\n");
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2026-11-25T13:42:48Z` as `2026-11-25 13:42:48 UTC` (as given when it does not parse).
fn human_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Longest file name (without its extension), in characters.
const MAX_NAME_CHARS: usize = 80;

/// A file name from a title: no control characters (so no CR or LF), no quotes, no path or
/// reserved characters (`/ \ : * ? " < > |`), white space collapsed, no leading or trailing
/// dots or spaces, at most [`MAX_NAME_CHARS`]; `conversation` when nothing is left.
pub fn safe_filename(title: &str) -> String {
    let replaced: String = title
        .chars()
        .map(|c| {
            if c.is_control()
                || matches!(
                    c,
                    '/' | '\\' | ':' | '*' | '?' | '"' | '\'' | '<' | '>' | '|' | '`'
                )
                || is_invisible(c)
            {
                ' '
            } else {
                c
            }
        })
        .collect();
    let name: String = one_line(&replaced).chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if name.is_empty() {
        "conversation".into()
    } else {
        name.to_string()
    }
}

/// Characters that change how text around them displays (bidirectional overrides,
/// zero-width ones): a file name could otherwise pretend to another extension.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `attachment; filename="…"` with an ASCII name, and the full name as RFC 5987
/// `filename*` when it is not ASCII.
pub fn attachment(title: &str, extension: &str) -> String {
    let name = safe_filename(title);
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let ascii = if ascii.chars().all(|c| c == '_' || c == ' ') {
        "conversation".to_string()
    } else {
        ascii
    };
    let mut header = format!("attachment; filename=\"{ascii}.{extension}\"");
    if !name.is_ascii() {
        header.push_str(&format!(
            "; filename*=UTF-8''{}.{extension}",
            rfc5987(&name)
        ));
    }
    header
}

/// Percent-encodes all but RFC 5987's `attr-char`s.
fn rfc5987(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::{ConversationSummary, MessageView};

    #[test]
    fn file_names_lose_quotes_line_breaks_and_path_characters() {
        assert_eq!(safe_filename("Rust lifetimes"), "Rust lifetimes");
        assert_eq!(
            safe_filename("a\"b\r\nContent-Type: x/../..\\etc"),
            "a b Content-Type x .. .. etc"
        );
        assert_eq!(safe_filename("../../etc/passwd"), "etc passwd");
        assert_eq!(safe_filename("  ...hidden. "), "hidden");
        assert_eq!(safe_filename("\"\"\"\n"), "conversation");
        assert_eq!(safe_filename(""), "conversation");
        assert_eq!(safe_filename("evil\u{202E}dm.exe"), "evil dm.exe");
        assert_eq!(safe_filename(&"x".repeat(500)).len(), MAX_NAME_CHARS);
    }

    #[test]
    fn content_disposition_is_ascii_with_the_full_name_encoded() {
        assert_eq!(
            attachment("Plain title", "md"),
            "attachment; filename=\"Plain title.md\""
        );
        assert_eq!(
            attachment("Grüße \"und\" so", "json"),
            "attachment; filename=\"Gr__e und so.json\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20und%20so.json"
        );
        assert_eq!(
            attachment("日本語", "md"),
            "attachment; filename=\"conversation.md\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.md"
        );
        for title in ["a\r\nSet-Cookie: x=1", "q\"uote", "semi;colon"] {
            let header = attachment(title, "md");
            assert!(!header.contains('\r') && !header.contains('\n'), "{header}");
            assert_eq!(header.matches('"').count(), 2, "{header}");
            assert!(http::HeaderValue::from_str(&header).is_ok(), "{header}");
        }
    }

    #[test]
    fn formats_are_markdown_or_json() {
        assert_eq!(Format::parse(None), Ok(Format::Markdown));
        assert_eq!(Format::parse(Some("markdown")), Ok(Format::Markdown));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert!(Format::parse(Some("pdf")).is_err());
        assert!(Format::parse(Some("")).is_err());
    }

    #[test]
    fn markdown_names_each_messages_role_time_and_model() {
        let view = ConversationView {
            summary: ConversationSummary {
                id: "c1".into(),
                title: "Export me".into(),
                agent: "azoth".into(),
                model: "claude-x".into(),
                created_at: "2026-11-25T13:42:48Z".into(),
                updated_at: "2026-11-25T13:43:00Z".into(),
            },
            messages: vec![
                MessageView {
                    id: "m1".into(),
                    role: "user".into(),
                    content: "Hello **there**".into(),
                    model: None,
                    incomplete: false,
                    input_tokens: None,
                    output_tokens: None,
                    created_at: "2026-11-25T13:42:48Z".into(),
                    payer: None,
                    cache_creation_input_tokens: None,
                    cache_read_input_tokens: None,
                    cost_usd: None,
                    saved_usd: None,
                    parent_id: None,
                    siblings: Default::default(),
                },
                MessageView {
                    id: "m2".into(),
                    role: "assistant".into(),
                    content: "Hi!\n\n```rust\nfn main() {}\n```\n".into(),
                    model: Some("claude-x".into()),
                    incomplete: true,
                    input_tokens: Some(1),
                    output_tokens: Some(2),
                    created_at: "2026-11-25T13:42:50Z".into(),
                    payer: None,
                    cache_creation_input_tokens: None,
                    cache_read_input_tokens: None,
                    cost_usd: None,
                    saved_usd: None,
                    parent_id: None,
                    siblings: Default::default(),
                },
            ],
            cost_usd: 0.0,
        };
        let now = DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let md = markdown(&view, "AZOTH", now);
        assert!(
            md.starts_with("# Export me\n\n- Agent: AZOTH\n- Model: claude-x\n"),
            "{md}"
        );
        assert!(
            md.contains("## You (user) · 2026-11-25 13:42:48 UTC\n\nHello **there**\n"),
            "{md}"
        );
        assert!(md.contains("## AZOTH (assistant) · 2026-11-25 13:42:50 UTC · claude-x\n\nHi!\n\n```rust\nfn main() {}\n```\n"), "{md}");
        assert!(md.contains("incomplete"), "{md}");
    }
}
