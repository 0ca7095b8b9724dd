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

/// Ready after `ms` milliseconds, in the browser (a timer, no thread to sleep).
#[cfg(feature = "hydrate")]
pub async fn pause(ms: u32) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    leptos::prelude::set_timeout(
        move || {
            let _ = done.send(());
        },
        std::time::Duration::from_millis(u64::from(ms)),
    );
    let _ = wait.await;
}

/// Seconds since the Unix epoch, now: the browser's clock there, the system's here (so the
/// browser carries no date library).
pub fn now_unix() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// An RFC 3339 time (`2026-01-25T10:00:00Z`, fractions and `±hh:mm` offsets too), as
/// (seconds since the Unix epoch, its year, month and day as written).
fn parse_rfc3339(text: &str) -> Option<(i64, (i64, u32, u32))> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = text.get(from..from + len)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(text.len() - 5, 2)?, num(text.len() - 2, 2)?);
            let minutes = h * 60 + m;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((seconds, (year, month as u32, day as u32)))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2026-12-25T10:00:00Z` → `25 December 2026`, the day as written in the time.
pub fn date_of(rfc3339: &str) -> Option<String> {
    let (_, (year, month, day)) = parse_rfc3339(rfc3339)?;
    Some(format!("{day} {} {year}", MONTHS[month as usize - 1]))
}

/// "just now", "2 minutes ago", "3 hours ago", "yesterday", "4 days ago" or the date, for
/// an RFC 3339 time seen at `now` (seconds since the Unix epoch).
pub fn relative_time(rfc3339: &str, now: i64) -> String {
    let Some((then, _)) = parse_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let secs = (now - then).max(0);
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
        _ => date_of(rfc3339).unwrap_or_default(),
    }
}

#[cfg(test)]
mod time_tests {
    use super::{parse_rfc3339, relative_time};

    const NOW: &str = "2026-11-25T12:00:00Z";

    fn now() -> i64 {
        parse_rfc3339(NOW).unwrap().0
    }

    #[test]
    fn reads_like_a_person_would_say_it() {
        let ago = |text: &str| relative_time(text, now());
        assert_eq!(ago("2026-11-25T11:59:55Z"), "just now");
        assert_eq!(ago("2026-11-25T11:58:00Z"), "2 minutes ago");
        assert_eq!(ago("2026-11-25T11:59:00Z"), "1 minute ago");
        assert_eq!(ago("2026-11-25T09:00:00Z"), "3 hours ago");
        assert_eq!(ago("2026-11-24T06:00:00Z"), "yesterday");
        assert_eq!(ago("2026-11-21T12:00:00Z"), "4 days ago");
        assert_eq!(ago("2026-01-05T12:00:00Z"), "5 January 2026");
        assert_eq!(ago("not a time"), "not a time");
    }

    #[test]
    fn renewal_days_read_like_a_date() {
        assert_eq!(
            super::date_of("2026-12-25T10:00:00Z").as_deref(),
            Some("25 December 2026")
        );
        assert_eq!(super::date_of("soon"), None);
    }

    #[test]
    fn parses_what_rfc_3339_allows() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap().0, 0);
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z").unwrap().0,
            951_868_800
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T13:00:00.123456+01:00").unwrap().0,
            now()
        );
        assert_eq!(parse_rfc3339("2026-11-25T07:00:00-05:00").unwrap().0, now());
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T12:00:00",
            "2026-11-25T12:00:00+0100",
            "２026-11-25T12:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn agrees_with_chrono_on_many_times() {
        use chrono::{TimeZone, Utc};
        let mut t: i64 = -2_000_000_000;
        while t < 4_000_000_000 {
            let text = Utc.timestamp_opt(t, 0).unwrap().to_rfc3339();
            assert_eq!(parse_rfc3339(&text).unwrap().0, t, "{text}");
            t += 7_777_777;
        }
    }
}
