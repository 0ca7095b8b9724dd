use crate::error::AppError;

/// A plausible email address, trimmed and lower-cased (emails compare case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err(AppError::InvalidEmail);
        };
        let valid = !local.is_empty()
            && email.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && !email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c));
        if valid {
            Ok(Self(email))
        } else {
            Err(AppError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_ordinary_addresses() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
        assert!(Email::parse("a.b+tag@sub.example.co").is_ok());
    }

    #[test]
    fn refuses_things_that_are_not_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
            "ada@.org",
            "ada@example..org",
        ] {
            assert_eq!(Email::parse(bad), Err(AppError::InvalidEmail), "{bad:?}");
        }
    }

    /// Never a panic; an accepted address is trimmed, lower-case, one `@`, bounded.
    #[test]
    fn fuzz_email_parse() {
        const FRAGMENTS: [&str; 12] = [
            "@", ".", "ada", "EXAMPLE", "org", "..", "+tag", "\"", "<", " ", "\u{130}", "\u{212a}",
        ];
        crate::fuzz::run("email", |g| {
            let raw = match g.below(2) {
                0 => g.text(&FRAGMENTS, 14),
                _ => format!(
                    "{}@{}.{}",
                    g.text(&FRAGMENTS, 4),
                    g.text(&FRAGMENTS, 4),
                    g.text(&FRAGMENTS, 2)
                ),
            };
            if let Ok(email) = Email::parse(&raw) {
                let s = email.as_str();
                assert_eq!(s, s.trim());
                assert_eq!(s, s.to_lowercase());
                assert_eq!(s.matches('@').count(), 1, "{raw:?}");
                assert!(s.len() <= 254);
                assert!(!s.chars().any(char::is_whitespace));
            }
        });
    }
}
