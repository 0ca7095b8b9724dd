//! What answers cost in money: the operator's price table (`src/prices.toml` built in,
//! `prices-file` in Leptos.toml for a copy) and the arithmetic on it.
//!
//! Exact arithmetic: prices are held as whole micro-dollars per million tokens, so a
//! count of tokens times a price is a whole number of pico-dollars (10⁻¹² USD). Costs are
//! added up in pico-dollars ([`Pico`], an `i128`) and turn into a dollar `f64` only at the
//! edge (JSON, the page), rounded to the nano-dollar: the cost of a month is exactly the
//! sum of its answers' costs, whatever the order they are added in.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use crate::types::chat::Usage;

const BUILT_IN: &str = include_str!("../prices.toml");

/// The highest price per million tokens the file may name: anything above is a typo.
const MAX_PRICE_USD: f64 = 10_000.0;

/// An amount of money in pico-dollars (10⁻¹² USD); negative only as a difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pico(pub i128);

impl Pico {
    pub const ZERO: Self = Self(0);

    /// Dollars, rounded to the nano-dollar (what JSON and the page show).
    pub fn usd(self) -> f64 {
        let nanos = (self.0 + self.0.signum() * 500) / 1_000;
        nanos as f64 / 1e9
    }

    /// Whole micro-dollars, rounded half away from zero.
    pub fn micros(self) -> i64 {
        let micros = (self.0 + self.0.signum() * 500_000) / 1_000_000;
        i64::try_from(micros).unwrap_or(i64::MAX)
    }

    /// A dollar amount (already checked to be finite and sane), to the pico-dollar.
    pub fn from_usd(usd: f64) -> Self {
        Self((usd * 1e12).round() as i128)
    }
}

impl std::ops::Add for Pico {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl std::ops::AddAssign for Pico {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Pico {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

/// One model's prices, in micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input: u64,
    pub output: u64,
    /// 5-minute cache writes.
    pub cache_write: u64,
    /// Cache hits.
    pub cache_read: u64,
}

fn times(tokens: i64, micros_per_million: u64) -> Pico {
    // tokens × µ$/MTok = pico-dollars, exactly.
    Pico(i128::from(tokens.max(0)) * i128::from(micros_per_million))
}

impl Price {
    /// What an answer with these counts cost.
    pub fn cost(&self, usage: &Usage) -> Pico {
        times(usage.input_tokens, self.input)
            + times(usage.output_tokens, self.output)
            + times(usage.cache_creation_input_tokens, self.cache_write)
            + times(usage.cache_read_input_tokens, self.cache_read)
    }

    /// What reading from the cache saved against paying full input price for those tokens.
    pub fn saved(&self, usage: &Usage) -> Pico {
        times(
            usage.cache_read_input_tokens,
            self.input.saturating_sub(self.cache_read),
        )
    }

    /// The most a request can cost: every input token written to the cache (the dearer
    /// of input and cache write) and an answer of `max_tokens`.
    pub fn worst_case(&self, input_tokens: u64, max_tokens: u32) -> Pico {
        let input = i64::try_from(input_tokens).unwrap_or(i64::MAX);
        times(input, self.input.max(self.cache_write)) + times(i64::from(max_tokens), self.output)
    }
}

/// The price table.
#[derive(Debug, Clone)]
pub struct Prices {
    /// Keys (a model id or a family) with their prices, longest key first.
    entries: Vec<(String, Price)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    models: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    input: f64,
    output: f64,
    cache_write: Option<f64>,
    cache_read: Option<f64>,
}

/// Dollars per million tokens as written, to whole micro-dollars.
fn micros(key: &str, field: &str, usd: f64) -> Result<u64, String> {
    if !usd.is_finite() || !(0.0..=MAX_PRICE_USD).contains(&usd) {
        return Err(format!(
            "models.{key:?}.{field} must be between 0 and {MAX_PRICE_USD} dollars per million tokens"
        ));
    }
    Ok((usd * 1e6).round() as u64)
}

impl Prices {
    /// Parses a price file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
        let mut entries = Vec::with_capacity(file.models.len());
        for (key, entry) in file.models {
            let well_formed = key.starts_with("claude-")
                && key.len() <= 100
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._@".contains(&b))
                && !key.ends_with('-');
            if !well_formed {
                return Err(format!(
                    "{key:?} is not a Claude model id or family (lower case, starting claude-)"
                ));
            }
            let input = micros(&key, "input", entry.input)?;
            let price = Price {
                input,
                output: micros(&key, "output", entry.output)?,
                cache_write: match entry.cache_write {
                    Some(usd) => micros(&key, "cache_write", usd)?,
                    None => input + input / 4,
                },
                cache_read: match entry.cache_read {
                    Some(usd) => micros(&key, "cache_read", usd)?,
                    None => input / 10,
                },
            };
            if price.cache_read > price.input {
                return Err(format!(
                    "models.{key:?}.cache_read is above its input price"
                ));
            }
            entries.push((key, price));
        }
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Self { entries })
    }

    pub fn built_in() -> Self {
        Self::parse(BUILT_IN).expect("the built-in price file is valid")
    }

    /// The built-in prices, or those of `path` when given.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        match path {
            None => Ok(Self::built_in()),
            Some(path) => super::config::read_operator_file(path, Self::parse),
        }
    }

    /// The price of `model`: the key equal to it, else the longest key it continues with
    /// `-`; `None` when the table does not price it.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.entries
            .iter()
            .find(|(key, _)| {
                model == key
                    || model
                        .strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            })
            .map(|(_, price)| price)
    }

    /// An answer's cost in dollars, when its model is priced.
    pub fn cost_usd(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.price(model).map(|p| p.cost(usage).usd())
    }

    /// What an answer's cache reads saved, in dollars, when its model is priced.
    pub fn saved_usd(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.price(model).map(|p| p.saved(usage).usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: i64, output: i64, write: i64, read: i64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_creation_input_tokens: write,
            cache_read_input_tokens: read,
        }
    }

    #[test]
    fn the_agents_models_and_current_families_are_priced() {
        let prices = Prices::built_in();
        let sonnet = prices.price("claude-sonnet-4-5").unwrap();
        assert_eq!(
            *sonnet,
            Price {
                input: 3_000_000,
                output: 15_000_000,
                cache_write: 3_750_000,
                cache_read: 300_000
            }
        );
        // Dated ids match their family; the longest key wins.
        assert_eq!(prices.price("claude-sonnet-4-20250514"), Some(sonnet));
        assert_eq!(prices.price("claude-opus-4-1").unwrap().input, 15_000_000);
        assert_eq!(
            prices.price("claude-opus-4-20250514").unwrap().output,
            75_000_000
        );
        assert_eq!(
            prices.price("claude-opus-4-5-20251101").unwrap().input,
            5_000_000
        );
        assert_eq!(prices.price("claude-haiku-4-5").unwrap().output, 5_000_000);
        let haiku35 = prices.price("claude-3-5-haiku-20241022").unwrap();
        assert_eq!((haiku35.input, haiku35.output), (800_000, 4_000_000));
        assert_eq!(
            (haiku35.cache_write, haiku35.cache_read),
            (1_000_000, 80_000)
        );
        // Every model the built-in Agents use is priced.
        for model in super::super::agents::Agents::built_in().default_models() {
            assert!(prices.price(&model).is_some(), "{model}");
        }
        // A family key matches only at a word boundary; unknown models have no price.
        assert_eq!(prices.price("claude-sonnet-40"), None);
        assert_eq!(prices.price("claude-unknown-9"), None);
        assert_eq!(
            prices.cost_usd("claude-unknown-9", &usage(1, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn costs_are_exact_in_pico_dollars() {
        let prices = Prices::built_in();
        let sonnet = prices.price("claude-sonnet-4-5").unwrap();
        // 1,234 in at $3, 567 out at $15, 100 written at $3.75, 2,000 read at $0.30:
        // 3,702,000 + 8,505,000 + 375,000 + 600,000 µ$·tok/MTok.
        let u = usage(1_234, 567, 100, 2_000);
        assert_eq!(sonnet.cost(&u), Pico(13_182_000_000));
        assert_eq!(sonnet.cost(&u).usd(), 0.013182);
        // Saved: 2,000 reads × ($3 − $0.30).
        assert_eq!(sonnet.saved(&u), Pico(5_400_000_000));
        assert_eq!(prices.saved_usd("claude-sonnet-4-5", &u), Some(0.0054));
        // A sum of costs is the cost of the sums.
        let a = usage(7, 11, 13, 17);
        let b = usage(19, 23, 29, 31);
        let both = usage(26, 34, 42, 48);
        assert_eq!(sonnet.cost(&a) + sonnet.cost(&b), sonnet.cost(&both));
        // One token of Haiku 3's cache read: $0.03 per million.
        let haiku3 = prices.price("claude-3-haiku-20240307").unwrap();
        assert_eq!(haiku3.cost(&usage(0, 0, 0, 1)), Pico(30_000));
    }

    #[test]
    fn the_worst_case_prices_all_input_as_cache_writes_and_a_full_answer() {
        let opus = *Prices::built_in().price("claude-opus-4-1").unwrap();
        // 1,000 input at $18.75 (the write price) + 4,096 out at $75.
        assert_eq!(
            opus.worst_case(1_000, 4_096),
            Pico(18_750_000_000 + 307_200_000_000)
        );
        assert_eq!(opus.worst_case(1_000, 4_096).usd(), 0.32595);
    }

    #[test]
    fn dollars_round_to_the_nano_and_micro() {
        assert_eq!(Pico(1_499).usd(), 0.000000001);
        assert_eq!(Pico(1_500).usd(), 0.000000002);
        assert_eq!(Pico(-1_500).usd(), -0.000000002);
        assert_eq!(Pico(2_500_000).micros(), 3);
        assert_eq!(Pico(2_499_999).micros(), 2);
        assert_eq!(Pico::from_usd(5.0), Pico(5_000_000_000_000));
        assert_eq!(Pico::from_usd(0.1).micros(), 100_000);
    }

    #[test]
    fn a_price_file_defaults_cache_prices_and_refuses_nonsense() {
        let prices = Prices::parse("[models.\"claude-x-1\"]\ninput = 2\noutput = 8\n").unwrap();
        let p = prices.price("claude-x-1-20990101").unwrap();
        assert_eq!((p.cache_write, p.cache_read), (2_500_000, 200_000));
        for (bad, says) in [
            ("[models.\"gpt-4\"]\ninput = 1\noutput = 1\n", "gpt-4"),
            ("[models.\"claude-x\"]\ninput = -1\noutput = 1\n", "input"),
            ("[models.\"claude-x\"]\ninput = 1\noutput = 1e9\n", "output"),
            ("[models.\"claude-x\"]\ninput = 1\noutput = nan\n", "output"),
            (
                "[models.\"claude-x\"]\ninput = 1\noutput = 1\ncache_read = 2\n",
                "cache_read",
            ),
            ("[models.\"claude-x\"]\ninput = 1\n", "output"),
            (
                "[models.\"claude-x\"]\ninput = 1\noutput = 1\nextra = 1\n",
                "extra",
            ),
            ("models = 3", "map"),
        ] {
            let err = Prices::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(Prices::parse("")
            .unwrap()
            .price("claude-sonnet-4-5")
            .is_none());
    }
}
