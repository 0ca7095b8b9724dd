//! Usage in money: a month of a person's answers priced per model (`GET /api/v1/usage`),
//! each stored answer's cost, and the spending cap they set.
//!
//! Everything is read from the usage ledger, which outlives deleted conversations, and
//! priced with the operator's table as it is now (the ledger keeps tokens, not dollars): a
//! changed price file re-prices past months too.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};

use super::{
    db::usage::LedgerSums,
    pricing::{Pico, Prices},
    state::AppState,
};
use crate::{
    error::AppError,
    types::{
        chat::{MessageView, Payer, Usage},
        usage::{check_cap, ModelUsage, UsageView},
    },
};

/// A calendar month in UTC: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Month {
    /// The month `now` falls in.
    pub fn of(now: DateTime<Utc>) -> Self {
        Self::starting(now.year(), now.month()).expect("the current month is a valid month")
    }

    fn starting(year: i32, month: u32) -> Option<Self> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        Some(Self {
            start: Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0)?),
            end: Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?),
        })
    }

    /// `YYYY-MM` (absent or empty: this month).
    pub fn parse(text: Option<&str>) -> Result<Self, AppError> {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(Self::of(Utc::now()));
        }
        let bad = || AppError::InvalidRequest("Give the month as YYYY-MM, such as 2026-11.".into());
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(year) || !all_digits(month) {
            return Err(bad());
        }
        let (year, month) = (
            year.parse().map_err(|_| bad())?,
            month.parse().map_err(|_| bad())?,
        );
        Self::starting(year, month).ok_or_else(bad)
    }
}

fn usage_of(sums: &LedgerSums) -> Usage {
    Usage {
        input_tokens: sums.input_tokens,
        output_tokens: sums.output_tokens,
        cache_creation_input_tokens: sums.cache_creation_input_tokens,
        cache_read_input_tokens: sums.cache_read_input_tokens,
    }
}

/// A month's money, exactly, before it turns into the browser's view.
#[derive(Debug, Default)]
struct Totals {
    cost: Pico,
    saved: Pico,
    byok: Pico,
    platform: Pico,
}

/// The usage object of `month` from the ledger's sums.
fn priced(prices: &Prices, month: Month, sums: &[LedgerSums], cap_usd: Option<f64>) -> UsageView {
    let mut per_model: BTreeMap<&str, (i64, Usage)> = BTreeMap::new();
    let mut totals = Totals::default();
    for row in sums {
        let usage = usage_of(row);
        let entry = per_model.entry(&row.model).or_default();
        entry.0 += row.answers;
        entry.1.input_tokens += usage.input_tokens;
        entry.1.output_tokens += usage.output_tokens;
        entry.1.cache_creation_input_tokens += usage.cache_creation_input_tokens;
        entry.1.cache_read_input_tokens += usage.cache_read_input_tokens;
        if let Some(price) = prices.price(&row.model) {
            let cost = price.cost(&usage);
            totals.cost += cost;
            totals.saved += price.saved(&usage);
            match Payer::parse(&row.payer) {
                Some(Payer::Platform) => totals.platform += cost,
                _ => totals.byok += cost,
            }
        }
    }
    let models = per_model
        .into_iter()
        .map(|(model, (answers, usage))| {
            let price = prices.price(model);
            ModelUsage {
                model: model.to_string(),
                answers,
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_creation_input_tokens: usage.cache_creation_input_tokens,
                cache_read_input_tokens: usage.cache_read_input_tokens,
                cost_usd: price.map(|p| p.cost(&usage).usd()),
                saved_usd: price.map(|p| p.saved(&usage).usd()),
            }
        })
        .collect();
    UsageView {
        period_start: month.start.to_rfc3339_opts(SecondsFormat::Secs, true),
        cost_usd: totals.cost.usd(),
        saved_usd: totals.saved.usd(),
        cap_usd,
        models,
        byok_cost_usd: totals.byok.usd(),
        platform_cost_usd: totals.platform.usd(),
    }
}

async fn cap_of(state: &AppState, user_id: i64) -> Result<Option<f64>, AppError> {
    Ok(state
        .db
        .user_settings(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?
        .monthly_cap_usd())
}

/// The usage object of one month (`YYYY-MM`, default this month).
pub async fn month(
    state: &AppState,
    user_id: i64,
    month: Option<&str>,
) -> Result<UsageView, AppError> {
    let month = Month::parse(month)?;
    let cap = cap_of(state, user_id).await?;
    let sums = state
        .db
        .ledger_between(user_id, month.start, month.end)
        .await?;
    Ok(priced(&state.prices, month, &sums, cap))
}

/// Sets (or removes, with `None`) the monthly spending cap; answers this month's usage.
pub async fn set_cap(
    state: &AppState,
    user_id: i64,
    monthly_usd: Option<f64>,
) -> Result<UsageView, AppError> {
    let monthly_usd = monthly_usd
        .map(check_cap)
        .transpose()
        .map_err(AppError::InvalidRequest)?;
    state.db.set_spend_cap(user_id, monthly_usd).await?;
    month(state, user_id, None).await
}

/// The cap and what the person's own key has spent this month, exactly, for the spending
/// cap's check; `None` when no cap is set. Answers whose model has no price count nothing.
pub async fn byok_spent_against_cap(
    state: &AppState,
    user_id: i64,
) -> Result<Option<(Pico, Pico)>, AppError> {
    let Some(cap) = cap_of(state, user_id).await? else {
        return Ok(None);
    };
    let month = Month::of(Utc::now());
    let sums = state
        .db
        .ledger_between(user_id, month.start, month.end)
        .await?;
    let spent = sums
        .iter()
        .filter(|row| row.payer == Payer::Byok.as_str())
        .filter_map(|row| {
            state
                .prices
                .price(&row.model)
                .map(|p| p.cost(&usage_of(row)))
        })
        .sum();
    Ok(Some((spent, Pico::from_usd(cap))))
}

/// Fills in each answer's cache tokens, cost and savings from the ledger; returns the
/// conversation's total cost.
pub async fn price_messages(
    state: &AppState,
    conversation_id: &str,
    messages: &mut [MessageView],
) -> Result<f64, AppError> {
    let rows = state.db.ledger_of_conversation(conversation_id).await?;
    let by_id: BTreeMap<&str, _> = rows.iter().map(|r| (r.message_id.as_str(), r)).collect();
    let mut total = Pico::ZERO;
    for message in messages.iter_mut() {
        let Some(row) = by_id.get(message.id.as_str()) else {
            continue;
        };
        let usage = Usage {
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_creation_input_tokens: row.cache_creation_input_tokens,
            cache_read_input_tokens: row.cache_read_input_tokens,
        };
        message.cache_creation_input_tokens = Some(usage.cache_creation_input_tokens);
        message.cache_read_input_tokens = Some(usage.cache_read_input_tokens);
        if let Some(price) = state.prices.price(&row.model) {
            let cost = price.cost(&usage);
            total += cost;
            message.cost_usd = Some(cost.usd());
            message.saved_usd = Some(price.saved(&usage).usd());
        }
    }
    Ok(total.usd())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(model: &str, payer: &str, answers: i64, tokens: [i64; 4]) -> LedgerSums {
        LedgerSums {
            model: model.into(),
            payer: payer.into(),
            answers,
            input_tokens: tokens[0],
            output_tokens: tokens[1],
            cache_creation_input_tokens: tokens[2],
            cache_read_input_tokens: tokens[3],
        }
    }

    #[test]
    fn months_parse_strictly() {
        let nov = Month::parse(Some("2026-11")).unwrap();
        assert_eq!(nov.start.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(nov.end.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let dec = Month::parse(Some("2026-12")).unwrap();
        assert_eq!(dec.end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!(Month::parse(None).unwrap(), Month::of(Utc::now()));
        assert_eq!(Month::parse(Some("")).unwrap(), Month::of(Utc::now()));
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "x",
            "2026-11-01",
            "+026-11",
        ] {
            assert!(Month::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_month_is_priced_per_model_and_split_by_payer() {
        let prices = Prices::built_in();
        let month = Month::parse(Some("2026-11")).unwrap();
        let rows = [
            sums("claude-sonnet-4-5", "byok", 2, [1_000, 500, 200, 4_000]),
            sums("claude-sonnet-4-5", "platform", 1, [0, 100, 0, 0]),
            sums("claude-unknown-1", "byok", 1, [10, 10, 0, 0]),
        ];
        let view = priced(&prices, month, &rows, Some(5.0));
        assert_eq!(view.period_start, "2026-11-01T00:00:00Z");
        assert_eq!(view.cap_usd, Some(5.0));
        assert_eq!(view.models.len(), 2);
        let sonnet = &view.models[0];
        assert_eq!((sonnet.answers, sonnet.output_tokens), (3, 600));
        // 1,000×3 + 600×15 + 200×3.75 + 4,000×0.30 = 3,000 + 9,000 + 750 + 1,200 µ$.
        assert_eq!(sonnet.cost_usd, Some(0.01395));
        assert_eq!(sonnet.saved_usd, Some(0.0108));
        let unknown = &view.models[1];
        assert_eq!((unknown.cost_usd, unknown.saved_usd), (None, None));
        assert_eq!(view.cost_usd, 0.01395);
        assert_eq!(view.platform_cost_usd, 0.0015);
        assert_eq!(view.byok_cost_usd, 0.01245);
        assert_eq!(view.saved_usd, 0.0108);
    }
}
