//! Accounts: registration, login, password changes and the current user. Passwords are
//! hashed with argon2id on the blocking pool, a bounded number at a time ([`HashGate`]).
//!
//! Throttling is built so a stranger cannot lock the owner out: failed logins count per
//! account *and address* (the owner, elsewhere, is unaffected), and per address over all
//! accounts (spraying one password over many emails is slowed); a correct password from an
//! address that has not used up its failures is always checked.
//!
//! [`HashGate`]: super::rate_limit::HashGate

use std::sync::LazyLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    client::ClientAddr,
    config::Settings,
    db::{DbError, UserRow},
    internal,
    rate_limit::Limit,
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
        gate: super::billing::gate_plan(settings, &row.settings.0),
    }
}

#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn register(
    state: &AppState,
    client: ClientAddr,
    email: Email,
    password: Password,
) -> Result<UserRow, AppError> {
    let per_address = Limit::per_hour(state.settings.registrations_per_address_per_hour);
    state
        .limits
        .hit(&format!("register:addr:{}", client.bucket()), per_address)
        .await?;
    let hash = hash_password(state, password.secret().clone()).await?;
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

/// The two failure counters a login attempt is held to.
struct LoginLimits {
    account_from_address: (String, Limit),
    address: (String, Limit),
}

impl LoginLimits {
    fn new(state: &AppState, client: ClientAddr, email: &str) -> Self {
        let settings = &state.settings;
        Self {
            account_from_address: (
                format!("login:acct:{email}:{}", client.bucket()),
                Limit::per_minute(settings.login_attempts_per_minute),
            ),
            address: (
                format!("login:addr:{}", client.bucket()),
                Limit::per_hour(settings.login_failures_per_address_per_hour),
            ),
        }
    }

    async fn check(&self, state: &AppState) -> Result<(), AppError> {
        for (key, limit) in [&self.account_from_address, &self.address] {
            state.limits.check(key, *limit).await?;
        }
        Ok(())
    }

    async fn failed(&self, state: &AppState) -> Result<(), AppError> {
        for (key, limit) in [&self.account_from_address, &self.address] {
            // Counting can itself cross the limit; the answer is still "wrong password".
            match state.limits.hit(key, *limit).await {
                Ok(()) | Err(AppError::RateLimited { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn succeeded(&self, state: &AppState) -> Result<(), AppError> {
        state.limits.clear(&self.account_from_address.0).await
    }
}

/// Checks credentials. Unknown email and wrong password take the same time and give the
/// same answer, so the login form does not reveal which accounts exist.
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn login(
    state: &AppState,
    client: ClientAddr,
    email: &str,
    password: Password,
) -> Result<UserRow, AppError> {
    let email = email.trim().to_lowercase();
    let limits = LoginLimits::new(state, client, &email);
    limits.check(state).await?;
    let row = state.db.find_user_by_email(&email).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let matches = verify_password(state, password.secret().clone(), stored).await?;
    match row {
        Some(row) if matches => {
            limits.succeeded(state).await?;
            Ok(row)
        }
        _ => {
            limits.failed(state).await?;
            Err(AppError::InvalidCredentials)
        }
    }
}

/// Changes the password after checking the current one (held to the login limits), and
/// ends every other session of the account. Returns the new session generation, for the
/// session that asked.
#[tracing::instrument(skip_all, fields(user_id, client = %client))]
pub async fn change_password(
    state: &AppState,
    client: ClientAddr,
    user_id: i64,
    current: Password,
    new: Password,
) -> Result<i64, AppError> {
    let user = find(state, user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let limits = LoginLimits::new(state, client, &user.email.to_lowercase());
    limits.check(state).await?;
    let matches = verify_password(
        state,
        current.secret().clone(),
        Some(user.password_hash.clone()),
    )
    .await?;
    if !matches {
        limits.failed(state).await?;
        return Err(AppError::WrongPassword);
    }
    limits.succeeded(state).await?;
    let hash = hash_password(state, new.secret().clone()).await?;
    let generation = state
        .db
        .set_password_hash(user_id, &hash)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    tracing::info!(user_id, "password changed; other sessions ended");
    Ok(generation)
}

/// Ends every session of the user but the one asking; returns the new generation.
pub async fn end_other_sessions(state: &AppState, user_id: i64) -> Result<i64, AppError> {
    let generation = state
        .db
        .bump_session_generation(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    tracing::info!(user_id, "other sessions ended");
    Ok(generation)
}

pub async fn find(state: &AppState, user_id: i64) -> Result<Option<UserRow>, AppError> {
    Ok(state.db.find_user(user_id).await?)
}

async fn hash_password(state: &AppState, password: SecretString) -> Result<String, AppError> {
    state
        .hashing
        .run(move || hash_now(&password))
        .await?
        .map_err(|e| internal("hashing a password", e))
}

fn hash_now(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// A real argon2id hash of a random password, verified against when the email is unknown.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(salt.as_str().as_bytes(), &salt)
        .expect("hashing a fixed input cannot fail")
        .to_string()
});

async fn verify_password(
    state: &AppState,
    password: SecretString,
    stored: Option<String>,
) -> Result<bool, AppError> {
    state
        .hashing
        .run(move || verify_now(&password, stored))
        .await
}

fn verify_now(password: &SecretString, stored: Option<String>) -> bool {
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
    let Ok(parsed) = PasswordHash::new(&stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let secret = |s: &str| SecretString::from(s.to_string());
        let hash = hash_now(&secret("correct horse")).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_now(&secret("correct horse"), Some(hash.clone())));
        assert!(!verify_now(&secret("wrong horse"), Some(hash)));
        assert!(!verify_now(&secret("anything"), None));
    }
}
