use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{domain::ApiKey, server::api_keys};
use crate::{
    error::AppError,
    secret_text::SecretText,
    types::keys::{KeyEvent, KeyStatus},
};

#[server(prefix = "/api/fn", endpoint = "api_key_status")]
pub async fn api_key_status() -> Result<KeyStatus, AppError> {
    let (_, user) = super::signed_in()?;
    Ok(user.settings.key_status())
}

#[server(prefix = "/api/fn", endpoint = "save_api_key")]
pub async fn save_api_key(api_key: SecretText) -> Result<KeyStatus, AppError> {
    let (state, user_id) = super::authenticated()?;
    let key = ApiKey::parse(api_key.into_secret())?;
    api_keys::save(&state, super::client_addr(), user_id, key).await
}

#[server(prefix = "/api/fn", endpoint = "remove_api_key")]
pub async fn remove_api_key() -> Result<KeyStatus, AppError> {
    let (state, user_id) = super::authenticated()?;
    api_keys::remove(&state, user_id).await?;
    Ok(KeyStatus::default())
}

#[server(prefix = "/api/fn", endpoint = "test_api_key")]
pub async fn test_api_key() -> Result<KeyStatus, AppError> {
    let (state, user_id) = super::authenticated()?;
    api_keys::test(&state, super::client_addr(), user_id).await
}

/// Settings' key activity: what happened to the key, newest first.
#[server(prefix = "/api/fn", endpoint = "key_activity")]
pub async fn key_activity() -> Result<Vec<KeyEvent>, AppError> {
    let (state, user_id) = super::authenticated()?;
    api_keys::activity(&state, user_id).await
}
