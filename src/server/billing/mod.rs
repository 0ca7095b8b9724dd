//! Billing with Stripe: Checkout and the portal, signed webhooks, subscription state in
//! `settings.subscription`, the platform key for Pro, and usage metered to Stripe once.

pub mod stripe;
