//! Server functions, thin, one file per feature. Each re-checks who is asking, parses its
//! input into domain values first, calls one service function and returns a projection
//! that is safe for the browser.

pub mod api_keys;
pub mod auth;
pub mod chat;

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::expect_context;
    use tower_sessions::Session;

    use crate::{
        error::AppError,
        server::{session::AuthSession, state::AppState},
    };

    /// The app state and the caller's session, for a server function.
    pub async fn context() -> Result<(AppState, AuthSession), AppError> {
        let state = expect_context::<AppState>();
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|e| crate::server::internal("extracting the session", e))?;
        Ok((state, AuthSession(session)))
    }
}
#[cfg(feature = "ssr")]
pub(crate) use ssr::context;
