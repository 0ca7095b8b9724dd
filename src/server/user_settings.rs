//! `users.settings`, typed: the design's document (`api_keys.anthropic`, `subscription`),
//! read through serde everywhere. Fields this code does not know are kept on a round trip,
//! so a newer instance's additions survive an older one. Writes stay single-statement
//! per-field updates in `db` (never read-modify-write of the whole document).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::keys::KeyStatus;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSettings {
    #[serde(default)]
    pub api_keys: ApiKeys,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// The person's own limits (the monthly spending cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `limits`: what the person set to hold their own spending.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The most the person's own key may spend in a calendar month (UTC), in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic: Option<KeyEntry>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `api_keys.anthropic`: the user's key, encrypted, and what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// A Fernet token; never leaves the server.
    pub encrypted_key: String,
    #[serde(default)]
    pub key_hint: Option<String>,
    #[serde(default)]
    pub added_at: Option<String>,
    #[serde(default)]
    pub last_used: Option<String>,
    /// `false` once Anthropic has refused the key.
    #[serde(default)]
    pub valid: Option<bool>,
    /// When Anthropic last gave its verdict on the key (saved or tested): an addition to
    /// the design's shape, written only once there is a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `subscription`: the plan, as the design shapes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// `beta`, `free`, `pro` or `enterprise`.
    pub status: String,
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub current_period_end: Option<String>,
    #[serde(default = "yes")]
    pub byok_allowed: bool,
    /// Billing's addition: the Stripe subscription (`sub_…`), once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_subscription_id: Option<String>,
    /// Billing's addition: Stripe's own status word (`active`, `past_due`, `canceled`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_status: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn yes() -> bool {
    true
}

impl UserSettings {
    /// The document of a new account: the design's shape, no key yet, the beta plan.
    pub fn new_account() -> Self {
        Self {
            api_keys: ApiKeys::default(),
            subscription: Some(Subscription {
                status: "beta".into(),
                stripe_customer_id: None,
                plan_id: None,
                current_period_end: None,
                byok_allowed: true,
                stripe_subscription_id: None,
                stripe_status: None,
                other: Map::new(),
            }),
            limits: None,
            other: Map::new(),
        }
    }

    /// The monthly spending cap, in dollars, when one is set.
    pub fn monthly_cap_usd(&self) -> Option<f64> {
        self.limits.as_ref().and_then(|l| l.monthly_usd)
    }

    /// The stored Anthropic key's entry, if one is stored.
    pub fn anthropic_key(&self) -> Option<&KeyEntry> {
        self.api_keys.anthropic.as_ref()
    }

    /// The browser's view of the stored key.
    pub fn key_status(&self) -> KeyStatus {
        match self.anthropic_key() {
            None => KeyStatus::default(),
            Some(entry) => KeyStatus {
                configured: true,
                valid: entry.valid,
                key_hint: entry.key_hint.clone(),
                added_at: entry.added_at.clone(),
                last_used: entry.last_used.clone(),
                last_checked: entry.last_checked.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_account_has_the_designs_shape() {
        assert_eq!(
            serde_json::to_value(UserSettings::new_account()).unwrap(),
            json!({
                "api_keys": {},
                "subscription": {
                    "status": "beta",
                    "stripe_customer_id": null,
                    "plan_id": null,
                    "current_period_end": null,
                    "byok_allowed": true
                }
            })
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let doc = json!({
            "theme": "dark",
            "api_keys": {
                "openai": {"x": 1},
                "anthropic": {
                    "encrypted_key": "gAAAA", "key_hint": "sk-ant-api...X7f4",
                    "added_at": "2026-01-25T00:00:00Z", "last_used": null, "valid": true,
                    "rotated_by": "instance-2"
                }
            },
            "subscription": {"status": "pro", "byok_allowed": true, "stripe_status": "active",
                             "stripe_customer_id": "cus_1", "plan_id": null,
                             "current_period_end": null}
        });
        let settings: UserSettings = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(
            settings.key_status().key_hint.as_deref(),
            Some("sk-ant-api...X7f4")
        );
        assert_eq!(serde_json::to_value(&settings).unwrap(), doc);
    }

    #[test]
    fn an_empty_document_has_no_key() {
        let settings: UserSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!(settings.key_status(), KeyStatus::default());
        let settings: UserSettings =
            serde_json::from_value(json!({"api_keys": {"anthropic": {"encrypted_key": "t"}}}))
                .unwrap();
        assert!(settings.key_status().configured);
    }

    /// A random JSON value built from the document's own field names.
    fn random_value(g: &mut crate::fuzz::Gen, depth: usize) -> Value {
        const KEYS: [&str; 12] = [
            "api_keys",
            "anthropic",
            "encrypted_key",
            "key_hint",
            "added_at",
            "last_used",
            "valid",
            "subscription",
            "status",
            "byok_allowed",
            "stripe_customer_id",
            "x",
        ];
        match g.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(g.below(2) == 0),
            2 => json!(g.next_u64() as i64),
            3 => json!(f64::from(g.below(1000) as u32) / 7.0),
            4 => Value::String(g.text(&KEYS, 4)),
            5 => Value::Array(
                (0..g.below(4))
                    .map(|_| random_value(g, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..g.below(5))
                    .map(|_| (g.pick(&KEYS).to_string(), random_value(g, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// The settings document as stored: any JSON (or text) is read without a panic, and
    /// what is read survives a round trip unchanged.
    #[test]
    fn fuzz_settings_document() {
        crate::fuzz::run("settings", |g| {
            let doc = random_value(g, 4);
            if let Ok(settings) = serde_json::from_value::<UserSettings>(doc) {
                let _ = settings.key_status();
                let again: UserSettings =
                    serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
                assert_eq!(again, settings);
            }
            let text = g.text(
                &[
                    "{",
                    "}",
                    "[",
                    "]",
                    "\"api_keys\"",
                    ":",
                    ",",
                    "null",
                    "1e999",
                ],
                20,
            );
            let _ = serde_json::from_str::<UserSettings>(&text);
        });
    }
}
