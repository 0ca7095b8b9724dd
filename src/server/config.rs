//! Settings: read once at start from the environment (and `.env`), with defaults from
//! `Leptos.toml`. A bad or missing setting is a [`ConfigError`] naming it.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::client::TrustedProxy;

/// Shortest master secret production accepts.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// A setting that stops the start, with the name of the setting in its message.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }
}

/// The app's runtime settings file (`Leptos.toml`): non-secret defaults an operator may
/// edit. cargo-leptos reads its build settings from `Cargo.toml`; this file is the app's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuntimeFile {
    pub site_addr: SocketAddr,
    pub site_root: String,
    pub data_dir: PathBuf,
    pub anthropic_connect_timeout_secs: u64,
    pub anthropic_timeout_secs: u64,
    pub session_days: i64,
    /// A session ends this many days after login, however active.
    pub session_max_days: i64,
    /// Failed logins per account from one address.
    pub login_attempts_per_minute: u32,
    /// Failed logins from one address, over all accounts.
    pub login_failures_per_address_per_hour: u32,
    pub registrations_per_address_per_hour: u32,
    /// Key checks with Anthropic, per user and per address.
    pub key_saves_per_minute: u32,
    /// Password hashes computed at once (0: one per CPU), and how many more may wait.
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    /// An operator's agents file; empty means the built-in Agents.
    pub agents_file: Option<PathBuf>,
    /// Longest answer, in tokens, asked of Anthropic.
    pub max_tokens: u32,
}

impl Default for RuntimeFile {
    fn default() -> Self {
        Self {
            site_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: "target/site".into(),
            data_dir: "data".into(),
            anthropic_connect_timeout_secs: 5,
            anthropic_timeout_secs: 20,
            session_days: 14,
            session_max_days: 30,
            login_attempts_per_minute: 10,
            login_failures_per_address_per_hour: 60,
            registrations_per_address_per_hour: 20,
            key_saves_per_minute: 10,
            password_hash_concurrency: 0,
            password_hash_queue: 32,
            agents_file: None,
            max_tokens: 4096,
        }
    }
}

impl RuntimeFile {
    /// Reads `path` if it exists; a missing file means the built-in defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ConfigError::new("Leptos.toml", e.message().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConfigError::new("Leptos.toml", e.to_string())),
        }
    }
}

/// Everything the application needs to start.
#[derive(Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub database_url: String,
    pub jwt_secret: SecretString,
    pub jwt_secret_previous: Vec<SecretString>,
    pub anthropic_base_url: String,
    pub site_addr: SocketAddr,
    pub site_root: String,
    pub data_dir: PathBuf,
    pub anthropic_connect_timeout: Duration,
    pub anthropic_timeout: Duration,
    pub session_days: i64,
    pub session_max_days: i64,
    pub login_attempts_per_minute: u32,
    pub login_failures_per_address_per_hour: u32,
    pub registrations_per_address_per_hour: u32,
    pub key_saves_per_minute: u32,
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<TrustedProxy>,
    pub agents_file: Option<PathBuf>,
    pub max_tokens: u32,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field("database_url", &redact_url(&self.database_url))
            .field("jwt_secret", &"[redacted]")
            .field("jwt_secret_previous", &self.jwt_secret_previous.len())
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("site_addr", &self.site_addr)
            .finish_non_exhaustive()
    }
}

/// Hides a password in a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

impl Settings {
    /// Reads `.env` (if present), `Leptos.toml` (if present) and the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is a bad setting.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(ConfigError::new(".env", e.to_string()));
            }
        }
        let file = RuntimeFile::load(Path::new("Leptos.toml"))?;
        Self::from_lookup(file, |name| std::env::var(name).ok())
    }

    /// Builds settings from a lookup function, so tests need not touch the process
    /// environment.
    pub fn from_lookup(
        file: RuntimeFile,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let env = match get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("expected development or production, got {other:?}"),
                ))
            }
        };

        let data_dir = get("APP_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or(file.data_dir.clone());

        let database_url = match get("DATABASE_URL") {
            Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => url,
            Some(_) => {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "expected a sqlite://… or postgres://… URL",
                ))
            }
            None => format!("sqlite://{}", data_dir.join("apexaurum.db").display()),
        };

        let jwt_secret = match (get("JWT_SECRET"), env) {
            (Some(s), _) if s.len() >= MIN_SECRET_LEN => SecretString::from(s),
            (Some(_), AppEnv::Production) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!("must be at least {MIN_SECRET_LEN} characters in production"),
                ))
            }
            (None, AppEnv::Production) => {
                return Err(ConfigError::new("JWT_SECRET", "is required in production"))
            }
            // Development accepts a short secret the developer chose on purpose.
            (Some(s), AppEnv::Development) => SecretString::from(s),
            (None, AppEnv::Development) => load_or_create_dev_secret(&data_dir)?,
        };

        let jwt_secret_previous: Vec<SecretString> = get("JWT_SECRET_PREVIOUS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if env == AppEnv::Production
            && jwt_secret_previous
                .iter()
                .any(|s| s.expose_secret().len() < MIN_SECRET_LEN)
        {
            return Err(ConfigError::new(
                "JWT_SECRET_PREVIOUS",
                format!("every entry must be at least {MIN_SECRET_LEN} characters in production"),
            ));
        }

        let anthropic_base_url = get("ANTHROPIC_BASE_URL")
            .unwrap_or_else(|| "https://api.anthropic.com".into())
            .trim_end_matches('/')
            .to_string();
        if !(anthropic_base_url.starts_with("http://")
            || anthropic_base_url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "ANTHROPIC_BASE_URL",
                "expected an http(s):// URL",
            ));
        }
        if env == AppEnv::Production && !is_https_or_loopback(&anthropic_base_url) {
            return Err(ConfigError::new(
                "ANTHROPIC_BASE_URL",
                "must be https:// in production (plain http:// only to this machine): keys travel in it",
            ));
        }

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    TrustedProxy::parse(p).ok_or_else(|| {
                        ConfigError::new(
                            "TRUSTED_PROXIES",
                            format!("expected addresses or networks like 10.0.0.0/8, got {p:?}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let site_addr = match get("LEPTOS_SITE_ADDR") {
            Some(a) => a.parse().map_err(|_| {
                ConfigError::new(
                    "LEPTOS_SITE_ADDR",
                    "expected host:port, e.g. 127.0.0.1:3000",
                )
            })?,
            None => file.site_addr,
        };
        let site_root = get("LEPTOS_SITE_ROOT").unwrap_or(file.site_root.clone());

        Ok(Self {
            env,
            database_url,
            jwt_secret,
            jwt_secret_previous,
            anthropic_base_url,
            site_addr,
            site_root,
            data_dir,
            anthropic_connect_timeout: Duration::from_secs(file.anthropic_connect_timeout_secs),
            anthropic_timeout: Duration::from_secs(file.anthropic_timeout_secs),
            session_days: file.session_days,
            session_max_days: file.session_max_days,
            login_attempts_per_minute: file.login_attempts_per_minute,
            login_failures_per_address_per_hour: file.login_failures_per_address_per_hour,
            registrations_per_address_per_hour: file.registrations_per_address_per_hour,
            key_saves_per_minute: file.key_saves_per_minute,
            password_hash_concurrency: file.password_hash_concurrency,
            password_hash_queue: file.password_hash_queue,
            trusted_proxies,
            agents_file: file.agents_file.filter(|p| !p.as_os_str().is_empty()),
            max_tokens: file.max_tokens,
        })
    }

    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }
}

/// `https://…`, or `http://` to this machine (a local stand-in or a sidecar).
pub fn is_https_or_loopback(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Development keeps one generated secret in `data/jwt_secret` (owner-readable only), so
/// keys saved in development survive restarts. An existing file is never replaced: one that
/// is short or unreadable stops the start, since a new secret would make every stored key
/// unreadable.
fn load_or_create_dev_secret(data_dir: &Path) -> Result<SecretString, ConfigError> {
    let path = data_dir.join("jwt_secret");
    let io_err =
        |e: std::io::Error| ConfigError::new("JWT_SECRET", format!("{}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                ConfigError::new(
                    "JWT_SECRET",
                    format!("{} is not text; fix or restore it", path.display()),
                )
            })?;
            let existing = text.trim();
            if existing.len() < MIN_SECRET_LEN {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "{} holds fewer than {MIN_SECRET_LEN} characters; restore it (it is never replaced: stored keys depend on it)",
                        path.display()
                    ),
                ));
            }
            return Ok(SecretString::from(existing.to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    create_private_dir(data_dir).map_err(io_err)?;
    let secret = generate_secret();
    write_new_owner_only(&path, secret.expose_secret()).map_err(io_err)?;
    Ok(secret)
}

/// Creates `dir` (and its parents) if missing, readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn generate_secret() -> SecretString {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Writes a file that must not exist yet (two instances starting at once cannot both win).
fn write_new_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = RuntimeFile {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        Settings::from_lookup(file, |k| map.get(k).cloned())
    }

    #[test]
    fn production_refuses_a_missing_secret_naming_the_setting() {
        let err = settings(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
        assert!(err.to_string().starts_with("invalid setting JWT_SECRET"));
    }

    #[test]
    fn production_refuses_a_short_secret() {
        let err = settings(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
    }

    #[test]
    fn development_generates_and_keeps_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = RuntimeFile {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let a = Settings::from_lookup(file.clone(), |_| None).unwrap();
        let b = Settings::from_lookup(file, |_| None).unwrap();
        assert_eq!(a.jwt_secret.expose_secret(), b.jwt_secret.expose_secret());
        assert!(a.jwt_secret.expose_secret().len() >= MIN_SECRET_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("jwt_secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_bad_setting_names_itself() {
        assert_eq!(
            settings(&[("APP_ENV", "staging")]).unwrap_err().name,
            "APP_ENV"
        );
        assert_eq!(
            settings(&[("DATABASE_URL", "mysql://x")]).unwrap_err().name,
            "DATABASE_URL"
        );
        assert_eq!(
            settings(&[("LEPTOS_SITE_ADDR", "nope")]).unwrap_err().name,
            "LEPTOS_SITE_ADDR"
        );
    }

    #[test]
    fn previous_secrets_are_a_comma_separated_list() {
        let s = settings(&[("JWT_SECRET_PREVIOUS", "a, b,,c")]).unwrap();
        assert_eq!(s.jwt_secret_previous.len(), 3);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[("JWT_SECRET", "canary-secret-canary-secret-canary-secret")]).unwrap();
        assert!(!format!("{s:?}").contains("canary-secret"));
        assert_eq!(
            redact_url("postgres://u:pw@h/db"),
            "postgres://[redacted]@h/db"
        );
    }

    #[test]
    fn production_refuses_plain_http_to_another_machine() {
        let prod = |url: &str| {
            settings(&[
                ("APP_ENV", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef-prod"),
                ("ANTHROPIC_BASE_URL", url),
            ])
        };
        for remote in [
            "http://api.anthropic.com",
            "http://10.0.0.5:3100",
            "http://127.0.0.1.evil.example",
            "http://user@evil.example",
            "ftp://localhost",
        ] {
            assert_eq!(
                prod(remote).unwrap_err().name,
                "ANTHROPIC_BASE_URL",
                "{remote}"
            );
        }
        for fine in [
            "https://api.anthropic.com",
            "http://127.0.0.1:3100",
            "http://localhost:3100/",
            "http://[::1]:3100",
        ] {
            assert!(prod(fine).is_ok(), "{fine}");
        }
        // Development may point anywhere (a stand-in on another machine).
        assert!(settings(&[("ANTHROPIC_BASE_URL", "http://10.0.0.5:3100")]).is_ok());
    }

    #[test]
    fn production_refuses_a_short_previous_secret() {
        let err = settings(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-prod"),
            (
                "JWT_SECRET_PREVIOUS",
                "0123456789abcdef0123456789abcdef-old,short",
            ),
        ])
        .unwrap_err();
        assert_eq!(err.name, "JWT_SECRET_PREVIOUS");
        assert!(
            !err.to_string().contains("short"),
            "the secret is not echoed"
        );
    }

    #[test]
    fn a_short_or_unreadable_secret_file_stops_the_start_and_is_kept() {
        for contents in [&b"too-short"[..], &[0xff, 0xfe, 0x00][..], &b""[..]] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("jwt_secret");
            std::fs::write(&path, contents).unwrap();
            let file = RuntimeFile {
                data_dir: dir.path().to_path_buf(),
                ..Default::default()
            };
            let err = Settings::from_lookup(file, |_| None).unwrap_err();
            assert_eq!(err.name, "JWT_SECRET");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                contents,
                "the file is untouched"
            );
        }
    }

    #[test]
    fn the_shipped_runtime_file_matches_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Leptos.toml");
        let file = RuntimeFile::load(&path).unwrap();
        let defaults = RuntimeFile::default();
        assert_eq!(file.session_max_days, defaults.session_max_days);
        assert_eq!(
            file.login_failures_per_address_per_hour,
            defaults.login_failures_per_address_per_hour
        );
        assert_eq!(file.password_hash_queue, defaults.password_hash_queue);
    }

    #[test]
    fn trusted_proxies_are_a_list_of_addresses_or_networks() {
        let s = settings(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]).unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(
            settings(&[("TRUSTED_PROXIES", "10.0.0.0/99")])
                .unwrap_err()
                .name,
            "TRUSTED_PROXIES"
        );
    }
}
