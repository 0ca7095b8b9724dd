//! Browser code that loads when it is first needed and may fail to load without taking the
//! page down.
//!
//! `cargo leptos build --split` cuts a function marked `#[wasm_split(…)]` (and what only it
//! uses) into a WASM chunk of its own, fetched at its first call. Leptos' `#[lazy]` wraps
//! that call so that a chunk which does not arrive (a dropped connection, a deploy that
//! replaced the files) panics, and a panic stops the whole WASM: every button of the page
//! goes dead. The chunks here use wasm-split's `fallible` form instead: such a function
//! returns `Result<_, Unloaded>`, a failed load is that `Err` (the caller says so and
//! offers to try again), and a later call fetches the chunk afresh.
//!
//! A split function is written with the attribute spelled out, for example:
//!
//! ```ignore
//! #[cfg(feature = "hydrate")]
//! #[leptos::wasm_split::wasm_split(chunk_name, wasm_split_path = ::leptos::wasm_split,
//!     fallible, preload(preload_chunk_name))]
//! fn work_in_chunk(input: String) -> Result<String, crate::chunk::Unloaded> { … }
//! ```
//!
//! Its chunk's name must be unique in the app. Without `--split` (a development build) the
//! function is an ordinary call that cannot fail. Each page's code is such a chunk too
//! (`lazy_page!` in `crate::app`), and so is what writes answers (`apx_answers`).

/// A chunk of the app's code did not load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unloaded;

#[cfg(feature = "hydrate")]
impl From<leptos::wasm_split::SplitLoaderError> for Unloaded {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Unloaded
    }
}
