//! Sessions: tower-sessions' [`Session`] for the handlers, stored in the app's own database
//! so several instances share them ([`AppSessionStore`]); the middleware that reads each
//! request's session together with its user, in one query ([`sessions`]); and a small typed
//! wrapper that holds the key names.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use tower_sessions::{
    cookie::{Cookie, SameSite},
    session::{Id, Record},
    session_store, Expiry, Session, SessionStore,
};

pub use super::session_store::AppSessionStore;
use super::{db::Db, session_store::USER_ID, user_settings::UserSettings};
use crate::error::AppError;

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

/// How the session cookie is made, and how long a session lasts.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub cookie_name: &'static str,
    pub secure: bool,
    /// Inactivity after which a session ends (`session-days`).
    pub inactivity: time::Duration,
    /// However active, a session ends this long after login (`session-max-days`).
    pub max_age_secs: i64,
}

/// A session's stored expiry is moved on (one write) once it lags "now + lifetime" by more
/// than this share of the lifetime: 1/100 of 14 days is about 3.4 hours. An idle session
/// thus ends between 99 % and 100 % of `session-days` after its last request, and an
/// active one costs a write every few hours instead of one per request.
const EXTEND_AFTER_SHARE: i32 = 100;

/// The store a request's [`Session`] reads through: the record this middleware already read
/// (with the user, in one query) is handed out on the session's first load, so the handlers'
/// reads cost no second query; everything else goes to the app's store.
#[derive(Debug)]
struct Prefetched {
    store: AppSessionStore,
    record: std::sync::Mutex<Option<Record>>,
}

#[async_trait]
impl SessionStore for Prefetched {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let prefetched = self.record.lock().ok().and_then(|mut r| r.take());
        match prefetched {
            Some(record) if record.id == *id => Ok(Some(record)),
            _ => self.store.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}

/// What [`sessions`] needs: the store, the database (for a session written before the
/// store kept its user id in a column), and how sessions are made and end.
#[derive(Clone, Debug)]
pub struct SessionManager {
    pub store: AppSessionStore,
    pub db: Db,
    pub config: SessionConfig,
}

/// What [`SessionManager::check`] found of a request's session.
#[derive(Default)]
struct Checked {
    /// The session's id, `None` when there is none (or none any more).
    id: Option<Id>,
    record: Option<Record>,
    signed_in: Option<SignedIn>,
    /// Write the session again (its stored expiry lags; or it lacks its user id column).
    rewrite: bool,
}

impl SessionManager {
    /// Reads the session `id` with its user in one query, and ends a logged-in session that
    /// is over (a password change or "Log out other sessions" on any instance, the absolute
    /// lifetime passed, the account gone).
    async fn check(&self, id: Id) -> Result<Checked, AppError> {
        let Some(stored) = self.store.load_with_user(&id).await? else {
            return Ok(Checked::default());
        };
        let record = stored.record;
        let lifetime = self.config.inactivity;
        let renew_below =
            time::OffsetDateTime::now_utc() + lifetime - lifetime / EXTEND_AFTER_SHARE;
        let mut rewrite = stored.expiry_date < renew_below;
        let Some(user_id) = record.data.get(USER_ID).and_then(serde_json::Value::as_i64) else {
            // A session nobody is logged in to.
            return Ok(Checked {
                id: Some(id),
                record: Some(record),
                signed_in: None,
                rewrite,
            });
        };
        let user = if stored.column_user_id == Some(user_id) {
            stored.user
        } else {
            // Written before the store kept the user id beside the record: read the user on
            // its own this once, and write the session again with it.
            rewrite = true;
            self.db.session_user(user_id).await?
        };
        let number = |key| record.data.get(key).and_then(serde_json::Value::as_i64);
        let now = chrono::Utc::now().timestamp();
        if !still_valid(
            number(GENERATION),
            number(LOGGED_IN_AT),
            user.as_ref().map(|(generation, _)| *generation),
            now,
            self.config.max_age_secs,
        ) {
            tracing::info!(user_id, "a session that is over was ended");
            self.store.delete(&id).await?;
            return Ok(Checked::default());
        }
        Ok(Checked {
            id: Some(id),
            record: Some(record),
            signed_in: user.map(|(_, settings)| SignedIn {
                id: user_id,
                settings: Arc::new(settings),
            }),
            rewrite,
        })
    }

    /// The cookie that hands the browser session `id`.
    fn cookie(&self, id: Id) -> Option<HeaderValue> {
        let cookie = Cookie::build((self.config.cookie_name, id.to_string()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.config.secure)
            .path("/")
            .max_age(self.config.inactivity)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// The cookie that makes the browser forget its session cookie.
    fn removal_cookie(&self) -> Option<HeaderValue> {
        let mut cookie = Cookie::build((self.config.cookie_name, ""))
            .path("/")
            .build();
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

/// The session cookie's value in `headers` (the last one, when a browser sends several).
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((n, v)) = pair.split_once('=') {
                if n.trim() == name {
                    found = Some(v.trim());
                }
            }
        }
    }
    found
}

/// The session middleware: tower-sessions' [`Session`] for the handlers (cookie and store as
/// `SessionManagerLayer` made them), read together with its user in one query before the
/// handler runs. A session that is over is ended before anything reads it, so every page,
/// server function and API route sees it as logged out; a session still good leaves its
/// [`SignedIn`] for the handlers. A session is written back only when something changed it,
/// or when its stored expiry lags (see [`EXTEND_AFTER_SHARE`]), not on every request.
pub async fn sessions(
    State(manager): State<Arc<SessionManager>>,
    mut request: Request,
    next: Next,
) -> Response {
    let cookie = cookie_value(request.headers(), manager.config.cookie_name);
    let had_cookie = cookie.is_some();
    let id = cookie.and_then(|value| {
        value
            .parse::<Id>()
            .map_err(|_| tracing::warn!("possibly suspicious activity: malformed session id"))
            .ok()
    });
    let path = request.uri().path();
    let checked = match id {
        // Static files and the health check read no session: it is loaded only if asked.
        Some(id) if path.starts_with("/pkg/") || path == "/healthz" => Checked {
            id: Some(id),
            ..Checked::default()
        },
        Some(id) => match manager.check(id).await {
            Ok(checked) => checked,
            Err(e) => return e.into_response(),
        },
        None => Checked::default(),
    };
    let expiry = Some(Expiry::OnInactivity(manager.config.inactivity));
    let store = Prefetched {
        store: manager.store.clone(),
        record: std::sync::Mutex::new(checked.record),
    };
    let session = Session::new(checked.id, Arc::new(store), expiry);
    if checked.rewrite {
        // Marks it changed: written, with its expiry moved on, once the response is ready.
        session.set_expiry(expiry);
    }
    if let Some(user) = checked.signed_in {
        request.extensions_mut().insert(user);
    }
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;

    // As tower-sessions' `SessionManagerLayer` does: an emptied session loses its cookie;
    // a changed one is written and its cookie set again.
    let empty = session.is_empty().await;
    let cookie = if had_cookie && empty {
        manager.removal_cookie()
    } else if session.is_modified() && !empty && !response.status().is_server_error() {
        if let Err(e) = session.save().await {
            return AppError::from(e).into_response();
        }
        match session.id() {
            Some(id) => manager.cookie(id),
            None => return AppError::Internal.into_response(),
        }
    } else {
        None
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
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
    // The session middleware left who is signed in (a session that is over left nobody).
    let logged_in = request.extensions().get::<SignedIn>().is_some();
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
    use super::{cookie_value, header, still_valid, HeaderMap, HeaderValue};

    #[test]
    fn the_session_cookie_is_found_among_others_and_the_last_one_wins() {
        let name = "apexaurum_session";
        let mut headers = HeaderMap::new();
        assert_eq!(cookie_value(&headers, name), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; apexaurum_session=abc ; x_apexaurum_session=no"),
        );
        assert_eq!(cookie_value(&headers, name), Some("abc"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("apexaurum_session=def"),
        );
        assert_eq!(cookie_value(&headers, name), Some("def"));
        assert_eq!(cookie_value(&headers, "theme"), Some("dark"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

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
