//! Server-only code: configuration, start-up, state, persistence, authentication,
//! cryptography and the outside services.

pub mod agents;
pub mod anthropic;
pub mod anthropic_stub;
pub mod api_keys;
pub mod auth;
pub mod chat;
pub mod client;
pub mod config;
pub mod crypto;
pub mod csrf;
pub mod db;
pub mod headers;
pub mod rate_limit;
pub mod rest;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;

use crate::error::AppError;

/// Logs an internal failure once, with its cause chain, and turns it into the generic
/// error a person sees.
pub fn internal(context: &str, err: impl std::error::Error) -> AppError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "{context}");
    AppError::Internal
}
