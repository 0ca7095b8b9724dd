//! The key panel's view of a stored key.

use serde::{Deserialize, Serialize};

/// The contract's status object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub configured: bool,
    pub valid: Option<bool>,
    pub key_hint: Option<String>,
    pub added_at: Option<String>,
    pub last_used: Option<String>,
    /// When Anthropic last gave its verdict on the key (saved or tested); an addition to
    /// the contract's status object.
    #[serde(default)]
    pub last_checked: Option<String>,
}

/// One entry of Settings' key activity: what happened to the key, and when. Never any
/// key material beyond the hint the status shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEvent {
    /// `saved`, `tested`, `refused_in_chat`, `removed` or `reencrypted`.
    pub kind: String,
    /// `tested`: `accepted`, `refused` or `unavailable`; `reencrypted`: `on_use` or
    /// `rotation`; otherwise null.
    pub detail: Option<String>,
    /// The key's hint (`sk-ant-api...X7f4`), when known.
    pub key_hint: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl KeyEvent {
    /// The event in words, for Settings.
    pub fn describe(&self) -> String {
        let hint = self
            .key_hint
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        match (self.kind.as_str(), self.detail.as_deref()) {
            ("saved", _) => format!("Key saved{hint}, accepted by Anthropic"),
            ("tested", Some("accepted")) => format!("Key tested{hint}: accepted by Anthropic"),
            ("tested", Some("refused")) => format!("Key tested{hint}: refused by Anthropic"),
            ("tested", _) => format!("Key test{hint}: Anthropic unavailable, key unchanged"),
            ("refused_in_chat", _) => format!("Key refused by Anthropic during a chat{hint}"),
            ("removed", _) => format!("Key removed{hint}"),
            ("reencrypted", Some("rotation")) => {
                format!("Key re-encrypted under the new server secret{hint} (rotation)")
            }
            ("reencrypted", _) => {
                format!("Key re-encrypted under the new server secret{hint} when used")
            }
            (other, _) => format!("{other}{hint}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_event_reads_as_a_sentence_with_at_most_the_hint() {
        let event = |kind: &str, detail: Option<&str>| KeyEvent {
            kind: kind.into(),
            detail: detail.map(String::from),
            key_hint: Some("sk-ant-api...X7f4".into()),
            created_at: "2026-11-25T14:00:00Z".into(),
        };
        assert_eq!(
            event("tested", Some("refused")).describe(),
            "Key tested (sk-ant-api...X7f4): refused by Anthropic"
        );
        assert_eq!(
            event("reencrypted", Some("rotation")).describe(),
            "Key re-encrypted under the new server secret (sk-ant-api...X7f4) (rotation)"
        );
        let mut removed = event("removed", None);
        removed.key_hint = None;
        assert_eq!(removed.describe(), "Key removed");
    }
}
