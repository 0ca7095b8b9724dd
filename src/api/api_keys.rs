use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{error::AppError, secret_text::SecretText};
#[cfg(feature = "ssr")]
use crate::{domain::ApiKey, server::api_keys};

/// The contract's status object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub configured: bool,
    pub valid: Option<bool>,
    pub key_hint: Option<String>,
    pub added_at: Option<String>,
    pub last_used: Option<String>,
}

#[server(prefix = "/api/fn", endpoint = "api_key_status")]
pub async fn api_key_status() -> Result<KeyStatus, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    api_keys::status(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "save_api_key")]
pub async fn save_api_key(api_key: SecretText) -> Result<KeyStatus, AppError> {
    super::with_status(
        async move {
            let key = ApiKey::parse(api_key.into_secret())?;
            let (state, session) = super::context().await?;
            let user_id = session.require().await?;
            api_keys::save(&state, super::client_addr(), user_id, key).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "remove_api_key")]
pub async fn remove_api_key() -> Result<KeyStatus, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    api_keys::remove(&state, user_id).await?;
    Ok(KeyStatus::default())
}

#[server(prefix = "/api/fn", endpoint = "test_api_key")]
pub async fn test_api_key() -> Result<KeyStatus, AppError> {
    super::with_status(
        async move {
            let (state, session) = super::context().await?;
            let user_id = session.require().await?;
            api_keys::test(&state, super::client_addr(), user_id).await
        }
        .await,
    )
}
