//! The monthly spending cap a person sets for their own key, enforced before a message is
//! sent to Anthropic (for the page and API clients alike).
//!
//! * **What it covers**: answers paid with the person's own key (BYOK), which Anthropic
//!   bills to them. Answers on the platform's key (Pro) are the plan's usage and are
//!   neither counted nor held by it.
//! * **The check**: this month's (UTC) spending on the own key, from the usage ledger, plus
//!   this request's worst case — its input tokens (Anthropic's count-tokens endpoint, or,
//!   when that fails or takes over [`COUNT_TIMEOUT`], a conservative estimate of a token
//!   per three characters) all priced as cache writes, and a full `max_tokens` answer at
//!   the output price — must stay within the cap. Otherwise 402 `spend_cap_reached`, its
//!   message giving spent, cap and worst case. Only with a cap set is anything counted, so
//!   people without one wait for nothing.
//! * **Send anyway**: a request with `over_cap: true` skips the check, for that request only.
//! * **A model the price table does not price**: with a cap set it is refused (402, saying
//!   so), as the cap could not be kept; "send anyway" sends it. Such answers add nothing to
//!   the month's spending.
//! * **Streamed answers always count**: the ledger row is written when the answer is stored,
//!   also for one stopped or cut off, with the tokens Anthropic reported by then.
//! * **Concurrency**: each request is checked on its own against what is in the ledger; an
//!   answer still streaming is not in it yet. So with answers running in parallel the month
//!   can pass the cap by at most the worst cases of the other answers streaming when one
//!   is checked (at most `chat-streams-per-user` − 1 per instance).

use std::time::Duration;

use super::{
    anthropic::protocol::MessagesRequest, billing::ChatKey, pricing::Pico, state::AppState, usage,
};
use crate::error::AppError;

/// The longest the check waits for Anthropic to count a request's tokens.
pub const COUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// Refuses `request` when it could take the person's own-key spending past their cap.
#[tracing::instrument(skip_all)]
pub async fn check(
    state: &AppState,
    user_id: i64,
    key: &ChatKey,
    request: &MessagesRequest,
    over_cap: bool,
) -> Result<(), AppError> {
    if !matches!(key, ChatKey::Own(_)) {
        return Ok(());
    }
    if over_cap {
        tracing::info!("a message sent past the spending cap at its sender's request");
        return Ok(());
    }
    let Some((spent, cap)) = usage::byok_spent_against_cap(state, user_id).await? else {
        return Ok(());
    };
    let Some(price) = state.prices.price(&request.model) else {
        return Err(AppError::SpendCapUnpriced {
            model: request.model.clone(),
            spent_micros: spent.micros(),
            cap_micros: cap.micros(),
        });
    };
    let input = match state
        .anthropic
        .count_tokens(key.secret(), request, COUNT_TIMEOUT)
        .await
    {
        Some(counted) => counted,
        None => estimate_input_tokens(request),
    };
    let worst = price.worst_case(input, request.max_tokens);
    refuse_over(spent, cap, worst)
}

/// The check's arithmetic: spent plus the worst case must not exceed the cap.
fn refuse_over(spent: Pico, cap: Pico, worst: Pico) -> Result<(), AppError> {
    if spent + worst <= cap {
        Ok(())
    } else {
        Err(AppError::SpendCapReached {
            spent_micros: spent.micros(),
            cap_micros: cap.micros(),
            worst_case_micros: worst.micros(),
        })
    }
}

/// A conservative guess at a request's input tokens when Anthropic cannot count them:
/// a token per three characters (English runs nearer four) and a few for each message's
/// framing.
pub fn estimate_input_tokens(request: &MessagesRequest) -> u64 {
    let chars: usize = request
        .system
        .iter()
        .chain(request.messages.iter().map(|m| &m.content))
        .map(|content| content.text().chars().count())
        .sum();
    let framing = 10 * (request.messages.len() as u64 + 1);
    (chars as u64).div_ceil(3) + framing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::anthropic::protocol::{Content, Message, Role};

    #[test]
    fn the_cap_holds_spent_plus_the_worst_case() {
        let usd = Pico::from_usd;
        assert!(
            refuse_over(usd(4.0), usd(5.0), usd(1.0)).is_ok(),
            "exactly at the cap"
        );
        let refused = refuse_over(usd(4.0), usd(5.0), usd(1.000001)).unwrap_err();
        assert_eq!(
            refused,
            AppError::SpendCapReached {
                spent_micros: 4_000_000,
                cap_micros: 5_000_000,
                worst_case_micros: 1_000_001,
            }
        );
        assert!(
            refuse_over(Pico::ZERO, Pico::ZERO, Pico(1)).is_err(),
            "a zero cap holds"
        );
    }

    #[test]
    fn the_estimate_is_a_token_per_three_characters_and_framing() {
        let request = MessagesRequest {
            model: "claude-sonnet-4-5".into(),
            max_tokens: 100,
            system: Some(Content::Text("x".repeat(30))),
            messages: vec![Message {
                role: Role::User,
                content: Content::Text("y".repeat(31)),
            }],
            stream: true,
            thinking: None,
        };
        assert_eq!(estimate_input_tokens(&request), 10 + 11 + 20);
    }
}
