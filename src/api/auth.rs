use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{
    domain::{Email, Password},
    server::auth,
    util::safe_next,
};
use crate::{error::AppError, types::user::UserView};

/// The logged-in user, if any.
#[server(prefix = "/api/fn", endpoint = "session_user")]
pub async fn session_user() -> Result<Option<UserView>, AppError> {
    let state = super::state()?;
    let Some(id) = super::session().await?.user_id().await? else {
        return Ok(None);
    };
    Ok(auth::find(&state, id)
        .await?
        .map(|row| auth::view_of(&row, &state.settings)))
}

#[server(prefix = "/api/fn", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let password = Password::unchecked(password.into());
    let (state, session) = (super::state()?, super::session().await?);
    let user = auth::login(&state, &email, password).await?;
    session.log_in(user.id).await?;
    leptos_axum::redirect(safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "register")]
pub async fn register(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let password = Password::parse(password.into())?;
    let email = Email::parse(&email)?;
    let (state, session) = (super::state()?, super::session().await?);
    let user = auth::register(&state, email, password).await?;
    session.log_in(user.id).await?;
    leptos_axum::redirect(safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    super::session().await?.log_out().await?;
    leptos_axum::redirect("/login");
    Ok(())
}
