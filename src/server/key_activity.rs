//! Key activity: a short log of what happened to each person's Anthropic key (saved,
//! tested, refused during a chat, removed, re-encrypted after a secret rotation), for
//! Settings and `GET /api/v1/user/api-key/activity`. Written beside each key operation in
//! `api_keys`; a failed write is logged and never fails the operation. No key material
//! is ever recorded: the kind, a word of detail from a fixed vocabulary, and at most the
//! hint the key's status already shows.

use chrono::SecondsFormat;

use super::{
    anthropic::Verdict,
    db::{key_events::NewKeyEvent, Db},
    internal,
    state::AppState,
};
use crate::{error::AppError, types::keys::KeyEvent};

/// Events kept per person; older ones are forgotten as new ones come.
pub const KEPT: i64 = 100;

/// What happened to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Saved,
    Tested(Verdict),
    RefusedInChat,
    Removed,
    Reencrypted(Reencryption),
}

/// What made a key be re-encrypted under the current secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reencryption {
    /// Read with a previous secret while in use.
    OnUse,
    /// `apexaurum rotate-keys`.
    Rotation,
}

impl Kind {
    fn words(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Saved => ("saved", None),
            Self::Tested(Verdict::Accepted) => ("tested", Some("accepted")),
            Self::Tested(Verdict::Refused) => ("tested", Some("refused")),
            Self::Tested(Verdict::Unavailable) => ("tested", Some("unavailable")),
            Self::RefusedInChat => ("refused_in_chat", None),
            Self::Removed => ("removed", None),
            Self::Reencrypted(Reencryption::OnUse) => ("reencrypted", Some("on_use")),
            Self::Reencrypted(Reencryption::Rotation) => ("reencrypted", Some("rotation")),
        }
    }
}

/// Records `kind` for the user. `key_hint`: the hint of the key it was about, when the key
/// is no longer stored (removed); otherwise the stored key's hint is taken.
pub async fn record(db: &Db, user_id: i64, kind: Kind, key_hint: Option<&str>) {
    let (kind, detail) = kind.words();
    let event = NewKeyEvent {
        user_id,
        kind,
        detail,
        key_hint,
    };
    if let Err(e) = db.insert_key_event(&event, KEPT).await {
        internal("recording key activity", e);
    }
}

/// The user's key activity, newest first.
pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<KeyEvent>, AppError> {
    Ok(state
        .db
        .key_events(user_id, KEPT)
        .await?
        .into_iter()
        .map(|row| KeyEvent {
            kind: row.kind,
            detail: row.detail,
            key_hint: row.key_hint,
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
        .collect())
}
