use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::{
    agents::Agents,
    anthropic::AnthropicClient,
    billing::Billing,
    chat_limits::StreamSlots,
    config::Settings,
    crypto::KeyCipher,
    db::Db,
    pricing::Prices,
    rate_limit::{HashGate, Limiter},
    search_index::SearchIndexer,
};

/// What every request handler and server function may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cipher: Arc<KeyCipher>,
    pub anthropic: AnthropicClient,
    pub agents: Arc<Agents>,
    /// The price table: what answers cost in money.
    pub prices: Arc<Prices>,
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    /// Rate-limit counters: shared through PostgreSQL, in memory on SQLite.
    pub limits: Arc<Limiter>,
    /// The cap on concurrent password hashes.
    pub hashing: Arc<HashGate>,
    /// Names this process in logs that other instances' logs are compared with.
    pub instance: Arc<str>,
    /// Stored keys this instance has already reported it cannot decrypt (hashed tokens).
    pub unreadable_reported: Arc<std::sync::Mutex<std::collections::HashSet<[u8; 16]>>>,
    /// Stripe billing; `None` while billing is off.
    pub billing: Option<Arc<Billing>>,
    /// Answers streaming now, per person, on this instance.
    pub streams: Arc<StreamSlots>,
    /// Wakes the background indexer of SQLite's search index.
    pub search_index: Arc<SearchIndexer>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
