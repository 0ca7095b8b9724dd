//! The user's Anthropic key: save (after Anthropic accepts it), status, re-test, remove,
//! and decrypt for use. One implementation of each operation, shared by the pages' server
//! functions and the JSON API. The plaintext exists only inside a `SecretString`, only for
//! the request that needs it.

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::SecretString;

use super::{
    anthropic::Verdict,
    client::ClientAddr,
    crypto::{Decrypted, KeyCipher},
    db::Db,
    internal,
    key_activity::{self, Kind, Reencryption},
    rate_limit::Limit,
    state::AppState,
    user_settings::{KeyEntry, UserSettings},
};
use crate::{
    domain::ApiKey,
    error::AppError,
    types::keys::{KeyEvent, KeyStatus},
};

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn settings_of(state: &AppState, user_id: i64) -> Result<UserSettings, AppError> {
    state
        .db
        .user_settings(user_id)
        .await?
        .ok_or(AppError::Unauthenticated)
}

pub async fn status(state: &AppState, user_id: i64) -> Result<KeyStatus, AppError> {
    Ok(settings_of(state, user_id).await?.key_status())
}

/// Checks the key with Anthropic and, only if it is accepted, stores it encrypted. On any
/// error nothing is written, so a key stored before stays exactly as it was.
#[tracing::instrument(skip_all, fields(user_id, client = %client))]
pub async fn save(
    state: &AppState,
    client: ClientAddr,
    user_id: i64,
    key: ApiKey,
) -> Result<KeyStatus, AppError> {
    limit_key_checks(state, client, user_id).await?;
    match state.anthropic.check_key(key.secret()).await {
        Verdict::Accepted => {}
        Verdict::Refused => return Err(AppError::KeyRejected),
        Verdict::Unavailable => return Err(AppError::AnthropicUnavailable),
    }
    let now = now_rfc3339();
    let entry = KeyEntry {
        encrypted_key: state.cipher.encrypt(key.secret()),
        key_hint: Some(key.hint()),
        added_at: Some(now.clone()),
        last_used: None,
        valid: Some(true),
        last_checked: Some(now),
        other: Default::default(),
    };
    state.db.set_anthropic_key(user_id, &entry).await?;
    tracing::info!(user_id, hint = %key.hint(), "API key saved");
    key_activity::record(&state.db, user_id, Kind::Saved, None).await;
    status(state, user_id).await
}

pub async fn remove(state: &AppState, user_id: i64) -> Result<(), AppError> {
    let removed = settings_of(state, user_id).await?.api_keys.anthropic;
    state.db.remove_anthropic_key(user_id).await?;
    tracing::info!(user_id, "API key removed");
    if let Some(entry) = removed {
        key_activity::record(&state.db, user_id, Kind::Removed, entry.key_hint.as_deref()).await;
    }
    Ok(())
}

/// The stored key, decrypted, with the token it came from (for compare-and-set writes).
pub struct StoredKey {
    pub secret: SecretString,
    pub token: String,
}

/// Decrypts the stored key; re-encrypts it under the current secret if an old one was
/// needed. `Ok(None)` when no key is stored.
async fn decrypt_stored(
    state: &AppState,
    user_id: i64,
    settings: &UserSettings,
) -> Result<Option<StoredKey>, AppError> {
    let Some(token) = settings.anthropic_key().map(|k| k.encrypted_key.as_str()) else {
        return Ok(None);
    };
    match state.cipher.decrypt(token) {
        Ok((secret, Decrypted::Current)) => Ok(Some(StoredKey {
            secret,
            token: token.to_string(),
        })),
        Ok((secret, Decrypted::Previous)) => {
            let fresh = state.cipher.encrypt(&secret);
            let swapped = state.db.replace_key_token(user_id, token, &fresh).await?;
            if swapped {
                let kind = Kind::Reencrypted(Reencryption::OnUse);
                key_activity::record(&state.db, user_id, kind, None).await;
            }
            let token = if swapped { fresh } else { token.to_string() };
            Ok(Some(StoredKey { secret, token }))
        }
        // Never marked refused: during a rolling rotation this instance may simply not have
        // the secret a newer one re-encrypted the key under, and the key is still good there.
        Err(_) => {
            report_unreadable(state, user_id, token);
            Err(AppError::KeyUnreadable)
        }
    }
}

/// Each call to Anthropic on a person's behalf counts against the user and their address,
/// so neither one account nor one address can drive Anthropic (or this server) hard.
async fn limit_key_checks(
    state: &AppState,
    client: ClientAddr,
    user_id: i64,
) -> Result<(), AppError> {
    let limit = Limit::per_minute(state.settings.key_saves_per_minute);
    state
        .limits
        .hit(&format!("key:user:{user_id}"), limit)
        .await?;
    state
        .limits
        .hit(&format!("key:addr:{}", client.bucket()), limit)
        .await
}

/// Logs, once per stored key and process, that this instance cannot decrypt it.
fn report_unreadable(state: &AppState, user_id: i64, token: &str) {
    use sha2::{Digest, Sha256};
    /// Beyond this many distinct keys, the set starts over rather than grow.
    const REMEMBERED: usize = 10_000;
    let mut id = [0u8; 16];
    id.copy_from_slice(&Sha256::digest(token.as_bytes())[..16]);
    let first = {
        let mut seen = state
            .unreadable_reported
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(id)
    };
    if first {
        tracing::warn!(
            user_id,
            instance = %state.instance,
            "this instance cannot decrypt a stored key with any configured secret \
             (JWT_SECRET / JWT_SECRET_PREVIOUS differ from the instance that wrote it?)"
        );
    }
}

/// The user's key activity, newest first.
pub async fn activity(state: &AppState, user_id: i64) -> Result<Vec<KeyEvent>, AppError> {
    key_activity::list(state, user_id).await
}

/// Checks the stored key with Anthropic again and records the answer.
#[tracing::instrument(skip_all, fields(user_id, client = %client))]
pub async fn test(
    state: &AppState,
    client: ClientAddr,
    user_id: i64,
) -> Result<KeyStatus, AppError> {
    let settings = settings_of(state, user_id).await?;
    let stored = decrypt_stored(state, user_id, &settings)
        .await?
        .ok_or(AppError::NoApiKey)?;
    limit_key_checks(state, client, user_id).await?;
    let verdict = state.anthropic.check_key(&stored.secret).await;
    key_activity::record(&state.db, user_id, Kind::Tested(verdict), None).await;
    let valid = match verdict {
        Verdict::Accepted => true,
        Verdict::Refused => false,
        // A rate limit, an overload or a billing problem says nothing about the key.
        Verdict::Unavailable => return Err(AppError::AnthropicUnavailable),
    };
    state
        .db
        .set_key_checked(user_id, &stored.token, valid, &now_rfc3339())
        .await?;
    status(state, user_id).await
}

/// The key to chat with: `api_key_required` without one, `api_key_invalid` once Anthropic
/// has refused it, `key_unreadable` when no secret can decrypt it.
pub async fn usable_key(
    state: &AppState,
    user_id: i64,
    settings: &UserSettings,
) -> Result<StoredKey, AppError> {
    if settings.anthropic_key().and_then(|k| k.valid) == Some(false) {
        return Err(AppError::ApiKeyInvalid);
    }
    decrypt_stored(state, user_id, settings)
        .await?
        .ok_or(AppError::ApiKeyRequired)
}

/// Records a use of the key at `at` (only while it is still the stored one). The chat
/// records it with the answer instead ([`super::db::FirstWords`]).
pub async fn mark_used(state: &AppState, user_id: i64, key: &StoredKey, at: DateTime<Utc>) {
    if let Err(e) = state
        .db
        .mark_key_used(
            user_id,
            &key.token,
            &at.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        .await
    {
        internal("recording last use of a key", e);
    }
}

/// Anthropic refused the key in use: mark it invalid (only if still the stored one).
pub async fn mark_refused(state: &AppState, user_id: i64, key: &StoredKey) {
    match state.db.set_key_valid(user_id, &key.token, false).await {
        Ok(true) => key_activity::record(&state.db, user_id, Kind::RefusedInChat, None).await,
        Ok(false) => {}
        Err(e) => {
            internal("marking a key invalid", e);
        }
    }
}

/// What a rotation run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub rewritten: usize,
    pub current: usize,
    pub unreadable: usize,
}

/// Re-encrypts every stored key under the current secret.
pub async fn rotate_all(db: &Db, cipher: &KeyCipher) -> Result<RotationReport, super::db::DbError> {
    let mut report = RotationReport::default();
    for (user_id, token) in db.stored_key_tokens().await? {
        match cipher.decrypt(&token) {
            Ok((_, Decrypted::Current)) => report.current += 1,
            Ok((secret, Decrypted::Previous)) => {
                let fresh = cipher.encrypt(&secret);
                if db.replace_key_token(user_id, &token, &fresh).await? {
                    report.rewritten += 1;
                    let kind = Kind::Reencrypted(Reencryption::Rotation);
                    key_activity::record(db, user_id, kind, None).await;
                } else {
                    // Changed meanwhile (saved anew or removed): whatever is there now is
                    // current or gone.
                    report.current += 1;
                }
            }
            Err(_) => report.unreadable += 1,
        }
    }
    Ok(report)
}
