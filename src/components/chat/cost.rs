//! What answers cost, where the chat shows it: a muted line under each answer, the
//! conversation's total in its header, and the spending cap's refusal with "Send anyway".

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::state::{ChatState, LiveAnswer, LiveItem};
use crate::{
    components::usage::group_digits,
    types::{
        chat::{MessageView, Payer, Usage},
        usage::format_usd,
    },
};

/// Who is billed, said plainly: every figure here is an estimate from the price table.
fn payer_note(payer: Option<Payer>) -> &'static str {
    match payer {
        Some(Payer::Byok) => "estimate; Anthropic bills your key",
        Some(Payer::Platform) => "estimate, counted toward your plan's usage",
        None => "estimate",
    }
}

/// "≈ $0.0042 · 1,234 in / 567 out · saved $0.0011 from cache · estimate; Anthropic bills
/// your key" under an answer; tokens only when its model has no price.
#[component]
pub fn CostLine(
    usage: Usage,
    cost_usd: Option<f64>,
    saved_usd: Option<f64>,
    payer: Option<Payer>,
) -> impl IntoView {
    let input =
        usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
    let tokens = format!(
        "{} in / {} out",
        group_digits(input),
        group_digits(usage.output_tokens)
    );
    let saved = saved_usd
        .filter(|s| *s > 0.0)
        .map(|s| format!(" · saved {} from cache", format_usd(s)));
    let text = match cost_usd {
        Some(cost) => format!(
            "{} · {tokens}{} · {}",
            format_usd(cost),
            saved.unwrap_or_default(),
            payer_note(payer)
        ),
        None => format!("{tokens} tokens · no price for this model"),
    };
    view! {
        <p class="cost-line">
            {cost_usd.map(|_| view! {
                <span aria-hidden="true">"≈ "</span>
                <span class="visually-hidden">"About "</span>
            })}
            {text}
        </p>
    }
}

/// The cost line of a stored answer (none for a question, or an answer stored before
/// usage was recorded).
#[component]
pub fn StoredCost(message: MessageView) -> impl IntoView {
    message.input_tokens.map(|input_tokens| {
        let usage = Usage {
            input_tokens,
            output_tokens: message.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: message.cache_creation_input_tokens.unwrap_or(0),
            cache_read_input_tokens: message.cache_read_input_tokens.unwrap_or(0),
        };
        view! {
            <CostLine usage cost_usd=message.cost_usd saved_usd=message.saved_usd payer=message.payer/>
        }
    })
}

/// The cost line of an answer of this visit, once it is done.
#[component]
pub fn LiveCost(answer: LiveAnswer) -> impl IntoView {
    let done = answer.done.clone();
    move || {
        done.get().map(|d| {
            view! { <CostLine usage=d.usage cost_usd=d.cost_usd saved_usd=d.saved_usd payer=Some(d.payer)/> }
        })
    }
}

/// The open conversation's estimated total, stored answers and this visit's together.
#[component]
pub fn ConversationCost() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let total = move || -> Option<f64> {
        let current = state.current.try_get().flatten()?;
        let sum = |view: &crate::types::chat::ConversationView| {
            view.messages.iter().filter_map(|m| m.cost_usd).sum::<f64>()
        };
        // The conversation as fetched after the latest answer, when there is one.
        let fresh = state
            .fresh
            .try_with(|f| f.as_ref().filter(|v| v.summary.id == current).map(sum))
            .flatten();
        let stored = fresh.unwrap_or_else(|| {
            state.conversation.with(|c| match c {
                Some(Some(Ok(view))) if view.summary.id == current => sum(view),
                _ => 0.0,
            })
        });
        let live: f64 = state.live.with(|items| {
            items
                .iter()
                .filter_map(|item| match item {
                    LiveItem::Answer(a) => a.done.with(|d| d.as_ref().and_then(|d| d.cost_usd)),
                    LiveItem::Sent { .. } => None,
                })
                .sum()
        });
        let total = stored + live;
        (total > 0.0).then_some(total)
    };
    move || {
        total().map(|total| {
            view! {
                <p class="thread-cost">
                    "≈ " {format_usd(total)} " so far "
                    <span class="muted">"(estimate)"</span>
                </p>
            }
        })
    }
}

/// The spending cap's refusal: its figures, and "Send anyway" for this one message.
#[component]
pub fn OverCapNotice(message: String, answer: LiveAnswer) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let answer = StoredValue::new(answer);
    view! {
        <div class="answer-error over-cap" role="alert">
            <p>{message}</p>
            <div class="button-row">
                <button
                    type="button"
                    class="primary"
                    disabled=move || state.streaming.get()
                    on:click=move |_| state.send_anyway(answer.get_value(), navigate.clone())
                >"Send anyway"</button>
                <a class="button" href="/settings#spend-cap-heading">"Change the cap"</a>
            </div>
        </div>
    }
}
