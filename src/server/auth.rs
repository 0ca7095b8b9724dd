//! Accounts: registration, login and the current user. Passwords are hashed with argon2id
//! on a blocking thread, never on the async runtime.

use std::sync::LazyLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    config::Settings,
    db::{DbError, UserRow},
    internal,
    state::AppState,
    user_settings::UserSettings,
};
use crate::{
    domain::{Email, Password},
    error::AppError,
    types::user::UserView,
};

/// What the browser may know of a user.
pub fn view_of(row: &UserRow, settings: &Settings) -> UserView {
    let key = row.settings.0.anthropic_key();
    UserView {
        id: row.id,
        email: row.email.clone(),
        has_api_key: key.is_some(),
        key_valid: key.and_then(|k| k.valid),
        platform_key: super::billing::platform_key_serves(settings, &row.settings.0),
    }
}

#[tracing::instrument(skip_all)]
pub async fn register(
    state: &AppState,
    email: Email,
    password: Password,
) -> Result<UserRow, AppError> {
    let hash = hash_password(password.secret().clone()).await?;
    match state
        .db
        .insert_user(email.as_str(), &hash, &UserSettings::new_account())
        .await
    {
        Ok(row) => Ok(row),
        Err(DbError::UniqueViolation) => Err(AppError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Checks credentials. Unknown email and wrong password take the same time and give the
/// same answer, so the login form does not reveal which accounts exist.
#[tracing::instrument(skip_all)]
pub async fn login(state: &AppState, email: &str, password: Password) -> Result<UserRow, AppError> {
    let email = email.trim().to_lowercase();
    if !state.login_limiter.check(&email) {
        return Err(AppError::RateLimited);
    }
    let row = state.db.find_user_by_email(&email).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let matches = verify_password(password.secret().clone(), stored).await?;
    match row {
        Some(row) if matches => Ok(row),
        _ => Err(AppError::InvalidCredentials),
    }
}

pub async fn find(state: &AppState, user_id: i64) -> Result<Option<UserRow>, AppError> {
    Ok(state.db.find_user(user_id).await?)
}

async fn hash_password(password: SecretString) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|e| internal("hashing a password", e))
}

/// A real argon2id hash of a random password, verified against when the email is unknown.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(salt.as_str().as_bytes(), &salt)
        .expect("hashing a fixed input cannot fail")
        .to_string()
});

async fn verify_password(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(AppError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse".to_string().into())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".to_string().into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse".to_string().into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!verify_password("anything".to_string().into(), None)
            .await
            .unwrap());
    }
}
