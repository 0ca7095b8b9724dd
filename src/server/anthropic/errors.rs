//! Anthropic's answers that are not an answer, told apart: a key refused, a rate limit
//! (and when to retry), an overload, an account out of credit, a conversation too long
//! for the model. Only a refusal (401/403) says anything about the key; everything else
//! leaves it valid. Also what the `anthropic-ratelimit-*` headers of a good answer say
//! about the limits running out.
//!
//! Upstream bodies are read here, classified, and dropped: their text never reaches the
//! browser or the log.

use chrono::{DateTime, Utc};
use reqwest::{header::HeaderMap, StatusCode};

use super::protocol::ErrorDetail;
use crate::{
    error::AppError,
    types::chat::{RateLimitWarning, StreamErrorCode},
};

/// Longest wait passed on; a longer `retry-after` is clipped to this.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// Why Anthropic did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401 or 403: the key is wrong, revoked or not allowed.
    Refused,
    /// 429; seconds to wait when Anthropic said.
    RateLimited { retry_after: Option<u64> },
    /// 529, or `overloaded_error`.
    Overloaded,
    /// 402, `billing_error`, or a 400 whose message says the credit balance is too low.
    OutOfCredit,
    /// The prompt does not fit the model's context (or the request is too large).
    TooLong,
    /// Another 4xx: the request itself (an unknown model, a malformed body).
    BadRequest,
    /// 5xx and anything else: try again later.
    Unavailable,
}

/// Classifies an error answer by its status, headers and (small) body.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
    let detail = error_detail(body);
    let kind = detail.as_ref().map_or("", |d| d.kind.as_str());
    let message = detail
        .as_ref()
        .map(|d| d.message.to_ascii_lowercase())
        .unwrap_or_default();
    let code = status.as_u16();
    if code == 402 || kind == "billing_error" || mentions_credit(&message) {
        return Failure::OutOfCredit;
    }
    match code {
        401 | 403 => Failure::Refused,
        429 => Failure::RateLimited {
            retry_after: retry_after(headers, Utc::now()),
        },
        529 => Failure::Overloaded,
        413 => Failure::TooLong,
        _ if kind == "overloaded_error" => Failure::Overloaded,
        _ if kind == "request_too_large" || message.contains("prompt is too long") => {
            Failure::TooLong
        }
        400..=499 => Failure::BadRequest,
        _ => Failure::Unavailable,
    }
}

/// Classifies an `error` event that arrived after the stream started.
pub fn classify_event(error: &ErrorDetail) -> Failure {
    match error.kind.as_str() {
        "overloaded_error" => Failure::Overloaded,
        "rate_limit_error" => Failure::RateLimited { retry_after: None },
        "billing_error" => Failure::OutOfCredit,
        _ if mentions_credit(&error.message.to_ascii_lowercase()) => Failure::OutOfCredit,
        _ => Failure::Unavailable,
    }
}

fn mentions_credit(message: &str) -> bool {
    message.contains("credit balance")
}

fn error_detail(body: &[u8]) -> Option<ErrorDetail> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::from_value(value.get("error")?.clone()).ok()
}

/// Seconds to wait: `retry-after` (whole or fractional seconds, rounded up), else the
/// latest reset among the limits with nothing left.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<u64> {
    let header = |name: &str| header_text(headers, name);
    if let Some(secs) = header("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        return Some((secs.ceil() as u64).clamp(1, MAX_RETRY_AFTER_SECS));
    }
    RESOURCES
        .iter()
        .filter(|r| header(r.remaining).and_then(|v| v.parse::<u64>().ok()) == Some(0))
        .filter_map(|r| {
            let reset = DateTime::parse_from_rfc3339(header(r.reset)?).ok()?;
            let millis = (reset.with_timezone(&Utc) - now).num_milliseconds();
            Some(u64::try_from(millis).unwrap_or(0).div_ceil(1000))
        })
        .max()
        .map(|secs| secs.clamp(1, MAX_RETRY_AFTER_SECS))
}

/// A header's value as text, without the spaces around it.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A rate limit Anthropic reports: the name the browser gets, and the headers with the
/// limit, what is left of it and when it resets (whole names: every answer's headers are
/// read, so none is formatted per answer).
struct Resource {
    name: &'static str,
    limit: &'static str,
    remaining: &'static str,
    reset: &'static str,
}

macro_rules! resource {
    ($infix:literal, $name:literal) => {
        Resource {
            name: $name,
            limit: concat!("anthropic-ratelimit-", $infix, "-limit"),
            remaining: concat!("anthropic-ratelimit-", $infix, "-remaining"),
            reset: concat!("anthropic-ratelimit-", $infix, "-reset"),
        }
    };
}

const RESOURCES: [Resource; 4] = [
    resource!("requests", "requests"),
    resource!("tokens", "tokens"),
    resource!("input-tokens", "input_tokens"),
    resource!("output-tokens", "output_tokens"),
];

/// The limit nearest to running out, when less than a tenth of it is left.
pub fn rate_limit_warning(headers: &HeaderMap) -> Option<RateLimitWarning> {
    let header = |name: &str| header_text(headers, name);
    let number = |name: &str| header(name)?.parse::<u64>().ok();
    RESOURCES
        .iter()
        .filter_map(|r| {
            let limit = number(r.limit).filter(|l| *l > 0)?;
            let remaining = number(r.remaining)?.min(limit);
            (remaining.saturating_mul(10) < limit).then(|| RateLimitWarning {
                resource: r.name.to_string(),
                remaining,
                limit,
                reset: header(r.reset).map(str::to_string),
            })
        })
        // The smallest share left (remaining / limit), compared without division.
        .min_by(|a, b| {
            (u128::from(a.remaining) * u128::from(b.limit))
                .cmp(&(u128::from(b.remaining) * u128::from(a.limit)))
        })
}

impl Failure {
    /// The chat's error for a failure other than [`Failure::Refused`] (which the caller
    /// handles: it marks the key). On the platform key (`own_key` false) a lack of credit
    /// is the operator's problem: logged as an error, and the person told the service is
    /// unavailable.
    pub fn chat_error(self, own_key: bool) -> AppError {
        match self {
            Self::RateLimited { retry_after } => AppError::AnthropicRateLimited {
                retry_after_secs: retry_after,
                own_key,
            },
            Self::Overloaded => AppError::AnthropicOverloaded,
            Self::OutOfCredit if own_key => AppError::AnthropicOutOfCredit,
            Self::OutOfCredit => {
                tracing::error!(
                    "the platform's Anthropic account is out of credit: add credit in \
                     Anthropic's console (Plans & Billing)"
                );
                AppError::AnthropicUnavailable
            }
            Self::TooLong => AppError::ConversationTooLong,
            Self::BadRequest => AppError::InvalidRequest(
                "Anthropic could not take this request. The model may not be available to \
                 your key; try another."
                    .into(),
            ),
            Self::Refused | Self::Unavailable => AppError::AnthropicUnavailable,
        }
    }

    /// The stream's `error` event code and message, for a failure after the stream
    /// started (what arrived is kept).
    pub fn stream_error(self, own_key: bool) -> (StreamErrorCode, String) {
        let kept = "What arrived is kept.";
        match self {
            Self::Overloaded => (
                StreamErrorCode::AnthropicOverloaded,
                format!("Anthropic is overloaded right now and stopped answering. {kept} Try again in a moment."),
            ),
            Self::RateLimited { .. } => (
                StreamErrorCode::AnthropicRateLimited,
                format!("{} {kept}", self.chat_error(own_key)),
            ),
            Self::OutOfCredit if own_key => (
                StreamErrorCode::AnthropicUnavailable,
                format!("{} {kept}", AppError::AnthropicOutOfCredit),
            ),
            _ => {
                if self == Self::OutOfCredit {
                    let _ = self.chat_error(own_key); // logs for the operator
                }
                (
                    StreamErrorCode::AnthropicUnavailable,
                    format!("Anthropic stopped answering. {kept} Please try again in a moment."),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    fn envelope(kind: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string()
            .into_bytes()
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn anthropic_s_error_answers_are_told_apart() {
        let none = HeaderMap::new();
        let credit = envelope(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        );
        let cases = [
            (
                401,
                envelope("authentication_error", "invalid x-api-key"),
                Failure::Refused,
            ),
            (403, envelope("permission_error", "no"), Failure::Refused),
            (
                529,
                envelope("overloaded_error", "Overloaded"),
                Failure::Overloaded,
            ),
            (
                503,
                envelope("overloaded_error", "Overloaded"),
                Failure::Overloaded,
            ),
            (400, credit, Failure::OutOfCredit),
            (402, b"not json".to_vec(), Failure::OutOfCredit),
            (
                400,
                envelope("billing_error", "pay up"),
                Failure::OutOfCredit,
            ),
            (
                400,
                envelope(
                    "invalid_request_error",
                    "prompt is too long: 215000 tokens > 200000 maximum",
                ),
                Failure::TooLong,
            ),
            (
                413,
                envelope("request_too_large", "too big"),
                Failure::TooLong,
            ),
            (
                400,
                envelope("invalid_request_error", "max_tokens: bad"),
                Failure::BadRequest,
            ),
            (
                404,
                envelope("not_found_error", "model: x"),
                Failure::BadRequest,
            ),
            (500, envelope("api_error", "oops"), Failure::Unavailable),
            (502, Vec::new(), Failure::Unavailable),
            (
                429,
                envelope("rate_limit_error", "slow down"),
                Failure::RateLimited { retry_after: None },
            ),
        ];
        for (code, body, expected) in cases {
            assert_eq!(classify(status(code), &none, &body), expected, "{code}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_header_or_the_exhausted_limit_s_reset() {
        let now = Utc::now();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "12")]), now),
            Some(12)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "0.2")]), now),
            Some(1)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "999999")]), now),
            Some(MAX_RETRY_AFTER_SECS)
        );
        let reset = (now + chrono::Duration::seconds(20)).to_rfc3339();
        let later = (now + chrono::Duration::seconds(50)).to_rfc3339();
        let h = headers(&[
            ("retry-after", "soon"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", &reset),
            ("anthropic-ratelimit-tokens-remaining", "500"),
            ("anthropic-ratelimit-tokens-reset", &later),
        ]);
        assert_eq!(retry_after(&h, now), Some(20));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        assert_eq!(
            classify(status(429), &headers(&[("retry-after", "7")]), b""),
            Failure::RateLimited {
                retry_after: Some(7)
            }
        );
    }

    #[test]
    fn a_limit_with_less_than_a_tenth_left_is_a_warning_the_lowest_share_first() {
        let plenty = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "5"),
            ("anthropic-ratelimit-tokens-limit", "1000"),
            ("anthropic-ratelimit-tokens-remaining", "900"),
        ]);
        assert_eq!(
            rate_limit_warning(&plenty),
            None,
            "5 of 50 is a tenth, not less"
        );
        let low = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "3"),
            ("anthropic-ratelimit-requests-reset", "2026-11-25T14:00:00Z"),
            ("anthropic-ratelimit-output-tokens-limit", "8000"),
            ("anthropic-ratelimit-output-tokens-remaining", "100"),
            ("anthropic-ratelimit-input-tokens-limit", "0"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
        ]);
        assert_eq!(
            rate_limit_warning(&low),
            Some(RateLimitWarning {
                resource: "output_tokens".into(),
                remaining: 100,
                limit: 8000,
                reset: None,
            })
        );
        let requests = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "3"),
            ("anthropic-ratelimit-requests-reset", "2026-11-25T14:00:00Z"),
        ]);
        assert_eq!(
            rate_limit_warning(&requests).map(|w| (w.resource, w.remaining, w.reset)),
            Some(("requests".into(), 3, Some("2026-11-25T14:00:00Z".into())))
        );
        assert_eq!(
            rate_limit_warning(&headers(&[("anthropic-ratelimit-requests-limit", "x")])),
            None
        );
    }

    #[test]
    fn on_the_platform_key_no_credit_is_never_the_person_s_problem() {
        assert_eq!(
            Failure::OutOfCredit.chat_error(true),
            AppError::AnthropicOutOfCredit
        );
        assert_eq!(
            Failure::OutOfCredit.chat_error(false),
            AppError::AnthropicUnavailable
        );
        let text = Failure::RateLimited {
            retry_after: Some(12),
        }
        .chat_error(false)
        .to_string();
        assert!(!text.contains("your key"), "{text}");
        assert_eq!(
            Failure::RateLimited {
                retry_after: Some(12)
            }
            .chat_error(true)
            .retry_after(),
            Some(12)
        );
    }

    #[test]
    fn error_events_are_told_apart_too() {
        let event = |kind: &str| ErrorDetail {
            kind: kind.into(),
            message: "m".into(),
        };
        assert_eq!(
            classify_event(&event("overloaded_error")),
            Failure::Overloaded
        );
        assert_eq!(
            classify_event(&event("rate_limit_error")),
            Failure::RateLimited { retry_after: None }
        );
        assert_eq!(classify_event(&event("api_error")), Failure::Unavailable);
        assert_eq!(
            Failure::Overloaded.stream_error(true).0,
            StreamErrorCode::AnthropicOverloaded
        );
    }
}
