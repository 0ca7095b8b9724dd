//! Test support, not product: local stand-ins for the outside services, so tests,
//! Playwright and `bash .ci/serve --stub` run without the real ones. Compiled only with
//! the `stub` feature, which release builds leave off (`.ci/test` checks that the release
//! server carries none of it).

pub mod anthropic;
