//! `POST /login` and `POST /register`: the forms of the two pages that ship no WASM.
//!
//! A plain HTML form post, answered the classic way: success starts the session and sends
//! the person on (`303` to a same-site `next`); a refusal renders the page again, with the
//! refusal's status, the message and the email as typed (never the password). The JSON
//! routes (`/api/v1/auth/…`) and the server functions stay as they are.

use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::provide_context;
use secrecy::SecretString;
use tower_sessions::Session;
use zeroize::Zeroize;

use super::{
    auth, client::ClientAddr, session::AuthSession, startup::page_context, state::AppState,
};
use crate::{
    app::shell,
    components::auth_form::FormEcho,
    domain::{Email, Password},
    error::AppError,
    util::safe_next,
};

#[derive(Clone, Copy)]
enum Form {
    LogIn,
    Register,
}

pub async fn log_in(State(state): State<AppState>, request: Request) -> Response {
    submit(state, request, Form::LogIn).await
}

pub async fn register(State(state): State<AppState>, request: Request) -> Response {
    submit(state, request, Form::Register).await
}

/// The fields of a posted form; the password wiped when dropped.
#[derive(Default)]
struct Posted {
    email: String,
    password: String,
    next: String,
}

impl Drop for Posted {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl Posted {
    fn parse(body: &[u8]) -> Self {
        let mut posted = Self::default();
        for (name, value) in form_urlencoded::parse(body) {
            let field = match &*name {
                "email" => &mut posted.email,
                "password" => &mut posted.password,
                "next" => &mut posted.next,
                _ => continue,
            };
            let mut value = value.into_owned();
            std::mem::swap(field, &mut value);
            value.zeroize();
        }
        posted
    }

    fn password(&mut self) -> SecretString {
        SecretString::from(std::mem::take(&mut self.password))
    }
}

async fn submit(state: AppState, request: Request, form: Form) -> Response {
    let (mut parts, body) = request.into_parts();
    // `limit_body` caps what arrives and answers an overrun with its 413.
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut raw = body.to_vec();
    drop(body);
    let mut posted = Posted::parse(&raw);
    raw.zeroize();

    let (Some(client), Some(session)) = (
        parts.extensions.get::<ClientAddr>().copied(),
        parts.extensions.get::<Session>().cloned(),
    ) else {
        tracing::error!("a form post arrived without the session or client layers");
        return AppError::Internal.into_response();
    };
    let password = posted.password();
    let outcome = match form {
        Form::LogIn => {
            auth::login(&state, client, &posted.email, Password::unchecked(password)).await
        }
        Form::Register => match (Email::parse(&posted.email), Password::parse(password)) {
            (Ok(email), Ok(password)) => auth::register(&state, client, email, password).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
    };
    let logged_in = match outcome {
        Ok(user) => {
            AuthSession(session)
                .log_in(user.id, user.session_generation)
                .await
        }
        Err(e) => Err(e),
    };
    match logged_in {
        Ok(()) => Redirect::to(safe_next(Some(&posted.next))).into_response(),
        Err(error) => {
            let echo = FormEcho {
                email: std::mem::take(&mut posted.email),
                next: std::mem::take(&mut posted.next),
                error: error.to_string(),
            };
            // The page as a GET of the same address renders it, with the refusal added.
            parts.method = Method::GET;
            render_again(
                state,
                Request::from_parts(parts, Body::empty()),
                echo,
                &error,
            )
            .await
        }
    }
}

async fn render_again(
    state: AppState,
    request: Request,
    echo: FormEcho,
    error: &AppError,
) -> Response {
    let options = state.leptos_options.clone();
    let context = move || {
        page_context(&state);
        provide_context(echo.clone());
    };
    let render =
        leptos_axum::render_app_async_with_context(context, move || shell(options.clone()));
    let mut response = render(request).await;
    *response.status_mut() =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
