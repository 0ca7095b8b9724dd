//! What answers cost: the month's usage object and the spending cap, for the server and
//! the browser alike.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/usage`'s answer: one calendar month (UTC) of a person's answers, from the
/// usage ledger (which outlives deleted conversations), priced with the operator's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageView {
    /// The month's first instant, RFC 3339 (`2026-11-01T00:00:00Z`).
    pub period_start: String,
    /// Every priced answer of the month, whoever paid.
    pub cost_usd: f64,
    /// What cache reads saved against full-price input.
    pub saved_usd: f64,
    /// The person's monthly spending cap for their own key, if set.
    pub cap_usd: Option<f64>,
    pub models: Vec<ModelUsage>,
    /// Beyond the contract: the part of `cost_usd` paid with the person's own key (what
    /// Anthropic bills them, and what the cap counts).
    #[serde(default)]
    pub byok_cost_usd: f64,
    /// Beyond the contract: the part paid with the platform's key (the plan's usage).
    #[serde(default)]
    pub platform_cost_usd: f64,
}

/// One model's share of the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub model: String,
    pub answers: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    /// Null when the price table does not price this model.
    pub cost_usd: Option<f64>,
    pub saved_usd: Option<f64>,
}

/// The largest monthly cap accepted, in dollars: anything above is a typo, not a limit.
pub const MAX_CAP_USD: f64 = 1_000_000.0;

/// A dollar amount for a person: `$12.34` from a dollar up (and whole cents: `$0.05`),
/// `$0.0042` below, `$0.000012`
/// for the smallest answers (never rounded away to nothing), `$0.00` for none.
pub fn format_usd(usd: f64) -> String {
    let abs = usd.abs();
    let sign = if usd < 0.0 { "-" } else { "" };
    if abs == 0.0 {
        "$0.00".into()
    } else if abs >= 1.0 || (abs * 100.0 - (abs * 100.0).round()).abs() < 1e-9 {
        format!("{sign}${}", group_thousands(&fixed(abs, 2)))
    } else if abs >= 0.0001 {
        format!("{sign}${}", fixed(abs, 4))
    } else if abs >= 0.000001 {
        format!("{sign}${}", fixed(abs, 6))
    } else {
        format!("{sign}<$0.000001")
    }
}

/// `value` (not negative) with `places` decimals, rounded half away from zero. Integer
/// arithmetic and integer formatting: `format!("{:.2}", x)` would bring the float
/// formatter (about 13 KB before optimisation) into the browser's core WASM for this alone.
fn fixed(value: f64, places: u32) -> String {
    let scale = 10u64.pow(places);
    // Saturates far above any amount shown (`MAX_CAP_USD`, a month's spending).
    let units = (value * scale as f64).round() as u64;
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = places as usize
    )
}

/// `1234567.89` → `1,234,567.89`.
fn group_thousands(number: &str) -> String {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A cap as a person typed it (`5`, `12.50`, `$20`): dollars, or an empty field for none.
pub fn parse_cap(text: &str) -> Result<Option<f64>, String> {
    let text = text.trim();
    let text = text
        .strip_prefix('$')
        .unwrap_or(text)
        .trim()
        .replace(',', "");
    if text.is_empty() {
        return Ok(None);
    }
    let valid = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    let usd: f64 = if valid {
        text.parse().map_err(|_| cap_message())?
    } else {
        return Err(cap_message());
    };
    check_cap(usd).map(Some)
}

/// A cap must be a finite, non-negative amount no larger than [`MAX_CAP_USD`].
pub fn check_cap(usd: f64) -> Result<f64, String> {
    if usd.is_finite() && (0.0..=MAX_CAP_USD).contains(&usd) {
        Ok(usd)
    } else {
        Err(cap_message())
    }
}

fn cap_message() -> String {
    "The monthly cap must be an amount in US dollars from 0 to 1,000,000, such as 20 or 12.50."
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_well_at_every_size() {
        assert_eq!(format_usd(0.0), "$0.00");
        assert_eq!(format_usd(1234.5), "$1,234.50");
        assert_eq!(format_usd(5.0), "$5.00");
        assert_eq!(format_usd(0.01), "$0.01");
        assert_eq!(format_usd(0.05), "$0.05");
        assert_eq!(format_usd(0.0042), "$0.0042");
        assert_eq!(format_usd(0.013182), "$0.0132");
        assert_eq!(format_usd(0.000012), "$0.000012");
        assert_eq!(format_usd(0.0000001), "<$0.000001");
        assert_eq!(format_usd(-2.5), "-$2.50");
        assert_eq!(format_usd(0.99999), "$1.0000");
        assert_eq!(format_usd(999_999.996), "$1,000,000.00");
        assert_eq!(format_usd(0.0099996), "$0.0100");
    }

    #[test]
    fn caps_are_dollars_within_reason() {
        assert_eq!(parse_cap(" $20 "), Ok(Some(20.0)));
        assert_eq!(parse_cap("12.50"), Ok(Some(12.5)));
        assert_eq!(parse_cap("1,000"), Ok(Some(1000.0)));
        assert_eq!(parse_cap(""), Ok(None));
        assert_eq!(parse_cap("0"), Ok(Some(0.0)));
        for bad in ["-1", "abc", "1e3", "NaN", "inf", "1.2.3", "2000000"] {
            assert!(parse_cap(bad).is_err(), "{bad}");
        }
        assert!(check_cap(f64::NAN).is_err());
        assert!(check_cap(-0.01).is_err());
        assert!(check_cap(1e300).is_err());
    }
}
