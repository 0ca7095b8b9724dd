//! Copy buttons: an answer's Markdown source, or a code block's code, to the clipboard
//! (the Clipboard API), saying "Copied" on the button and to screen readers.

use std::time::Duration;

use leptos::prelude::*;

use super::icons::{Icon, IconSvg};

/// How long a button says "Copied".
const SHOWN: Duration = Duration::from_secs(2);

/// The page's one polite status line for copies, so a screen reader hears "Copied" once,
/// whichever button did it. Provided by the chat view.
#[derive(Clone, Copy)]
pub struct CopyStatus(RwSignal<String>);

impl CopyStatus {
    pub fn provide() -> Self {
        let status = Self(RwSignal::new(String::new()));
        provide_context(status);
        status
    }

    /// The page's status line, if it has one (read when a component is built: callbacks
    /// run outside the reactive owner).
    pub fn find() -> Option<Self> {
        use_context::<Self>()
    }

    fn announce(this: Option<Self>, text: &str) {
        if let Some(Self(status)) = this {
            // Cleared first, so the same words twice are announced twice.
            status.set(String::new());
            let text = text.to_string();
            request_animation_frame(move || status.set(text));
        }
    }
}

/// The status line itself (visually hidden).
#[component]
pub fn CopyStatusRegion() -> impl IntoView {
    let status = use_context::<CopyStatus>();
    view! {
        <p class="visually-hidden" role="status" aria-live="polite">
            {move || status.map(|CopyStatus(s)| s.get()).unwrap_or_default()}
        </p>
    }
}

const COPIED: &str = "Copied";
const FAILED: &str = "Could not copy: the browser refused. Select the text and copy it instead.";

/// Writes `text` to the clipboard, then calls `done` with whether it worked.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
fn write_clipboard(text: String, done: impl FnOnce(bool) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let clipboard = window().navigator().clipboard();
        let promise = clipboard.write_text(&text);
        leptos::task::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            done(ok);
        });
    }
}

/// A button that copies `text` (read when clicked). Hidden until the page's script runs:
/// without it, it could do nothing.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    /// The accessible name, e.g. "Copy answer".
    label: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let ready = RwSignal::new(false);
    let status = CopyStatus::find();
    Effect::new(move |_| ready.set(true));
    let on_click = move |_| {
        write_clipboard(text.get_untracked(), move |ok| {
            CopyStatus::announce(status, if ok { COPIED } else { FAILED });
            if ok {
                copied.set(true);
                set_timeout(
                    move || {
                        let _ = copied.try_set(false);
                    },
                    SHOWN,
                );
            }
        });
    };
    view! {
        <button
            type="button"
            class="copy-button"
            class:copied=move || copied.get()
            aria-label=label
            hidden=move || !ready.get()
            on:click=on_click
        >
            {move || if copied.get() {
                view! { <IconSvg icon=Icon::Check/> }.into_any()
            } else {
                view! { <IconSvg icon=Icon::Copy/> }.into_any()
            }}
            <span class="copy-label">{move || if copied.get() { COPIED } else { "Copy" }}</span>
        </button>
    }
}

/// A click anywhere in rendered Markdown: when it was on a code block's Copy button, copies
/// that block's code. (The blocks are HTML built as a string, so their buttons have no
/// handlers of their own.)
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
pub fn on_markdown_click(ev: leptos::ev::MouseEvent, status: Option<CopyStatus>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast as _;
        let Some(button) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("button[data-copy-code]").ok().flatten())
        else {
            return;
        };
        let code = button
            .closest(".code-block")
            .ok()
            .flatten()
            .and_then(|block| block.query_selector("code").ok().flatten())
            .and_then(|code| code.text_content())
            .unwrap_or_default();
        write_clipboard(code, move |ok| {
            CopyStatus::announce(status, if ok { COPIED } else { FAILED });
            if !ok {
                return;
            }
            let label = button.query_selector(".copy-label").ok().flatten();
            if let Some(label) = &label {
                label.set_text_content(Some(COPIED));
            }
            let _ = button.class_list().add_1("copied");
            set_timeout(
                move || {
                    if let Some(label) = &label {
                        label.set_text_content(Some("Copy"));
                    }
                    let _ = button.class_list().remove_1("copied");
                },
                SHOWN,
            );
        });
    }
}
