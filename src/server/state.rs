use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::{
    agents::Agents, anthropic::AnthropicClient, billing::Billing, config::Settings,
    crypto::KeyCipher, db::Db, rate_limit::RateLimiter,
};

/// What every request handler and server function may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cipher: Arc<KeyCipher>,
    pub anthropic: AnthropicClient,
    pub agents: Arc<Agents>,
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    pub login_limiter: Arc<RateLimiter>,
    pub key_limiter: Arc<RateLimiter>,
    /// Stripe billing; `None` while billing is off.
    pub billing: Option<Arc<Billing>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
