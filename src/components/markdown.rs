//! Answers rendered from Markdown, safely. The model's text is untrusted: every HTML tag it
//! writes is shown as text, and a link becomes a link only when it points to `http`,
//! `https` or `mailto` (anything else keeps its text and loses the link).

use leptos::prelude::*;
use pulldown_cmark::{
    html::push_html, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd,
};

use super::{highlight::highlight, icons::Icon};

/// Renders Markdown to HTML that is safe to put in the page with `inner_html`.
pub fn render_markdown(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Whether each open link (or image) was written as an `<a>`, to close it the same way.
    let mut links: Vec<bool> = Vec::new();
    // The code block being read: its language and text, written out whole at its end.
    let mut code: Option<(String, String)> = None;
    let events = Parser::new_ext(source, options).filter_map(move |event| match event {
        Event::Start(Tag::CodeBlock(kind)) => {
            let lang = match kind {
                CodeBlockKind::Fenced(info) => {
                    info.split_whitespace().next().unwrap_or("").to_string()
                }
                CodeBlockKind::Indented => String::new(),
            };
            code = Some((lang, String::new()));
            None
        }
        Event::Text(text) if code.is_some() => {
            if let Some((_, body)) = code.as_mut() {
                body.push_str(&text);
            }
            None
        }
        Event::End(TagEnd::CodeBlock) => code
            .take()
            .map(|(lang, body)| Event::Html(CowStr::from(code_block(&lang, &body)))),
        // Raw HTML from the model is shown, never interpreted.
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            ..
        })
        | Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            ..
        }) => {
            let href = if link_type == pulldown_cmark::LinkType::Email {
                format!("mailto:{dest_url}")
            } else {
                dest_url.to_string()
            };
            let safe = is_safe_href(&href);
            links.push(safe);
            // An image becomes a link to it: answers never load outside resources by themselves.
            safe.then(|| Event::Html(CowStr::from(anchor(&href, &title))))
        }
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => links
            .pop()
            .unwrap_or(false)
            .then_some(Event::Html(CowStr::Borrowed("</a>"))),
        // The page has its own h1/h2: an answer's headings start at h3.
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: demote(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(demote(level)))),
        other => Some(other),
    });
    let mut html = String::with_capacity(source.len() * 3 / 2);
    push_html(&mut html, events);
    html
}

/// A code block: its language, a Copy button (the page's script copies the text of the
/// block's `<code>`), and the code, highlighted.
fn code_block(lang: &str, code: &str) -> String {
    // The language only as a class name and a label: letters, digits and a few marks.
    let lang: String = lang
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '#' | '.'))
        .take(24)
        .collect();
    let class = if lang.is_empty() {
        String::new()
    } else {
        format!(" class=\"language-{}\"", escape_attr(&lang))
    };
    format!(
        "<div class=\"code-block\"><div class=\"code-head\"><span class=\"code-lang\">{}</span>\
         <button type=\"button\" class=\"copy-button copy-code\" data-copy-code=\"\" aria-label=\"Copy code\">\
         {}<span class=\"copy-label\">Copy</span></button></div><pre><code{class}>{}</code></pre></div>\n",
        escape_attr(&lang),
        Icon::Copy.html(),
        highlight(code, &lang),
    )
}

fn is_safe_href(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn anchor(href: &str, title: &str) -> String {
    let mut out = format!(
        "<a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\"",
        escape_attr(href)
    );
    if !title.is_empty() {
        out.push_str(&format!(" title=\"{}\"", escape_attr(title)));
    }
    out.push('>');
    out
}

fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// An answer's text as formatted Markdown. `text` may change (a streaming answer).
///
/// The server renders it into the page. In the browser the renderer (the Markdown parser
/// and the highlighter, most of what an answer's formatting costs) is in the chunk of what
/// writes answers (with sending a message), loaded the first time a text has to be
/// rendered there: a page that only shows stored answers keeps the server's HTML as it is
/// and never loads it.
#[component]
pub fn Markdown(#[prop(into)] text: Signal<String>) -> impl IntoView {
    // Code blocks' Copy buttons show once the script that makes them work runs.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    let status = super::copy::CopyStatus::find();
    view! {
        <div
            class="markdown"
            class:copy-ready=move || ready.get()
            on:click=move |ev| super::copy::on_markdown_click(ev, status)
            inner_html=rendered(text)
        ></div>
    }
}

/// The HTML of `text`: rendered at once on the server.
#[cfg(not(feature = "hydrate"))]
fn rendered(text: Signal<String>) -> impl Fn() -> String + Send + Sync + 'static {
    move || text.with(|t| render_markdown(t))
}

/// The HTML of `text`, in the browser: hydrating, what the server rendered stays in the
/// page (inner HTML is never rewritten while hydrating) and nothing is rendered until the
/// text changes; otherwise the text shows plain until the renderer's chunk has loaded,
/// then formatted. Renders land in the order they were asked for (only the newest is kept).
#[cfg(feature = "hydrate")]
fn rendered(text: Signal<String>) -> impl Fn() -> String + Send + Sync + 'static {
    let hydrating = Owner::current_shared_context().is_some_and(|sc| sc.during_hydration());
    let html = RwSignal::new(if hydrating {
        String::new()
    } else {
        text.with_untracked(|t| plain_html(t))
    });
    let asked = StoredValue::new(0u64);
    Effect::new(move |first: Option<()>| {
        let source = text.get();
        if first.is_none() && hydrating {
            return;
        }
        let ticket = asked.get_value() + 1;
        asked.set_value(ticket);
        leptos::task::spawn_local(async move {
            // The renderer did not load: the text shows unformatted (the next change tries
            // loading it again).
            let formatted = render_markdown_in_chunk(source.clone())
                .await
                .unwrap_or_else(|crate::chunk::Unloaded| plain_html(&source));
            if asked.try_get_value() == Some(ticket) {
                html.set(formatted);
            }
        });
    });
    move || html.get()
}

/// [`render_markdown`] from the WASM chunk of what writes answers (see [`Markdown`] and
/// `crate::chunk`).
#[cfg(feature = "hydrate")]
#[leptos::wasm_split::wasm_split(
    apx_answers,
    wasm_split_path = ::leptos::wasm_split,
    fallible
)]
fn render_markdown_in_chunk(source: String) -> Result<String, crate::chunk::Unloaded> {
    Ok(render_markdown(&source))
}

/// Text as HTML without formatting: what an answer shows until the renderer has loaded.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn plain_html(text: &str) -> String {
    let mut out = String::from("<p class=\"markdown-plain\">");
    out.push_str(&escape_attr(text));
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn formats_the_usual_markdown() {
        let html = render_markdown(
            "Some *emphasis* and **strong**, `code`.\n\n- one\n- two\n\n1. first\n\n```rust\nfn main() {}\n```\n",
        );
        assert!(html.contains("<em>emphasis</em>"));
        assert!(html.contains("<strong>strong</strong>"));
        assert!(html.contains("<code>code</code>"));
        assert!(html.contains("<ul>\n<li>one</li>"));
        assert!(html.contains("<ol>"));
        assert!(
            html.contains(
                "<pre><code class=\"language-rust\"><span class=\"tok-kw\">fn</span> main() {}"
            ),
            "{html}"
        );
    }

    #[test]
    fn script_tags_are_shown_as_text() {
        let html = render_markdown(
            "Hi <script>alert(1)</script> there\n\n<script>\nalert(2)\n</script>\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn image_tags_with_handlers_are_shown_as_text() {
        let html = render_markdown(
            "<img src=x onerror=\"alert(1)\">\n\ninline <img src=x onerror=alert(1)> too",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror="), "{html}");
    }

    #[test]
    fn other_html_is_shown_as_text_too() {
        for source in [
            "<iframe src=\"https://evil.example\"></iframe>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<div onclick=alert(1)>x</div>",
            "<!-- comment -->",
            "<svg><script>alert(1)</script></svg>",
            "<style>body{display:none}</style>",
        ] {
            let html = render_markdown(source);
            let rest = html.replace("<p>", "").replace("</p>", "");
            assert!(!rest.contains('<'), "{source} → {html}");
        }
    }

    #[test]
    fn javascript_links_are_plain_text() {
        for source in [
            "[click](javascript:alert(1))",
            "[click](JavaScript:alert(1))",
            "[click]( javascript:alert(1) )",
            "[click](data:text/html;base64,PHNjcmlwdD4=)",
            "[click](vbscript:msgbox)",
            "<javascript:alert(1)>",
            "[click][r]\n\n[r]: javascript:alert(1)",
            "![pic](javascript:alert(1))",
        ] {
            let html = render_markdown(source);
            assert!(!html.contains("<a"), "{source} → {html}");
            assert!(!html.contains("href"), "{source} → {html}");
            assert!(!html.contains("<img"), "{source} → {html}");
        }
        assert_eq!(
            render_markdown("[click](javascript:alert(1))"),
            "<p>click</p>\n"
        );
    }

    #[test]
    fn web_and_mail_links_are_links() {
        let html = render_markdown("[docs](https://example.org/a?b=1&c=\"2\") and <mailto:me@example.org> and <me@example.org>");
        assert!(
            html.contains("<a href=\"https://example.org/a?b=1&amp;c=&quot;2&quot;\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">docs</a>"),
            "{html}"
        );
        assert!(html.contains("href=\"mailto:me@example.org\""), "{html}");
        assert_eq!(html.matches("<a ").count(), 3, "{html}");
        assert_eq!(html.matches("</a>").count(), 3, "{html}");
    }

    #[test]
    fn link_attributes_cannot_be_broken_out_of() {
        let html = render_markdown(
            "[x](https://example.org/\"onmouseover=alert(1) \"t\\\"onclick=alert(2)\")",
        );
        assert!(!html.contains("\" onmouseover"), "{html}");
        assert!(!html.contains("\"onclick"), "{html}");
    }

    #[test]
    fn images_become_links_not_images() {
        let html = render_markdown("![a cat](https://example.org/cat.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.org/cat.png\""),
            "{html}"
        );
        assert!(html.contains(">a cat</a>"), "{html}");
    }

    #[test]
    fn headings_start_below_the_page_headings() {
        let html = render_markdown("# Big\n\n## Smaller\n\n#### Small");
        assert!(html.contains("<h3>Big</h3>"), "{html}");
        assert!(html.contains("<h4>Smaller</h4>"), "{html}");
        assert!(html.contains("<h6>Small</h6>"), "{html}");
        assert!(!html.contains("<h1") && !html.contains("<h2"), "{html}");
    }

    #[test]
    fn code_blocks_escape_their_content() {
        let html = render_markdown("```html\n<script>alert(1)</script>\n```");
        let text = html
            .replace("<span class=\"tok-kw\">", "")
            .replace("</span>", "");
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn code_blocks_get_a_copy_button_and_a_safe_language() {
        let html = render_markdown(
            "```\"><img src=x onerror=alert(1)> rust\nlet x = 1;\n```\n\n    indented\n",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("class=\"language-img\""), "{html}");
        assert_eq!(html.matches("data-copy-code").count(), 2, "{html}");
        assert!(
            html.contains("<pre><code>indented\n</code></pre>"),
            "{html}"
        );
        // Plain text of a block: exactly its code.
        let html = render_markdown("```python\nprint('hi')  # x\n```");
        assert!(html.contains("<code class=\"language-python\">print(<span class=\"tok-str\">&#39;hi&#39;</span>)  <span class=\"tok-com\"># x</span>\n</code>"), "{html}");
    }

    #[test]
    fn an_unfinished_stream_still_renders() {
        // Mid-stream the text may stop anywhere: an open fence, half a link.
        for source in [
            "```rust\nfn ma",
            "see [the do",
            "**bold and <scr",
            "[x](javascript:",
        ] {
            let html = render_markdown(source);
            assert!(
                !html.contains("<script") && !html.contains("href=\"javascript"),
                "{html}"
            );
        }
    }
}
