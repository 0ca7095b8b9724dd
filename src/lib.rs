//! ApexAurum Cloud: chat with Claude-powered Agents, bringing your own Anthropic key.

pub mod api;
pub mod app;
pub mod auth;
pub mod chunk;
pub mod components;
pub mod error;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod pages;
pub mod resource;
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
    // Asynchronous hydration: each page's code is a chunk of its own (lazy routes), loaded
    // before its part of the page is hydrated. (`leptos::mount::hydrate_lazy`, with the
    // mark below once it is done.)
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        else {
            return;
        };
        leptos::mount::hydrate_from_async(body, app::App)
            .await
            .forget();
        HYDRATED.store(true, std::sync::atomic::Ordering::Relaxed);
        mark_hydrated();
    });
}

/// Whether the page the browser loaded has been hydrated: from then on, a page whose code
/// does not load is one the router is opening, not the one the server just sent (see
/// `app::load_from_server`).
#[cfg(feature = "hydrate")]
pub(crate) static HYDRATED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The page answers to the person from here on: a mark (with the time since navigation
/// began, in ms) for the page-weight script and for tests that must not act earlier.
#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    let window = web_sys::window();
    let since_start = window
        .as_ref()
        .and_then(web_sys::Window::performance)
        .map_or(0.0, |p| p.now());
    if let Some(root) = window
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        // Whole milliseconds, formatted as an integer: `{:.0}` of a float put core's exact
        // float formatting (about 6 KB before optimisation) into the WASM for this number.
        let _ = root.set_attribute("data-hydrated", &(since_start.round() as u64).to_string());
    }
}
