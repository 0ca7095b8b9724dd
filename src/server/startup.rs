//! Builds the application from settings: database, migrations, sessions, routes.

use std::{
    net::SocketAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{
    generate_route_list, handle_server_fns_with_context, AxumRouteListing, LeptosRoutes,
};
use tokio::net::TcpListener;
use tower_sessions::session_store::ExpiredDeletion;

use super::{
    agents::Agents,
    anthropic::AnthropicClient,
    billing::{meter::MeterWorker, Billing},
    client,
    config::Settings,
    crypto::KeyCipher,
    csrf,
    db::Db,
    drafts,
    headers::{self, HeaderPolicy},
    pricing::Prices,
    rate_limit::{HashGate, Limiter},
    rest,
    session::{AppSessionStore, SessionConfig, SessionManager},
    state::AppState,
};
use crate::{
    app::{shell, App},
    error::AppError,
};

/// Why the application could not start; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not open the database: {0}")]
    Database(#[source] sqlx::Error),
    #[error("could not apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not prepare the session table: {0}")]
    Sessions(#[source] sqlx::Error),
    #[error("invalid setting agents-file: {0}")]
    Agents(String),
    #[error("invalid setting prices-file: {0}")]
    Prices(String),
    #[error("invalid setting {setting}: {path}: {source}")]
    Permissions {
        setting: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built application, bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: AppService,
    state: AppState,
    session_store: AppSessionStore,
}

pub const SESSION_COOKIE: &str = "apexaurum_session";
/// Production's cookie name: browsers accept a `__Host-` cookie only when it is `Secure`,
/// has `Path=/` and no `Domain`, so no other host or sub-domain can set or shadow it.
pub const SESSION_COOKIE_PRODUCTION: &str = "__Host-apexaurum_session";

/// The session cookie's name in this environment.
pub fn session_cookie_name(settings: &Settings) -> &'static str {
    if settings.is_production() {
        SESSION_COOKIE_PRODUCTION
    } else {
        SESSION_COOKIE
    }
}

/// Where the server functions answer (`#[server(prefix = …)]` repeats it: the macro takes
/// only a literal).
pub const SERVER_FN_PREFIX: &str = "/api/fn";

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let agents = Agents::load(settings.agents_file.as_deref()).map_err(StartupError::Agents)?;
        let prices = Prices::load(settings.prices_file.as_deref()).map_err(StartupError::Prices)?;
        secure_data_dir(&settings)?;
        let db = Db::connect(&settings.database_url)
            .await
            .map_err(StartupError::Database)?;
        secure_database_files(&db)?;
        db.migrate().await?;
        // What a killed process left pending (see `search_index`).
        match db.index_pending_search_docs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "search index caught up at start"),
            // Not fatal: the next search or answer indexes them.
            Err(e) => tracing::warn!(error = %e, "could not update the search index at start"),
        }
        let session_store = AppSessionStore::new(&db)
            .await
            .map_err(StartupError::Sessions)?;

        let listener = TcpListener::bind(settings.site_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.site_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.site_addr,
            source,
        })?;

        let leptos_options = LeptosOptions::builder()
            .output_name(env!("CARGO_PKG_NAME"))
            .site_root(settings.site_root.clone())
            .site_pkg_dir("pkg")
            .site_addr(local_addr)
            .hash_files(built_with_hashed_names())
            .env(if settings.is_production() {
                leptos::config::Env::PROD
            } else {
                leptos::config::Env::DEV
            })
            .build();

        let state = AppState {
            db: db.clone(),
            agents: Arc::new(agents),
            prices: Arc::new(prices),
            cipher: Arc::new(KeyCipher::new(
                &settings.jwt_secret,
                &settings.jwt_secret_previous,
            )),
            anthropic: AnthropicClient::new(
                &settings.anthropic_base_url,
                settings.anthropic_connect_timeout,
                settings.anthropic_timeout,
            ),
            limits: Arc::new(Limiter::for_database(&db)),
            hashing: Arc::new(HashGate::new(
                settings.password_hash_concurrency,
                settings.password_hash_queue,
            )),
            billing: Billing::from_settings(&settings),
            streams: Default::default(),
            search_index: Default::default(),
            instance: instance_name().into(),
            unreadable_reported: Arc::default(),
            settings: Arc::new(settings),
            leptos_options,
        };
        let router = router(state.clone(), session_store.clone());
        Ok(Self {
            listener,
            router,
            state,
            session_store,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt as _;
        // A background task removes expired sessions from the store.
        let cleanup = tokio::spawn(
            self.session_store
                .clone()
                .continuously_delete_expired(Duration::from_secs(3600)),
        );
        // With billing on, platform-paid usage is reported to Stripe in the background.
        let meter = self
            .state
            .billing
            .clone()
            .map(|billing| MeterWorker::spawn(self.state.db.clone(), billing));
        // SQLite's search index catches up shortly after answers are stored. PostgreSQL's
        // indexes keep themselves up: no task there (a nudge without one does nothing).
        let indexer = matches!(self.state.db, Db::Sqlite(_))
            .then(|| self.state.search_index.clone().spawn(self.state.db.clone()));
        // SQLite's write-ahead log is copied into its file beside the writers, not by them.
        let checkpointer = self.state.db.spawn_checkpointer();
        // Answers a killed process left as drafts are stored (by any instance).
        let abandoned = drafts::spawn(self.state.clone());
        // And ended rate-limit windows from the database.
        let limits = self.state.limits.clone();
        let purge = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(300));
            loop {
                every.tick().await;
                limits.purge_expired().await;
            }
        });
        // Without TCP_NODELAY, Nagle's algorithm holds back small stream chunks.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // The peer address feeds the per-address limits.
        let service = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(
            self.router,
        );
        // Asked to stop, the server takes no new requests and finishes those in flight;
        // answers still streaming get `shutdown-grace-secs`, then are cut, each keeping
        // what arrived (stored, with its usage, before its stream ends).
        let streams = self.state.streams.clone();
        let grace = self.state.settings.shutdown_grace;
        let shutdown = async move {
            shutdown.await;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                streams.cut_all();
            });
        };
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        // Answers whose browser left are not requests in flight: the database stays open
        // until they have stored what they had (cut now if still going).
        self.state.streams.cut_all();
        if tokio::time::timeout(Duration::from_secs(10), self.state.streams.all_ended())
            .await
            .is_err()
        {
            tracing::warn!("stopping with answers not yet stored");
        }
        cleanup.abort();
        abandoned.abort();
        if let Some(meter) = meter {
            meter.stop(Duration::from_secs(5)).await;
        }
        purge.abort();
        // What it had not indexed stays pending, for the next start.
        if let Some(indexer) = indexer {
            indexer.abort();
        }
        if let Some(checkpointer) = checkpointer {
            checkpointer.abort();
        }
        self.state.db.close().await;
        result
    }
}

/// The whole application as one service, as `axum::serve` takes it.
pub type AppService = tower::util::BoxCloneSyncService<Request, Response, std::convert::Infallible>;

fn router(state: AppState, session_store: AppSessionStore) -> AppService {
    let settings = state.settings.clone();
    // The cookie is as tower-sessions' `SessionManagerLayer` made it: HttpOnly, SameSite=Lax,
    // Path=/, Secure in production, Max-Age the inactivity lifetime.
    let sessions = Arc::new(SessionManager {
        store: session_store,
        db: state.db.clone(),
        config: SessionConfig {
            cookie_name: session_cookie_name(&settings),
            secure: settings.is_production(),
            inactivity: time::Duration::days(settings.session_days),
            max_age_secs: settings.session_max_days.saturating_mul(86_400),
        },
    });

    let routes = ROUTES.clone();
    let context = {
        let state = state.clone();
        move || page_context(&state)
    };
    let trusted: Arc<[client::TrustedProxy]> = settings.trusted_proxies.clone().into();
    let policy = HeaderPolicy::new(
        settings.is_production(),
        settings.billing.as_ref().map(|b| b.base_url.as_str()),
    );
    let leptos_options = state.leptos_options.clone();

    let hashed_names = state.leptos_options.hash_files;
    let endpoints = Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", rest::router())
        // The two pages without WASM post their forms to themselves.
        .route("/login", post(super::auth_pages::log_in))
        .route("/register", post(super::auth_pages::register))
        .route(
            &format!("{SERVER_FN_PREFIX}/{{*name}}"),
            post({
                let context = context.clone();
                move |req| handle_server_fns_with_context(context.clone(), req)
            }),
        )
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .with_state(state);

    // The middleware wraps the router once, not each route (`Router::layer` wraps every
    // route in the whole stack, and a request then cloned its route's stack, layer by
    // layer: measured with callgrind, two thirds of the key status route's instructions).
    // Outermost first.
    let service = tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        // A 5xx is a warning in tower-http's line: the app logs its own failures as errors
        // where they happen, with their cause (`server::internal`), and an outage upstream
        // (503) is Anthropic's, said at warning level where it is met.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(middleware::from_fn(move |req, next| {
            headers::secure(policy.clone(), req, next)
        }))
        .layer(middleware::from_fn(headers::limit_body))
        .layer(middleware::from_fn(move |req, next| {
            client::identify(trusted.clone(), req, next)
        }))
        .layer(middleware::from_fn_with_state(
            sessions,
            super::session::sessions,
        ))
        .layer(middleware::from_fn(super::session::protect_pages))
        .layer(middleware::from_fn(csrf::reject_foreign_origin))
        .layer(compression())
        .layer(middleware::from_fn_with_state(hashed_names, cache_control))
        .layer(middleware::from_fn(server_fn_status))
        .service(endpoints);
    AppService::new(service)
}

/// What every page render and server function finds in its reactive context.
pub fn page_context(state: &AppState) {
    provide_context(state.clone());
    headers::provide_request_nonce();
}

/// The pages' routes, listed once per process, before the first router is built.
///
/// Listing them renders the app with resource loads switched off through one process-wide
/// flag (`SuppressResourceLoad`: leptos_router 0.8.17 `src/generate_route_list.rs:237` takes
/// it; in leptos_server 0.8.8 `src/resource.rs` it is a plain bool (line 37), set at line 47
/// and cleared on drop at line 60, not a count). Listed again while pages render elsewhere
/// in the process (another instance starting, as in every integration test), resources the
/// pages create meanwhile wait forever and the page never finishes; and when one listing
/// ends during another, the other's resources load for real, running server functions in a
/// render that has no app state ("a server function ran outside a request's reactive
/// context"). Listed once, before any router exists, no page renders while the flag is set.
static ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));

/// Whether cargo-leptos built the site with content-hashed file names: it then writes
/// `hash.txt` beside the server binary, where Leptos reads the names from.
fn built_with_hashed_names() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|file| file.is_file())
}

/// How long browsers and proxies may keep what we send. `/pkg/` files are named after their
/// content: a year, never revalidated. Pages carry a person's data: never stored. Anything
/// else (icons, JSON) is revalidated every time unless the handler said otherwise.
async fn cache_control(
    State(hashed_names): State<bool>,
    request: Request,
    next: middleware::Next,
) -> Response {
    use axum::http::{header, HeaderValue};

    let immutable = request.uri().path().starts_with("/pkg/") && hashed_names;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if headers.contains_key(header::CACHE_CONTROL) {
        return response;
    }
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if immutable && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else if is_html {
        "no-store"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// Compresses what the handlers write, pages and JSON only, with brotli or gzip as the
/// browser accepts. Static files come precompressed from the release build
/// (`--precompress`); compressing a debug build's 10 MB WASM on the fly would take seconds.
/// Streams are left alone: a compressor would hold back each small delta until it had a
/// block to write.
fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::{
        predicate::{Predicate as _, SizeAbove},
        CompressionLayer,
    };
    let pages_and_json =
        |_: StatusCode, _: http::Version, headers: &http::HeaderMap, _: &http::Extensions| {
            headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"))
        };
    let predicate = SizeAbove::new(512).and(pages_and_json);
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .compress_when(predicate)
}

/// Gives a failed server function its [`AppError`]'s HTTP status: server_fn answers every
/// error with 500, and no server function should have to remember to fix that. A layer,
/// because leptos_axum routes each server function on its own path. (A plain HTML form
/// post is not an error response: it is redirected back to its form, the error in the URL.)
async fn server_fn_status(request: Request, next: middleware::Next) -> Response {
    use leptos::server_fn::error::{FromServerFnError as _, SERVER_FN_ERROR_HEADER};

    if !request.uri().path().starts_with(SERVER_FN_PREFIX) {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An encoded `AppError` is a few hundred bytes.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return AppError::Internal.into_response();
    };
    let error = AppError::de(bytes.clone());
    parts.status =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = error.retry_after() {
        parts
            .headers
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.db.ping().await {
        (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable" })),
        )
    }
}

/// `host/pid/tag`: which instance wrote a log line, when several share one database (the
/// random tag tells apart applications built in one process, as tests do).
fn instance_name() -> String {
    use rand::Rng as _;
    let tag: u16 = rand::thread_rng().gen();
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}/{}/{tag:04x}", std::process::id())
}

/// The data folder (if there is one) is the owner's alone: 0700, created so if missing when
/// the SQLite database lives in it; the secret file in it is 0600.
fn secure_data_dir(settings: &Settings) -> Result<(), StartupError> {
    let dir = &settings.data_dir;
    let fail = |path: &std::path::Path, source| StartupError::Permissions {
        setting: "APP_DATA_DIR",
        path: path.to_path_buf(),
        source,
    };
    let db_inside = settings
        .database_url
        .strip_prefix("sqlite:")
        .map(|p| p.trim_start_matches("//"))
        .is_some_and(|p| std::path::Path::new(p).starts_with(dir));
    if db_inside && !dir.exists() {
        super::config::create_private_dir(dir).map_err(|e| fail(dir, e))?;
    }
    if dir.is_dir() {
        set_mode(dir, 0o700).map_err(|e| fail(dir, e))?;
        let secret = dir.join("jwt_secret");
        if secret.exists() {
            set_mode(&secret, 0o600).map_err(|e| fail(&secret, e))?;
        }
    }
    Ok(())
}

/// The SQLite database and its journal files: 0600.
fn secure_database_files(db: &Db) -> Result<(), StartupError> {
    let Some(file) = db.sqlite_file() else {
        return Ok(());
    };
    let mut journal = file.clone().into_os_string();
    journal.push("-wal");
    let mut shared = file.clone().into_os_string();
    shared.push("-shm");
    for path in [file, journal.into(), shared.into()] {
        if path.exists() {
            set_mode(&path, 0o600).map_err(|source| StartupError::Permissions {
                setting: "DATABASE_URL",
                path,
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::info!(path = %path.display(), "permissions tightened to {mode:o} (were {current:o})");
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_path: &std::path::Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
