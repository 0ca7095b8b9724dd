//! Server-only code: configuration, start-up, state, persistence, authentication,
//! cryptography and the outside services.

pub mod agents;
pub mod anthropic;
pub mod api_keys;
pub mod auth;
pub mod auth_pages;
pub mod billing;
pub mod branches;
pub mod chat;
pub mod chat_limits;
pub mod chat_stream;
pub mod chat_upstream;
pub mod client;
pub mod config;
pub mod conversations;
pub mod crypto;
pub mod csrf;
pub mod db;
pub mod drafts;
pub mod export;
pub mod headers;
pub mod key_activity;
pub mod pricing;
pub mod prompt_cache;
pub mod rate_limit;
pub mod rest;
pub mod search;
pub mod search_index;
pub mod session;
pub mod session_store;
pub mod spend_cap;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod usage;
pub mod user_settings;

use crate::error::AppError;

/// Logs an internal failure once, with its cause chain, and turns it into the generic
/// error a person sees. `?` does the same through the `From` impls below, naming the line
/// it happened on instead of `context`.
pub fn internal(context: &str, err: impl std::error::Error) -> AppError {
    tracing::error!(error = %cause_chain(&err), "{context}");
    AppError::Internal
}

fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// `?` on a failure that is never the person's fault: logged once, where it happened, and
/// answered as [`AppError::Internal`] (the raw text never reaches the browser).
macro_rules! internal_from {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for AppError {
            #[track_caller]
            fn from(err: $error) -> Self {
                let at = std::panic::Location::caller();
                tracing::error!(error = %cause_chain(&err), at = %at, "internal error");
                AppError::Internal
            }
        }
    )*};
}
internal_from!(
    db::DbError,
    sqlx::Error,
    tower_sessions::session::Error,
    tower_sessions::session_store::Error,
    tokio::task::JoinError,
);
