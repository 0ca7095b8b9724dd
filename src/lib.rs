//! ApexAurum Cloud: chat with Claude-powered Agents, bringing your own Anthropic key.

pub mod api;
pub mod app;
pub mod auth;
pub mod components;
pub mod error;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod pages;
pub mod secret_text;
pub mod types;
pub mod util;

#[cfg(feature = "ssr")]
pub mod domain;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sse;
#[cfg(feature = "stub")]
pub mod stubs;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
