//! The Settings page's view of a person's plan: the contract's billing object.

use serde::{Deserialize, Serialize};

/// The contract's billing object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    /// Billing is configured (`STRIPE_SECRET_KEY` set).
    pub enabled: bool,
    /// `beta`, `free`, `pro` or `enterprise`.
    pub status: String,
    /// Stripe's own word for the subscription (`active`, `past_due`, `canceled`, …).
    pub stripe_status: Option<String>,
    pub plan_id: Option<String>,
    pub current_period_end: Option<String>,
    pub byok_allowed: bool,
    /// Chat without an own key would run on the platform key right now.
    pub platform_key: bool,
    pub usage: BillingUsage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingUsage {
    pub period_start: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Every token of the answers the platform key paid for (what is metered).
    pub platform_tokens: i64,
}

/// Stripe statuses under which a subscription still exists and can be managed.
const LIVE: &[&str] = &[
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "paused",
    "incomplete",
];

impl BillingView {
    /// A subscription exists (whatever its payment state): Checkout again would double it.
    pub fn has_live_subscription(&self) -> bool {
        self.stripe_status
            .as_deref()
            .is_some_and(|s| LIVE.contains(&s))
    }

    /// Why Pro does not serve the platform key right now, in words for a person.
    pub fn problem(&self) -> Option<&'static str> {
        match self.stripe_status.as_deref()? {
            "past_due" => Some(
                "Your last payment failed, so Pro's platform key is paused. Update your payment method in Manage billing.",
            ),
            "unpaid" => Some(
                "Your Pro invoices are unpaid, so Pro's platform key is off. Pay them in Manage billing to turn it back on.",
            ),
            "incomplete" => Some(
                "Your first Pro payment has not gone through yet. Finish it in Manage billing.",
            ),
            "paused" => Some("Your Pro plan is paused. Resume it in Manage billing."),
            "canceled" => Some("Your Pro plan has ended. Upgrade again any time."),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stripe_status: Option<&str>) -> BillingView {
        BillingView {
            enabled: true,
            status: "pro".into(),
            stripe_status: stripe_status.map(String::from),
            plan_id: None,
            current_period_end: None,
            byok_allowed: true,
            platform_key: false,
            usage: BillingUsage {
                period_start: "2026-11-01T00:00:00Z".into(),
                input_tokens: 0,
                output_tokens: 0,
                platform_tokens: 0,
            },
        }
    }

    #[test]
    fn a_failed_payment_is_said_plainly() {
        let problem = view(Some("past_due")).problem().unwrap();
        assert!(problem.contains("payment failed"));
        assert!(problem.contains("Manage billing"));
        assert!(view(Some("active")).problem().is_none());
        assert!(view(None).problem().is_none());
    }

    #[test]
    fn only_an_existing_subscription_blocks_a_second_checkout() {
        assert!(view(Some("past_due")).has_live_subscription());
        assert!(!view(Some("canceled")).has_live_subscription());
        assert!(!view(None).has_live_subscription());
    }
}
