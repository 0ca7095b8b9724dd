//! A local stand-in for Anthropic's HTTP API.
//!
//! Integration tests run it in-process ([`spawn`]), Playwright and local development run it
//! as the `anthropic-stub` binary. It answers `GET /v1/models`, `POST /v1/messages` (JSON
//! and server-sent events) and `POST /v1/messages/count_tokens` with the same shapes, headers
//! and error envelopes as the real API,
//! so the code under test cannot tell the difference, and it lets a test break the upstream
//! on purpose:
//!
//! * through Rust ([`StubState::set_fault`], [`StubState::revoke`], ...),
//! * through HTTP control routes under `/_stub/` (for tests that only have a URL),
//! * through magic words in the last user message (`[[slow]]`, `[[drop]]`,
//!   `[[overloaded]]`, `[[overloaded-status]]`, `[[rate-limited]]` or `[[rate-limited:N]]`,
//!   `[[out-of-credit]]`, `[[too-long]]`, `[[ratelimit-low]]`), so a browser test can drive
//!   a fault by what it types. `[[rate-limited]]` and `[[overloaded-status]]` fire once per
//!   message text, so the same message sent again (Retry) goes through, as when Anthropic
//!   recovers. `[[numbered]]` ends the answer with ` (answer N)`, N counting the requests
//!   this stand-in has seen, so regenerated versions of one answer tell apart.
//!
//! Every answer carries Anthropic's `anthropic-ratelimit-*` headers (plenty left, unless a
//! fault says otherwise).
//!
//! Every request to `/v1/*` is recorded so tests can assert which key reached the upstream,
//! and every streamed answer the client closed before `message_stop` is counted
//! ([`StubState::cut_streams`]), so a test can assert that Stop or a closed tab really
//! cancelled the upstream call.
//!
//! Requests are read and events written with the app's own protocol types
//! ([`crate::server::anthropic::protocol`]).
//!
//! The answers are deterministic: `Hello from the Anthropic stand-in. You said: <text>`,
//! streamed about one word per delta. A token is a whitespace-separated word.
//!
//! Prompt caching works as upstream, per key and model: a request whose blocks carry
//! `cache_control` breakpoints reads the longest prefix ending at a breakpoint cached
//! before (`cache_read_input_tokens`), writes the rest up to its last breakpoint
//! (`cache_creation_input_tokens`), and pays full price only for what follows
//! (`input_tokens`). Cached prefixes never expire here.

use std::{
    borrow::Cow,
    collections::{hash_map::DefaultHasher, HashSet},
    hash::{Hash, Hasher},
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{rejection::BytesRejection, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use rand::{distributions::Alphanumeric, Rng};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::anthropic::protocol::{
    self, BlockDelta, ErrorDetail, MessageDelta, MessageResponse, ResponseBlock, Role, StreamEvent,
    Usage,
};

/// How the stand-in misbehaves, on purpose, for the next requests to `/v1/*`.
///
/// Faults apply only to requests that get past routing and authentication, because the
/// real API also rejects an unknown key before it rate-limits or overloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the matching error envelope (429 also carries
    /// `retry-after: 1`). A status below 400 or above 599 is answered as 500.
    Status(u16),
    /// Wait `delay_ms` before answering, and again between stream deltas.
    Slow { delay_ms: u64 },
    /// Accept the request and never answer, until the client gives up.
    Hang,
    /// Answer 200, then cut the connection after this many text deltas (no
    /// `message_stop`). A JSON (non-streaming) answer is cut halfway through its body.
    DropStream { after_deltas: usize },
    /// Answer 200, then fall silent after this many text deltas: no more events, not even
    /// a ping, and the connection held open until the client leaves (counted as a cut
    /// stream then). A JSON (non-streaming) answer is not affected.
    StallStream { after_deltas: usize },
    /// Answer 200 and `message_start`, then stay silent `delay_ms` before the first text
    /// delta (as while Anthropic reads a long prompt). A JSON answer is not affected.
    SilentStart { delay_ms: u64 },
    /// Answer 200 and `message_start`, then an `event: error` with `overloaded_error`,
    /// as Anthropic does when it overloads mid-stream. A JSON answer becomes a 529.
    ErrorEvent,
    /// 429 `rate_limit_error` with `retry-after: retry_after_secs` and the rate-limit
    /// headers at nothing left, as Anthropic answers a key over its limit.
    RateLimited { retry_after_secs: u64 },
    /// The account is out of credit. `status` 400: `invalid_request_error` with the
    /// message Anthropic sends ("Your credit balance is too low…"); 402: a
    /// `billing_error`.
    OutOfCredit { status: u16 },
    /// 400 `invalid_request_error`: "prompt is too long: 215000 tokens > 200000 maximum".
    PromptTooLong,
    /// Answer as usual, with rate-limit headers saying only `remaining` of `limit`
    /// requests are left this minute.
    RateLimitLow { remaining: u64, limit: u64 },
}

/// Anthropic's message when the account has no credit left.
pub const CREDIT_MESSAGE: &str = "Your credit balance is too low to access the Anthropic API. \
    Please go to Plans & Billing to upgrade or purchase credits.";
/// Anthropic's message when the conversation does not fit the model's context.
pub const TOO_LONG_MESSAGE: &str = "prompt is too long: 215000 tokens > 200000 maximum";

/// One request that reached `/v1/*`, as the upstream saw it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The `x-api-key` header, in full (see `GET /_stub/requests` for a masked listing).
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
    /// The request body, if it was non-empty JSON.
    pub body: Option<Value>,
}

/// The stand-in's mutable state: faults, revoked keys and recorded requests.
///
/// Cheap to clone; every clone shares the same state, so a test keeps one and hands
/// another to [`router`].
#[derive(Clone, Debug, Default)]
pub struct StubState {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    fault: Option<ActiveFault>,
    revoked: HashSet<String>,
    requests: Vec<RecordedRequest>,
    cut_streams: usize,
    /// Hashes of the prompt prefixes cached so far (key, model and blocks up to a breakpoint).
    cached_prefixes: HashSet<u64>,
    /// One-shot magic words already fired, with the message they were in.
    fired: HashSet<String>,
}

#[derive(Debug)]
struct ActiveFault {
    fault: Fault,
    /// `None` until cleared, otherwise how many more requests it applies to.
    remaining: Option<usize>,
}

impl StubState {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later request with this key answer 401. Streams already running
    /// with it are left alone, as on the real API.
    pub fn revoke(&self, key: &str) {
        self.lock().revoked.insert(key.to_owned());
    }

    /// Applies `fault` to every later request until [`StubState::clear`].
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = Some(ActiveFault {
            fault,
            remaining: None,
        });
    }

    /// Applies `fault` to the next `count` requests only, then behaves again.
    /// A `count` of 0 clears the current fault.
    pub fn set_fault_for(&self, fault: Fault, count: usize) {
        self.lock().fault = (count > 0).then_some(ActiveFault {
            fault,
            remaining: Some(count),
        });
    }

    /// How many streamed answers (`"stream": true`) the client cut: it closed the
    /// connection before `message_stop` arrived (the app's Stop, a closed tab). The
    /// stand-in's own cuts ([`Fault::DropStream`], [`Fault::ErrorEvent`]) do not count.
    ///
    /// The stand-in notices a closed connection when it next writes, so right after the
    /// client lets go the count may still be behind: see [`StubState::wait_for_cut_streams`].
    #[must_use]
    pub fn cut_streams(&self) -> usize {
        self.lock().cut_streams
    }

    /// Waits until [`StubState::cut_streams`] reaches `at_least`, for at most `within`;
    /// returns the count then (below `at_least` if time ran out).
    pub async fn wait_for_cut_streams(&self, at_least: usize, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let cut = self.cut_streams();
            if cut >= at_least || tokio::time::Instant::now() >= deadline {
                return cut;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Splits a request's input tokens the way the prompt cache does, and caches the
    /// prefixes at its breakpoints.
    fn cache_usage(&self, api_key: &str, request: &MessagesRequest) -> Usage {
        let total: usize = request.blocks.iter().map(|b| b.tokens).sum();
        let Some(last_breakpoint) = request.blocks.iter().rposition(|b| b.breakpoint) else {
            return usage(total.max(1), 0, 0);
        };
        let mut hasher = DefaultHasher::new();
        api_key.hash(&mut hasher);
        request.model.hash(&mut hasher);
        let mut prefixes = Vec::with_capacity(last_breakpoint + 1);
        let mut tokens = 0;
        for block in &request.blocks[..=last_breakpoint] {
            block.text.hash(&mut hasher);
            tokens += block.tokens;
            prefixes.push((hasher.finish(), tokens, block.breakpoint));
        }
        let mut inner = self.lock();
        let read = prefixes
            .iter()
            .rev()
            .find(|(hash, _, _)| inner.cached_prefixes.contains(hash))
            .map_or(0, |(_, tokens, _)| *tokens);
        for (hash, _, breakpoint) in &prefixes {
            if *breakpoint {
                inner.cached_prefixes.insert(*hash);
            }
        }
        let written = tokens - read;
        usage(total - tokens, written, read)
    }

    /// Forgets faults, revocations, recorded requests and cut streams.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    /// Every request to `/v1/*` so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// A panicking handler cannot leave this state half-updated (every update is a single
    /// assignment or insert), so a poisoned lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: RecordedRequest) {
        self.lock().requests.push(request);
    }

    /// True the first time `word` is seen with this message text, false after.
    fn fire_once(&self, word: &str, text: &str) -> bool {
        self.lock().fired.insert(format!("{word}\u{0}{text}"))
    }

    fn is_revoked(&self, key: &str) -> bool {
        self.lock().revoked.contains(key)
    }

    /// The fault for this request, counting it against a count-limited fault.
    fn take_fault(&self) -> Option<Fault> {
        let mut inner = self.lock();
        let active = inner.fault.as_mut()?;
        let fault = active.fault.clone();
        if let Some(remaining) = active.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                inner.fault = None;
            }
        }
        Some(fault)
    }
}

/// The stand-in's routes: the Anthropic API under `/v1/` and the control routes under
/// `/_stub/`.
pub fn router(state: StubState) -> Router {
    Router::new()
        .route("/v1/{*rest}", any(v1))
        .route("/_stub/revoke", post(control_revoke))
        .route("/_stub/fault", post(control_fault))
        .route("/_stub/reset", post(control_reset))
        .route("/_stub/requests", get(control_requests))
        .route("/_stub/cut-streams", get(control_cut_streams))
        .fallback(|| async { ApiError::not_found("Not found") })
        .with_state(state)
}

/// A stand-in serving on a free local port, for in-process tests.
///
/// Dropping it stops accepting connections; connections already open end with their
/// client (a hanging request ends when the client gives up).
pub struct StubHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    pub state: StubState,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `127.0.0.1:0` and serves the stand-in in a tokio task.
///
/// # Panics
///
/// If no local port can be bound, which leaves the calling test nothing to do.
pub async fn spawn() -> StubHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port for the Anthropic stand-in");
    let addr = listener
        .local_addr()
        .expect("read the Anthropic stand-in's local address");
    let state = StubState::new();
    let app = router(state.clone());
    // Like a real API front end: no Nagle delay between the small writes of a stream.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "Anthropic stand-in stopped");
        }
    });
    StubHandle {
        base_url: format!("http://{addr}"),
        state,
        addr,
        task,
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An error answer in Anthropic's envelope:
/// `{"type":"error","error":{"type":"<type>","message":"<text>"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    /// The `error.type`, when not the status's usual one.
    kind: Option<&'static str>,
    /// `retry-after` of a 429 (1 unless a fault chose it).
    retry_after: u64,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            kind: None,
            retry_after: 1,
        }
    }

    fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: retry_after_secs,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Number of request tokens has exceeded your per-minute rate limit",
            )
        }
    }

    /// 400 with Anthropic's credit message (what the API sends today), or 402
    /// `billing_error`.
    fn out_of_credit(status: u16) -> Self {
        if status == 402 {
            Self::for_status(402)
        } else {
            Self::invalid_request(CREDIT_MESSAGE)
        }
    }

    fn prompt_too_long() -> Self {
        Self::invalid_request(TOO_LONG_MESSAGE)
    }

    fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn invalid_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid x-api-key")
    }

    fn overloaded() -> Self {
        Self::new(overloaded_status(), "Overloaded")
    }

    /// The answer for a [`Fault::Status`], with the message the real API uses.
    fn for_status(code: u16) -> Self {
        let status = StatusCode::from_u16(code)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match status.as_u16() {
            400 => "Invalid request",
            401 => "invalid x-api-key",
            403 => "Your API key does not have permission to use the specified resource.",
            404 => "Not found",
            402 => CREDIT_MESSAGE,
            413 => "Request exceeds the maximum allowed number of bytes.",
            429 => "Number of request tokens has exceeded your per-minute rate limit",
            529 => "Overloaded",
            _ => "Internal server error",
        };
        Self::new(status, message)
    }

    fn envelope(&self) -> Value {
        error_envelope(
            self.kind.unwrap_or_else(|| error_type(self.status)),
            &self.message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.envelope())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after));
            // Over the limit: nothing left of the requests this minute.
            add_rate_limit_headers(response.headers_mut(), Some((0, REQUESTS_PER_MINUTE)));
        }
        response
    }
}

/// The requests a minute the stand-in says a key may make.
const REQUESTS_PER_MINUTE: u64 = 50;

/// Anthropic's `anthropic-ratelimit-*` headers: requests (`Some((remaining, limit))`, or
/// all but one of [`REQUESTS_PER_MINUTE`]) and tokens (plenty), each with its reset time.
/// Headers already there are left as they are.
fn add_rate_limit_headers(headers: &mut HeaderMap, requests: Option<(u64, u64)>) {
    let (remaining, limit) = requests.unwrap_or((REQUESTS_PER_MINUTE - 1, REQUESTS_PER_MINUTE));
    let reset = (chrono::Utc::now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let values = [
        ("requests", limit, remaining),
        ("tokens", 480_000, 470_000),
        ("input-tokens", 400_000, 392_000),
        ("output-tokens", 80_000, 78_000),
    ];
    for (resource, limit, remaining) in values {
        for (field, value) in [
            ("limit", limit.to_string()),
            ("remaining", remaining.to_string()),
            ("reset", reset.clone()),
        ] {
            let name = format!("anthropic-ratelimit-{resource}-{field}");
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.entry(name).or_insert(value);
            }
        }
    }
}

/// 529 is Anthropic's own "overloaded" status; it is not in the HTTP registry.
fn overloaded_status() -> StatusCode {
    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// The `error.type` Anthropic sends with each status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        // 400 and every other client error.
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn error_envelope(kind: &str, message: &str) -> Value {
    serde_json::to_value(error_event(kind, message)).expect("an error envelope serializes")
}

/// Anthropic's errors have the same envelope over HTTP and as a stream event.
fn error_event(kind: &str, message: &str) -> StreamEvent {
    StreamEvent::Error {
        error: ErrorDetail {
            kind: kind.to_owned(),
            message: message.to_owned(),
        },
    }
}

// ---------------------------------------------------------------------------------------
// The API: /v1/*
// ---------------------------------------------------------------------------------------

/// The models `GET /v1/models` lists: `(id, display name, created at)`.
const MODELS: [(&str, &str, &str); 3] = [
    (
        "claude-sonnet-4-5",
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
    ),
    (
        "claude-haiku-4-5",
        "Claude Haiku 4.5",
        "2025-10-01T00:00:00Z",
    ),
    ("claude-opus-4-1", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
];

/// The `/v1/*` routes the stand-in knows.
enum Endpoint {
    ListModels,
    GetModel(String),
    CreateMessage,
    CountTokens,
}

/// One handler for all of `/v1/*`, so that every request is recorded and every unknown
/// route still answers in Anthropic's envelope.
async fn v1(
    State(state): State<StubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let api_key = header_text(&headers, "x-api-key");
    let anthropic_version = header_text(&headers, "anthropic-version");
    let json_body = body
        .as_ref()
        .ok()
        .filter(|bytes| !bytes.is_empty())
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
    tracing::debug!(%method, path = uri.path(), "Anthropic stand-in request");
    state.record(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        api_key: api_key.clone(),
        anthropic_version: anthropic_version.clone(),
        body: json_body.clone(),
    });

    let mut response = match handle_v1(
        &state,
        &method,
        uri.path(),
        api_key.as_deref(),
        anthropic_version.is_some(),
        body,
        json_body,
    )
    .await
    {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    if response.status().is_success() {
        add_rate_limit_headers(response.headers_mut(), None);
    }
    // The real API tags every answer with a request id; clients log it.
    if let Ok(value) = HeaderValue::from_str(&format!("req_{}", random_id())) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

/// Answers one `/v1/*` request in the order the real API checks things: route, then key,
/// then `anthropic-version`, then (for an authenticated request only) the configured
/// fault, then the body.
async fn handle_v1(
    state: &StubState,
    method: &Method,
    path: &str,
    api_key: Option<&str>,
    has_version: bool,
    body: Result<Bytes, BytesRejection>,
    json_body: Option<Value>,
) -> Result<Response, ApiError> {
    let endpoint = match (method, path) {
        (&Method::GET, "/v1/models") => Endpoint::ListModels,
        (&Method::GET, _) => match path.strip_prefix("/v1/models/") {
            Some(id) if !id.is_empty() && !id.contains('/') => Endpoint::GetModel(id.to_owned()),
            _ => return Err(ApiError::not_found("Not found")),
        },
        (&Method::POST, "/v1/messages") => Endpoint::CreateMessage,
        (&Method::POST, "/v1/messages/count_tokens") => Endpoint::CountTokens,
        _ => return Err(ApiError::not_found("Not found")),
    };

    match api_key {
        Some(key) if key_is_valid(key) && !state.is_revoked(key) => {}
        _ => return Err(ApiError::invalid_key()),
    }
    if !has_version {
        return Err(ApiError::invalid_request(
            "anthropic-version: header is required",
        ));
    }

    let mut plan = Plan::default();
    match state.take_fault() {
        Some(Fault::Status(code)) => return Err(ApiError::for_status(code)),
        Some(Fault::RateLimited { retry_after_secs }) => {
            return Err(ApiError::rate_limited(retry_after_secs))
        }
        Some(Fault::OutOfCredit { status }) => return Err(ApiError::out_of_credit(status)),
        Some(Fault::PromptTooLong) => return Err(ApiError::prompt_too_long()),
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(fault) => plan.add_fault(&fault),
        None => {}
    }

    match endpoint {
        Endpoint::ListModels => {
            plan.wait().await;
            let data: Vec<Value> = MODELS.iter().map(model_json).collect();
            let page = json!({
                "data": data,
                "has_more": false,
                "first_id": MODELS[0].0,
                "last_id": MODELS[MODELS.len() - 1].0,
            });
            Ok(plan.json_answer(&page))
        }
        Endpoint::GetModel(id) => {
            let model = MODELS
                .iter()
                .find(|(known, _, _)| *known == id)
                .ok_or_else(|| ApiError::not_found(format!("model: {id}")))?;
            plan.wait().await;
            Ok(plan.json_answer(&model_json(model)))
        }
        Endpoint::CreateMessage => {
            let body =
                body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
            let Some(json_body) = json_body else {
                return Err(if body.is_empty() {
                    ApiError::invalid_request("request body is required")
                } else {
                    ApiError::invalid_request("request body is not valid JSON")
                });
            };
            let request = MessagesRequest::parse(json_body)?;
            if let Some(error) = magic_error(state, &request.last_user_text) {
                return Err(error);
            }
            plan.add_magic_words(&request.last_user_text);
            plan.wait().await;
            let usage = state.cache_usage(api_key.unwrap_or_default(), &request);
            Ok(create_message(state, &request, usage, plan))
        }
        Endpoint::CountTokens => {
            let Some(json_body) = json_body else {
                return Err(ApiError::invalid_request("request body is not valid JSON"));
            };
            let request: protocol::CountTokensRequest = serde_json::from_value(json_body)
                .map_err(|err| ApiError::invalid_request(err.to_string()))?;
            let as_messages = protocol::MessagesRequest {
                model: request.model,
                max_tokens: 1,
                system: request.system,
                messages: request.messages,
                stream: false,
                thinking: None,
            };
            let request = MessagesRequest::parse(
                serde_json::to_value(as_messages).expect("a request serializes"),
            )?;
            plan.wait().await;
            let counted: usize = request.blocks.iter().map(|b| b.tokens).sum();
            Ok(plan.json_answer(
                &serde_json::to_value(protocol::CountTokensResponse {
                    input_tokens: counted.max(1) as u64,
                })
                .expect("a count serializes"),
            ))
        }
    }
}

/// A header's value as text, even when it holds bytes that are not visible ASCII.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Anthropic keys start with `sk-ant-`; admin keys cannot call the Messages API. Keys
/// containing `invalid` let tests spell out a key the upstream rejects.
fn key_is_valid(key: &str) -> bool {
    key.starts_with("sk-ant-") && !key.starts_with("sk-ant-admin") && !key.contains("invalid")
}

fn model_json((id, display_name, created_at): &(&str, &str, &str)) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": display_name,
        "created_at": created_at,
    })
}

/// 22 random letters and digits, the shape of the ids Anthropic hands out.
fn random_id() -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("01{suffix}")
}

// ---------------------------------------------------------------------------------------
// POST /v1/messages
// ---------------------------------------------------------------------------------------

/// What the stand-in needs from a valid `POST /v1/messages` body.
#[derive(Debug)]
struct MessagesRequest {
    model: String,
    stream: bool,
    /// The text of the last `user` message; the answer echoes it.
    last_user_text: String,
    /// The system prompt's and every message's blocks, in order: what the prompt cache sees.
    blocks: Vec<Block>,
}

/// One block of the prompt, as the prompt cache sees it.
#[derive(Debug)]
struct Block {
    /// Its role and text: two prefixes are the same when these are.
    text: String,
    /// Whitespace-separated words.
    tokens: usize,
    /// It carries `cache_control`.
    breakpoint: bool,
}

impl Block {
    fn of(role: &str, content: &protocol::Content) -> Vec<Self> {
        match content {
            protocol::Content::Text(text) => vec![Self::new(role, text, false)],
            protocol::Content::Blocks(blocks) => blocks
                .iter()
                .map(|block| match block {
                    protocol::RequestBlock::Text {
                        text,
                        cache_control,
                    } => Self::new(role, text, cache_control.is_some()),
                    protocol::RequestBlock::Unknown => Self::new(role, "", false),
                })
                .collect(),
        }
    }

    fn new(role: &str, text: &str, breakpoint: bool) -> Self {
        Self {
            text: format!("{role}\n{text}"),
            tokens: text.split_whitespace().count(),
            breakpoint,
        }
    }
}

fn usage(input: usize, written: usize, read: usize) -> Usage {
    Usage {
        input_tokens: Some(input as u64),
        output_tokens: None,
        cache_creation_input_tokens: Some(written as u64),
        cache_read_input_tokens: Some(read as u64),
    }
}

impl MessagesRequest {
    /// Reads the body as the app's [`protocol::MessagesRequest`], then checks what the
    /// real API checks beyond the shape, with its `field: problem` messages.
    fn parse(body: Value) -> Result<Self, ApiError> {
        if !body.is_object() {
            return Err(ApiError::invalid_request(
                "request body must be a JSON object",
            ));
        }
        let request: protocol::MessagesRequest = serde_json::from_value(body)
            .map_err(|err| ApiError::invalid_request(err.to_string()))?;
        // Any Claude model id is served; anything else is unknown, as upstream.
        if !request.model.starts_with("claude-") {
            return Err(ApiError::not_found(format!("model: {}", request.model)));
        }
        if request.max_tokens == 0 {
            return Err(ApiError::invalid_request(
                "max_tokens: Input should be greater than or equal to 1",
            ));
        }
        if request.messages.is_empty() {
            return Err(ApiError::invalid_request(
                "messages: at least one message is required",
            ));
        }

        let mut blocks = request
            .system
            .as_ref()
            .map_or_else(Vec::new, |system| Block::of("system", system));
        let mut last_user_text = String::new();
        let count = request.messages.len();
        for (i, message) in request.messages.iter().enumerate() {
            let is_final_assistant = message.role == Role::Assistant && i + 1 == count;
            if message.content.is_empty() && !is_final_assistant {
                return Err(ApiError::invalid_request(format!(
                    "messages.{i}: all messages must have non-empty content except for the \
                     optional final assistant message"
                )));
            }
            let text = message.content.text();
            let role = if message.role == Role::User {
                "user"
            } else {
                "assistant"
            };
            blocks.extend(Block::of(role, &message.content));
            if message.role == Role::User {
                last_user_text = text;
            }
        }

        Ok(Self {
            model: request.model,
            stream: request.stream,
            last_user_text,
            blocks,
        })
    }
}

/// How one answer misbehaves, from the configured fault and the magic words combined.
#[derive(Debug, Default)]
struct Plan {
    /// Before answering, and between stream deltas.
    delay: Duration,
    /// Cut the connection after this many deltas.
    drop_after: Option<usize>,
    /// Fall silent after this many deltas.
    stall_after: Option<usize>,
    /// Send `event: error` (overloaded) right after `message_start`.
    error_event: bool,
    /// Silence after `message_start`, before the first delta.
    silent_start: Duration,
    /// Pad the answer to about 40 deltas, so a slow stream lasts long enough to watch.
    long_answer: bool,
    /// Requests left and the limit, for the rate-limit headers (plenty when `None`).
    requests_left: Option<(u64, u64)>,
}

/// Magic word: 300 ms between deltas and a longer answer.
const MAGIC_SLOW: &str = "[[slow]]";
/// Magic word: cut the stream after 3 deltas.
const MAGIC_DROP: &str = "[[drop]]";
/// Magic word: `event: error` (overloaded) after `message_start`.
const MAGIC_OVERLOADED: &str = "[[overloaded]]";
/// Magic word: the answer ends with ` (answer N)`, N the requests seen so far.
const MAGIC_NUMBERED: &str = "[[numbered]]";
/// Magic word: a 529 before the stream, once per message text.
const MAGIC_OVERLOADED_STATUS: &str = "[[overloaded-status]]";
/// Magic word: a 429 with `retry-after: 3` (`[[rate-limited:N]]`: N seconds), once per
/// message text.
const MAGIC_RATE_LIMITED: &str = "[[rate-limited";
/// Magic word: 400, the credit balance is too low.
const MAGIC_OUT_OF_CREDIT: &str = "[[out-of-credit]]";
/// Magic word: 400, the prompt is too long.
const MAGIC_TOO_LONG: &str = "[[too-long]]";
/// Magic word: answer, with 3 of 50 requests left this minute.
const MAGIC_RATELIMIT_LOW: &str = "[[ratelimit-low]]";

/// The error a magic word asks for instead of an answer, if any.
fn magic_error(state: &StubState, text: &str) -> Option<ApiError> {
    if let Some(at) = text.find(MAGIC_RATE_LIMITED) {
        let rest = &text[at + MAGIC_RATE_LIMITED.len()..];
        let secs = match rest.strip_prefix(':') {
            Some(rest) => {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                rest[digits.len()..]
                    .starts_with("]]")
                    .then(|| digits.parse().ok())
                    .flatten()
            }
            None => rest.starts_with("]]").then_some(3),
        };
        if let Some(secs) = secs {
            if state.fire_once(MAGIC_RATE_LIMITED, text) {
                return Some(ApiError::rate_limited(secs));
            }
        }
    }
    if text.contains(MAGIC_OVERLOADED_STATUS) && state.fire_once(MAGIC_OVERLOADED_STATUS, text) {
        return Some(ApiError::overloaded());
    }
    if text.contains(MAGIC_OUT_OF_CREDIT) {
        return Some(ApiError::out_of_credit(400));
    }
    if text.contains(MAGIC_TOO_LONG) {
        return Some(ApiError::prompt_too_long());
    }
    None
}

impl Plan {
    fn add_fault(&mut self, fault: &Fault) {
        match *fault {
            Fault::Slow { delay_ms } => {
                self.delay = self.delay.max(Duration::from_millis(delay_ms));
            }
            Fault::DropStream { after_deltas } => self.drop_after(after_deltas),
            Fault::StallStream { after_deltas } => {
                self.stall_after = Some(
                    self.stall_after
                        .map_or(after_deltas, |d| d.min(after_deltas)),
                );
            }
            Fault::ErrorEvent => self.error_event = true,
            Fault::SilentStart { delay_ms } => {
                self.silent_start = self.silent_start.max(Duration::from_millis(delay_ms));
            }
            Fault::RateLimitLow { remaining, limit } => {
                self.requests_left = Some((remaining, limit));
            }
            // Answered before any plan is made.
            Fault::Status(_)
            | Fault::Hang
            | Fault::RateLimited { .. }
            | Fault::OutOfCredit { .. }
            | Fault::PromptTooLong => {}
        }
    }

    fn add_magic_words(&mut self, text: &str) {
        if text.contains(MAGIC_SLOW) {
            self.add_fault(&Fault::Slow { delay_ms: 300 });
            self.long_answer = true;
        }
        if text.contains(MAGIC_DROP) {
            self.add_fault(&Fault::DropStream { after_deltas: 3 });
        }
        if text.contains(MAGIC_OVERLOADED) {
            self.add_fault(&Fault::ErrorEvent);
        }
        if text.contains(MAGIC_RATELIMIT_LOW) {
            self.add_fault(&Fault::RateLimitLow {
                remaining: 3,
                limit: REQUESTS_PER_MINUTE,
            });
        }
    }

    fn drop_after(&mut self, deltas: usize) {
        self.drop_after = Some(self.drop_after.map_or(deltas, |d| d.min(deltas)));
    }

    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// A JSON (non-streaming) answer: a 529 for [`Fault::ErrorEvent`], a body cut in half
    /// for [`Fault::DropStream`], otherwise 200 with `value`.
    fn json_answer(&self, value: &Value) -> Response {
        if self.error_event {
            return ApiError::overloaded().into_response();
        }
        if self.drop_after.is_none() {
            let mut response = Json(value).into_response();
            add_rate_limit_headers(response.headers_mut(), self.requests_left);
            return response;
        }
        // Bytes, not a `str` slice: halfway may fall inside a multi-byte character.
        let whole = Bytes::from(value.to_string());
        let half = whole.slice(..whole.len() / 2);
        let cut = async_stream::stream! {
            yield Ok::<Bytes, io::Error>(half);
            flush().await;
            yield Err(connection_cut());
        };
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(cut),
        )
            .into_response()
    }
}

/// Gives hyper a turn to write out what it has buffered, so each event leaves as soon as
/// it is produced, and a deliberate cut never swallows the events sent before it.
async fn flush() {
    tokio::task::yield_now().await;
}

/// What a stream yields to make hyper abort the connection, as a dropped upstream would.
fn connection_cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "Anthropic stand-in cut the connection on purpose",
    )
}

/// The deterministic answer: a greeting that echoes the user, padded for `[[slow]]`.
fn answer_text(last_user_text: &str, long: bool) -> String {
    const TARGET_DELTAS: usize = 40;
    const FILLER: &str = "This reply is deliberately long and slow so that a test can watch \
        the words arrive one at a time, cancel halfway, or check that the page keeps up \
        while the stand-in keeps on talking.";

    let mut text = format!(
        "Hello from the Anthropic stand-in. You said: {}",
        last_user_text.trim()
    );
    let have = text.split_whitespace().count();
    if long && have < TARGET_DELTAS {
        for word in FILLER.split_whitespace().cycle().take(TARGET_DELTAS - have) {
            text.push(' ');
            text.push_str(word);
        }
    }
    text
}

/// Splits `text` into deltas of one word each, every word keeping the whitespace that
/// follows it, so the deltas concatenate back into exactly `text`.
fn split_deltas(text: &str) -> Vec<String> {
    let mut deltas = Vec::new();
    let mut start = 0;
    let mut after_space = false;
    for (i, c) in text.char_indices() {
        if after_space && !c.is_whitespace() {
            deltas.push(text[start..i].to_owned());
            start = i;
        }
        after_space = c.is_whitespace();
    }
    if start < text.len() {
        deltas.push(text[start..].to_owned());
    }
    deltas
}

fn message(
    id: &str,
    model: &str,
    content: Vec<ResponseBlock>,
    stop_reason: Option<&str>,
    input: &Usage,
    output_tokens: usize,
) -> MessageResponse {
    MessageResponse {
        id: id.to_owned(),
        kind: "message".to_owned(),
        role: Role::Assistant,
        model: model.to_owned(),
        content,
        stop_reason: stop_reason.map(str::to_owned),
        stop_sequence: None,
        usage: Usage {
            output_tokens: Some(output_tokens as u64),
            ..input.clone()
        },
    }
}

fn create_message(
    state: &StubState,
    request: &MessagesRequest,
    input: Usage,
    plan: Plan,
) -> Response {
    let id = format!("msg_{}", random_id());
    let mut text = answer_text(&request.last_user_text, plan.long_answer);
    if request.last_user_text.contains(MAGIC_NUMBERED) {
        let n = state.lock().requests.len();
        text.push_str(&format!(" (answer {n})"));
    }
    let deltas = split_deltas(&text);

    if !request.stream {
        let message = message(
            &id,
            &request.model,
            vec![ResponseBlock::Text { text }],
            Some("end_turn"),
            &input,
            deltas.len(),
        );
        let value = serde_json::to_value(message).expect("a message serializes");
        return plan.json_answer(&value);
    }

    let start = message(&id, &request.model, Vec::new(), None, &input, 1);
    let requests_left = plan.requests_left;
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(event_stream(state.clone(), start, deltas, plan)),
    )
        .into_response();
    add_rate_limit_headers(response.headers_mut(), requests_left);
    response
}

/// One server-sent event, named by its `type`.
fn sse(event: &StreamEvent) -> Bytes {
    Bytes::from(event.to_sse())
}

/// Counts a streamed answer as cut by the client when it is dropped (hyper drops the body
/// of a connection that closed) before it reached its end.
struct CutWatch {
    state: StubState,
    ended: bool,
}

impl Drop for CutWatch {
    fn drop(&mut self) {
        if !self.ended {
            self.state.lock().cut_streams += 1;
        }
    }
}

/// The events of a streamed answer, produced (and flushed by hyper) one at a time, with
/// the plan's delay between deltas.
fn event_stream(
    state: StubState,
    start_message: MessageResponse,
    deltas: Vec<String>,
    plan: Plan,
) -> impl futures::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    async_stream::stream! {
        let mut watch = CutWatch { state, ended: false };
        yield Ok(sse(&StreamEvent::MessageStart { message: start_message }));
        flush().await;
        if plan.error_event {
            watch.ended = true;
            yield Ok(sse(&error_event("overloaded_error", "Overloaded")));
            return;
        }
        yield Ok(sse(&StreamEvent::ContentBlockStart {
            index: 0,
            content_block: ResponseBlock::Text { text: String::new() },
        }));
        yield Ok(sse(&StreamEvent::Ping));
        flush().await;
        if !plan.silent_start.is_zero() {
            tokio::time::sleep(plan.silent_start).await;
        }

        let output_tokens = deltas.len();
        for (i, delta) in deltas.into_iter().enumerate() {
            if plan.drop_after == Some(i) {
                watch.ended = true;
                yield Err(connection_cut());
                return;
            }
            if plan.stall_after == Some(i) {
                // Silent until the client leaves, which drops this stream (a cut).
                std::future::pending::<()>().await;
            }
            if i > 0 {
                plan.wait().await;
            }
            yield Ok(sse(&StreamEvent::ContentBlockDelta {
                index: 0,
                delta: BlockDelta::TextDelta { text: delta },
            }));
            flush().await;
        }
        if plan.drop_after.is_some() {
            // Asked to drop after at least as many deltas as there were.
            watch.ended = true;
            yield Err(connection_cut());
            return;
        }

        yield Ok(sse(&StreamEvent::ContentBlockStop { index: 0 }));
        yield Ok(sse(&StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason: Some("end_turn".to_owned()),
                stop_sequence: None,
            },
            usage: Usage {
                output_tokens: Some(output_tokens as u64),
                ..Usage::default()
            },
        }));
        watch.ended = true;
        yield Ok(sse(&StreamEvent::MessageStop));
    }
}

// ---------------------------------------------------------------------------------------
// Control routes: /_stub/*
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RevokeBody {
    api_key: String,
}

/// `POST /_stub/fault` bodies: `{"kind": "status", "status": 429, "count": 1}` and so on.
#[derive(Deserialize)]
struct FaultBody {
    #[serde(flatten)]
    kind: FaultKind,
    /// Only the next `count` requests; absent means until reset.
    count: Option<usize>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FaultKind {
    Status {
        status: u16,
    },
    Slow {
        #[serde(default = "default_delay_ms")]
        delay_ms: u64,
    },
    Hang,
    Drop {
        #[serde(default = "default_after_deltas")]
        after_deltas: usize,
    },
    Stall {
        #[serde(default = "default_after_deltas")]
        after_deltas: usize,
    },
    ErrorEvent,
    RateLimited {
        #[serde(default = "default_retry_after")]
        retry_after_secs: u64,
    },
    OutOfCredit {
        #[serde(default = "default_credit_status")]
        status: u16,
    },
    PromptTooLong,
    RateLimitLow {
        #[serde(default = "default_remaining")]
        remaining: u64,
        #[serde(default = "default_limit")]
        limit: u64,
    },
}

fn default_retry_after() -> u64 {
    3
}

fn default_credit_status() -> u16 {
    400
}

fn default_remaining() -> u64 {
    3
}

fn default_limit() -> u64 {
    REQUESTS_PER_MINUTE
}

fn default_delay_ms() -> u64 {
    300
}

fn default_after_deltas() -> usize {
    3
}

impl From<FaultKind> for Fault {
    fn from(kind: FaultKind) -> Self {
        match kind {
            FaultKind::Status { status } => Fault::Status(status),
            FaultKind::Slow { delay_ms } => Fault::Slow { delay_ms },
            FaultKind::Hang => Fault::Hang,
            FaultKind::Drop { after_deltas } => Fault::DropStream { after_deltas },
            FaultKind::Stall { after_deltas } => Fault::StallStream { after_deltas },
            FaultKind::ErrorEvent => Fault::ErrorEvent,
            FaultKind::RateLimited { retry_after_secs } => Fault::RateLimited { retry_after_secs },
            FaultKind::OutOfCredit { status } => Fault::OutOfCredit { status },
            FaultKind::PromptTooLong => Fault::PromptTooLong,
            FaultKind::RateLimitLow { remaining, limit } => {
                Fault::RateLimitLow { remaining, limit }
            }
        }
    }
}

/// Parses a control body without insisting on a JSON content type, so a bare
/// `curl -d '{...}'` works too.
fn control_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::invalid_request(err.to_string()))
}

async fn control_revoke(
    State(state): State<StubState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let RevokeBody { api_key } = control_body(&body)?;
    state.revoke(&api_key);
    Ok(StatusCode::NO_CONTENT)
}

async fn control_fault(
    State(state): State<StubState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let FaultBody { kind, count } = control_body(&body)?;
    if let FaultKind::Status { status } = kind {
        if !(400..=599).contains(&status) {
            return Err(ApiError::invalid_request(
                "status: must be an error status, 400 to 599",
            ));
        }
    }
    match count {
        Some(count) => state.set_fault_for(kind.into(), count),
        None => state.set_fault(kind.into()),
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn control_reset(State(state): State<StubState>) -> StatusCode {
    state.clear();
    StatusCode::NO_CONTENT
}

/// `{"cut_streams": n}`: [`StubState::cut_streams`], for tests that only have a URL.
async fn control_cut_streams(State(state): State<StubState>) -> Json<Value> {
    Json(json!({ "cut_streams": state.cut_streams() }))
}

/// The recorded requests, with keys masked so the listing never shows a full key.
async fn control_requests(State(state): State<StubState>) -> Json<Vec<RecordedRequest>> {
    let requests = state
        .requests()
        .into_iter()
        .map(|mut request| {
            request.api_key = request.api_key.as_deref().map(mask_key);
            request
        })
        .collect();
    Json(requests)
}

/// `sk-ant-api03-abcd...wxyz`: the first 10 and last 4 characters. A key too short to
/// keep anything hidden that way is shown as `...` alone.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 14 {
        return "...".to_owned();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures::StreamExt;

    use super::*;

    const KEY: &str = "sk-ant-api03-test-key-0001";
    const OTHER_KEY: &str = "sk-ant-api03-test-key-0002";
    const VERSION: &str = "2023-06-01";

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    fn get_models(stub: &StubHandle, key: &str) -> reqwest::RequestBuilder {
        client()
            .get(format!("{}/v1/models", stub.base_url))
            .header("x-api-key", key)
            .header("anthropic-version", VERSION)
    }

    fn post_message(stub: &StubHandle, key: &str, body: &Value) -> reqwest::RequestBuilder {
        client()
            .post(format!("{}/v1/messages", stub.base_url))
            .header("x-api-key", key)
            .header("anthropic-version", VERSION)
            .json(body)
    }

    fn chat(text: &str, stream: bool) -> Value {
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "stream": stream,
            "messages": [{ "role": "user", "content": text }],
        })
    }

    async fn assert_error(response: reqwest::Response, status: u16, kind: &str) -> Value {
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.expect("error body is JSON");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(body["error"]["message"].is_string());
        body
    }

    /// `(event name, data)` pairs of a server-sent-events body.
    fn parse_events(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|frame| !frame.trim().is_empty())
            .map(|frame| {
                let mut event = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(json) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(json).expect("data is JSON"));
                    }
                }
                let (event, data): (String, Value) =
                    (event.expect("event line"), data.expect("data line"));
                assert_eq!(data["type"], event.as_str(), "type matches event name");
                (event, data)
            })
            .collect()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn delta_text(events: &[(String, Value)]) -> String {
        events
            .iter()
            .filter(|(name, _)| name == "content_block_delta")
            .map(|(_, data)| data["delta"]["text"].as_str().expect("delta text"))
            .collect()
    }

    /// Reads a stream until it ends or breaks; returns the text and whether it broke.
    /// `POST /_stub/fault` with `body`, as a test that has only the stand-in's URL would.
    async fn set_fault_by_http(stub: &StubHandle, body: Value) -> reqwest::Response {
        client()
            .post(format!("{}/_stub/fault", stub.base_url))
            .json(&body)
            .send()
            .await
            .expect("send")
    }

    async fn read_stream(response: reqwest::Response) -> (String, bool) {
        let mut body = response.bytes_stream();
        let mut text = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => text.extend_from_slice(&bytes),
                Err(_) => return (String::from_utf8(text).expect("utf-8"), true),
            }
        }
        (String::from_utf8(text).expect("utf-8"), false)
    }

    #[tokio::test]
    async fn models_answer_with_a_valid_key_and_401_otherwise() {
        let stub = spawn().await;

        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("request-id"));
        let page: Value = response.json().await.expect("json");
        let ids: Vec<&str> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            ids,
            ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"]
        );
        assert_eq!(page["data"][0]["type"], "model");
        assert_eq!(page["data"][0]["display_name"], "Claude Sonnet 4.5");
        assert_eq!(page["has_more"], false);
        assert_eq!(page["first_id"], "claude-sonnet-4-5");
        assert_eq!(page["last_id"], "claude-opus-4-1");

        for bad in [
            "sk-ant-invalid-0001",
            "sk-ant-admin01-key",
            "not-an-anthropic-key",
        ] {
            let response = get_models(&stub, bad).send().await.expect("send");
            let body = assert_error(response, 401, "authentication_error").await;
            assert_eq!(body["error"]["message"], "invalid x-api-key");
        }
        let no_key = client()
            .get(format!("{}/v1/models", stub.base_url))
            .header("anthropic-version", VERSION)
            .send()
            .await
            .expect("send");
        assert_error(no_key, 401, "authentication_error").await;
        let no_version = client()
            .get(format!("{}/v1/models", stub.base_url))
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("send");
        assert_error(no_version, 400, "invalid_request_error").await;
    }

    #[tokio::test]
    async fn streams_events_in_anthropic_order_with_usage() {
        let stub = spawn().await;
        let response = post_message(&stub, KEY, &chat("What is gold?", true))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let (text, broke) = read_stream(response).await;
        assert!(!broke);
        let events = parse_events(&text);

        let expected = "Hello from the Anthropic stand-in. You said: What is gold?";
        let deltas = expected.split_whitespace().count();
        let mut order = vec!["message_start", "content_block_start", "ping"];
        order.extend(std::iter::repeat_n("content_block_delta", deltas));
        order.extend(["content_block_stop", "message_delta", "message_stop"]);
        assert_eq!(names(&events), order);
        assert_eq!(delta_text(&events), expected);

        let start = &events[0].1["message"];
        assert!(start["id"].as_str().expect("id").starts_with("msg_"));
        assert_eq!(start["model"], "claude-sonnet-4-5");
        assert_eq!(start["content"], json!([]));
        assert_eq!(start["usage"]["input_tokens"], 3);
        assert_eq!(start["usage"]["output_tokens"], 1);
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        let message_delta = &events[events.len() - 2].1;
        assert_eq!(message_delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(message_delta["usage"]["output_tokens"], deltas);
    }

    #[tokio::test]
    async fn the_prompt_cache_writes_new_prefixes_and_reads_those_seen_before() {
        let stub = spawn().await;
        let marked = json!({ "type": "ephemeral" });
        let block = |text: &str| json!([{ "type": "text", "text": text, "cache_control": marked }]);
        let usage_of = |body: Value| {
            let stub = &stub;
            async move {
                let response = post_message(stub, KEY, &body).send().await.expect("send");
                assert_eq!(response.status(), 200);
                let message: Value = response.json().await.expect("json");
                message["usage"].clone()
            }
        };
        let first = json!({
            "model": "claude-haiku-4-5", "max_tokens": 64,
            "system": block("one two three"),
            "messages": [{ "role": "user", "content": block("four five") }],
        });
        let usage = usage_of(first).await;
        assert_eq!(
            (
                &usage["input_tokens"],
                &usage["cache_creation_input_tokens"],
                &usage["cache_read_input_tokens"]
            ),
            (&json!(0), &json!(5), &json!(0))
        );
        // The follow-up: the earlier prefix is read, the new turns written, nothing after
        // the last breakpoint is left at full price.
        let follow_up = json!({
            "model": "claude-haiku-4-5", "max_tokens": 64,
            "system": block("one two three"),
            "messages": [
                { "role": "user", "content": "four five" },
                { "role": "assistant", "content": "six" },
                { "role": "user", "content": block("seven eight") },
            ],
        });
        let usage = usage_of(follow_up.clone()).await;
        assert_eq!(
            (
                &usage["input_tokens"],
                &usage["cache_creation_input_tokens"],
                &usage["cache_read_input_tokens"]
            ),
            (&json!(0), &json!(3), &json!(5))
        );
        // Another key, or another model, shares nothing.
        let other = post_message(&stub, OTHER_KEY, &follow_up)
            .send()
            .await
            .expect("send");
        let other: Value = other.json().await.expect("json");
        assert_eq!(other["usage"]["cache_read_input_tokens"], 0);
        // Without breakpoints nothing is cached: all of it is input.
        let plain = usage_of(chat("nine ten", false)).await;
        assert_eq!(plain["cache_read_input_tokens"], 0);
        assert_eq!(plain["cache_creation_input_tokens"], 0);
        assert_eq!(plain["input_tokens"], 2);
    }

    #[tokio::test]
    async fn count_tokens_counts_the_whole_prompt() {
        let stub = spawn().await;
        let response = client()
            .post(format!("{}/v1/messages/count_tokens", stub.base_url))
            .header("x-api-key", KEY)
            .header("anthropic-version", VERSION)
            .json(&json!({
                "model": "claude-sonnet-4-5",
                "system": [{ "type": "text", "text": "a b c", "cache_control": { "type": "ephemeral" } }],
                "messages": [{ "role": "user", "content": "d e" }],
            }))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        let counted: Value = response.json().await.expect("json");
        assert_eq!(counted, json!({ "input_tokens": 5 }));
    }

    #[tokio::test]
    async fn answers_json_with_usage_across_system_and_messages() {
        let stub = spawn().await;
        let body = json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "system": [{ "type": "text", "text": "Be brief." }],
            "messages": [
                { "role": "user", "content": "first question here" },
                { "role": "assistant", "content": "an answer" },
                { "role": "user", "content": [{ "type": "text", "text": "and  then?" }] },
            ],
        });
        let response = post_message(&stub, KEY, &body).send().await.expect("send");
        assert_eq!(response.status(), 200);
        let message: Value = response.json().await.expect("json");
        let text = "Hello from the Anthropic stand-in. You said: and  then?";
        assert_eq!(message["type"], "message");
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["model"], "claude-haiku-4-5");
        assert_eq!(
            message["content"],
            json!([{ "type": "text", "text": text }])
        );
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(message["stop_sequence"], Value::Null);
        assert_eq!(message["usage"]["input_tokens"], 2 + 3 + 2 + 2);
        assert_eq!(message["usage"]["output_tokens"], 9);
    }

    #[tokio::test]
    async fn rejects_bad_bodies_with_the_envelope() {
        let stub = spawn().await;
        let cases = [
            json!({ "max_tokens": 8, "messages": [{ "role": "user", "content": "hi" }] }),
            json!({ "model": "claude-sonnet-4-5", "messages": [{ "role": "user", "content": "hi" }] }),
            json!({ "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [] }),
            json!({ "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{ "role": "bot", "content": "hi" }] }),
            json!({ "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{ "role": "user", "content": 7 }] }),
        ];
        for body in &cases {
            let response = post_message(&stub, KEY, body).send().await.expect("send");
            assert_error(response, 400, "invalid_request_error").await;
        }
        let not_json = client()
            .post(format!("{}/v1/messages", stub.base_url))
            .header("x-api-key", KEY)
            .header("anthropic-version", VERSION)
            .body("{not json")
            .send()
            .await
            .expect("send");
        assert_error(not_json, 400, "invalid_request_error").await;

        let mut unknown_model = chat("hi", false);
        unknown_model["model"] = json!("gpt-4");
        let response = post_message(&stub, KEY, &unknown_model)
            .send()
            .await
            .expect("send");
        assert_error(response, 404, "not_found_error").await;
    }

    #[tokio::test]
    async fn upstream_troubles_come_in_anthropic_s_shapes_by_fault_and_by_magic_word() {
        let stub = spawn().await;
        let header = |r: &reqwest::Response, name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        // Every good answer says how much of the limits is left: plenty.
        let ok = post_message(&stub, KEY, &chat("hi", true))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(
            header(&ok, "anthropic-ratelimit-requests-limit").as_deref(),
            Some("50")
        );
        assert_eq!(
            header(&ok, "anthropic-ratelimit-requests-remaining").as_deref(),
            Some("49")
        );
        assert!(header(&ok, "anthropic-ratelimit-output-tokens-reset").is_some());

        stub.state.set_fault_for(
            Fault::RateLimited {
                retry_after_secs: 12,
            },
            1,
        );
        let limited = post_message(&stub, KEY, &chat("hi", true))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&limited, "retry-after").as_deref(), Some("12"));
        assert_eq!(
            header(&limited, "anthropic-ratelimit-requests-remaining").as_deref(),
            Some("0")
        );
        assert_error(limited, 429, "rate_limit_error").await;

        stub.state
            .set_fault_for(Fault::OutOfCredit { status: 400 }, 1);
        let body = assert_error(
            post_message(&stub, KEY, &chat("hi", true))
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request_error",
        )
        .await;
        assert_eq!(body["error"]["message"], CREDIT_MESSAGE);
        stub.state
            .set_fault_for(Fault::OutOfCredit { status: 402 }, 1);
        assert_error(
            post_message(&stub, KEY, &chat("hi", true))
                .send()
                .await
                .unwrap(),
            402,
            "billing_error",
        )
        .await;
        stub.state.set_fault_for(Fault::PromptTooLong, 1);
        let body = assert_error(
            post_message(&stub, KEY, &chat("hi", true))
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request_error",
        )
        .await;
        assert_eq!(body["error"]["message"], TOO_LONG_MESSAGE);
        stub.state.set_fault_for(
            Fault::RateLimitLow {
                remaining: 2,
                limit: 40,
            },
            1,
        );
        let low = post_message(&stub, KEY, &chat("hi", false))
            .send()
            .await
            .unwrap();
        assert_eq!(low.status(), 200);
        assert_eq!(
            header(&low, "anthropic-ratelimit-requests-remaining").as_deref(),
            Some("2")
        );
        assert_eq!(
            header(&low, "anthropic-ratelimit-requests-limit").as_deref(),
            Some("40")
        );

        // Magic words: the rate limit and the 529 fire once per text, then it goes through.
        let limited = post_message(&stub, KEY, &chat("a [[rate-limited:7]]", true))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&limited, "retry-after").as_deref(), Some("7"));
        assert_eq!(limited.status(), 429);
        let again = post_message(&stub, KEY, &chat("a [[rate-limited:7]]", true))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
        let limited = post_message(&stub, KEY, &chat("b [[rate-limited]]", true))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&limited, "retry-after").as_deref(), Some("3"));
        for (text, status, kind) in [
            ("x [[overloaded-status]]", 529, "overloaded_error"),
            ("x [[out-of-credit]]", 400, "invalid_request_error"),
            ("x [[out-of-credit]]", 400, "invalid_request_error"),
            ("x [[too-long]]", 400, "invalid_request_error"),
        ] {
            let response = post_message(&stub, KEY, &chat(text, true))
                .send()
                .await
                .unwrap();
            assert_error(response, status, kind).await;
        }
        let through = post_message(&stub, KEY, &chat("x [[overloaded-status]]", true))
            .send()
            .await
            .unwrap();
        assert_eq!(through.status(), 200);
        let low = post_message(&stub, KEY, &chat("x [[ratelimit-low]]", true))
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&low, "anthropic-ratelimit-requests-remaining").as_deref(),
            Some("3")
        );

        // And through the control route.
        let response = client()
            .post(format!("{}/_stub/fault", stub.base_url))
            .body(r#"{"kind": "rate_limited", "retry_after_secs": 30, "count": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let limited = post_message(&stub, KEY, &chat("hi", true))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&limited, "retry-after").as_deref(), Some("30"));
    }

    #[tokio::test]
    async fn status_fault_uses_the_envelope_and_a_count_clears_itself() {
        let stub = spawn().await;
        stub.state.set_fault_for(Fault::Status(429), 1);

        let response = post_message(&stub, KEY, &chat("hi", false))
            .send()
            .await
            .expect("send");
        assert_eq!(response.headers()["retry-after"], "1");
        assert_error(response, 429, "rate_limit_error").await;

        let response = post_message(&stub, KEY, &chat("hi", false))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);

        stub.state.set_fault(Fault::Status(529));
        for _ in 0..2 {
            let response = get_models(&stub, KEY).send().await.expect("send");
            assert_error(response, 529, "overloaded_error").await;
        }
        stub.state.clear();
        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn drop_stream_cuts_the_connection_without_message_stop() {
        let stub = spawn().await;
        stub.state.set_fault(Fault::DropStream { after_deltas: 2 });
        let response = post_message(&stub, KEY, &chat("one two three four", true))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        let (text, broke) = read_stream(response).await;
        assert!(broke, "the stream ends in an error, not cleanly");
        let events = parse_events(&text);
        assert_eq!(
            names(&events),
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
            ]
        );

        // The magic word does the same after three deltas.
        stub.state.clear();
        let response = post_message(&stub, KEY, &chat("please [[drop]] now", true))
            .send()
            .await
            .expect("send");
        let (text, broke) = read_stream(response).await;
        assert!(broke);
        assert_eq!(delta_text(&parse_events(&text)), "Hello from the ");
    }

    #[tokio::test]
    async fn error_event_follows_message_start() {
        let stub = spawn().await;
        stub.state.set_fault_for(Fault::ErrorEvent, 1);
        for text in ["hi", "hi [[overloaded]]"] {
            let response = post_message(&stub, KEY, &chat(text, true))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status(), 200);
            let (text, broke) = read_stream(response).await;
            assert!(!broke);
            let events = parse_events(&text);
            assert_eq!(names(&events), ["message_start", "error"]);
            assert_eq!(
                events[1].1,
                error_envelope("overloaded_error", "Overloaded")
            );
        }
    }

    #[tokio::test]
    async fn hang_times_out_the_client() {
        let stub = spawn().await;
        stub.state.set_fault_for(Fault::Hang, 1);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .expect("client");
        let err = client
            .get(format!("{}/v1/models", stub.base_url))
            .header("x-api-key", KEY)
            .header("anthropic-version", VERSION)
            .send()
            .await
            .expect_err("no answer");
        assert!(err.is_timeout(), "{err}");
        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn slow_waits_and_the_magic_word_makes_a_long_answer() {
        let stub = spawn().await;
        stub.state.set_fault_for(Fault::Slow { delay_ms: 100 }, 1);
        let started = Instant::now();
        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(100));

        let started = Instant::now();
        let response = post_message(&stub, KEY, &chat("go [[slow]]", false))
            .send()
            .await
            .expect("send");
        assert!(started.elapsed() >= Duration::from_millis(300));
        let message: Value = response.json().await.expect("json");
        assert_eq!(message["usage"]["output_tokens"], 40);
    }

    #[tokio::test]
    async fn revocation_rejects_new_requests_but_not_a_running_stream() {
        let stub = spawn().await;
        stub.state.set_fault(Fault::Slow { delay_ms: 20 });
        let response = post_message(&stub, KEY, &chat("keep going", true))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);

        stub.state.revoke(KEY);
        let (text, broke) = read_stream(response).await;
        assert!(!broke);
        assert_eq!(names(&parse_events(&text)).last(), Some(&"message_stop"));

        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_error(response, 401, "authentication_error").await;
        let other = "sk-ant-api03-canary-other-0002";
        let response = get_models(&stub, other).send().await.expect("send");
        assert_eq!(response.status(), 200);

        // The same through the control route.
        let revoked = client()
            .post(format!("{}/_stub/revoke", stub.base_url))
            .json(&json!({ "api_key": other }))
            .send()
            .await
            .expect("send");
        assert_eq!(revoked.status(), 204);
        let response = get_models(&stub, other).send().await.expect("send");
        assert_error(response, 401, "authentication_error").await;
    }

    #[tokio::test]
    async fn records_requests_and_masks_keys_in_the_listing() {
        let stub = spawn().await;
        post_message(&stub, KEY, &chat("hello", false))
            .send()
            .await
            .expect("send");
        get_models(&stub, "sk-ant-invalid-key-99")
            .send()
            .await
            .expect("send");

        let recorded = stub.state.requests();
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[0].method, "POST");
        assert_eq!(recorded[0].path, "/v1/messages");
        assert_eq!(recorded[0].api_key.as_deref(), Some(KEY));
        assert_eq!(recorded[0].anthropic_version.as_deref(), Some(VERSION));
        assert_eq!(
            recorded[0]
                .body
                .as_ref()
                .map(|b| &b["messages"][0]["content"]),
            Some(&json!("hello"))
        );
        assert_eq!(
            recorded[1].api_key.as_deref(),
            Some("sk-ant-invalid-key-99")
        );
        assert!(recorded[1].body.is_none());

        let listing: Value = client()
            .get(format!("{}/_stub/requests", stub.base_url))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(listing[0]["api_key"], "sk-ant-api...0001");
        assert!(!listing.to_string().contains(KEY));

        let reset = client()
            .post(format!("{}/_stub/reset", stub.base_url))
            .send()
            .await
            .expect("send");
        assert_eq!(reset.status(), 204);
        assert!(stub.state.requests().is_empty());
    }

    #[tokio::test]
    async fn fault_control_route_sets_a_counted_fault() {
        let stub = spawn().await;
        let fault = json!({ "kind": "status", "status": 500, "count": 1 });
        assert_eq!(set_fault_by_http(&stub, fault).await.status(), 204);
        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_error(response, 500, "api_error").await;
        let response = get_models(&stub, KEY).send().await.expect("send");
        assert_eq!(response.status(), 200);

        let bad = set_fault_by_http(&stub, json!({ "kind": "meltdown" })).await;
        assert_error(bad, 400, "invalid_request_error").await;
    }

    /// `stall`: the deltas before it, then silence on an open connection (no ping, no
    /// end) until the client leaves, which counts as a cut.
    #[tokio::test]
    async fn a_stalled_stream_falls_silent_and_is_cut_when_the_client_leaves() {
        let stub = spawn().await;
        let fault = json!({ "kind": "stall", "after_deltas": 2, "count": 1 });
        assert_eq!(set_fault_by_http(&stub, fault).await.status(), 204);
        let response = post_message(&stub, KEY, &chat("wait for it", true))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        while seen.matches("content_block_delta").count() < 4 {
            // `event:` and `"type":` name each delta: two deltas.
            let chunk = body.next().await.expect("more").expect("bytes");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        let silence = tokio::time::timeout(Duration::from_millis(300), body.next()).await;
        assert!(silence.is_err(), "nothing more, and the stream still open");
        assert!(!seen.contains("message_stop"));
        assert_eq!(stub.state.cut_streams(), 0);
        drop(body);
        assert_eq!(
            stub.state
                .wait_for_cut_streams(1, Duration::from_secs(5))
                .await,
            1
        );
    }

    #[tokio::test]
    async fn a_stream_the_client_closes_before_message_stop_is_counted_as_cut() {
        let stub = spawn().await;
        // Finished streams and the stand-in's own cuts are not the client's doing.
        let (_, broke) = read_stream(
            post_message(&stub, KEY, &chat("all of it", true))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert!(!broke);
        stub.state
            .set_fault_for(Fault::DropStream { after_deltas: 1 }, 1);
        let (_, broke) = read_stream(
            post_message(&stub, KEY, &chat("cut by the stand-in", true))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert!(broke);
        stub.state.set_fault_for(Fault::ErrorEvent, 1);
        read_stream(
            post_message(&stub, KEY, &chat("overloaded", true))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(stub.state.cut_streams(), 0);

        stub.state.set_fault_for(Fault::Slow { delay_ms: 50 }, 1);
        let response = post_message(&stub, KEY, &chat("one two three four five", true))
            .send()
            .await
            .expect("send");
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("text_delta") {
            let chunk = body.next().await.expect("a chunk").expect("bytes");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        drop(body);
        assert_eq!(
            stub.state
                .wait_for_cut_streams(1, Duration::from_secs(5))
                .await,
            1
        );
        let counted: Value = client()
            .get(format!("{}/_stub/cut-streams", stub.base_url))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(counted, json!({ "cut_streams": 1 }));
        stub.state.clear();
        assert_eq!(stub.state.cut_streams(), 0);
    }

    #[test]
    fn deltas_concatenate_back_into_the_text() {
        let text = "Hello  there,\nworld! ";
        let deltas = split_deltas(text);
        assert_eq!(deltas, ["Hello  ", "there,\n", "world! "]);
        assert_eq!(deltas.concat(), text);
    }

    #[test]
    fn masks_keys() {
        assert_eq!(mask_key("sk-ant-api03-abcdefgh-wxyz"), "sk-ant-api...wxyz");
        assert_eq!(mask_key("sk-ant-short"), "...");
    }
}
