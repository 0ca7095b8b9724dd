//! The Anthropic API client. Every call goes to `ANTHROPIC_BASE_URL` and nowhere else:
//! redirects are not followed, so a key never travels to another host.

pub mod errors;
pub mod protocol;

use std::{collections::VecDeque, time::Duration};

use futures::{stream::BoxStream, StreamExt as _};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use self::protocol::{CountTokensRequest, CountTokensResponse, MessagesRequest, StreamEvent};
use crate::sse::SseParser;

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// What Anthropic made of a key or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Accepted,
    /// 401 or 403: the key is wrong, revoked or not allowed.
    Refused,
    /// 429, 5xx, a timeout or a network failure: try again later; the key may be fine.
    Unavailable,
}

impl Verdict {
    pub fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Self::Accepted,
            401 | 403 => Self::Refused,
            _ => Self::Unavailable,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AnthropicClient {
    http: reqwest::Client,
    base_url: String,
    check_timeout: Duration,
}

impl AnthropicClient {
    pub fn new(base_url: &str, connect_timeout: Duration, check_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("apexaurum/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            check_timeout,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request to `path` carrying the key and the API version.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &SecretString,
    ) -> reqwest::RequestBuilder {
        let mut value = reqwest::header::HeaderValue::from_str(key.expose_secret())
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
        value.set_sensitive(true);
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .header("x-api-key", value)
            .header("anthropic-version", ANTHROPIC_VERSION)
    }

    /// `POST /v1/messages` with `request` as its body.
    pub(crate) fn messages(
        &self,
        key: &SecretString,
        request: &MessagesRequest,
    ) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, "/v1/messages", key)
            .json(request)
    }

    /// The input tokens `request` would take (`POST /v1/messages/count_tokens`, free of
    /// charge); `None` when Anthropic cannot say within `within`. Only the spending cap
    /// asks, so a person without a cap never waits for it.
    #[tracing::instrument(skip_all)]
    pub async fn count_tokens(
        &self,
        key: &SecretString,
        request: &MessagesRequest,
        within: Duration,
    ) -> Option<u64> {
        let response = self
            .request(reqwest::Method::POST, "/v1/messages/count_tokens", key)
            .json(&CountTokensRequest::from(request))
            .timeout(within)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => response
                .json::<CountTokensResponse>()
                .await
                .ok()
                .map(|counted| counted.input_tokens),
            Ok(response) => {
                tracing::info!(
                    status = response.status().as_u16(),
                    "Anthropic did not count a request's tokens"
                );
                None
            }
            Err(e) => {
                tracing::info!(
                    timeout = e.is_timeout(),
                    "Anthropic unreachable counting tokens"
                );
                None
            }
        }
    }

    /// Checks a key with `GET /v1/models`, which spends no tokens.
    #[tracing::instrument(skip_all)]
    pub async fn check_key(&self, key: &SecretString) -> Verdict {
        let result = self
            .request(reqwest::Method::GET, "/v1/models?limit=1", key)
            .timeout(self.check_timeout)
            .send()
            .await;
        match result {
            Ok(response) => {
                let mut verdict = Verdict::of_status(response.status());
                if verdict == Verdict::Refused {
                    // A billing problem is never a refused key, whatever its status.
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = read_error_body(response).await;
                    if errors::classify(status, &headers, &body) != errors::Failure::Refused {
                        verdict = Verdict::Unavailable;
                    }
                    tracing::info!(status = status.as_u16(), ?verdict, "Anthropic key check");
                    return verdict;
                }
                if verdict != Verdict::Accepted {
                    // Only the status is logged; upstream bodies are never passed on.
                    tracing::info!(
                        status = response.status().as_u16(),
                        ?verdict,
                        "Anthropic key check"
                    );
                }
                verdict
            }
            Err(e) => {
                tracing::warn!(
                    timeout = e.is_timeout(),
                    connect = e.is_connect(),
                    "Anthropic unreachable for a key check"
                );
                Verdict::Unavailable
            }
        }
    }

    /// The ids of the models a key can use, newest first (as Anthropic lists them).
    #[tracing::instrument(skip_all)]
    pub async fn list_models(&self, key: &SecretString) -> Result<Vec<String>, Verdict> {
        let response = self
            .request(reqwest::Method::GET, "/v1/models?limit=100", key)
            .timeout(self.check_timeout)
            .send()
            .await
            .map_err(|_| Verdict::Unavailable)?;
        match Verdict::of_status(response.status()) {
            Verdict::Accepted => {}
            other => return Err(other),
        }
        let body: serde_json::Value = response.json().await.map_err(|_| Verdict::Unavailable)?;
        Ok(body["data"]
            .as_array()
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The start of an error answer's body (at most 64 KiB, within 5 seconds), to classify it;
/// empty when it does not come.
pub async fn read_error_body(response: reqwest::Response) -> Vec<u8> {
    const LIMIT: usize = 64 * 1024;
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= LIMIT {
                body.truncate(LIMIT);
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    body
}

/// A streamed answer (`"stream": true`), read event by event as it arrives.
pub struct EventStream {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    parser: SseParser,
    ready: VecDeque<StreamEvent>,
}

impl EventStream {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            parser: SseParser::default(),
            ready: VecDeque::new(),
        }
    }

    /// The next event; `Ok(None)` once the body has ended, `Err` if it broke off.
    ///
    /// Cancel-safe: dropping the future (a `select!` that took another branch) loses no
    /// event. An event whose data is not the JSON its type calls for is skipped and
    /// logged; an event of a type this code does not know arrives as
    /// [`StreamEvent::Unknown`].
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, reqwest::Error> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.parser.overflowed() {
                tracing::warn!("Anthropic's stream sent an event over the size limit; cut off");
                return Ok(None);
            }
            let Some(chunk) = self.body.next().await else {
                return Ok(None);
            };
            let chunk = chunk?;
            let ready = &mut self.ready;
            self.parser.push_with(&chunk, |name, data| {
                match StreamEvent::from_data(name, data) {
                    Ok(typed) => ready.push_back(typed),
                    Err(e) => tracing::warn!(
                        event = name,
                        error = %e,
                        "skipped a malformed event from Anthropic"
                    ),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "stub")]
    use crate::stubs::anthropic::{self as anthropic_stub, Fault};

    const KEY: &str = "sk-ant-api03-canary-client-0123456789abcdefghijklmnop";

    fn client(base: &str) -> AnthropicClient {
        AnthropicClient::new(base, Duration::from_millis(500), Duration::from_millis(700))
    }

    #[cfg(feature = "stub")]
    #[tokio::test]
    async fn classifies_every_kind_of_answer() {
        let stub = anthropic_stub::spawn().await;
        let c = client(&stub.base_url);
        let key = SecretString::from(KEY.to_string());
        assert_eq!(c.check_key(&key).await, Verdict::Accepted);
        for (status, verdict) in [
            (401, Verdict::Refused),
            (403, Verdict::Refused),
            (429, Verdict::Unavailable),
            (500, Verdict::Unavailable),
            (529, Verdict::Unavailable),
        ] {
            stub.state.set_fault_for(Fault::Status(status), 1);
            assert_eq!(c.check_key(&key).await, verdict, "{status}");
        }
        stub.state.set_fault_for(Fault::Hang, 1);
        assert_eq!(
            c.check_key(&key).await,
            Verdict::Unavailable,
            "a hang times out"
        );
        let requests = stub.state.requests();
        assert!(requests.iter().all(|r| r.api_key.as_deref() == Some(KEY)));
        assert!(requests
            .iter()
            .all(|r| r.anthropic_version.as_deref() == Some(ANTHROPIC_VERSION)));
    }

    #[tokio::test]
    async fn a_dead_upstream_is_unavailable() {
        let c = client("http://127.0.0.1:9");
        assert_eq!(
            c.check_key(&SecretString::from(KEY.to_string())).await,
            Verdict::Unavailable
        );
    }

    #[cfg(feature = "stub")]
    #[tokio::test]
    async fn lists_the_models_a_key_can_use() {
        let stub = anthropic_stub::spawn().await;
        let models = client(&stub.base_url)
            .list_models(&SecretString::from(KEY.to_string()))
            .await
            .unwrap();
        assert!(models.contains(&"claude-sonnet-4-5".to_string()));
    }
}
