//! Small helpers shared by the server and the browser.

/// Percent-encodes a value for a URL query.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Longest `next` accepted; anything longer is not a link a person followed.
const MAX_NEXT_LEN: usize = 2048;

/// Where to go after logging in: only a path on this site, else the chat.
///
/// Browsers forgive a lot when they resolve a `Location`: they drop tabs and newlines, turn
/// `\` into `/`, collapse dot segments, and read `//host` as another site. So `next` must be
/// printable ASCII with no backslash, no `//` or dot segment in its path, no percent-encoded
/// slash, backslash, dot or control character, and must not point into the API.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if is_same_site_path(n) => n,
        _ => "/chat",
    }
}

fn is_same_site_path(next: &str) -> bool {
    let bytes = next.as_bytes();
    if bytes.len() > MAX_NEXT_LEN || bytes.first() != Some(&b'/') {
        return false;
    }
    // Printable ASCII only: no space, tab, newline, DEL, nothing a header cannot carry.
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) || next.contains('\\') {
        return false;
    }
    if !percent_escapes_are_harmless(bytes) {
        return false;
    }
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let dot_segment = path
        .split('/')
        .skip(1)
        .any(|segment| segment == "." || segment == "..");
    !path.contains("//") && !dot_segment && path != "/api" && !path.starts_with("/api/")
}

/// Every `%` starts a two-digit escape of something other than `/`, `\`, `.` or a control
/// character.
fn percent_escapes_are_harmless(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match decoded {
                Some(b) if b >= 0x20 && b != 0x7f && !matches!(b, b'/' | b'\\' | b'.' | b'%') => {
                    i += 3
                }
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_paths_on_this_site() {
        for good in [
            "/settings",
            "/chat",
            "/chat/3f2a-41",
            "/settings?tab=keys&x=a%20b",
            "/chat#latest",
            "/chat?next=//not-a-path-here",
        ] {
            assert_eq!(safe_next(Some(good)), good, "{good:?}");
        }
    }

    #[test]
    fn next_refuses_everything_a_browser_could_take_off_site() {
        let hostile = [
            "",
            "chat",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            " /chat",
            "/chat ",
            "/%09/evil.example",
            "/%0A/evil.example",
            "/%0d%0aSet-Cookie:x=1",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5C/evil.example",
            "/%5c%5cevil.example",
            "/%2e%2e//evil.example",
            "/.//evil.example",
            "/./chat",
            "/../chat",
            "/chat/..",
            "/chat/%",
            "/chat/%4",
            "/chat/%zz",
            "/%252F/evil.example",
            "/chat\u{0}",
            "/chat\u{7f}",
            "/caf\u{e9}",
            "/\u{ff0f}evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "/api/v1/auth/logout",
            "/api",
        ];
        for bad in hostile {
            assert_eq!(safe_next(Some(bad)), "/chat", "{bad:?}");
        }
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(MAX_NEXT_LEN)))),
            "/chat"
        );
        assert_eq!(safe_next(None), "/chat");
    }

    /// Whatever comes in, `next` is a same-site path a browser cannot take elsewhere.
    #[test]
    fn fuzz_next_only_ever_yields_a_same_site_path() {
        const FRAGMENTS: [&str; 16] = [
            "/",
            "//",
            "\\",
            "%",
            "%2f",
            "%2F",
            "%5c",
            "%09",
            "%0a",
            "%2e",
            ".",
            "..",
            "?",
            "#",
            "chat",
            "evil.example",
        ];
        crate::fuzz::run("next", |g| {
            let input = g.text(&FRAGMENTS, 12);
            let next = safe_next(Some(&input));
            if next != "/chat" {
                assert_eq!(next, input);
            }
            let path = next.split(['?', '#']).next().unwrap();
            assert!(next.starts_with('/') && !path.contains("//"), "{input:?}");
            assert!(!next.contains('\\') && next.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            assert!(http::HeaderValue::from_str(next).is_ok());
            let lower = next.to_ascii_lowercase();
            for encoded in ["%2f", "%5c", "%2e", "%09", "%0a", "%0d", "%00"] {
                assert!(!lower.contains(encoded), "{input:?}");
            }
        });
    }

    #[test]
    fn every_accepted_next_is_a_valid_location_header() {
        for next in ["/settings?tab=keys", "/chat#x", "/a-b_c~d"] {
            assert!(http::HeaderValue::from_str(safe_next(Some(next))).is_ok());
        }
    }

    #[test]
    fn query_values_round_trip() {
        let raw = "/settings?tab=keys&x=a b+c%";
        let q = format!("next={}", encode_query(raw));
        let decoded = form_urlencoded::parse(q.as_bytes()).next().unwrap().1;
        assert_eq!(decoded, raw);
    }
}

/// "just now", "2 minutes ago", "3 hours ago", "yesterday", "4 days ago" or the date.
pub fn relative_time(rfc3339: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let secs = (now - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        0..=44 => "just now".into(),
        45..=3599 => plural((secs + 30) / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=172_799 => "yesterday".into(),
        172_800..=2_591_999 => plural(secs / 86_400, "day"),
        _ => then.format("%-d %B %Y").to_string(),
    }
}

#[cfg(test)]
mod time_tests {
    use super::relative_time;
    use chrono::{Duration, Utc};

    #[test]
    fn reads_like_a_person_would_say_it() {
        let now = Utc::now();
        let ago = |d: Duration| relative_time(&(now - d).to_rfc3339(), now);
        assert_eq!(ago(Duration::seconds(5)), "just now");
        assert_eq!(ago(Duration::minutes(2)), "2 minutes ago");
        assert_eq!(ago(Duration::seconds(60)), "1 minute ago");
        assert_eq!(ago(Duration::hours(3)), "3 hours ago");
        assert_eq!(ago(Duration::hours(30)), "yesterday");
        assert_eq!(ago(Duration::days(4)), "4 days ago");
    }
}
