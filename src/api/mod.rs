//! Server functions, thin, one file per feature. Each re-checks who is asking, parses its
//! input into domain values first, calls one service function and returns a projection
//! that is safe for the browser.

pub mod api_keys;
pub mod auth;
pub mod chat;

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::use_context;
    use tower_sessions::Session;

    use crate::{
        error::AppError,
        server::{client::ClientAddr, session::AuthSession, state::AppState},
    };

    /// The app state and the caller's session, for a server function.
    ///
    /// The state comes from the reactive context, or else from the request's extensions
    /// (the router adds it there too): the context has been seen missing under load, and a
    /// panic here would leave a streamed page hanging.
    pub async fn context() -> Result<(AppState, AuthSession), AppError> {
        let state = match use_context::<AppState>() {
            Some(state) => state,
            None => use_context::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<AppState>().cloned())
                .ok_or_else(|| {
                    tracing::error!("no app state in a server function's context or request");
                    AppError::Internal
                })?,
        };
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|e| crate::server::internal("extracting the session", e))?;
        Ok((state, AuthSession(session)))
    }

    /// The caller's address (see `server::client`); unspecified if the middleware did not
    /// run, which only a test calling a server function directly would see.
    pub fn client_addr() -> ClientAddr {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientAddr>().copied())
            .unwrap_or(ClientAddr(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
    }

    /// Gives a failed server function its error's HTTP status (a 401 is not a 500), except
    /// for a plain HTML form post, which must stay a redirect back to the form.
    pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(e) = &result {
            let form_post = use_context::<http::request::Parts>().is_some_and(|parts| {
                parts
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
            });
            if !form_post {
                if let (Some(response), Ok(status)) = (
                    use_context::<leptos_axum::ResponseOptions>(),
                    http::StatusCode::from_u16(e.status()),
                ) {
                    response.set_status(status);
                    if let Some(secs) = e.retry_after() {
                        response.insert_header(http::header::RETRY_AFTER, secs.into());
                    }
                }
            }
        }
        result
    }
}
#[cfg(feature = "ssr")]
pub(crate) use ssr::{client_addr, context, with_status};
