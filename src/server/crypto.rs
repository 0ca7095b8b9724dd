//! The design's key encryption: Fernet with the key `base64url(sha256(JWT_SECRET))`, so
//! tokens are interchangeable with the design's Python code. Older secrets from
//! `JWT_SECRET_PREVIOUS` still decrypt, so the master secret can be rotated.

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use fernet::Fernet;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Encrypts with the current secret; decrypts with the current or any previous one.
/// Built once at start-up.
pub struct KeyCipher {
    current: Fernet,
    previous: Vec<Fernet>,
}

/// How a token was read.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Decrypted {
    /// Under the current secret.
    Current,
    /// Under an older secret: the caller should re-encrypt it.
    Previous,
}

/// No configured secret can read the token (a lost secret, or tampering).
#[derive(Debug, thiserror::Error)]
#[error("the stored key cannot be decrypted with any configured secret")]
pub struct Unreadable;

fn fernet_for(secret: &SecretString) -> Fernet {
    let digest = Sha256::digest(secret.expose_secret().as_bytes());
    Fernet::new(&URL_SAFE.encode(digest)).expect("a 32-byte key is always a valid Fernet key")
}

impl KeyCipher {
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        Self {
            current: fernet_for(current),
            previous: previous.iter().map(fernet_for).collect(),
        }
    }

    pub fn encrypt(&self, plaintext: &SecretString) -> String {
        self.current.encrypt(plaintext.expose_secret().as_bytes())
    }

    pub fn decrypt(&self, token: &str) -> Result<(SecretString, Decrypted), Unreadable> {
        let as_secret = |bytes: Vec<u8>| {
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| Unreadable)
        };
        if let Ok(bytes) = self.current.decrypt(token) {
            return Ok((as_secret(bytes)?, Decrypted::Current));
        }
        for fernet in &self.previous {
            if let Ok(bytes) = fernet.decrypt(token) {
                return Ok((as_secret(bytes)?, Decrypted::Previous));
            }
        }
        Err(Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }
    #[derive(serde::Deserialize)]
    struct Vector {
        secret: String,
        fernet_key: String,
        plaintext: String,
        token: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/fixtures/fernet_vectors.json");
        serde_json::from_str::<Vectors>(text).unwrap().vectors
    }

    #[test]
    fn the_key_derivation_matches_the_design() {
        for v in vectors() {
            let digest = Sha256::digest(v.secret.as_bytes());
            assert_eq!(URL_SAFE.encode(digest), v.fernet_key);
        }
    }

    #[test]
    fn tokens_written_by_the_python_design_decrypt_here() {
        for v in vectors() {
            let cipher = KeyCipher::new(&secret(&v.secret), &[]);
            let (plain, how) = cipher.decrypt(&v.token).unwrap();
            assert_eq!(plain.expose_secret(), v.plaintext);
            assert_eq!(how, Decrypted::Current);
        }
    }

    #[test]
    fn tokens_written_here_decrypt_in_python() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fernet_vectors.py"
        );
        let has_python = std::process::Command::new("python3")
            .args(["-c", "import cryptography"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_python {
            eprintln!("python3 with `cryptography` not found: the Rust→Python direction is covered by CI only");
            return;
        }
        let plaintext = "sk-ant-api03-canaryRUSTVECTOR000000000000000000000000000-XyZ";
        let cipher = KeyCipher::new(&secret("apexaurum-test-vector-secret-0123456789"), &[]);
        let token = cipher.encrypt(&secret(plaintext));
        let out = std::process::Command::new("python3")
            .args([
                script,
                "--decrypt",
                "apexaurum-test-vector-secret-0123456789",
                &token,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), plaintext);
    }

    #[test]
    fn tokens_are_standard_fernet() {
        let cipher = KeyCipher::new(&secret("s"), &[]);
        let token = cipher.encrypt(&secret("hello"));
        assert!(
            token.starts_with("gAAAAA"),
            "version byte 0x80 and a timestamp"
        );
        assert_ne!(
            token,
            cipher.encrypt(&secret("hello")),
            "a fresh IV each time"
        );
    }

    #[test]
    fn previous_secrets_still_decrypt_and_say_so() {
        let old = KeyCipher::new(&secret("old-secret"), &[]);
        let token = old.encrypt(&secret("payload"));
        let rotated = KeyCipher::new(
            &secret("new-secret"),
            &[secret("older"), secret("old-secret")],
        );
        let (plain, how) = rotated.decrypt(&token).unwrap();
        assert_eq!(plain.expose_secret(), "payload");
        assert_eq!(how, Decrypted::Previous);
    }

    #[test]
    fn an_unknown_secret_or_a_tampered_token_is_unreadable() {
        let token = KeyCipher::new(&secret("a"), &[]).encrypt(&secret("payload"));
        assert!(KeyCipher::new(&secret("b"), &[]).decrypt(&token).is_err());
        let mut tampered = token.clone().into_bytes();
        tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(KeyCipher::new(&secret("a"), &[])
            .decrypt(&tampered)
            .is_err());
    }
}
