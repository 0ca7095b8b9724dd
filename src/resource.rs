//! The pages' resources: their data crosses in the page as JSON and is read with the same
//! decoder as a server function's answer.
//!
//! A resource is loaded twice over in the browser's life: from the page it hydrates
//! (leptos hands its codec a `&str`) and from its server function when it reloads (the
//! answer's bytes). Leptos' default codec reads the first with `serde_json::from_str` and
//! server functions read the second with `serde_json::from_slice`: two readers, so every
//! type a page loads had two decoders in the WASM (about 20 KB of the chat's chunk before
//! optimisation). [`Json`] reads both from bytes. Use [`resource`], not `Resource::new`
//! (a test below holds to it).

use leptos::prelude::Resource;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};

/// JSON, read from bytes (see the module's documentation).
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A resource of the pages (see the module's documentation).
pub type JsonResource<T> = Resource<T, Json>;

/// `Resource::new`, with [`Json`].
#[track_caller]
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> JsonResource<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let value: Result<Vec<String>, crate::error::AppError> = Ok(vec!["a\"é".into()]);
        let text = <Json as Encoder<_>>::encode(&value).unwrap();
        let back: Result<Vec<String>, crate::error::AppError> =
            <Json as Decoder<_>>::decode(&text).unwrap();
        assert_eq!(back, value);
    }

    /// Every resource of the pages is made by [`resource`].
    #[test]
    fn no_page_makes_a_resource_with_the_default_codec() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("resource.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains(concat!("Resource", "::new")) {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "use crate::resource::resource in {found:?}"
        );
    }
}
