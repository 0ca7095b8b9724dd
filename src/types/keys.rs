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
}
