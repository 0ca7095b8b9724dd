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

/// How long the page the browser has just loaded waits before asking again for its own
/// code when it did not arrive, each wait once: a dropped connection or a server restarting
/// mid-deploy is often over within seconds, and without its code the page cannot work at
/// all. (A page the router is opening does not wait: the browser loads it from the server.)
pub const FIRST_LOAD_RETRIES_MS: [u32; 2] = [500, 2_000];

/// Calls `load` (a split function), and while it fails, waits (`pause`, in milliseconds)
/// and calls it again, once for each of `waits_ms`: its `Err` once they are spent.
pub async fn with_retries<T, F, P>(
    waits_ms: &[u32],
    mut load: impl FnMut() -> F,
    mut pause: impl FnMut(u32) -> P,
) -> Result<T, Unloaded>
where
    F: std::future::Future<Output = Result<T, Unloaded>>,
    P: std::future::Future<Output = ()>,
{
    let mut loaded = load().await;
    for &wait in waits_ms {
        if loaded.is_ok() {
            break;
        }
        pause(wait).await;
        loaded = load().await;
    }
    loaded
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// Loads that fail `failures` times, then succeed: the calls made and the waits taken.
    fn run(failures: u32) -> (Result<u32, Unloaded>, u32, Vec<u32>) {
        let calls = Cell::new(0);
        let waits = RefCell::new(Vec::new());
        let loaded = futures::executor::block_on(with_retries(
            &FIRST_LOAD_RETRIES_MS,
            || {
                calls.set(calls.get() + 1);
                let call = calls.get();
                async move {
                    if call > failures {
                        Ok(call)
                    } else {
                        Err(Unloaded)
                    }
                }
            },
            |ms| {
                waits.borrow_mut().push(ms);
                async {}
            },
        ));
        (loaded, calls.get(), waits.into_inner())
    }

    #[test]
    fn a_chunk_that_loads_is_asked_for_once() {
        assert_eq!(run(0), (Ok(1), 1, vec![]));
    }

    #[test]
    fn a_chunk_that_did_not_load_is_asked_for_again_after_each_wait() {
        assert_eq!(run(1), (Ok(2), 2, vec![500]));
        assert_eq!(run(2), (Ok(3), 3, vec![500, 2_000]));
    }

    #[test]
    fn a_chunk_that_never_loads_is_given_up_once_the_waits_are_spent() {
        assert_eq!(run(u32::MAX), (Err(Unloaded), 3, vec![500, 2_000]));
    }

    #[test]
    fn no_waits_means_one_try() {
        let calls = Cell::new(0);
        let loaded: Result<(), Unloaded> = futures::executor::block_on(with_retries(
            &[],
            || {
                calls.set(calls.get() + 1);
                async { Err(Unloaded) }
            },
            |_| async {},
        ));
        assert_eq!((loaded, calls.get()), (Err(Unloaded), 1));
    }
}
