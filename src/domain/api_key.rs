use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

/// An Anthropic API key that passed the format check, held as a secret.
pub struct ApiKey(SecretString);

const MIN_LEN: usize = 40;
const MAX_LEN: usize = 256;

impl ApiKey {
    /// The contract's format check, before any network call: trimmed, `sk-ant-`, 40 to 256
    /// characters of `A-Z a-z 0-9 - _`; admin keys are refused with their own message.
    pub fn parse(raw: SecretString) -> Result<Self, AppError> {
        let key = raw.expose_secret().trim();
        if key.starts_with("sk-ant-admin") {
            return Err(AppError::AdminKey);
        }
        let well_formed = key.starts_with("sk-ant-")
            && (MIN_LEN..=MAX_LEN).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(AppError::InvalidKeyFormat);
        }
        Ok(Self(SecretString::from(key.to_string())))
    }

    /// What a person may see: the first 10 characters, `...`, the last 4.
    pub fn hint(&self) -> String {
        let key = self.0.expose_secret();
        format!("{}...{}", &key[..10], &key[key.len() - 4..])
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ApiKey, AppError> {
        ApiKey::parse(SecretString::from(s.to_string()))
    }

    const GOOD: &str = "sk-ant-api03-canaryCANARY0123456789_abcdefghij-X7f4";

    #[test]
    fn a_well_formed_key_is_trimmed_and_hinted() {
        let key = parse(&format!("  {GOOD}\n")).unwrap();
        assert_eq!(key.secret().expose_secret(), GOOD);
        assert_eq!(key.hint(), "sk-ant-api...X7f4");
    }

    #[test]
    fn malformed_keys_are_refused() {
        let too_long = format!("sk-ant-{}", "a".repeat(250));
        for bad in [
            "",
            "sk-ant-short",
            "sk-proj-0123456789012345678901234567890123456789",
            &too_long,
            "sk-ant-api03-has spaces in it 0123456789012345678901234",
            "sk-ant-api03-ünïcode-0123456789012345678901234567",
        ] {
            assert!(
                matches!(parse(bad), Err(AppError::InvalidKeyFormat)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn admin_keys_get_their_own_message() {
        let err = parse("sk-ant-admin01-canary0123456789012345678901234567890123").unwrap_err();
        assert_eq!(err, AppError::AdminKey);
        assert_eq!(err.code(), "invalid_key_format");
        assert!(err.to_string().contains("admin key"));
    }

    #[test]
    fn debug_shows_only_the_hint() {
        assert_eq!(
            format!("{:?}", parse(GOOD).unwrap()),
            "ApiKey(sk-ant-api...X7f4)"
        );
    }

    /// Never a panic (hints slice the key by bytes); an accepted key is well-formed and its
    /// hint and `Debug` show only its ends.
    #[test]
    fn fuzz_api_key_parse() {
        const FRAGMENTS: [&str; 10] = [
            "sk-ant-",
            "sk-ant-api03-",
            "sk-ant-admin",
            "a",
            "Z",
            "0",
            "-",
            "_",
            "aaaaaaaaaaaaaaaaaaaa",
            "\u{e9}",
        ];
        crate::fuzz::run("api_key", |g| {
            let mut raw = g.text(&FRAGMENTS, 30);
            // Half the cases start like a key, so the accepting side is explored too.
            if g.below(2) == 0 {
                raw = format!("sk-ant-api03-{}{raw}", "a".repeat(g.below(40)));
            }
            if let Ok(key) = ApiKey::parse(SecretString::from(raw.clone())) {
                let secret = key.secret().expose_secret();
                assert!(secret.starts_with("sk-ant-") && !secret.starts_with("sk-ant-admin"));
                assert!((40..=256).contains(&secret.len()));
                assert_eq!(key.hint().len(), 17);
                assert!(!format!("{key:?}").contains(&secret[10..secret.len() - 4]));
            }
        });
    }
}
