//! Refuses state-changing requests sent by another site. The session cookie is
//! `SameSite=Lax`; this is the second line: a foreign `Origin` (or a browser's
//! `Sec-Fetch-Site: cross-site`) on a non-safe method answers 403 `csrf_rejected`.
//! Stripe's webhook is the one exemption: it comes from another site by nature, carries no
//! session, and its signature is its credential.

use axum::{
    extract::Request,
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

/// The only route other sites may post to.
pub const WEBHOOK_PATH: &str = "/api/v1/billing/webhook";

pub async fn reject_foreign_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || request.uri().path() == WEBHOOK_PATH;
    if !safe && is_cross_site(&request) {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return AppError::CsrfRejected.into_response();
    }
    next.run(request).await
}

fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Non-browser clients send no Origin; the cookie's SameSite covers old browsers.
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match (origin_host(origin), host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        // "null" or an unparseable origin on a state change: refuse.
        _ => true,
    }
}

/// `https://example.org:8443` → `example.org:8443`.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, origin: Option<&str>) -> Request {
        let mut builder = Request::builder()
            .method(method)
            .uri("/x")
            .header("host", "app.test:3000");
        if let Some(o) = origin {
            builder = builder.header("origin", o);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn same_origin_and_missing_origin_pass() {
        assert!(!is_cross_site(&request(
            Method::POST,
            Some("http://app.test:3000")
        )));
        assert!(!is_cross_site(&request(Method::POST, None)));
    }

    #[tokio::test]
    async fn only_the_stripe_webhook_is_exempt() {
        use axum::{routing::post, Router};
        use tower::ServiceExt as _;
        let app = Router::new()
            .route(WEBHOOK_PATH, post(|| async { "ok" }))
            .route("/api/v1/billing/checkout", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn(reject_foreign_origin));
        let send = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(path)
                    .header("host", "app.test")
                    .header("origin", "https://stripe.example")
                    .header("sec-fetch-site", "cross-site")
                    .body(axum::body::Body::empty())
                    .unwrap();
                app.oneshot(request).await.unwrap().status().as_u16()
            }
        };
        assert_eq!(send(WEBHOOK_PATH).await, 200);
        assert_eq!(send("/api/v1/billing/checkout").await, 403);
    }

    #[test]
    fn foreign_or_null_origin_is_cross_site() {
        assert!(is_cross_site(&request(
            Method::POST,
            Some("https://evil.example")
        )));
        assert!(is_cross_site(&request(Method::POST, Some("null"))));
        assert!(is_cross_site(&request(
            Method::POST,
            Some("http://app.test:4000")
        )));
    }
}
