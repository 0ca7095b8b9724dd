//! The logged-in user as the browser sees them.

use serde::{Deserialize, Serialize};

/// What the browser knows of the logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub has_api_key: bool,
    /// `Some(false)` once Anthropic has refused the stored key.
    pub key_valid: Option<bool>,
}
