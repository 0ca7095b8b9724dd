use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{
    domain::{Email, Password},
    server::auth,
    util::safe_next,
};
use crate::{error::AppError, secret_text::SecretText, types::user::UserView};

/// The logged-in user, if any.
#[server(prefix = "/api/fn", endpoint = "session_user")]
pub async fn session_user() -> Result<Option<UserView>, AppError> {
    let state = super::state()?;
    let Some(id) = super::session().await?.user_id().await? else {
        return Ok(None);
    };
    Ok(auth::find(&state, id).await?.map(|row| auth::view_of(&row)))
}

#[server(prefix = "/api/fn", endpoint = "login")]
pub async fn login(
    email: String,
    password: SecretText,
    next: Option<String>,
) -> Result<(), AppError> {
    let password = Password::unchecked(password.into_secret());
    let (state, session) = (super::state()?, super::session().await?);
    let user = auth::login(&state, super::client_addr(), &email, password).await?;
    session.log_in(user.id, user.session_generation).await?;
    leptos_axum::redirect(safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "register")]
pub async fn register(
    email: String,
    password: SecretText,
    next: Option<String>,
) -> Result<(), AppError> {
    let password = Password::parse(password.into_secret())?;
    let email = Email::parse(&email)?;
    let (state, session) = (super::state()?, super::session().await?);
    let user = auth::register(&state, super::client_addr(), email, password).await?;
    session.log_in(user.id, user.session_generation).await?;
    leptos_axum::redirect(safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    super::session().await?.log_out().await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the password after checking the current one; every other session ends, this one
/// goes on under a new id.
#[server(prefix = "/api/fn", endpoint = "change_password")]
pub async fn change_password(
    current_password: SecretText,
    new_password: SecretText,
) -> Result<(), AppError> {
    let current = Password::unchecked(current_password.into_secret());
    let new = Password::parse(new_password.into_secret())?;
    let (state, session) = (super::state()?, super::session().await?);
    let user_id = session.require().await?;
    let generation =
        auth::change_password(&state, super::client_addr(), user_id, current, new).await?;
    session.adopt_generation(generation).await
}

/// Ends every session of this account except the one asking.
#[server(prefix = "/api/fn", endpoint = "log_out_other_sessions")]
pub async fn log_out_other_sessions() -> Result<(), AppError> {
    let (state, session) = (super::state()?, super::session().await?);
    let user_id = session.require().await?;
    let generation = auth::end_other_sessions(&state, user_id).await?;
    session.adopt_generation(generation).await
}
