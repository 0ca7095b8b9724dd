//! The contract's JSON API under `/api/v1`: thin handlers over the same service code the
//! pages' server functions call.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    api_keys, auth, chat as chat_service, client::ClientAddr, session::AuthSession,
    state::AppState,
};
use crate::{
    api::{
        api_keys::KeyStatus,
        chat::{AgentView, ChatRequest, ConversationSummary, ConversationView},
    },
    domain::{ApiKey, Email, Password},
    error::AppError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/user/api-key", post(save_key).delete(remove_key))
        .route("/user/api-key/status", get(key_status))
        .route("/user/api-key/test", post(test_key))
        .route("/agents", get(agents))
        .route("/chat", post(chat))
        .route("/conversations", get(conversations))
        .route(
            "/conversations/{id}",
            get(conversation)
                .patch(rename_conversation)
                .delete(delete_conversation),
        )
        .fallback(not_found)
}

/// `Json` whose rejection (bad JSON, wrong content type) answers in the contract's shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::InvalidRequest(match rejection {
                JsonRejection::MissingJsonContentType(_) => {
                    "Send JSON with Content-Type: application/json.".into()
                }
                _ => "The request body is not the expected JSON.".into(),
            })),
        }
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: SecretString,
}

async fn register(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, AppError> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    let user = auth::register(&state, client, email, password).await?;
    AuthSession(session)
        .log_in(user.id, user.session_generation)
        .await?;
    let view = auth::view_of(&user);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": view.id, "email": view.email })),
    )
        .into_response())
}

async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, AppError> {
    let password = Password::unchecked(body.password);
    let user = auth::login(&state, client, &body.email, password).await?;
    AuthSession(session)
        .log_in(user.id, user.session_generation)
        .await?;
    Ok(Json(serde_json::json!({ "id": user.id, "email": user.email })).into_response())
}

async fn logout(session: Session) -> Result<StatusCode, AppError> {
    let session = AuthSession(session);
    session.require().await?;
    session.log_out().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    let user = auth::current(&state, &AuthSession(session)).await?;
    let view = auth::view_of(&user);
    Ok(Json(
        serde_json::json!({ "id": view.id, "email": view.email, "has_api_key": view.has_api_key }),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct KeyBody {
    api_key: SecretString,
}

async fn save_key(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    session: Session,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<Json<KeyStatus>, AppError> {
    let user_id = AuthSession(session).require().await?;
    let key = ApiKey::parse(body.api_key)?;
    Ok(Json(api_keys::save(&state, client, user_id, key).await?))
}

async fn remove_key(
    State(state): State<AppState>,
    session: Session,
) -> Result<StatusCode, AppError> {
    let user_id = AuthSession(session).require().await?;
    api_keys::remove(&state, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn key_status(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<KeyStatus>, AppError> {
    let user_id = AuthSession(session).require().await?;
    Ok(Json(api_keys::status(&state, user_id).await?))
}

async fn test_key(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    session: Session,
) -> Result<Json<KeyStatus>, AppError> {
    let user_id = AuthSession(session).require().await?;
    Ok(Json(api_keys::test(&state, client, user_id).await?))
}

async fn agents(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<AgentView>>, AppError> {
    AuthSession(session).require().await?;
    Ok(Json(state.agents.views()))
}

/// `POST /api/v1/chat`: the answer as Server-Sent Events (`delta`…, then `done` or `error`).
/// The key is checked before anything else, the body after it.
async fn chat(
    State(state): State<AppState>,
    session: Session,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    use std::{convert::Infallible, time::Duration};

    use axum::response::sse::{Event, KeepAlive, Sse};

    let user_id = AuthSession(session).require().await?;
    let key = api_keys::usable_key(&state, user_id).await?;
    let request: ChatRequest = serde_json::from_slice(&body)
        .map_err(|_| AppError::InvalidRequest("Send JSON like {\"message\": \"Hello\"}.".into()))?;
    let events = chat_service::start(state, user_id, key, request).await?;
    let stream = futures::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        let sse = Event::default()
            .event(event.name())
            .data(event.data().to_string());
        Some((Ok::<_, Infallible>(sse), events))
    });
    // Proxies must neither buffer the stream nor cut it while Anthropic thinks.
    let sse = Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    );
    Ok((
        [
            (axum::http::header::CACHE_CONTROL, "no-cache"),
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        sse,
    )
        .into_response())
}

async fn conversations(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<ConversationSummary>>, AppError> {
    let user_id = AuthSession(session).require().await?;
    Ok(Json(chat_service::list(&state, user_id).await?))
}

async fn conversation(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<ConversationView>, AppError> {
    let user_id = AuthSession(session).require().await?;
    Ok(Json(chat_service::get(&state, user_id, &id).await?))
}

#[derive(Deserialize)]
pub struct Rename {
    title: String,
}

async fn rename_conversation(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<ConversationSummary>, AppError> {
    let user_id = AuthSession(session).require().await?;
    Ok(Json(
        chat_service::rename(&state, user_id, &id, &body.title).await?,
    ))
}

async fn delete_conversation(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AppError> {
    let user_id = AuthSession(session).require().await?;
    chat_service::delete(&state, user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn not_found() -> AppError {
    AppError::NotFound
}
