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

/// Room in the WASM's read-only data for wasm-split (`cargo leptos build --split`), which
/// nothing reads and no part of the split output keeps.
///
/// wasm-split lays each chunk's static data (strings, tables) out again inside the one
/// segment the linker made, and gives up when the new layout is longer than that segment:
/// it then leaves all of it in the core, which every page loads (29 KB brotli more for
/// `/chat`). The new layout can be longer: the linker stores a string once however many
/// chunks use it, and each of those chunks gets a copy. It was 23 bytes too long once and 3
/// bytes on 2026-12-07's ninth machine, each time after a change that had nothing to do with
/// data. This symbol is kept by the linker (`#[used]`), so it lengthens the segment, but no
/// code refers to it, so wasm-split places it in no chunk and the room is free for those
/// copies. (A build that is not split carries these bytes; brotli makes them a few.)
/// 4 KB is a hundred times the overrun seen so far; `bash .ci/page-weight` still warns when
/// the core holds all the data.
#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
#[used]
static SPLIT_DATA_ROOM: [u8; 4096] = [0x5a; 4096];

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
