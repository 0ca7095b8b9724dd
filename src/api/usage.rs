//! Usage in money and the monthly spending cap, for the Settings page.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::usage;
use crate::{error::AppError, types::usage::UsageView};

/// A month's usage object (`month` as `YYYY-MM`; absent: this month, UTC), as
/// `GET /api/v1/usage` answers it.
#[server(prefix = "/api/fn", endpoint = "usage")]
pub async fn month_usage(month: Option<String>) -> Result<UsageView, AppError> {
    let (state, user_id) = super::authenticated()?;
    usage::month(&state, user_id, month.as_deref()).await
}

/// Sets the monthly spending cap for the person's own key from the Settings form: dollars
/// as typed (`20`, `12.50`, `$5`), or empty to remove it. Answers this month's usage.
#[server(prefix = "/api/fn", endpoint = "set_spend_cap")]
pub async fn set_spend_cap(monthly_usd: String) -> Result<UsageView, AppError> {
    let (state, user_id) = super::authenticated()?;
    let cap = crate::types::usage::parse_cap(&monthly_usd).map_err(AppError::InvalidRequest)?;
    usage::set_cap(&state, user_id, cap).await
}
