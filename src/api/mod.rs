//! Server functions, thin, one file per feature. Each re-checks who is asking, parses its
//! input into domain values first, calls one service function and returns a projection
//! that is safe for the browser. A failed one answers its error's HTTP status: the router
//! sets it for all of them (`server::startup`), none has to remember.

pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod search;
pub mod usage;

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::use_context;
    use tower_sessions::Session;

    use crate::{
        error::AppError,
        server::{
            client::ClientAddr,
            session::{AuthSession, SignedIn},
            state::AppState,
        },
    };

    /// The app state, which the router provides, as reactive context, to every server
    /// function and page render: the only way it reaches them. Missing means a server
    /// function ran outside a request (as route listing once made them: `server::startup`).
    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| {
            tracing::error!("a server function ran outside a request's reactive context");
            AppError::Internal
        })
    }

    /// The caller's session.
    pub async fn session() -> Result<AuthSession, AppError> {
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|e| crate::server::internal("extracting the session", e))?;
        Ok(AuthSession(session))
    }

    /// The caller's address (see `server::client`); unspecified if the middleware did not
    /// run, which only a test calling a server function directly would see.
    pub fn client_addr() -> ClientAddr {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientAddr>().copied())
            .unwrap_or(ClientAddr(std::net::IpAddr::V4(
                std::net::Ipv4Addr::UNSPECIFIED,
            )))
    }

    /// Who is asking: the app state and the logged-in user's id, or `Unauthenticated`.
    pub fn authenticated() -> Result<(AppState, i64), AppError> {
        let (state, user) = signed_in()?;
        Ok((state, user.id))
    }

    /// Who is asking, with the settings document the request read on arrival
    /// ([`SignedIn`]: the session middleware checked the session and read the user once).
    pub fn signed_in() -> Result<(AppState, SignedIn), AppError> {
        let state = state()?;
        let user = use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<SignedIn>().cloned())
            .ok_or(AppError::Unauthenticated)?;
        Ok((state, user))
    }
}
#[cfg(feature = "ssr")]
pub(crate) use ssr::{authenticated, client_addr, session, signed_in, state};
