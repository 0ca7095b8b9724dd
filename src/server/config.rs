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
    /// How long an answer's stream from Anthropic may stay silent before the relay takes it
    /// as broken (Anthropic sends a ping every few seconds, even while it thinks).
    pub anthropic_idle_secs: u64,
    /// Once asked to stop, how long the server lets answers still streaming go on before it
    /// cuts them (keeping what arrived): less than what the supervisor waits before killing.
    pub shutdown_grace_secs: u64,
    /// How often an answer still streaming is saved as a draft, so that a process killed
    /// outright (SIGKILL, out of memory) loses at most this much of it: another instance,
    /// or this one started again, stores what the draft holds.
    pub answer_draft_secs: u64,
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
    /// An operator's price file; empty means the built-in prices (`src/prices.toml`).
    pub prices_file: Option<PathBuf>,
    /// Longest answer, in tokens, asked of Anthropic.
    pub max_tokens: u32,
    /// The most of a conversation sent to Anthropic with a message, in characters: the
    /// newest turns that fit (the latest message always).
    pub history_budget_chars: usize,
    /// Answers one person may have streaming at once (per instance).
    pub chat_streams_per_user: usize,
    /// Messages one person may send a minute (shared by every instance).
    pub chat_messages_per_minute: u32,
    /// How long the relay waits on a browser that has stopped reading before giving up.
    pub stalled_reader_secs: u64,
    pub stripe_connect_timeout_secs: u64,
    /// Longest a whole Stripe call may take.
    pub stripe_timeout_secs: u64,
    /// How often the meter worker looks for usage to report when nothing wakes it.
    pub meter_poll_ms: u64,
    /// Longest wait between two attempts to report one answer's usage.
    pub meter_backoff_max_ms: u64,
    /// How long a claimed report is reserved for one worker before another may take it.
    pub meter_lease_secs: u64,
}

impl Default for RuntimeFile {
    fn default() -> Self {
        Self {
            site_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: "target/site".into(),
            data_dir: "data".into(),
            anthropic_connect_timeout_secs: 5,
            anthropic_timeout_secs: 20,
            anthropic_idle_secs: 90,
            shutdown_grace_secs: 5,
            answer_draft_secs: 5,
            session_days: 14,
            session_max_days: 30,
            login_attempts_per_minute: 10,
            login_failures_per_address_per_hour: 60,
            registrations_per_address_per_hour: 20,
            key_saves_per_minute: 10,
            password_hash_concurrency: 0,
            password_hash_queue: 32,
            agents_file: None,
            prices_file: None,
            max_tokens: 4096,
            history_budget_chars: 400_000,
            chat_streams_per_user: 3,
            chat_messages_per_minute: 20,
            stalled_reader_secs: 30,
            stripe_connect_timeout_secs: 5,
            stripe_timeout_secs: 15,
            meter_poll_ms: 5_000,
            meter_backoff_max_ms: 300_000,
            meter_lease_secs: 60,
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
    /// How long an answer's stream may stay silent before it counts as broken.
    pub anthropic_idle: Duration,
    /// How long answers may go on streaming once the server is asked to stop.
    pub shutdown_grace: Duration,
    /// How often an answer still streaming is saved as a draft (see `server::drafts`).
    pub answer_draft: Duration,
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
    pub prices_file: Option<PathBuf>,
    pub max_tokens: u32,
    /// The most of a conversation sent to Anthropic with a message, in characters: the
    /// newest turns that fit (the latest message always).
    pub history_budget_chars: usize,
    /// Answers one person may have streaming at once (per instance).
    pub chat_streams_per_user: usize,
    /// Messages one person may send a minute (shared by every instance).
    pub chat_messages_per_minute: u32,
    /// How long the relay waits on a browser that has stopped reading before giving up.
    pub stalled_reader: Duration,
    /// The site's own address (no trailing slash), for the links Stripe sends people back to.
    pub public_url: String,
    /// The platform's Anthropic key, for Pro subscribers without a key of their own.
    pub platform_anthropic_key: Option<SecretString>,
    /// Stripe billing; `None` while `STRIPE_SECRET_KEY` is empty (the beta).
    pub billing: Option<BillingSettings>,
}

/// Stripe's settings, present only when billing is on.
#[derive(Clone)]
pub struct BillingSettings {
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    /// The Pro plan's recurring price (`price_…`).
    pub price_pro: String,
    /// The metered price on the meter (`price_…`), added to the Pro subscription so
    /// platform-key usage is invoiced; `None`: Pro is billed flat only.
    pub price_metered: Option<String>,
    /// The Billing Meter event name platform-key usage is reported under.
    pub meter_event: String,
    pub base_url: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub meter_poll: Duration,
    pub meter_backoff_max: Duration,
    pub meter_lease: Duration,
}

impl fmt::Debug for BillingSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BillingSettings")
            .field("secret_key", &"[redacted]")
            .field("webhook_secret", &"[redacted]")
            .field("price_pro", &self.price_pro)
            .field("meter_event", &self.meter_event)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
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
            .field("public_url", &self.public_url)
            .field(
                "platform_anthropic_key",
                &self.platform_anthropic_key.as_ref().map(|_| "[redacted]"),
            )
            .field("billing", &self.billing)
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

        let platform_anthropic_key = get("PLATFORM_ANTHROPIC_KEY")
            .map(|raw| {
                crate::domain::ApiKey::parse(SecretString::from(raw))
                    .map(|key| key.secret().clone())
                    .map_err(|_| {
                        ConfigError::new(
                            "PLATFORM_ANTHROPIC_KEY",
                            "expected an Anthropic API key (sk-ant-…)",
                        )
                    })
            })
            .transpose()?;

        let billing = match get("STRIPE_SECRET_KEY") {
            None => None,
            Some(secret_key) => Some(billing_settings(&file, &get, env, secret_key)?),
        };
        let public_url = match (get("PUBLIC_URL"), env, &billing) {
            (Some(url), _, _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::new("PUBLIC_URL", "expected an http(s):// URL"));
                }
                url.trim_end_matches('/').to_string()
            }
            (None, AppEnv::Production, Some(_)) => {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    "is required in production when billing is on",
                ))
            }
            (None, _, _) => DEV_PUBLIC_URL.to_string(),
        };

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
            anthropic_idle: Duration::from_secs(file.anthropic_idle_secs),
            shutdown_grace: Duration::from_secs(file.shutdown_grace_secs),
            // At least a second: a draft is a database write.
            answer_draft: Duration::from_secs(file.answer_draft_secs.max(1)),
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
            prices_file: file.prices_file.filter(|p| !p.as_os_str().is_empty()),
            max_tokens: file.max_tokens,
            history_budget_chars: file.history_budget_chars,
            chat_streams_per_user: file.chat_streams_per_user,
            chat_messages_per_minute: file.chat_messages_per_minute,
            stalled_reader: Duration::from_secs(file.stalled_reader_secs),
            public_url,
            platform_anthropic_key,
            billing,
        })
    }

    /// True when Stripe billing is configured.
    pub fn billing_enabled(&self) -> bool {
        self.billing.is_some()
    }

    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }
}

/// `PUBLIC_URL` when none is set (development only when billing is on).
pub const DEV_PUBLIC_URL: &str = "http://127.0.0.1:3000";

/// The Stripe settings, once `STRIPE_SECRET_KEY` is known to be set.
fn billing_settings(
    file: &RuntimeFile,
    get: &impl Fn(&str) -> Option<String>,
    env: AppEnv,
    secret_key: String,
) -> Result<BillingSettings, ConfigError> {
    if !(secret_key.starts_with("sk_") || secret_key.starts_with("rk_")) {
        return Err(ConfigError::new(
            "STRIPE_SECRET_KEY",
            "expected a Stripe secret key (sk_…) or restricted key (rk_…)",
        ));
    }
    let webhook_secret = get("STRIPE_WEBHOOK_SECRET").ok_or_else(|| {
        ConfigError::new(
            "STRIPE_WEBHOOK_SECRET",
            "is required when STRIPE_SECRET_KEY is set",
        )
    })?;
    if !webhook_secret.starts_with("whsec_") {
        return Err(ConfigError::new(
            "STRIPE_WEBHOOK_SECRET",
            "expected the webhook endpoint's signing secret (whsec_…)",
        ));
    }
    let price_pro = get("STRIPE_PRICE_PRO").ok_or_else(|| {
        ConfigError::new(
            "STRIPE_PRICE_PRO",
            "is required when STRIPE_SECRET_KEY is set",
        )
    })?;
    if !price_pro.starts_with("price_") {
        return Err(ConfigError::new(
            "STRIPE_PRICE_PRO",
            "expected a recurring price id (price_…)",
        ));
    }
    let price_metered = get("STRIPE_PRICE_METERED");
    if price_metered
        .as_deref()
        .is_some_and(|p| !p.starts_with("price_"))
    {
        return Err(ConfigError::new(
            "STRIPE_PRICE_METERED",
            "expected the metered price id (price_…)",
        ));
    }
    let meter_event = get("STRIPE_METER_EVENT").unwrap_or_else(|| "apexaurum_tokens".into());
    if meter_event.len() > 100 {
        return Err(ConfigError::new(
            "STRIPE_METER_EVENT",
            "is at most 100 characters",
        ));
    }
    let base_url = upstream_url(
        "STRIPE_BASE_URL",
        get("STRIPE_BASE_URL").unwrap_or_else(|| "https://api.stripe.com".into()),
        env,
    )?;
    Ok(BillingSettings {
        secret_key: SecretString::from(secret_key),
        webhook_secret: SecretString::from(webhook_secret),
        price_pro,
        price_metered,
        meter_event,
        base_url,
        connect_timeout: Duration::from_secs(file.stripe_connect_timeout_secs),
        timeout: Duration::from_secs(file.stripe_timeout_secs),
        meter_poll: Duration::from_millis(file.meter_poll_ms.max(10)),
        meter_backoff_max: Duration::from_millis(file.meter_backoff_max_ms.max(10)),
        meter_lease: Duration::from_secs(file.meter_lease_secs.max(1)),
    })
}

/// An outside service's base URL: `https://`, or in development also `http://`; production
/// accepts `http://` only to a loopback address, so a secret never crosses a network in
/// the clear.
fn upstream_url(name: &'static str, url: String, env: AppEnv) -> Result<String, ConfigError> {
    let url = url.trim_end_matches('/').to_string();
    if url.starts_with("https://") {
        return Ok(url);
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(ConfigError::new(name, "expected an http(s):// URL"));
    };
    if env == AppEnv::Production && !is_https_or_loopback(&format!("http://{rest}")) {
        return Err(ConfigError::new(
            name,
            "must be https:// in production (http:// only to a loopback address)",
        ));
    }
    Ok(url)
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
/// Reads an operator's file (Agents, prices) with `parse`; either error names the file.
pub fn read_operator_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

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

    const STRIPE: [(&str, &str); 3] = [
        ("STRIPE_SECRET_KEY", "sk_test_CANARYstripe0000000000"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_CANARYwebhook00000000"),
        ("STRIPE_PRICE_PRO", "price_pro_monthly"),
    ];

    fn with_stripe<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        STRIPE
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    }

    #[test]
    fn billing_is_off_without_a_stripe_secret_key() {
        let s = settings(&[("STRIPE_PRICE_PRO", "price_x")]).unwrap();
        assert!(s.billing.is_none());
        assert!(!s.billing_enabled());
        assert_eq!(s.public_url, "http://127.0.0.1:3000");
    }

    #[test]
    fn billing_on_takes_the_defaults_of_the_contract() {
        let s = settings(&with_stripe(&[])).unwrap();
        let b = s.billing.expect("billing on");
        assert_eq!(b.meter_event, "apexaurum_tokens");
        assert_eq!(b.base_url, "https://api.stripe.com");
        assert_eq!(b.price_pro, "price_pro_monthly");
    }

    #[test]
    fn billing_on_requires_the_webhook_secret_and_the_price() {
        for missing in ["STRIPE_WEBHOOK_SECRET", "STRIPE_PRICE_PRO"] {
            let vars: Vec<_> = STRIPE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(settings(&vars).unwrap_err().name, missing);
        }
        assert_eq!(
            settings(&with_stripe(&[(
                "STRIPE_SECRET_KEY",
                "pk_test_publishable"
            )]))
            .unwrap_err()
            .name,
            "STRIPE_SECRET_KEY"
        );
    }

    #[test]
    fn production_refuses_a_remote_http_stripe_url_but_takes_loopback() {
        let prod = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef0123"),
            ("PUBLIC_URL", "https://apexaurum.example"),
        ];
        let remote = settings(&with_stripe(
            &[
                prod.as_slice(),
                &[("STRIPE_BASE_URL", "http://stripe.example")],
            ]
            .concat(),
        ))
        .unwrap_err();
        assert_eq!(remote.name, "STRIPE_BASE_URL");
        for local in [
            "http://127.0.0.1:3397",
            "http://localhost:3397/",
            "http://[::1]:3397",
        ] {
            let s = settings(&with_stripe(
                &[prod.as_slice(), &[("STRIPE_BASE_URL", local)]].concat(),
            ))
            .unwrap();
            assert!(!s.billing.unwrap().base_url.ends_with('/'));
        }
        // Development may point at a stand-in anywhere.
        assert!(settings(&with_stripe(&[(
            "STRIPE_BASE_URL",
            "http://stripe.example"
        )]))
        .is_ok());
    }

    #[test]
    fn production_with_billing_requires_the_public_url() {
        let vars = with_stripe(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef0123"),
        ]);
        assert_eq!(settings(&vars).unwrap_err().name, "PUBLIC_URL");
        let s = settings(&[("PUBLIC_URL", "https://apexaurum.example/")]).unwrap();
        assert_eq!(s.public_url, "https://apexaurum.example");
    }

    #[test]
    fn the_platform_key_must_look_like_an_anthropic_key() {
        assert_eq!(
            settings(&[("PLATFORM_ANTHROPIC_KEY", "not-a-key")])
                .unwrap_err()
                .name,
            "PLATFORM_ANTHROPIC_KEY"
        );
        let key = "sk-ant-api03-CANARYplatform0000000000000000000000";
        let s = settings(&[("PLATFORM_ANTHROPIC_KEY", key)]).unwrap();
        assert_eq!(s.platform_anthropic_key.unwrap().expose_secret(), key);
    }

    #[test]
    fn debug_output_hides_stripe_and_platform_secrets() {
        let s = settings(&with_stripe(&[(
            "PLATFORM_ANTHROPIC_KEY",
            "sk-ant-api03-CANARYplatform0000000000000000000000",
        )]))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("CANARY"), "{debug}");
        assert!(debug.contains("price_pro_monthly"));
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
