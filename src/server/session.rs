//! Sessions: tower-sessions, stored in the app's own database so several instances share
//! them, and a small typed wrapper that holds the key names.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    Session, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::{db::Db, user_settings::UserSettings};
use crate::error::AppError;

/// The session store of whichever database the app runs on.
#[derive(Debug, Clone)]
pub enum AppSessionStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl AppSessionStore {
    /// Builds the store on the app's pool and creates its table.
    pub async fn new(db: &Db) -> Result<Self, sqlx::Error> {
        let store = match db {
            Db::Sqlite(pool) => Self::Sqlite(SqliteStore::new(pool.clone())),
            Db::Postgres(pool) => Self::Postgres(PostgresStore::new(pool.clone())),
        };
        match &store {
            Self::Sqlite(s) => s.migrate().await?,
            Self::Postgres(s) => s.migrate().await?,
        }
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for AppSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(record).await,
            Self::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for AppSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete_expired().await,
            Self::Postgres(s) => s.delete_expired().await,
        }
    }
}

const USER_ID: &str = "user_id";
/// The user's session generation when this session logged in.
const GENERATION: &str = "generation";
/// When this session logged in (Unix seconds), for the absolute lifetime.
const LOGGED_IN_AT: &str = "logged_in_at";

/// The session seen as "who is logged in".
pub struct AuthSession(pub Session);

impl AuthSession {
    pub async fn user_id(&self) -> Result<Option<i64>, AppError> {
        self.0.get::<i64>(USER_ID).await.map_err(AppError::from)
    }

    /// Starts a logged-in session under a new id, so a session id fixed before login is
    /// worthless after it. `generation` is the user's current session generation.
    pub async fn log_in(&self, user_id: i64, generation: i64) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.insert(USER_ID, user_id).await?;
        self.0.insert(GENERATION, generation).await?;
        self.0
            .insert(LOGGED_IN_AT, chrono::Utc::now().timestamp())
            .await?;
        Ok(())
    }

    /// Keeps this session alive across a generation bump it asked for itself (a password
    /// change, "Log out other sessions"), under a new id.
    pub async fn adopt_generation(&self, generation: i64) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.insert(GENERATION, generation).await?;
        Ok(())
    }

    pub async fn log_out(&self) -> Result<(), AppError> {
        self.0.flush().await.map_err(AppError::from)
    }

    /// The logged-in user's id, or `Unauthenticated`.
    pub async fn require(&self) -> Result<i64, AppError> {
        self.user_id().await?.ok_or(AppError::Unauthenticated)
    }
}

/// Whether a logged-in session is still good: issued under the user's current generation,
/// and younger than the absolute lifetime.
fn still_valid(
    generation: Option<i64>,
    logged_in_at: Option<i64>,
    current_generation: Option<i64>,
    now: i64,
    max_age_secs: i64,
) -> bool {
    match (generation, logged_in_at, current_generation) {
        (Some(g), Some(at), Some(current)) => {
            g == current && at <= now && now.saturating_sub(at) < max_age_secs
        }
        _ => false,
    }
}

/// The signed-in person of this request, with their settings document as it was when the
/// request arrived: read once, in one query, by [`enforce_lifetime`], and handed to the
/// handlers in the request's extensions so that a route like the key status, or the chat's
/// choice of key, reads the database no second time.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub id: i64,
    pub settings: std::sync::Arc<UserSettings>,
}

/// Ends a logged-in session that is over (a password change or "Log out other sessions"
/// elsewhere, the absolute lifetime passed, the account gone) before anything reads it, so
/// every page, server function and API route sees it as logged out; a session still good
/// leaves its [`SignedIn`] for the handlers.
pub async fn enforce_lifetime(
    axum::extract::State(state): axum::extract::State<super::state::AppState>,
    session: Session,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    if path.starts_with("/pkg/") || path == "/healthz" {
        return next.run(request).await;
    }
    match signed_in(&state, &session).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user);
        }
        Ok(None) => {}
        Err(e) => return axum::response::IntoResponse::into_response(e),
    }
    next.run(request).await
}

async fn signed_in(
    state: &super::state::AppState,
    session: &Session,
) -> Result<Option<SignedIn>, AppError> {
    let Some(user_id) = session.get::<i64>(USER_ID).await? else {
        return Ok(None);
    };
    let generation = session.get::<i64>(GENERATION).await?;
    let logged_in_at = session.get::<i64>(LOGGED_IN_AT).await?;
    let user = state.db.session_user(user_id).await?;
    let current = user.as_ref().map(|(g, _)| *g);
    let max_age = state.settings.session_max_days.saturating_mul(86_400);
    let now = chrono::Utc::now().timestamp();
    if !still_valid(generation, logged_in_at, current, now, max_age) {
        tracing::info!(user_id, "a session that is over was ended");
        session.flush().await?;
        return Ok(None);
    }
    Ok(user.map(|(_, settings)| SignedIn {
        id: user_id,
        settings: std::sync::Arc::new(settings),
    }))
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or(AppError::Unauthenticated)
    }
}

/// Who is asking, for a JSON route: the logged-in user's id, or `401 unauthenticated`
/// before the handler runs. Server functions use [`crate::api`]'s `authenticated()`.
pub struct CurrentUser(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        // The session middleware ([`enforce_lifetime`]) checked the session and left who it
        // belongs to; without that, nobody is signed in.
        SignedIn::from_request_parts(parts, state)
            .await
            .map(|user| Self(user.id))
    }
}

/// Pages only people who are logged in may see.
const PROTECTED_PAGES: &[&str] = &["/settings", "/chat"];

/// Sends an anonymous visitor of a protected page to `/login?next=…` before anything
/// renders (no flash of the page), and a logged-in visitor of `/login` or `/register`
/// on to where they were going. Server functions re-check on their own.
pub async fn protect_pages(
    session: Session,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};

    if request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let protected = PROTECTED_PAGES.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    let auth_page = path == "/login" || path == "/register";
    if !protected && !auth_page {
        return next.run(request).await;
    }
    let logged_in = matches!(AuthSession(session).user_id().await, Ok(Some(_)));
    if protected && !logged_in {
        let target = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or(path);
        return Redirect::to(&format!(
            "/login?next={}",
            crate::util::encode_query(target)
        ))
        .into_response();
    }
    if auth_page && logged_in {
        let next_page = request
            .uri()
            .query()
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(name, _)| name == "next")
                    .map(|(_, value)| value.into_owned())
            })
            .map(|n| crate::util::safe_next(Some(&n)).to_string())
            .unwrap_or_else(|| "/chat".into());
        return Redirect::to(&next_page).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::still_valid;

    const DAY: i64 = 86_400;

    #[test]
    fn a_session_ends_with_a_new_generation_or_its_absolute_lifetime() {
        let now = 1_000 * DAY;
        assert!(still_valid(
            Some(3),
            Some(now - DAY),
            Some(3),
            now,
            30 * DAY
        ));
        assert!(!still_valid(
            Some(2),
            Some(now - DAY),
            Some(3),
            now,
            30 * DAY
        ));
        assert!(!still_valid(
            Some(3),
            Some(now - 30 * DAY),
            Some(3),
            now,
            30 * DAY
        ));
        // The account is gone, or the session predates generations.
        assert!(!still_valid(Some(3), Some(now), None, now, 30 * DAY));
        assert!(!still_valid(None, None, Some(0), now, 30 * DAY));
        // A login time in the future is not trusted.
        assert!(!still_valid(
            Some(3),
            Some(now + DAY),
            Some(3),
            now,
            30 * DAY
        ));
    }
}
