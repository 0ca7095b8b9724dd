//! A small syntax highlighter for the code blocks of answers: keywords, strings, comments,
//! numbers and literals as `<span class="tok-…">`, for the common languages (Rust, Python,
//! JavaScript/TypeScript, JSON, shell, SQL, HTML/XML, CSS, and the C family). A few
//! kilobytes in the WASM instead of a full grammar engine; anything it does not know is
//! shown plain. Every piece of the code is HTML-escaped: the output is safe to put in the
//! page.

/// What a piece of code is, as the CSS classes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Keyword,
    Str,
    Comment,
    Number,
    /// `true`, `null`, `None`, …
    Literal,
    /// HTML tag names, shell variables.
    Name,
}

impl Tok {
    fn class(self) -> &'static str {
        match self {
            Self::Keyword => "tok-kw",
            Self::Str => "tok-str",
            Self::Comment => "tok-com",
            Self::Number => "tok-num",
            Self::Literal => "tok-lit",
            Self::Name => "tok-name",
        }
    }
}

struct Lang {
    line_comments: &'static [&'static str],
    block_comment: Option<(&'static str, &'static str)>,
    quotes: &'static [char],
    /// Python's `"""…"""` and `'''…'''`.
    triple_quotes: bool,
    /// Strings may span lines (JS template strings, shell, SQL, Rust).
    multiline_strings: bool,
    keywords: &'static [&'static str],
    literals: &'static [&'static str],
    /// SQL: `SELECT` and `select` alike.
    case_insensitive: bool,
    /// Shell: `$HOME`, `${x}`; `#` starts a comment only after white space.
    shell: bool,
}

const RUST: Lang = Lang {
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    quotes: &['"'],
    triple_quotes: false,
    multiline_strings: true,
    keywords: &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "type",
        "unsafe", "use", "where", "while", "yield",
    ],
    literals: &["true", "false", "None", "Some", "Ok", "Err"],
    case_insensitive: false,
    shell: false,
};

const PYTHON: Lang = Lang {
    line_comments: &["#"],
    block_comment: None,
    quotes: &['"', '\''],
    triple_quotes: true,
    multiline_strings: false,
    keywords: &[
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
        "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with",
        "yield", "match", "case", "self",
    ],
    literals: &["True", "False", "None"],
    case_insensitive: false,
    shell: false,
};

const JAVASCRIPT: Lang = Lang {
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    quotes: &['"', '\'', '`'],
    triple_quotes: false,
    multiline_strings: true,
    keywords: &[
        "async",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "finally",
        "for",
        "from",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "interface",
        "let",
        "new",
        "of",
        "return",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "try",
        "type",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "enum",
        "implements",
        "private",
        "protected",
        "public",
        "readonly",
        "as",
        "keyof",
    ],
    literals: &["true", "false", "null", "undefined", "NaN", "Infinity"],
    case_insensitive: false,
    shell: false,
};

const C_FAMILY: Lang = Lang {
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    quotes: &['"', '\''],
    triple_quotes: false,
    multiline_strings: false,
    keywords: &[
        "auto",
        "break",
        "case",
        "catch",
        "char",
        "class",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extends",
        "final",
        "float",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "implements",
        "import",
        "int",
        "interface",
        "long",
        "namespace",
        "new",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "short",
        "signed",
        "static",
        "struct",
        "switch",
        "template",
        "this",
        "throw",
        "try",
        "typedef",
        "union",
        "unsigned",
        "using",
        "var",
        "void",
        "volatile",
        "while",
        "fun",
        "val",
        "let",
        "defer",
        "chan",
        "map",
        "range",
        "type",
        "select",
        "fn",
        "override",
        "virtual",
        "string",
        "bool",
    ],
    literals: &["true", "false", "null", "nullptr", "nil", "NULL"],
    case_insensitive: false,
    shell: false,
};

const SHELL: Lang = Lang {
    line_comments: &["#"],
    block_comment: None,
    quotes: &['"', '\''],
    triple_quotes: false,
    multiline_strings: true,
    keywords: &[
        "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case",
        "esac", "function", "return", "export", "local", "readonly", "set", "unset", "echo", "cd",
        "exit", "source", "sudo",
    ],
    literals: &["true", "false"],
    case_insensitive: false,
    shell: true,
};

const SQL: Lang = Lang {
    line_comments: &["--"],
    block_comment: Some(("/*", "*/")),
    quotes: &['\''],
    triple_quotes: false,
    multiline_strings: true,
    keywords: &[
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "insert",
        "into",
        "values",
        "update",
        "set",
        "delete",
        "create",
        "table",
        "index",
        "view",
        "drop",
        "alter",
        "add",
        "column",
        "primary",
        "key",
        "foreign",
        "references",
        "join",
        "left",
        "right",
        "inner",
        "outer",
        "full",
        "on",
        "group",
        "by",
        "order",
        "having",
        "limit",
        "offset",
        "as",
        "distinct",
        "union",
        "all",
        "case",
        "when",
        "then",
        "else",
        "end",
        "in",
        "is",
        "like",
        "between",
        "exists",
        "with",
        "returning",
        "default",
        "unique",
        "check",
        "constraint",
        "begin",
        "commit",
        "rollback",
        "transaction",
        "asc",
        "desc",
        "integer",
        "text",
        "varchar",
        "boolean",
        "bigint",
        "timestamp",
        "cascade",
        "if",
        "conflict",
        "do",
        "nothing",
    ],
    literals: &["null", "true", "false"],
    case_insensitive: true,
    shell: false,
};

const JSON: Lang = Lang {
    line_comments: &[],
    block_comment: None,
    quotes: &['"'],
    triple_quotes: false,
    multiline_strings: false,
    keywords: &[],
    literals: &["true", "false", "null"],
    case_insensitive: false,
    shell: false,
};

const CSS: Lang = Lang {
    line_comments: &[],
    block_comment: Some(("/*", "*/")),
    quotes: &['"', '\''],
    triple_quotes: false,
    multiline_strings: false,
    keywords: &[
        "important",
        "media",
        "import",
        "supports",
        "keyframes",
        "layer",
    ],
    literals: &[],
    case_insensitive: false,
    shell: false,
};

const TOML_YAML: Lang = Lang {
    line_comments: &["#"],
    block_comment: None,
    quotes: &['"', '\''],
    triple_quotes: true,
    multiline_strings: false,
    keywords: &[],
    literals: &["true", "false", "null", "yes", "no"],
    case_insensitive: false,
    shell: false,
};

fn lang(name: &str) -> Option<&'static Lang> {
    Some(match name.to_ascii_lowercase().as_str() {
        "rust" | "rs" => &RUST,
        "python" | "py" | "python3" => &PYTHON,
        "javascript" | "js" | "jsx" | "typescript" | "ts" | "tsx" | "mjs" | "cjs" => &JAVASCRIPT,
        "c" | "h" | "cpp" | "c++" | "cc" | "hpp" | "java" | "go" | "golang" | "kotlin" | "kt"
        | "swift" | "csharp" | "cs" | "c#" | "scala" | "dart" | "php" => &C_FAMILY,
        "bash" | "sh" | "shell" | "zsh" | "console" | "shell-session" | "dockerfile" => &SHELL,
        "sql" | "postgres" | "postgresql" | "sqlite" | "mysql" | "psql" => &SQL,
        "json" | "jsonc" | "json5" => &JSON,
        "css" | "scss" | "less" => &CSS,
        "toml" | "yaml" | "yml" | "ini" => &TOML_YAML,
        _ => return None,
    })
}

/// `code` as HTML with its tokens in spans, for the language named `lang` (a fenced block's
/// info string); plain escaped text for a language it does not know.
pub fn highlight(code: &str, lang_name: &str) -> String {
    let mut out = Out(String::with_capacity(code.len() * 2));
    match lang_name.to_ascii_lowercase().as_str() {
        "html" | "xml" | "svg" | "xhtml" | "vue" => markup(code, &mut out),
        name => match lang(name) {
            Some(lang) => tokens(code, lang, &mut out),
            None => out.text(code),
        },
    }
    out.0
}

struct Out(String);

impl Out {
    fn text(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
    }

    fn token(&mut self, tok: Tok, text: &str) {
        if text.is_empty() {
            return;
        }
        self.0.push_str("<span class=\"");
        self.0.push_str(tok.class());
        self.0.push_str("\">");
        self.text(text);
        self.0.push_str("</span>");
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte length of the string starting at `rest` (which begins with its quote).
fn string_len(rest: &str, lang: &Lang) -> usize {
    let quote = rest.chars().next().unwrap_or('"');
    if lang.triple_quotes {
        let triple: String = std::iter::repeat_n(quote, 3).collect();
        if let Some(body) = rest.strip_prefix(triple.as_str()) {
            return match body.find(triple.as_str()) {
                Some(end) => 3 + end + 3,
                None => rest.len(),
            };
        }
    }
    // SQL doubles its quotes instead; the shell's single quotes take everything literally.
    let escapes = !(lang.case_insensitive || (lang.shell && quote == '\''));
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && escapes {
            escaped = true;
        } else if c == quote {
            return i + c.len_utf8();
        } else if c == '\n' && !lang.multiline_strings {
            return i;
        }
    }
    rest.len()
}

fn number_len(rest: &str) -> usize {
    let mut end = 0;
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        let ok = c.is_ascii_alphanumeric()
            || c == '_'
            || (c == '.' && rest[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
            || ((c == '+' || c == '-') && matches!(prev, 'e' | 'E') && i > 0);
        if !ok {
            break;
        }
        prev = c;
        end = i + c.len_utf8();
    }
    end
}

fn tokens(code: &str, lang: &Lang, out: &mut Out) {
    let mut i = 0;
    let mut plain_start = 0;
    let mut prev: Option<char> = None;
    macro_rules! emit {
        ($tok:expr, $len:expr) => {{
            out.text(&code[plain_start..i]);
            let end = i + $len;
            out.token($tok, &code[i..end]);
            prev = code[..end].chars().next_back();
            i = end;
            plain_start = i;
            continue;
        }};
    }
    while i < code.len() {
        let rest = &code[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if let Some((open, close)) = lang.block_comment {
            if let Some(body) = rest.strip_prefix(open) {
                let len = body
                    .find(close)
                    .map_or(rest.len(), |end| open.len() + end + close.len());
                emit!(Tok::Comment, len);
            }
        }
        let comment_may_start = !lang.shell || prev.is_none_or(char::is_whitespace);
        if comment_may_start && lang.line_comments.iter().any(|p| rest.starts_with(p)) {
            let len = rest.find('\n').unwrap_or(rest.len());
            emit!(Tok::Comment, len);
        }
        if lang.quotes.contains(&c) {
            emit!(Tok::Str, string_len(rest, lang));
        }
        if lang.shell && c == '$' {
            let after = &rest[1..];
            let len = if after.starts_with('{') {
                after.find('}').map_or(1, |e| e + 2)
            } else {
                1 + after
                    .char_indices()
                    .find(|&(_, d)| !is_ident(d))
                    .map_or(after.len(), |(e, _)| e)
            };
            if len > 1 {
                emit!(Tok::Name, len);
            }
        }
        if c.is_ascii_digit() && !prev.is_some_and(is_ident) {
            emit!(Tok::Number, number_len(rest));
        }
        if is_ident_start(c) && !prev.is_some_and(is_ident) {
            let len = rest
                .char_indices()
                .find(|&(_, d)| !is_ident(d))
                .map_or(rest.len(), |(e, _)| e);
            let word = &rest[..len];
            let is = |list: &[&str]| {
                if lang.case_insensitive {
                    list.iter().any(|k| k.eq_ignore_ascii_case(word))
                } else {
                    list.contains(&word)
                }
            };
            if is(lang.keywords) {
                emit!(Tok::Keyword, len);
            }
            if is(lang.literals) {
                emit!(Tok::Literal, len);
            }
            // A plain word: skip it whole, so its inner digits are not numbers.
            i += len;
            prev = word.chars().next_back();
            continue;
        }
        i += c.len_utf8();
        prev = Some(c);
    }
    out.text(&code[plain_start..]);
}

/// HTML and XML: comments, tag names, attribute values.
fn markup(code: &str, out: &mut Out) {
    let mut rest = code;
    while !rest.is_empty() {
        if rest.starts_with("<!--") {
            let len = rest.find("-->").map_or(rest.len(), |e| e + 3);
            out.token(Tok::Comment, &rest[..len]);
            rest = &rest[len..];
        } else if rest.starts_with('<')
            && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!')
        {
            // The tag: `<`, its name, then attributes up to `>`.
            let end = tag_end(rest);
            let tag = &rest[..end];
            let (open, after) = if tag[1..].starts_with('/') {
                ("</", 2)
            } else {
                ("<", 1)
            };
            let name_end = tag[after..]
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .map_or(tag.len(), |e| after + e);
            out.text(open);
            out.token(Tok::Keyword, &tag[after..name_end]);
            attributes(&tag[name_end..], out);
            rest = &rest[end..];
        } else {
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let len = rest[first..].find('<').map_or(rest.len(), |e| e + first);
            out.text(&rest[..len]);
            rest = &rest[len..];
        }
    }
}

/// Where the tag starting at `s` ends (after its `>`, quotes respected).
fn tag_end(s: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '>' => return i + 1,
            None if c == '<' => return i,
            None => {}
        }
    }
    s.len()
}

fn attributes(mut s: &str, out: &mut Out) {
    while !s.is_empty() {
        if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let len = s[1..].find(q).map_or(s.len(), |e| e + 2);
            out.token(Tok::Str, &s[..len]);
            s = &s[len..];
        } else {
            let len = s.find(['"', '\'']).unwrap_or(s.len());
            out.text(&s[..len]);
            s = &s[len..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::highlight;

    fn spans(html: &str, class: &str) -> Vec<String> {
        let open = format!("<span class=\"{class}\">");
        html.split(&open)
            .skip(1)
            .map(|s| s.split("</span>").next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn rust_keywords_strings_comments_and_numbers() {
        let html = highlight(
            "// the answer\nfn main() {\n    let x = 42_u32; /* inline */\n    println!(\"{x} is \\\"it\\\"\");\n}\n",
            "rust",
        );
        assert_eq!(spans(&html, "tok-kw"), ["fn", "let"]);
        assert_eq!(spans(&html, "tok-com"), ["// the answer", "/* inline */"]);
        assert_eq!(spans(&html, "tok-num"), ["42_u32"]);
        assert_eq!(
            spans(&html, "tok-str"),
            ["&quot;{x} is \\&quot;it\\&quot;&quot;"]
        );
    }

    #[test]
    fn python_triple_quotes_and_hash_comments() {
        let html = highlight(
            "def f(x):\n    \"\"\"Doc \"quoted\".\"\"\"\n    return None  # nothing\n",
            "python",
        );
        assert_eq!(spans(&html, "tok-kw"), ["def", "return"]);
        assert_eq!(spans(&html, "tok-lit"), ["None"]);
        assert_eq!(spans(&html, "tok-com"), ["# nothing"]);
        assert_eq!(
            spans(&html, "tok-str"),
            ["&quot;&quot;&quot;Doc &quot;quoted&quot;.&quot;&quot;&quot;"]
        );
    }

    #[test]
    fn javascript_and_typescript() {
        let html = highlight(
            "const s = `a ${b}`; // c\nif (x === null) return 0x1F;",
            "ts",
        );
        assert_eq!(spans(&html, "tok-kw"), ["const", "if", "return"]);
        assert_eq!(spans(&html, "tok-str"), ["`a ${b}`"]);
        assert_eq!(spans(&html, "tok-lit"), ["null"]);
        assert_eq!(spans(&html, "tok-num"), ["0x1F"]);
    }

    #[test]
    fn json_strings_numbers_literals() {
        let html = highlight("{\"a\": [1, -2.5e3, true, null]}", "json");
        assert_eq!(spans(&html, "tok-str"), ["&quot;a&quot;"]);
        assert_eq!(spans(&html, "tok-num"), ["1", "2.5e3"]);
        assert_eq!(spans(&html, "tok-lit"), ["true", "null"]);
    }

    #[test]
    fn shell_variables_and_comments_after_space_only() {
        let html = highlight("export A=1 # set\necho \"$HOME\" ${PATH} a#b\n", "bash");
        assert_eq!(spans(&html, "tok-kw"), ["export", "echo"]);
        assert_eq!(spans(&html, "tok-com"), ["# set"]);
        assert_eq!(spans(&html, "tok-name"), ["${PATH}"]);
        assert!(html.contains("a#b"), "{html}");
    }

    #[test]
    fn sql_is_case_insensitive() {
        let html = highlight("SELECT id FROM t WHERE name = 'o''neil' -- who\n", "sql");
        assert_eq!(spans(&html, "tok-kw"), ["SELECT", "FROM", "WHERE"]);
        assert_eq!(spans(&html, "tok-com"), ["-- who"]);
        assert_eq!(
            spans(&html, "tok-str").concat(),
            "&#39;o&#39;&#39;neil&#39;"
        );
    }

    #[test]
    fn html_tags_attributes_and_comments() {
        let html = highlight("<!-- c --><a href=\"/x?a=1&b\">link</a>", "html");
        assert_eq!(spans(&html, "tok-com"), ["&lt;!-- c --&gt;"]);
        assert_eq!(spans(&html, "tok-kw"), ["a", "a"]);
        assert_eq!(spans(&html, "tok-str"), ["&quot;/x?a=1&amp;b&quot;"]);
        assert!(html.contains("&gt;link&lt;/"), "{html}");
    }

    #[test]
    fn css_comments_strings_numbers() {
        let html = highlight(
            "/* c */ a::after { content: \"x\"; margin: 1.5rem !important; }",
            "css",
        );
        assert_eq!(spans(&html, "tok-com"), ["/* c */"]);
        assert_eq!(spans(&html, "tok-str"), ["&quot;x&quot;"]);
        assert_eq!(spans(&html, "tok-num"), ["1.5rem"]);
        assert_eq!(spans(&html, "tok-kw"), ["important"]);
    }

    #[test]
    fn unknown_languages_are_plain_escaped_text() {
        assert_eq!(
            highlight("<b>if</b> & 'x'", "klingon"),
            "&lt;b&gt;if&lt;/b&gt; &amp; &#39;x&#39;"
        );
        assert_eq!(highlight("x", ""), "x");
    }

    #[test]
    fn nothing_escapes_and_unfinished_code_still_renders() {
        // Unterminated strings and comments (a stream cut mid-block), odd characters.
        for lang in [
            "rust", "python", "js", "json", "bash", "sql", "html", "css", "c", "toml",
        ] {
            for code in [
                "\"unterminated <script>",
                "/* open <img src=x onerror=alert(1)>",
                "'<\"&>'",
                "<a href=\"x",
                "$",
                "${",
                "1e",
                "é日本😀 <tag attr='v'>",
                "",
            ] {
                let html = highlight(code, lang);
                let stripped = html
                    .replace("<span class=\"tok-kw\">", "")
                    .replace("<span class=\"tok-str\">", "")
                    .replace("<span class=\"tok-com\">", "")
                    .replace("<span class=\"tok-num\">", "")
                    .replace("<span class=\"tok-lit\">", "")
                    .replace("<span class=\"tok-name\">", "")
                    .replace("</span>", "");
                assert!(
                    !stripped.contains('<') && !stripped.contains('>'),
                    "{lang} {code:?} → {html}"
                );
                assert_eq!(
                    html.matches("<span").count(),
                    html.matches("</span>").count()
                );
            }
        }
    }
}
