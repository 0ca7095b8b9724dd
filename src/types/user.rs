//! The logged-in user as the browser sees them.

use serde::{Deserialize, Serialize};

/// What the browser knows of the logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub has_api_key: bool,
    /// `Some(false)` once Anthropic has refused the stored key.
    pub key_valid: Option<bool>,
    /// Without a key of their own, chat runs on the platform key (Pro, paid up).
    #[serde(default)]
    pub platform_key: bool,
    /// What the key gate offers when there is no usable key.
    #[serde(default)]
    pub gate: GatePlan,
}

/// The plan as the key gate speaks of it to someone without a usable key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatePlan {
    /// Billing is off: bring your own key (the design's text).
    #[default]
    Beta,
    /// Billing is on: bring your own key, or upgrade to Pro.
    Free,
    /// Pro, but Stripe could not collect the last payment: platform access is paused.
    PaymentProblem,
}
