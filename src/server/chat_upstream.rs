//! What the chat does with Anthropic's answer beyond the text: a failure before the stream
//! starts, told apart ([`errors::classify`]) and turned into the person's error (only a
//! refusal marks their key), and a rate limit nearly used up, passed on for their own key.

use super::{
    anthropic::{
        errors::{self, Failure},
        read_error_body,
    },
    api_keys,
    billing::ChatKey,
    state::AppState,
};
use crate::{error::AppError, types::chat::RateLimitWarning};

/// Anthropic did not take the request: told apart ([`errors::classify`]). Only a refusal
/// marks the person's key; the platform key's troubles are the operator's.
pub async fn failure(
    state: &AppState,
    user_id: i64,
    key: &ChatKey,
    response: reqwest::Response,
) -> AppError {
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_error_body(response).await;
    let failure = errors::classify(status, &headers, &body);
    tracing::info!(
        status = status.as_u16(),
        ?failure,
        "Anthropic did not take a chat"
    );
    match (failure, key) {
        (Failure::Refused, ChatKey::Own(own)) => {
            api_keys::mark_refused(state, user_id, own).await;
            AppError::ApiKeyInvalid
        }
        (Failure::Refused, ChatKey::Platform { .. }) => {
            tracing::error!(
                status = status.as_u16(),
                "Anthropic refused the platform key during chat"
            );
            AppError::AnthropicUnavailable
        }
        (failure, key) => failure.chat_error(matches!(key, ChatKey::Own(_))),
    }
}

/// The limit nearly used up, for the person's own key; the platform key's is logged.
pub fn rate_limit_warning(
    key: &ChatKey,
    headers: &reqwest::header::HeaderMap,
) -> Option<RateLimitWarning> {
    let warning = errors::rate_limit_warning(headers)?;
    match key {
        ChatKey::Own(_) => Some(warning),
        ChatKey::Platform { .. } => {
            tracing::warn!(
                resource = warning.resource,
                remaining = warning.remaining,
                limit = warning.limit,
                "the platform key's Anthropic rate limit is nearly used up"
            );
            None
        }
    }
}
