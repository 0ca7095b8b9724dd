//! Security headers on every response. The Content-Security-Policy allows scripts only from
//! this site or with the request's nonce (Leptos puts it on its inline hydration and
//! streaming scripts), WebAssembly, and no framing at all.

use std::sync::Arc;

use axum::{
    body::HttpBody as _,
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse as _, Response},
};

/// The nonce of one request, shared by its CSP header and its inline scripts.
#[derive(Debug, Clone)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    fn generate() -> Self {
        use base64::Engine as _;
        use rand::RngCore as _;
        // The thread's CSPRNG (ChaCha, seeded and reseeded from the OS): as unguessable as
        // asking the OS each time, without a system call per response.
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into(),
        )
    }
}

/// Whether this is production (adds HSTS) or development (allows the live-reload socket),
/// and where forms may lead.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    pub production: bool,
    /// `form-action` sources beyond `'self'`: the billing buttons are forms whose answer is
    /// a redirect to Stripe's Checkout or portal, and a browser applies `form-action` to
    /// that redirect too (before the page hydrates, or with JavaScript off).
    pub form_targets: std::sync::Arc<str>,
}

impl HeaderPolicy {
    /// The policy for these settings: Stripe's page origins when billing is on (the real
    /// ones for Stripe's API, else the origin of the configured base URL, e.g. a stand-in).
    pub fn new(production: bool, stripe_base_url: Option<&str>) -> Self {
        let form_targets = match stripe_base_url {
            None => String::new(),
            Some(url) if url.starts_with("https://api.stripe.com") => {
                "https://checkout.stripe.com https://billing.stripe.com".into()
            }
            Some(url) => origin_of(url).to_string(),
        };
        Self {
            production,
            form_targets: form_targets.into(),
        }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

impl HeaderPolicy {
    pub fn csp(&self, nonce: &str) -> String {
        // `cargo leptos watch` reloads the page over a WebSocket on another port.
        let connect = if self.production {
            "'self'"
        } else {
            "'self' ws://localhost:* ws://127.0.0.1:*"
        };
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src {connect}; \
             object-src 'none'; base-uri 'none'; form-action 'self'{form_targets}; \
             frame-ancestors 'none'",
            form_targets = if self.form_targets.is_empty() {
                String::new()
            } else {
                format!(" {}", self.form_targets)
            }
        )
    }
}

/// Middleware: a fresh nonce in the request's extensions, the headers on its response.
pub async fn secure(policy: HeaderPolicy, mut request: Request, next: Next) -> Response {
    let nonce = CspNonce::generate();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&policy.csp(&nonce.0)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed: [(header::HeaderName, &'static str); 5] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if policy.production {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// Largest request body accepted, for every route: the longest chat message, JSON-escaped,
/// fits many times over; server functions read their whole body before parsing it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much of an oversized body is read (and thrown away) before answering 413: a client
/// that is still sending when the server answers and closes sees a reset instead of the
/// answer. Beyond this, or after [`DRAIN_TIME`], the connection is simply closed.
const MAX_DRAIN_BYTES: usize = 32 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Middleware: refuses a body over [`MAX_BODY_BYTES`] with 413 in the contract's shape, and
/// caps a body sent without a length, so no route or server function reads more.
pub async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let drain = async {
            use futures::StreamExt as _;
            let mut stream = request.into_body().into_data_stream();
            let mut read = 0usize;
            while let Some(Ok(chunk)) = stream.next().await {
                read += chunk.len();
                if read > MAX_DRAIN_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    // A client that asked to be told to go on (`Expect: 100-continue`) sends no body until
    // it is read: a refusal needs nothing drained, and draining would ask for the body.
    let waits_for_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (response, unread) = if limited.is_end_stream() || waits_for_continue {
        // No body (a GET, say), or none sent yet: nothing to keep an eye on.
        let request = Request::from_parts(parts, axum::body::Body::new(limited));
        (next.run(request).await, None)
    } else {
        let unread = Unread::new(limited);
        let request = Request::from_parts(parts, axum::body::Body::new(unread.clone()));
        (next.run(request).await, Some(unread))
    };
    if let Some(unread) = unread {
        unread.drain().await;
    }
    // axum's extractors answer a body that ran over with their own bare 413.
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    response
}

/// A request's body that [`limit_body`] can still read once the handler has answered. A
/// handler that answers without reading the body (a refusal: the wrong content type, no
/// session, a foreign origin) leaves the rest of it on the connection, and hyper then
/// closes the connection while the client is still sending: the client sees a reset
/// instead of the answer. So what the handler left is read and thrown away before the
/// answer goes out, as a body declared too large is (at most the body's cap, and for at
/// most [`DRAIN_TIME`]).
#[derive(Clone)]
struct Unread(Arc<std::sync::Mutex<http_body_util::Limited<axum::body::Body>>>);

impl Unread {
    fn new(body: http_body_util::Limited<axum::body::Body>) -> Self {
        Self(Arc::new(std::sync::Mutex::new(body)))
    }

    fn body(&self) -> std::sync::MutexGuard<'_, http_body_util::Limited<axum::body::Body>> {
        // Only ever held for one poll: a panic there leaves nothing half-done.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads what is left of the body, if anything, and throws it away.
    async fn drain(mut self) {
        use http_body_util::BodyExt as _;
        if self.is_end_stream() {
            return;
        }
        let drain = async {
            // Ends at the body's end, or at an error (the cap reached, the client gone).
            while let Some(Ok(_)) = self.frame().await {}
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    }
}

impl http_body::Body for Unread {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut *self.body()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body().is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body().size_hint()
    }
}

fn too_large() -> Response {
    let body = serde_json::json!({
        "error": {
            "code": "invalid_request",
            "message": format!("The request is too large (at most {} KiB).", MAX_BODY_BYTES / 1024),
        }
    });
    (axum::http::StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// For the Leptos context: the request's nonce as Leptos' own, so the hydration scripts
/// carry the nonce the header names.
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_nonce_and_forbids_framing() {
        let csp = HeaderPolicy::new(true, None).csp("abc123");
        assert!(csp.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(!csp.contains("ws:"));
        assert!(HeaderPolicy::new(false, None)
            .csp("n")
            .contains("ws://127.0.0.1:*"));
    }

    #[test]
    fn forms_may_lead_to_stripes_pages_only_when_billing_is_on() {
        let off = HeaderPolicy::new(true, None).csp("n");
        assert!(off.contains("form-action 'self';"), "{off}");
        let stripe = HeaderPolicy::new(true, Some("https://api.stripe.com")).csp("n");
        assert!(stripe.contains(
            "form-action 'self' https://checkout.stripe.com https://billing.stripe.com;"
        ));
        let stand_in = HeaderPolicy::new(false, Some("http://127.0.0.1:3197/")).csp("n");
        assert!(
            stand_in.contains("form-action 'self' http://127.0.0.1:3197;"),
            "{stand_in}"
        );
    }

    #[test]
    fn nonces_are_fresh_and_header_safe() {
        let a = CspNonce::generate();
        let b = CspNonce::generate();
        assert_ne!(a.0, b.0);
        assert!(a.0.len() >= 22);
        assert!(HeaderValue::from_str(&a.0).is_ok());
    }
}
