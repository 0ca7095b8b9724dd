use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

/// A password that meets the policy, held as a secret from the first line that sees it.
pub struct Password(SecretString);

/// The contract's minimum; the maximum stops absurd inputs from costing hashing time.
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 1024;

impl Password {
    pub fn parse(raw: SecretString) -> Result<Self, AppError> {
        let chars = raw.expose_secret().chars().count();
        if chars < MIN_PASSWORD_CHARS {
            Err(AppError::WeakPassword)
        } else if chars > MAX_PASSWORD_CHARS {
            Err(AppError::InvalidRequest(
                "Passwords can be at most 1024 characters.".into(),
            ))
        } else {
            Ok(Self(raw))
        }
    }

    /// For login: any non-empty input is checked against the stored hash.
    pub fn unchecked(raw: SecretString) -> Self {
        Self(raw)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_weak() {
        assert!(matches!(
            Password::parse("1234567".to_string().into()),
            Err(AppError::WeakPassword)
        ));
        assert!(Password::parse("12345678".to_string().into()).is_ok());
        // Characters, not bytes.
        assert!(matches!(
            Password::parse("ææææ".to_string().into()),
            Err(AppError::WeakPassword)
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let p = Password::parse("canary-password".to_string().into()).unwrap();
        assert!(!format!("{p:?}").contains("canary"));
    }
}
