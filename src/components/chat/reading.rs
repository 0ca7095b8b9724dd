//! Reading a conversation: its export links, and opening it at a message (a search
//! result's `#m-<message id>`).

use leptos::prelude::*;

use crate::components::icons::{Icon, IconSvg};

/// Download links for the open conversation (plain GETs with the session cookie, so they
/// work without the script too).
#[component]
pub fn ExportLinks(id: String) -> impl IntoView {
    let base = format!(
        "/api/v1/conversations/{}/export",
        crate::util::encode_query(&id)
    );
    view! {
        <div class="export-links" role="group" aria-label="Export">
            <a class="button" href=format!("{base}?format=markdown") download="" rel="external" aria-label="Export as Markdown">
                <IconSvg icon=Icon::Download/>" Markdown"
            </a>
            <a class="button" href=format!("{base}?format=json") download="" rel="external" aria-label="Export as JSON">
                <IconSvg icon=Icon::Download/>" JSON"
            </a>
        </div>
    }
}

/// The element id of a stored message (what a search result links to).
pub fn message_anchor(message_id: &str) -> String {
    format!("m-{message_id}")
}

/// When the address names a message (`#m-…`) that is on the page: scrolls to it, marks it
/// (until another is) and moves the focus there; returns whether it did.
pub fn show_linked_message() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast as _;
        let hash = window().location().hash().unwrap_or_default();
        let Some(raw) = hash.strip_prefix('#').filter(|h| h.starts_with("m-")) else {
            return false;
        };
        let id = js_sys::decode_uri_component(raw)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| raw.to_string());
        let Some(element) = document().get_element_by_id(&id) else {
            return false;
        };
        // One marked message at a time.
        if let Ok(marked) = document().query_selector_all(".message.found") {
            for i in 0..marked.length() {
                if let Some(m) = marked
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                {
                    let _ = m.class_list().remove_1("found");
                }
            }
        }
        element.scroll_into_view_with_bool(true);
        let _ = element.class_list().add_1("found");
        if let Ok(el) = element.dyn_into::<web_sys::HtmlElement>() {
            let _ = el.focus();
        }
        true
    }
    #[cfg(not(feature = "hydrate"))]
    false
}
