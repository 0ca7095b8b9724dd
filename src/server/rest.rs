//! The contract's JSON API under `/api/v1`: thin handlers over the same service code the
//! pages' server functions call.

use axum::{
    extract::{FromRequest, RawQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    api_keys, auth, billing, chat as chat_service, chat_stream,
    client::ClientAddr,
    conversations, export, search,
    session::{AuthSession, CurrentUser, SignedIn},
    state::AppState,
    usage,
};
use crate::{
    domain::{ApiKey, Email, Password},
    error::AppError,
    types::{
        billing::BillingView,
        chat::{AgentView, ChatRequest, ConversationSummary, ConversationView},
        keys::{KeyEvent, KeyStatus},
        usage::UsageView,
    },
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
        .route("/user/api-key/activity", get(key_activity))
        .route("/billing/checkout", post(billing_checkout))
        .route("/billing/portal", post(billing_portal))
        .route("/billing/status", get(billing_status))
        .route("/billing/webhook", post(billing_webhook))
        .route("/usage", get(usage_of_month))
        .route("/user/spend-cap", axum::routing::put(set_spend_cap))
        .route("/agents", get(agents))
        .route("/chat", post(chat))
        .route("/conversations", get(conversations))
        .route("/conversations/export", get(export_all))
        .route("/conversations/{id}/export", get(export_conversation))
        .route(
            "/conversations/{id}",
            get(conversation)
                .patch(rename_conversation)
                .delete(delete_conversation),
        )
        .route("/conversations/{id}/select", post(select_branch))
        .fallback(not_found)
}

/// `Json` whose rejection (bad JSON, wrong content type) answers in the contract's shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

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
    let view = auth::view_of(&user, &state.settings);
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

async fn me(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Response, AppError> {
    let user = auth::find(&state, user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let view = auth::view_of(&user, &state.settings);
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
    CurrentUser(user_id): CurrentUser,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<Json<KeyStatus>, AppError> {
    let key = ApiKey::parse(body.api_key)?;
    Ok(Json(api_keys::save(&state, client, user_id, key).await?))
}

async fn remove_key(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<StatusCode, AppError> {
    api_keys::remove(&state, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn key_status(user: SignedIn) -> Json<KeyStatus> {
    Json(user.settings.key_status())
}

async fn test_key(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<KeyStatus>, AppError> {
    Ok(Json(api_keys::test(&state, client, user_id).await?))
}

/// `GET /api/v1/user/api-key/activity`: what happened to the key, newest first.
async fn key_activity(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<Vec<KeyEvent>>, AppError> {
    Ok(Json(api_keys::activity(&state, user_id).await?))
}

async fn agents(
    State(state): State<AppState>,
    _: CurrentUser,
) -> Result<Json<Vec<AgentView>>, AppError> {
    Ok(Json(state.agents.views()))
}

/// `POST /api/v1/chat`: the answer as Server-Sent Events (`delta`…, then `done` or `error`).
/// The key is checked before anything else, the body after it.
async fn chat(
    State(state): State<AppState>,
    user: SignedIn,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let key = billing::chat_key_of(&state, &user).await?;
    let request: ChatRequest = serde_json::from_slice(&body)
        .map_err(|_| AppError::InvalidRequest("Send JSON like {\"message\": \"Hello\"}.".into()))?;
    let events = chat_service::start(state, &user, key, request).await?;
    Ok(chat_stream::sse(events))
}

/// One parameter of a query string (decoded as browsers encode it; never a rejection).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The conversations, newest first; with a non-blank `q`, those matching it, each with its
/// snippet and matching message.
async fn conversations(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    match query_param(query.as_deref(), "q").filter(|q| !q.trim().is_empty()) {
        Some(q) => Ok(Json(search::search(&state, user_id, &q).await?).into_response()),
        None => Ok(
            Json::<Vec<ConversationSummary>>(conversations::list(&state, user_id).await?)
                .into_response(),
        ),
    }
}

/// Private data: never kept by a cache on the way.
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

async fn export_conversation(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let format = export::Format::parse(query_param(query.as_deref(), "format").as_deref())?;
    let export = export::one(&state, user_id, &id, format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, export.content_type.to_string()),
            (header::CONTENT_DISPOSITION, export.disposition),
            (NO_STORE.0, NO_STORE.1.to_string()),
        ],
        export.body,
    )
        .into_response())
}

/// Every conversation of the person as one JSON document, streamed.
async fn export_all(State(state): State<AppState>, CurrentUser(user_id): CurrentUser) -> Response {
    let now = chrono::Utc::now();
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, export::all_disposition(now)),
            (NO_STORE.0, NO_STORE.1.to_string()),
        ],
        axum::body::Body::from_stream(export::all(state, user_id, now)),
    )
        .into_response()
}

async fn conversation(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<ConversationView>, AppError> {
    Ok(Json(conversations::get(&state, user_id, &id).await?))
}

#[derive(Deserialize)]
pub struct Select {
    message_id: String,
}

/// `POST /api/v1/conversations/{id}/select {message_id}`: the branch through that message.
async fn select_branch(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<Select>,
) -> Result<Json<ConversationView>, AppError> {
    Ok(Json(
        conversations::select(&state, user_id, &id, &body.message_id).await?,
    ))
}

#[derive(Deserialize)]
pub struct Rename {
    title: String,
}

async fn rename_conversation(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<ConversationSummary>, AppError> {
    Ok(Json(
        conversations::rename(&state, user_id, &id, &body.title).await?,
    ))
}

async fn delete_conversation(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AppError> {
    conversations::delete(&state, user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn billing_checkout(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<serde_json::Value>, AppError> {
    let url = billing::checkout(&state, user_id).await?;
    Ok(Json(serde_json::json!({ "url": url })))
}

async fn billing_portal(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<serde_json::Value>, AppError> {
    let url = billing::portal(&state, user_id).await?;
    Ok(Json(serde_json::json!({ "url": url })))
}

async fn billing_status(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<BillingView>, AppError> {
    Ok(Json(billing::status(&state, user_id).await?))
}

/// Stripe's webhook: no session, no Origin check (Stripe is another site by nature); the
/// signature over the raw body is the only credential.
async fn billing_webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    billing::handle_webhook(&state, signature, &body).await?;
    Ok(Json(serde_json::json!({ "received": true })))
}

#[derive(Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// `GET /api/v1/usage?month=YYYY-MM`: the month's usage object (default: this month, UTC).
async fn usage_of_month(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    query: Result<axum::extract::Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageView>, AppError> {
    let axum::extract::Query(query) = query.map_err(|_| {
        AppError::InvalidRequest("Give the month as YYYY-MM, such as 2026-11.".into())
    })?;
    Ok(Json(
        usage::month(&state, user_id, query.month.as_deref()).await?,
    ))
}

#[derive(Deserialize)]
pub struct SpendCap {
    /// Required, but may be null (no cap).
    #[serde(deserialize_with = "Option::deserialize")]
    monthly_usd: Option<f64>,
}

/// `PUT /api/v1/user/spend-cap {"monthly_usd": number|null}`.
async fn set_spend_cap(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    ApiJson(body): ApiJson<SpendCap>,
) -> Result<Json<UsageView>, AppError> {
    Ok(Json(
        usage::set_cap(&state, user_id, body.monthly_usd).await?,
    ))
}

async fn not_found() -> AppError {
    AppError::NotFound
}
