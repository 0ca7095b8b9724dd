use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A Claude model id as Anthropic spells them (`claude-sonnet-4-5`,
/// `claude-3-5-haiku@20241022`): `claude-` then lower-case letters, digits and `-._@`, at
/// most 100 characters. Whether the person's key may use it is Anthropic's to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

const MAX_LEN: usize = 100;

impl ModelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for ModelName {
    type Error = AppError;

    fn try_from(name: String) -> Result<Self, AppError> {
        let well_formed = name.starts_with("claude-")
            && name.len() <= MAX_LEN
            && name.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'_' | b'@')
            });
        if well_formed {
            Ok(Self(name))
        } else {
            Err(AppError::InvalidRequest(
                "That is not a Claude model name.".into(),
            ))
        }
    }
}

impl From<ModelName> for String {
    fn from(name: ModelName) -> Self {
        name.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> Result<ModelName, AppError> {
        ModelName::try_from(name.to_string())
    }

    #[test]
    fn claude_model_ids_are_accepted() {
        for name in [
            "claude-sonnet-4-5",
            "claude-3-5-haiku@20241022",
            "claude-opus-4.1_x",
        ] {
            assert_eq!(model(name).unwrap().as_str(), name);
        }
        assert!(model(&format!("claude-{}", "a".repeat(93))).is_ok());
    }

    #[test]
    fn anything_else_is_an_invalid_request() {
        for name in [
            "gpt-4",
            "claude-<script>",
            "Claude-sonnet",
            "claude-Sonnet",
            "claude- ",
            "",
            &format!("claude-{}", "a".repeat(94)),
        ] {
            assert!(
                matches!(model(name), Err(AppError::InvalidRequest(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn deserializing_validates_too() {
        let ok: ModelName = serde_json::from_str("\"claude-haiku-4-5\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"claude-haiku-4-5\"");
        assert!(serde_json::from_str::<ModelName>("\"gpt-4\"").is_err());
    }
}
