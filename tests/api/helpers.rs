use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, LazyLock, Mutex},
};

use apexaurum::{
    server::{
        config::{AppEnv, RuntimeFile, Settings},
        db::Db,
        startup::Application,
        telemetry,
    },
    stubs::anthropic::{self as anthropic_stub, StubHandle},
    stubs::stripe::{self as stripe_stub, StripeStubHandle},
};
use reqwest::{header, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `TEST_DATABASE_URL` is set.
    pub fn postgres() -> Option<Self> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Self::Postgres)
    }
}

/// Runs each named test function (taking a [`Backend`]) once per database.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::within_limit(super::$name($crate::helpers::Backend::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::Backend::postgres() {
                    Some(backend) => $crate::helpers::within_limit(super::$name(backend)).await,
                    None => eprintln!("TEST_DATABASE_URL not set: PostgreSQL run skipped"),
                }
            }
        }
    )*};
}

/// Fails a test that runs past two minutes instead of letting it hang the whole run.
pub async fn within_limit(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(std::time::Duration::from_secs(120), test)
        .await
        .is_err()
    {
        panic!("the test took more than two minutes");
    }
}

/// Everything the app logged in this test process (trace level), after masking.
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Default::default);

#[derive(Clone)]
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: set once before any test thread reads the environment for this.
        unsafe { std::env::set_var("RUST_LOG", "trace") };
        telemetry::init(AppEnv::Development, || CaptureWriter);
        // Panics go through the masking log as in production, then to the test harness's
        // own hook so a failing test still explains itself.
        let harness = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            telemetry::log_panic(info);
            harness(info);
        }));
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub db: Db,
    /// The instance name this app logs under.
    pub instance: String,
    pub stub: StubHandle,
    /// This test's Stripe stand-in (the app talks to it when billing is on).
    pub stripe: StripeStubHandle,
    /// The SQLite file, when the backend is SQLite.
    pub db_file: Option<PathBuf>,
    /// Kept so the folder (and a SQLite file in it) lives as long as the app.
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0001";

pub struct Options {
    pub env: AppEnv,
    pub secret: String,
    pub previous: Option<String>,
    /// Instead of this test's stand-in.
    pub anthropic_base_url: Option<String>,
    /// Billing on, against this test's Stripe stand-in (or `stripe_base_url`).
    pub billing: bool,
    /// Instead of this test's Stripe stand-in.
    pub stripe_base_url: Option<String>,
    /// `PLATFORM_ANTHROPIC_KEY`.
    pub platform_key: Option<String>,
    /// `TRUSTED_PROXIES`: by default the test client's own address, so a test can appear
    /// from any address with `X-Forwarded-For` (see [`TestApp::from`]).
    pub trusted_proxies: Option<String>,
    /// Replaces the runtime file's defaults (limits, session lifetime).
    pub runtime: Option<RuntimeFile>,
    /// The built site's folder (`LEPTOS_SITE_ROOT`), instead of `target/site`.
    pub site_root: Option<String>,
}

/// The test Stripe secret key: a canary that must never surface.
pub const STRIPE_SECRET: &str = "sk_test_CANARY3stripe3CANARY3stripe3";
pub const WEBHOOK_SECRET: &str = "whsec_testCANARY4webhook4secret";
pub const PRICE_PRO: &str = "price_pro_monthly_test";
pub const PUBLIC_URL: &str = "http://apexaurum.test";
/// The platform's Anthropic key in tests: a canary the Anthropic stand-in accepts.
pub const PLATFORM_KEY: &str = "sk-ant-api03-CANARY5platform5CANARY5platform5CANARY5-Pk99";

impl Default for Options {
    fn default() -> Self {
        Self {
            env: AppEnv::Development,
            secret: TEST_SECRET.into(),
            previous: None,
            anthropic_base_url: None,
            trusted_proxies: Some("127.0.0.1".into()),
            runtime: None,
            site_root: None,
            billing: false,
            stripe_base_url: None,
            platform_key: None,
        }
    }
}

impl Options {
    /// Billing on against the test's Stripe stand-in, with the platform key configured.
    pub fn billing() -> Self {
        Self {
            billing: true,
            platform_key: Some(PLATFORM_KEY.into()),
            ..Default::default()
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: Options) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("test.db").display()),
        Backend::Postgres(url) => fresh_postgres_database(&url).await,
    };
    spawn_app_on(&database_url, data_dir, options).await
}

/// Another instance of the app on an existing database (e.g. after a secret rotation).
pub async fn spawn_app_on(
    database_url: &str,
    data_dir: tempfile::TempDir,
    options: Options,
) -> TestApp {
    init_logs();
    let stub = anthropic_stub::spawn().await;
    let stripe = stripe_stub::spawn().await;
    let database_url = database_url.to_string();
    let db_file = database_url.strip_prefix("sqlite://").map(PathBuf::from);
    let anthropic = options
        .anthropic_base_url
        .clone()
        .unwrap_or_else(|| stub.base_url.clone());
    let stripe_url = options
        .stripe_base_url
        .clone()
        .unwrap_or_else(|| stripe.base_url.clone());
    let settings = settings_for(
        &options,
        &database_url,
        &anthropic,
        &stripe_url,
        data_dir.path().into(),
    );
    let app = Application::build(settings).await.expect("the app starts");
    let port = app.port();
    let db = app.state().db.clone();
    let instance = app.state().instance.to_string();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let address = format!("http://127.0.0.1:{port}");
    stripe
        .state
        .set_webhook(&format!("{address}/api/v1/billing/webhook"), WEBHOOK_SECRET);
    TestApp {
        address,
        database_url,
        client: new_client(),
        db,
        instance,
        stub,
        stripe,
        db_file,
        _data_dir: data_dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

pub fn settings_for(
    options: &Options,
    database_url: &str,
    anthropic: &str,
    stripe: &str,
    data_dir: PathBuf,
) -> Settings {
    let file = RuntimeFile {
        site_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        anthropic_timeout_secs: 2,
        anthropic_connect_timeout_secs: 1,
        stripe_timeout_secs: 1,
        stripe_connect_timeout_secs: 1,
        meter_poll_ms: 50,
        meter_backoff_max_ms: 100,
        meter_lease_secs: 2,
        ..options.runtime.clone().unwrap_or_default()
    };
    let billing = |value: &str| options.billing.then(|| value.to_string());
    let env = match options.env {
        AppEnv::Development => "development",
        AppEnv::Production => "production",
    };
    let vars = [
        ("APP_ENV", Some(env.to_string())),
        ("DATABASE_URL", Some(database_url.to_string())),
        ("JWT_SECRET", Some(options.secret.clone())),
        ("JWT_SECRET_PREVIOUS", options.previous.clone()),
        ("ANTHROPIC_BASE_URL", Some(anthropic.to_string())),
        ("TRUSTED_PROXIES", options.trusted_proxies.clone()),
        ("LEPTOS_SITE_ROOT", options.site_root.clone()),
        ("STRIPE_SECRET_KEY", billing(STRIPE_SECRET)),
        ("STRIPE_WEBHOOK_SECRET", billing(WEBHOOK_SECRET)),
        ("STRIPE_PRICE_PRO", billing(PRICE_PRO)),
        ("STRIPE_BASE_URL", billing(stripe)),
        ("PUBLIC_URL", billing(PUBLIC_URL)),
        ("PLATFORM_ANTHROPIC_KEY", options.platform_key.clone()),
    ];
    Settings::from_lookup(file, |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.clone())
    })
    .expect("valid test settings")
}

/// Runs the migrations numbered below `version` only, as a database made before it had.
pub async fn migrate_before(db: &Db, version: i64) {
    let folder = match db {
        Db::Sqlite(_) => "migrations/sqlite",
        Db::Postgres(_) => "migrations/postgres",
    };
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .unwrap();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    match db {
        Db::Sqlite(sqlite) => migrator
            .run(&mut *sqlite.writer().await.unwrap())
            .await
            .unwrap(),
        Db::Postgres(pool) => migrator.run(pool).await.unwrap(),
    }
}

/// A new database on the PostgreSQL server of `TEST_DATABASE_URL`, for one test.
pub async fn fresh_postgres_database(url: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("apx_test_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("TEST_DATABASE_URL answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    format!("{base}/{name}")
}

fn uuid_like() -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| format!("{:x}", rng.gen_range(0..16)))
        .collect()
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// Stops the app as a shutdown signal would, and waits until it has.
    pub async fn stop(&mut self) {
        self.stopper().await
    }

    /// What [`Self::stop`] does, taken out to be awaited while requests to the app are
    /// still in flight (the app itself borrowed by them).
    pub fn stopper(&mut self) -> impl std::future::Future<Output = ()> + 'static {
        let (shutdown, server) = (self.shutdown.take(), self.server.take());
        async move {
            if let Some(tx) = shutdown {
                let _ = tx.send(());
            }
            if let Some(server) = server {
                let _ = server.await;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers a fresh user with this app's client and returns the email.
    pub async fn signed_in_user(&self) -> String {
        let email = format!("user-{}@example.org", uuid_like());
        assert_eq!(
            self.register(&email, "correct horse battery")
                .await
                .status(),
            201
        );
        email
    }

    /// Saves a key through the JSON API.
    pub async fn save_key(&self, key: &str) -> Response {
        self.post_json("/api/v1/user/api-key", &json!({ "api_key": key }))
            .await
    }

    pub async fn key_status(&self) -> Value {
        let response = self.get("/api/v1/user/api-key/status").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The user's whole settings document, straight from the database.
    pub async fn settings_of(&self, email: &str) -> Value {
        let row = self.db.find_user_by_email(email).await.unwrap().unwrap();
        serde_json::to_value(row.settings.0).unwrap()
    }

    /// A new browser (own cookie jar) that appears to come from `addr`: the app trusts the
    /// test's own address as a proxy, so `X-Forwarded-For` names the client.
    pub fn from(&self, addr: &str) -> reqwest::Client {
        let mut headers = header::HeaderMap::new();
        headers.insert("x-forwarded-for", addr.parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// A second, independent browser (own cookie jar) on the same app.
    pub fn other_client(&self) -> reqwest::Client {
        new_client()
    }
}

/// Asserts the contract's error shape and code, and returns the message.
pub async fn assert_error(response: Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_string();
    assert!(!message.is_empty());
    message
}

pub fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string())
}
