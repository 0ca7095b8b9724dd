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

/// Where to go after logging in: only a path on this site (never `//evil` or a full URL),
/// else the chat.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/api/") =>
        {
            n
        }
        _ => "/chat",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(safe_next(Some("/settings")), "/settings");
        assert_eq!(safe_next(Some("//evil.example")), "/chat");
        assert_eq!(safe_next(Some("https://evil.example")), "/chat");
        assert_eq!(safe_next(Some("/\\evil.example")), "/chat");
        assert_eq!(safe_next(None), "/chat");
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
