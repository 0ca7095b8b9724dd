use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    domain::{Email, Password},
    server::auth,
    util::safe_next,
};

/// What the browser knows of the logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub has_api_key: bool,
    /// `Some(false)` once Anthropic has refused the stored key.
    pub key_valid: Option<bool>,
}

/// The logged-in user, if any.
#[server(prefix = "/api/fn", endpoint = "session_user")]
pub async fn session_user() -> Result<Option<UserView>, AppError> {
    let (state, session) = super::context().await?;
    let Some(id) = session.user_id().await? else {
        return Ok(None);
    };
    Ok(auth::find(&state, id).await?.map(|row| auth::view_of(&row)))
}

#[server(prefix = "/api/fn", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    super::with_status(
        async move {
            let password = Password::unchecked(password.into());
            let (state, session) = super::context().await?;
            let user = auth::login(&state, &email, password).await?;
            session.log_in(user.id).await?;
            leptos_axum::redirect(safe_next(next.as_deref()));
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "register")]
pub async fn register(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    super::with_status(
        async move {
            let password = Password::parse(password.into())?;
            let email = Email::parse(&email)?;
            let (state, session) = super::context().await?;
            let user = auth::register(&state, email, password).await?;
            session.log_in(user.id).await?;
            leptos_axum::redirect(safe_next(next.as_deref()));
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let (_, session) = super::context().await?;
    session.log_out().await?;
    leptos_axum::redirect("/login");
    Ok(())
}
