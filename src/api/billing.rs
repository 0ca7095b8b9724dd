//! Billing for the Settings page: the plan, `Upgrade to Pro` (to Stripe Checkout) and
//! `Manage billing` (to Stripe's portal). Both buttons are plain form posts that the server
//! answers with a redirect to Stripe, so they work before the WASM has loaded.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::billing;
use crate::{error::AppError, types::billing::BillingView};

#[server(prefix = "/api/fn", endpoint = "billing_status")]
pub async fn billing_status() -> Result<BillingView, AppError> {
    let (state, user_id) = super::authenticated()?;
    billing::status(&state, user_id).await
}

/// Starts Stripe Checkout for the Pro plan and sends the browser there.
#[server(prefix = "/api/fn", endpoint = "start_checkout")]
pub async fn start_checkout() -> Result<String, AppError> {
    let (state, user_id) = super::authenticated()?;
    let url = billing::checkout(&state, user_id).await?;
    leptos_axum::redirect(&url);
    Ok(url)
}

/// Opens Stripe's billing portal for this customer and sends the browser there.
#[server(prefix = "/api/fn", endpoint = "open_billing_portal")]
pub async fn open_billing_portal() -> Result<String, AppError> {
    let (state, user_id) = super::authenticated()?;
    let url = billing::portal(&state, user_id).await?;
    leptos_axum::redirect(&url);
    Ok(url)
}
