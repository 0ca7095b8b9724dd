//! What the server sends for the built site and for pages: precompressed files by the
//! browser's Accept-Encoding, compressed pages, caching that fits each, streams untouched.

use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING};
use serde_json::json;

use crate::helpers::{spawn_app_with, Backend, Options};

/// A built site as cargo-leptos leaves it with `--precompress`: each file beside its brotli
/// and gzip copies (contents made distinguishable, not real compressed data).
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("apexaurum.js"), "plain").unwrap();
    std::fs::write(pkg.join("apexaurum.js.br"), "brotli").unwrap();
    std::fs::write(pkg.join("apexaurum.js.gz"), "gzip").unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn static_files_are_sent_precompressed_as_the_browser_accepts(backend: Backend) {
    let site = site();
    let options = Options {
        site_root: Some(site.path().display().to_string()),
        ..Default::default()
    };
    let app = spawn_app_with(backend, options).await;
    for (accepts, encoding, body) in [
        ("br, gzip", Some("br"), "brotli"),
        ("gzip", Some("gzip"), "gzip"),
        ("identity", None, "plain"),
    ] {
        let response = app
            .client
            .get(app.url("/pkg/apexaurum.js"))
            .header(ACCEPT_ENCODING, accepts)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{accepts}");
        assert_eq!(
            response
                .headers()
                .get(CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            encoding,
            "{accepts}"
        );
        // Without hashed names (no hash.txt beside the test binary) nothing is immutable.
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
        assert_eq!(response.text().await.unwrap(), body, "{accepts}");
    }
    // A file the build did not precompress is sent as it is (a debug build's WASM would
    // otherwise be compressed on every load).
    std::fs::write(site.path().join("pkg/big.wasm"), vec![0u8; 64 * 1024]).unwrap();
    let wasm = app
        .client
        .get(app.url("/pkg/big.wasm"))
        .header(ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status(), 200);
    assert!(wasm.headers().get(CONTENT_ENCODING).is_none());
    let icon = app.get("/favicon.svg").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()[CACHE_CONTROL], "no-cache");
}

async fn pages_are_compressed_and_never_stored(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let response = app
        .client
        .get(app.url("/login"))
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let compressed = response.bytes().await.unwrap();
    let mut html = Vec::new();
    std::io::Read::read_to_end(
        &mut brotli_decompressor::Decompressor::new(&compressed[..], 4096),
        &mut html,
    )
    .expect("a brotli body");
    assert!(String::from_utf8(html).unwrap().contains("Log in"));
}

async fn the_answer_stream_is_never_compressed(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    app.signed_in_user().await;
    app.save_key(crate::api_keys::CANARY).await;
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .header(ACCEPT_ENCODING, "br, gzip")
        .json(&json!({ "message": "Hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(CONTENT_ENCODING).is_none());
    assert!(response.text().await.unwrap().contains("event: done"));
}

crate::db_tests!(
    static_files_are_sent_precompressed_as_the_browser_accepts,
    pages_are_compressed_and_never_stored,
    the_answer_stream_is_never_compressed,
);
