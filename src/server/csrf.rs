//! Refuses state-changing requests sent by another site. The session cookie is
//! `SameSite=Lax`; this is the second line: a foreign `Origin` (or a browser's
//! `Sec-Fetch-Site: cross-site`) on a non-safe method answers 403 `csrf_rejected`.

use axum::{
    extract::Request,
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

pub async fn reject_foreign_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
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
