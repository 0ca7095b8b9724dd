//! `AppError`: the one error type that crosses to the browser.
//!
//! Every variant's `Display` is written for a person and never carries internal detail
//! (database text, upstream bodies, keys). Internal failures are logged once where they
//! happen and become [`AppError::Internal`].

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Crosses to the browser as `{"code": …, "detail": {…}}` ([`WireError`]): the variant's
/// name, and `detail` only for a variant with fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "WireError", try_from = "WireError")]
pub enum AppError {
    #[error("Please log in to continue.")]
    Unauthenticated,
    #[error("This request came from another site and was refused.")]
    CsrfRejected,
    #[error("That doesn't look like an email address.")]
    InvalidEmail,
    #[error("Passwords need at least 8 characters.")]
    WeakPassword,
    #[error("An account with this email already exists. Log in instead?")]
    EmailTaken,
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    /// The current password given to change it was wrong.
    #[error("Your current password is incorrect.")]
    WrongPassword,
    /// Over a rate limit; the response carries `Retry-After`.
    #[error("Too many attempts. Please wait {} and try again.", wait_phrase(*retry_after_secs))]
    RateLimited { retry_after_secs: u64 },
    #[error("That isn't an Anthropic API key. Keys start with sk-ant- and are 40 to 256 letters, digits, - or _.")]
    InvalidKeyFormat,
    #[error("That is an Anthropic admin key. ApexAurum needs an API key (sk-ant-api…), not an admin key.")]
    AdminKey,
    #[error("Anthropic did not accept this key. Check that it is copied whole and still active.")]
    KeyRejected,
    #[error(
        "Anthropic is unavailable right now, so nothing was changed. Please try again in a moment."
    )]
    AnthropicUnavailable,
    /// Anthropic answered 429 (see `server::anthropic::errors`); the response carries
    /// `Retry-After` when Anthropic said when.
    #[error("{}", anthropic_rate_limited_text(*retry_after_secs, *own_key))]
    AnthropicRateLimited {
        retry_after_secs: Option<u64>,
        /// The person's own key (BYOK), not the platform's.
        own_key: bool,
    },
    /// Anthropic answered 529, or said `overloaded_error`.
    #[error("Anthropic is overloaded right now; try again in a moment.")]
    AnthropicOverloaded,
    /// The person's Anthropic account has no credit left (402, a billing error, or
    /// "credit balance is too low"). Never for the platform key: that is the operator's.
    #[error("Your Anthropic account is out of credit. Add credit in Anthropic's console (Plans & Billing), then try again.")]
    AnthropicOutOfCredit,
    /// Anthropic said the prompt is too long for the model.
    #[error("This conversation is too long for the model. Start a new conversation to continue.")]
    ConversationTooLong,
    #[error("No API key is saved yet.")]
    NoApiKey,
    #[error("Add your Anthropic API key in Settings to start chatting.")]
    ApiKeyRequired,
    #[error("Anthropic rejected your saved API key. Please update it in Settings.")]
    ApiKeyInvalid,
    #[error("Your saved key can no longer be read. Please re-enter your key in Settings.")]
    KeyUnreadable,
    #[error("That conversation does not exist.")]
    ConversationNotFound,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Not found.")]
    NotFound,
    #[error("Billing is not available right now. Please try again later.")]
    BillingUnavailable,
    #[error("You already have the Pro plan. Use Manage billing to change or cancel it.")]
    AlreadySubscribed,
    #[error("There is no billing account yet. Upgrade to Pro first.")]
    NoBillingAccount,
    #[error("The webhook signature is missing, malformed, wrong or too old.")]
    InvalidSignature,
    /// The message could take the month's spending on the person's own key past the cap
    /// they set. Amounts in micro-dollars.
    #[error(
        "Sending this could take your key's spending past your monthly cap: {} of {} is spent this month, and this message could cost up to {}. Raise or remove the cap in Settings, or send it anyway.",
        micro_usd(*spent_micros), micro_usd(*cap_micros), micro_usd(*worst_case_micros)
    )]
    SpendCapReached {
        spent_micros: i64,
        cap_micros: i64,
        worst_case_micros: i64,
    },
    /// A cap is set, but the chosen model has no price, so the cap cannot be kept.
    #[error("ApexAurum has no price for {model}, so it cannot keep this message within your monthly cap ({} of {} spent). Pick another model, remove the cap in Settings, or send it anyway.", micro_usd(*spent_micros), micro_usd(*cap_micros))]
    SpendCapUnpriced {
        model: String,
        spent_micros: i64,
        cap_micros: i64,
    },
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// A failure of the call itself (network, decoding), seen by the browser.
    #[error("Could not reach the server. Check your connection and try again.")]
    Transport,
}

fn micro_usd(micros: i64) -> String {
    crate::types::usage::format_usd(micros as f64 / 1e6)
}

/// "a second", "12 seconds", "a minute", "5 minutes".
fn wait_phrase(secs: u64) -> String {
    match secs {
        0 | 1 => "a second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".into(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

fn anthropic_rate_limited_text(retry_after: Option<u64>, own_key: bool) -> String {
    let who = if own_key {
        "Anthropic is rate-limiting your key."
    } else {
        "ApexAurum's Anthropic key is busy right now."
    };
    match retry_after {
        Some(secs) => format!("{who} Please wait {} and try again.", wait_phrase(secs)),
        None => format!("{who} Please wait a moment and try again."),
    }
}

impl AppError {
    /// Over a limit whose window ends in `wait` (told to the client in whole seconds, at
    /// least one).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::RateLimited {
            retry_after_secs: secs.max(1),
        }
    }

    /// Seconds to wait before trying again, for a `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::AnthropicRateLimited {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }

    /// The stable, machine-readable code of the contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::CsrfRejected => "csrf_rejected",
            Self::InvalidEmail => "invalid_email",
            Self::WeakPassword => "weak_password",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::WrongPassword => "wrong_password",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidKeyFormat | Self::AdminKey => "invalid_key_format",
            Self::KeyRejected => "key_rejected",
            Self::AnthropicUnavailable => "anthropic_unavailable",
            Self::AnthropicRateLimited { .. } => "anthropic_rate_limited",
            Self::AnthropicOverloaded => "anthropic_overloaded",
            Self::AnthropicOutOfCredit => "anthropic_out_of_credit",
            Self::ConversationTooLong => "conversation_too_long",
            Self::NoApiKey => "no_api_key",
            Self::ApiKeyRequired => "api_key_required",
            Self::ApiKeyInvalid => "api_key_invalid",
            Self::KeyUnreadable => "key_unreadable",
            Self::ConversationNotFound => "conversation_not_found",
            Self::InvalidRequest(_) => "invalid_request",
            Self::NotFound => "not_found",
            Self::BillingUnavailable => "billing_unavailable",
            Self::AlreadySubscribed => "already_subscribed",
            Self::NoBillingAccount => "no_billing_account",
            Self::InvalidSignature => "invalid_signature",
            Self::SpendCapReached { .. } | Self::SpendCapUnpriced { .. } => "spend_cap_reached",
            Self::Internal => "internal",
            Self::Transport => "transport",
        }
    }

    /// The HTTP status of the contract.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::CsrfRejected | Self::ApiKeyRequired | Self::ApiKeyInvalid => 403,
            Self::NoApiKey
            | Self::ConversationNotFound
            | Self::NotFound
            | Self::NoBillingAccount => 404,
            Self::EmailTaken | Self::AlreadySubscribed => 409,
            Self::InvalidSignature => 400,
            Self::InvalidEmail
            | Self::WeakPassword
            | Self::InvalidKeyFormat
            | Self::AdminKey
            | Self::KeyRejected
            | Self::KeyUnreadable
            | Self::WrongPassword
            | Self::ConversationTooLong
            | Self::InvalidRequest(_) => 422,
            Self::SpendCapReached { .. }
            | Self::SpendCapUnpriced { .. }
            | Self::AnthropicOutOfCredit => 402,
            Self::RateLimited { .. } | Self::AnthropicRateLimited { .. } => 429,
            Self::AnthropicUnavailable | Self::AnthropicOverloaded | Self::BillingUnavailable => {
                503
            }
            Self::Internal | Self::Transport => 500,
        }
    }
}

/// The variants without fields, each found by its name on the wire.
const UNIT_VARIANTS: [AppError; 26] = [
    AppError::Unauthenticated,
    AppError::CsrfRejected,
    AppError::InvalidEmail,
    AppError::WeakPassword,
    AppError::EmailTaken,
    AppError::InvalidCredentials,
    AppError::WrongPassword,
    AppError::InvalidKeyFormat,
    AppError::AdminKey,
    AppError::KeyRejected,
    AppError::AnthropicUnavailable,
    AppError::AnthropicOverloaded,
    AppError::AnthropicOutOfCredit,
    AppError::ConversationTooLong,
    AppError::NoApiKey,
    AppError::ApiKeyRequired,
    AppError::ApiKeyInvalid,
    AppError::KeyUnreadable,
    AppError::ConversationNotFound,
    AppError::NotFound,
    AppError::BillingUnavailable,
    AppError::AlreadySubscribed,
    AppError::NoBillingAccount,
    AppError::InvalidSignature,
    AppError::Internal,
    AppError::Transport,
];

/// [`AppError`] on the wire. One flat record for every variant: serde's own encoding of an
/// enum with data (a tag, then each variant's fields in a shape of its own) decodes through
/// a buffered `Content` and a decoder per variant, which weighed 28 KB of the browser's
/// core WASM (before optimisation); this one is a struct of options and a name.
#[derive(Serialize, Deserialize)]
struct WireError {
    /// The variant's name in snake case: [`AppError::code`], except for the two variants
    /// that share a code with another (`admin_key`, `spend_cap_unpriced`).
    code: String,
    #[serde(default, skip_serializing_if = "WireDetail::is_empty")]
    detail: WireDetail,
}

#[derive(Default, PartialEq, Serialize, Deserialize)]
struct WireDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    own_key: Option<bool>,
    /// `InvalidRequest`'s text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spent_micros: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cap_micros: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    worst_case_micros: Option<i64>,
}

impl WireDetail {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl AppError {
    fn wire_name(&self) -> &'static str {
        match self {
            Self::AdminKey => "admin_key",
            Self::SpendCapUnpriced { .. } => "spend_cap_unpriced",
            other => other.code(),
        }
    }
}

impl From<AppError> for WireError {
    fn from(error: AppError) -> Self {
        let code = error.wire_name().to_owned();
        let detail = match error {
            AppError::RateLimited { retry_after_secs } => WireDetail {
                retry_after_secs: Some(retry_after_secs),
                ..WireDetail::default()
            },
            AppError::AnthropicRateLimited {
                retry_after_secs,
                own_key,
            } => WireDetail {
                retry_after_secs,
                own_key: Some(own_key),
                ..WireDetail::default()
            },
            AppError::InvalidRequest(message) => WireDetail {
                message: Some(message),
                ..WireDetail::default()
            },
            AppError::SpendCapReached {
                spent_micros,
                cap_micros,
                worst_case_micros,
            } => WireDetail {
                spent_micros: Some(spent_micros),
                cap_micros: Some(cap_micros),
                worst_case_micros: Some(worst_case_micros),
                ..WireDetail::default()
            },
            AppError::SpendCapUnpriced {
                model,
                spent_micros,
                cap_micros,
            } => WireDetail {
                model: Some(model),
                spent_micros: Some(spent_micros),
                cap_micros: Some(cap_micros),
                ..WireDetail::default()
            },
            _ => WireDetail::default(),
        };
        Self { code, detail }
    }
}

/// Why a [`WireError`] is no [`AppError`]: an unknown name, or a field its variant needs
/// is missing.
#[derive(Debug, thiserror::Error)]
#[error("not an AppError: {0}")]
struct NotAnAppError(&'static str);

impl TryFrom<WireError> for AppError {
    type Error = NotAnAppError;

    fn try_from(wire: WireError) -> Result<Self, NotAnAppError> {
        let d = wire.detail;
        let missing = NotAnAppError("a field of its variant is missing");
        Ok(match wire.code.as_str() {
            "rate_limited" => Self::RateLimited {
                retry_after_secs: d.retry_after_secs.ok_or(missing)?,
            },
            "anthropic_rate_limited" => Self::AnthropicRateLimited {
                retry_after_secs: d.retry_after_secs,
                own_key: d.own_key.ok_or(missing)?,
            },
            "invalid_request" => Self::InvalidRequest(d.message.ok_or(missing)?),
            "spend_cap_reached" => match (d.spent_micros, d.cap_micros, d.worst_case_micros) {
                (Some(spent_micros), Some(cap_micros), Some(worst_case_micros)) => {
                    Self::SpendCapReached {
                        spent_micros,
                        cap_micros,
                        worst_case_micros,
                    }
                }
                _ => return Err(missing),
            },
            "spend_cap_unpriced" => match (d.model, d.spent_micros, d.cap_micros) {
                (Some(model), Some(spent_micros), Some(cap_micros)) => Self::SpendCapUnpriced {
                    model,
                    spent_micros,
                    cap_micros,
                },
                _ => return Err(missing),
            },
            name => UNIT_VARIANTS
                .iter()
                .find(|variant| variant.wire_name() == name)
                .cloned()
                .ok_or(NotAnAppError("unknown code"))?,
        })
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The server rejected the arguments (a missing or malformed field).
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                Self::InvalidRequest("Some fields were missing or malformed.".into())
            }
            // On the server this can only be the request body (not UTF-8, cut off, or JSON
            // arguments that do not decode, as `send_message` reports them); in the browser
            // it is an answer that could not be read, a transport failure.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => {
                Self::InvalidRequest("The request body could not be read.".into())
            }
            _ => Self::Transport,
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use axum::{
        http::StatusCode,
        response::{IntoResponse, Response},
        Json,
    };

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status =
                StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut body = serde_json::json!({
                "error": { "code": self.code(), "message": self.to_string() }
            });
            if let Some(secs) = self.retry_after() {
                body["error"]["retry_after"] = secs.into();
            }
            let mut response = (status, Json(body)).into_response();
            if let Some(secs) = self.retry_after() {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            response
        }
    }

    /// A JSON body the route cannot read answers in the contract's shape.
    impl From<axum::extract::rejection::JsonRejection> for AppError {
        fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
            use axum::extract::rejection::JsonRejection;
            Self::InvalidRequest(match rejection {
                JsonRejection::MissingJsonContentType(_) => {
                    "Send JSON with Content-Type: application/json.".into()
                }
                _ => "The request body is not the expected JSON.".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_round_trips_through_the_server_fn_encoding() {
        for err in [
            AppError::InvalidCredentials,
            AppError::InvalidRequest("x".into()),
            AppError::RateLimited {
                retry_after_secs: 42,
            },
        ] {
            assert_eq!(AppError::de(err.ser()), err);
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn arguments_that_do_not_decode_are_an_invalid_request_on_the_server() {
        for err in [
            ServerFnErrorErr::Args("x".into()),
            ServerFnErrorErr::Deserialization("missing field `message`".into()),
        ] {
            assert_eq!(AppError::from_server_fn_error(err).status(), 422);
        }
        assert_eq!(
            AppError::from_server_fn_error(ServerFnErrorErr::Request("x".into())),
            AppError::Transport
        );
    }

    /// Every variant, each once (the match below fails to compile when one is added, until
    /// it is listed here and, without fields, in `UNIT_VARIANTS`).
    fn every_variant() -> Vec<AppError> {
        let mut all = UNIT_VARIANTS.to_vec();
        all.extend([
            AppError::RateLimited {
                retry_after_secs: 3,
            },
            AppError::AnthropicRateLimited {
                retry_after_secs: None,
                own_key: true,
            },
            AppError::AnthropicRateLimited {
                retry_after_secs: Some(9),
                own_key: false,
            },
            AppError::InvalidRequest("Too long.".into()),
            AppError::SpendCapReached {
                spent_micros: 1,
                cap_micros: 2,
                worst_case_micros: 3,
            },
            AppError::SpendCapUnpriced {
                model: "claude-x".into(),
                spent_micros: 4,
                cap_micros: 5,
            },
        ]);
        for error in &all {
            match error {
                AppError::Unauthenticated
                | AppError::CsrfRejected
                | AppError::InvalidEmail
                | AppError::WeakPassword
                | AppError::EmailTaken
                | AppError::InvalidCredentials
                | AppError::WrongPassword
                | AppError::RateLimited { .. }
                | AppError::InvalidKeyFormat
                | AppError::AdminKey
                | AppError::KeyRejected
                | AppError::AnthropicUnavailable
                | AppError::AnthropicRateLimited { .. }
                | AppError::AnthropicOverloaded
                | AppError::AnthropicOutOfCredit
                | AppError::ConversationTooLong
                | AppError::NoApiKey
                | AppError::ApiKeyRequired
                | AppError::ApiKeyInvalid
                | AppError::KeyUnreadable
                | AppError::ConversationNotFound
                | AppError::InvalidRequest(_)
                | AppError::NotFound
                | AppError::BillingUnavailable
                | AppError::AlreadySubscribed
                | AppError::NoBillingAccount
                | AppError::InvalidSignature
                | AppError::SpendCapReached { .. }
                | AppError::SpendCapUnpriced { .. }
                | AppError::Internal
                | AppError::Transport => {}
            }
        }
        all
    }

    #[test]
    fn every_variant_round_trips_and_is_named_as_before() {
        let all = every_variant();
        let distinct: std::collections::HashSet<_> =
            all.iter().map(std::mem::discriminant).collect();
        assert_eq!(
            distinct.len(),
            all.len() - 1,
            "each variant once, one twice"
        );
        for error in all {
            let json = serde_json::to_value(&error).unwrap();
            let name = json["code"].as_str().unwrap().to_owned();
            // The code, or the variant's own name where two variants share a code.
            assert!(
                name == error.code() || name == "admin_key" || name == "spend_cap_unpriced",
                "{name}"
            );
            assert_eq!(AppError::de(error.ser()), error, "{json}");
        }
        assert_eq!(
            serde_json::to_value(AppError::RateLimited {
                retry_after_secs: 42
            })
            .unwrap(),
            serde_json::json!({"code": "rate_limited", "detail": {"retry_after_secs": 42}})
        );
        assert_eq!(
            serde_json::to_value(AppError::NotFound).unwrap(),
            serde_json::json!({"code": "not_found"})
        );
    }

    #[test]
    fn a_wire_error_without_its_fields_or_with_an_unknown_code_is_no_app_error() {
        for json in [
            r#"{"code":"rate_limited"}"#,
            r#"{"code":"spend_cap_reached","detail":{"spent_micros":1,"cap_micros":2}}"#,
            r#"{"code":"spend_cap_unpriced","detail":{"spent_micros":1,"cap_micros":2}}"#,
            r#"{"code":"invalid_request"}"#,
            r#"{"code":"anthropic_rate_limited","detail":{"retry_after_secs":3}}"#,
            r#"{"code":"no_such_error"}"#,
            r#"{"detail":{}}"#,
        ] {
            assert!(serde_json::from_str::<AppError>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn a_spend_cap_refusal_gives_spent_cap_and_worst_case() {
        let e = AppError::SpendCapReached {
            spent_micros: 4_990_000,
            cap_micros: 5_000_000,
            worst_case_micros: 12_300,
        };
        assert_eq!((e.status(), e.code()), (402, "spend_cap_reached"));
        let text = e.to_string();
        for figure in ["$4.99", "$5.00", "$0.0123"] {
            assert!(text.contains(figure), "{figure}: {text}");
        }
        assert_eq!(AppError::de(e.ser()), e);
    }

    #[test]
    fn unknown_and_wrong_password_share_one_code_and_message() {
        let e = AppError::InvalidCredentials;
        assert_eq!(e.code(), "invalid_credentials");
        assert!(!e.to_string().to_lowercase().contains("unknown"));
    }

    #[test]
    fn rate_limited_says_how_long_to_wait_in_whole_seconds() {
        use std::time::Duration;
        let e = AppError::rate_limited(Duration::from_millis(1500));
        assert_eq!(e.retry_after(), Some(2));
        assert_eq!(e.status(), 429);
        assert_eq!(
            AppError::rate_limited(Duration::ZERO).retry_after(),
            Some(1)
        );
        assert!(AppError::rate_limited(Duration::from_secs(45))
            .to_string()
            .contains("45 seconds"));
        assert!(AppError::rate_limited(Duration::from_secs(3600))
            .to_string()
            .contains("60 minutes"));
    }
}
