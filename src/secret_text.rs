//! `SecretText`: a key or password as it arrives in a server function's arguments. The
//! argument structs the `#[server]` macro writes derive `Debug` and are built on both sides,
//! so this type prints as `[redacted]`, wipes its bytes when dropped, and (de)serializes as a
//! plain string for the browser's form and JSON encodings.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    /// Moves the text into a server-side secret (the original is left empty, then wiped).
    #[cfg(feature = "ssr")]
    pub fn into_secret(mut self) -> secrecy::SecretString {
        secrecy::SecretString::from(std::mem::take(&mut self.0))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "sk-ant-api03-CANARYsecrettext-0123456789abcdef0123456789";

    #[test]
    fn debug_never_shows_the_text() {
        let text = SecretText::from(CANARY.to_string());
        assert_eq!(format!("{text:?}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Args {
            api_key: SecretText,
        }
        let args = Args { api_key: text };
        assert!(!format!("{args:?}").contains("CANARY"));
        assert!(!format!("{args:#?}").contains("CANARY"));
    }

    #[test]
    fn it_travels_as_a_plain_string() {
        let text = SecretText::from("hunter22".to_string());
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"hunter22\"");
        let back: SecretText = serde_json::from_str("\"hunter22\"").unwrap();
        assert_eq!(back, text);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn it_becomes_a_server_secret() {
        use secrecy::ExposeSecret as _;
        let secret = SecretText::from("hunter22".to_string()).into_secret();
        assert_eq!(secret.expose_secret(), "hunter22");
    }
}
