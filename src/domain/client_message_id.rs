use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The browser's id for a message it sends: sending the same id again (a retry) never
/// stores the message twice. Trimmed, 1 to 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientMessageId(String);

const MAX_LEN: usize = 64;

impl ClientMessageId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientMessageId {
    type Error = AppError;

    fn try_from(id: String) -> Result<Self, AppError> {
        let id = id.trim();
        if id.is_empty() || id.len() > MAX_LEN {
            return Err(AppError::InvalidRequest(
                "client_message_id must be 1 to 64 characters.".into(),
            ));
        }
        Ok(Self(id.to_string()))
    }
}

impl From<ClientMessageId> for String {
    fn from(id: ClientMessageId) -> Self {
        id.0
    }
}

impl fmt::Display for ClientMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> Result<ClientMessageId, AppError> {
        ClientMessageId::try_from(raw.to_string())
    }

    #[test]
    fn an_id_is_trimmed() {
        assert_eq!(id("  7f3c-a1 \n").unwrap().as_str(), "7f3c-a1");
        assert_eq!(id(&"x".repeat(64)).unwrap().as_str().len(), 64);
    }

    #[test]
    fn an_empty_or_long_id_is_an_invalid_request() {
        for raw in ["", "   ", &"x".repeat(65)] {
            assert!(
                matches!(id(raw), Err(AppError::InvalidRequest(_))),
                "{raw:?}"
            );
        }
        assert!(serde_json::from_str::<ClientMessageId>("\" \"").is_err());
    }
}
