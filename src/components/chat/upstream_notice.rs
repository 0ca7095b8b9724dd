//! The composer's notices about Anthropic itself: a rate limit with a countdown to Retry,
//! an overload, an account out of credit (with the way to Anthropic's billing page), a
//! conversation too long for the model (with the way to a new one), and a rate limit
//! nearly used up. Retry sends the same message again with the same id, so the server
//! stores it once.

use leptos::prelude::*;
use leptos_router::{hooks::use_navigate, NavigateOptions};

use super::{
    state::{focus_message, ChatState, LiveAnswer},
    stream::Outcome,
};
use crate::{
    error::AppError,
    types::chat::{RateLimitWarning, StreamErrorCode},
};

/// Where an Anthropic account gets more credit.
pub const ANTHROPIC_BILLING: &str = "https://console.anthropic.com/settings/billing";

/// What Anthropic said instead of answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    RateLimited {
        retry_after: Option<u64>,
        own_key: bool,
    },
    Overloaded,
    OutOfCredit,
    TooLong,
}

impl Trouble {
    /// The trouble an answer's ending reports, if it is one of these.
    pub fn of(outcome: &Outcome) -> Option<Self> {
        match outcome {
            Outcome::Refused(AppError::AnthropicRateLimited {
                retry_after_secs,
                own_key,
            }) => Some(Self::RateLimited {
                retry_after: *retry_after_secs,
                own_key: *own_key,
            }),
            Outcome::Refused(AppError::AnthropicOverloaded) => Some(Self::Overloaded),
            Outcome::Refused(AppError::AnthropicOutOfCredit) => Some(Self::OutOfCredit),
            Outcome::Refused(AppError::ConversationTooLong) => Some(Self::TooLong),
            Outcome::Stopped(error) => match error.code {
                StreamErrorCode::AnthropicOverloaded => Some(Self::Overloaded),
                StreamErrorCode::AnthropicRateLimited => Some(Self::RateLimited {
                    retry_after: error.retry_after,
                    own_key: true,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A notice shown in the composer until the next message, Retry, or another conversation.
#[derive(Clone)]
pub struct UpstreamNotice {
    pub trouble: Trouble,
    /// The answer that did not come; Retry sends its message again.
    pub answer: LiveAnswer,
    /// When Retry may be pressed (milliseconds since the epoch, the browser's clock).
    pub retry_at: f64,
}

impl UpstreamNotice {
    pub fn new(trouble: Trouble, answer: LiveAnswer) -> Self {
        let wait = match &trouble {
            Trouble::RateLimited {
                retry_after: Some(secs),
                ..
            } => *secs as f64 * 1000.0,
            _ => 0.0,
        };
        Self {
            trouble,
            answer,
            retry_at: now_ms() + wait,
        }
    }
}

fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// Retry waits for the countdown and for any answer still streaming.
fn waiting(seconds_left: u64, streaming: bool) -> bool {
    seconds_left > 0 || streaming
}

/// The notices, above the Message field.
#[component]
pub fn UpstreamNotices() -> impl IntoView {
    let state = expect_context::<ChatState>();
    view! {
        {move || state.upstream.get().map(|notice| view! { <Notice notice/> })}
        {move || state.rate_note.get().map(|warning| view! {
            <p class="rate-note" role="status">{rate_note_text(&warning)}</p>
        })}
    }
}

/// "Your Anthropic rate limit is nearly used up: 3 of 50 requests left this minute."
pub fn rate_note_text(warning: &RateLimitWarning) -> String {
    let what = match warning.resource.as_str() {
        "requests" => "requests",
        "input_tokens" => "input tokens",
        "output_tokens" => "output tokens",
        _ => "tokens",
    };
    format!(
        "Your Anthropic rate limit is nearly used up: {} of {} {what} left this minute.",
        warning.remaining, warning.limit
    )
}

#[component]
fn Notice(notice: UpstreamNotice) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let UpstreamNotice {
        trouble,
        answer,
        retry_at,
    } = notice;
    let answer = StoredValue::new(answer);

    // Seconds left before Retry, ticking down once a second.
    let now = RwSignal::new(now_ms());
    let left = move || ((retry_at - now.get()) / 1000.0).ceil().max(0.0) as u64;
    #[cfg(feature = "hydrate")]
    if retry_at > now.get_untracked() {
        let ticking = StoredValue::new(None::<leptos::leptos_dom::helpers::IntervalHandle>);
        let tick = move || {
            now.set(now_ms());
            if now.get_untracked() >= retry_at {
                if let Some(handle) = ticking.try_update_value(Option::take).flatten() {
                    handle.clear();
                }
            }
        };
        ticking
            .set_value(set_interval_with_handle(tick, std::time::Duration::from_millis(250)).ok());
        on_cleanup(move || {
            if let Some(handle) = ticking.try_update_value(Option::take).flatten() {
                handle.clear();
            }
        });
    }

    let retry_button = {
        let navigate = navigate.clone();
        move || {
            let navigate = navigate.clone();
            view! {
                <button
                    type="button"
                    class="primary"
                    disabled=move || waiting(left(), state.streaming.get())
                    on:click=move |_| {
                        state.upstream.set(None);
                        state.retry(answer.get_value(), navigate.clone());
                    }
                >"Retry"</button>
            }
        }
    };

    let body = match trouble {
        Trouble::RateLimited { own_key, .. } => {
            let who = if own_key {
                "Anthropic is rate-limiting your key."
            } else {
                "ApexAurum's Anthropic key is busy right now."
            };
            view! {
                <p>
                    {who} " "
                    <span class="countdown" aria-live="off">
                        {move || match left() {
                            0 => "You can retry now.".to_string(),
                            n => format!("Retry in {n} s"),
                        }}
                    </span>
                </p>
                <div class="button-row">{retry_button()}</div>
            }
            .into_any()
        }
        Trouble::Overloaded => view! {
            <p>"Anthropic is overloaded right now; try again in a moment."</p>
            <div class="button-row">{retry_button()}</div>
        }
        .into_any(),
        Trouble::OutOfCredit => view! {
            <p>"Your Anthropic account is out of credit."</p>
            <div class="button-row">
                <a class="button" href=ANTHROPIC_BILLING target="_blank" rel="noopener noreferrer">
                    "Add credit in Anthropic's console"
                </a>
                {retry_button()}
            </div>
        }
        .into_any(),
        Trouble::TooLong => {
            let navigate = navigate.clone();
            view! {
                <p>"This conversation is too long for the model."</p>
                <div class="button-row">
                    <a
                        class="button primary"
                        href="/chat"
                        on:click=move |ev| {
                            ev.prevent_default();
                            state.switch_to(None);
                            navigate("/chat", NavigateOptions::default());
                            focus_message();
                        }
                    >"Start a new conversation"</a>
                </div>
            }
            .into_any()
        }
    };
    view! { <div class="upstream-notice" role="alert">{body}</div> }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::StreamError;

    #[test]
    fn each_of_anthropic_s_troubles_has_its_notice_and_other_failures_none() {
        let refused = |e: AppError| Trouble::of(&Outcome::Refused(e));
        assert_eq!(
            refused(AppError::AnthropicRateLimited {
                retry_after_secs: Some(12),
                own_key: true
            }),
            Some(Trouble::RateLimited {
                retry_after: Some(12),
                own_key: true
            })
        );
        assert_eq!(
            refused(AppError::AnthropicOverloaded),
            Some(Trouble::Overloaded)
        );
        assert_eq!(
            refused(AppError::AnthropicOutOfCredit),
            Some(Trouble::OutOfCredit)
        );
        assert_eq!(
            refused(AppError::ConversationTooLong),
            Some(Trouble::TooLong)
        );
        assert_eq!(refused(AppError::AnthropicUnavailable), None);
        assert_eq!(refused(AppError::ApiKeyInvalid), None);
        let stopped = |code| {
            Trouble::of(&Outcome::Stopped(StreamError {
                code,
                message: "m".into(),
                conversation_id: "c".into(),
                retry_after: None,
            }))
        };
        assert_eq!(
            stopped(StreamErrorCode::AnthropicOverloaded),
            Some(Trouble::Overloaded)
        );
        assert_eq!(stopped(StreamErrorCode::AnthropicUnavailable), None);
        assert_eq!(Trouble::of(&Outcome::Lost), None);
    }

    #[test]
    fn the_rate_note_names_what_is_left() {
        let warning = |resource: &str| RateLimitWarning {
            resource: resource.into(),
            remaining: 3,
            limit: 50,
            reset: None,
        };
        assert_eq!(
            rate_note_text(&warning("requests")),
            "Your Anthropic rate limit is nearly used up: 3 of 50 requests left this minute."
        );
        assert!(rate_note_text(&warning("output_tokens")).contains("3 of 50 output tokens"));
    }
}
