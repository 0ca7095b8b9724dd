//! Keyboard shortcuts of the chat, listened for on the window (no inline script, so the
//! nonce CSP holds): Esc stops the answer being written, Ctrl/⌘+K starts a new
//! conversation, ↑ in an empty Message field edits the person's last message, and "?"
//! (outside text fields) or the "Keyboard shortcuts" button lists them in a dialog.

use leptos::{ev, html, prelude::*};
#[cfg(feature = "hydrate")]
use leptos_router::hooks::use_navigate;

use super::state::ChatState;

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    /// The Message field.
    Composer,
    /// Another field that takes typing.
    OtherField,
    Elsewhere,
}

/// Where a key event was aimed.
#[cfg(feature = "hydrate")]
fn focus_of(ev: &ev::KeyboardEvent) -> Focus {
    use leptos::wasm_bindgen::JsCast as _;
    let Some(element) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return Focus::Elsewhere;
    };
    if element.id() == "message" {
        return Focus::Composer;
    }
    let typing = match element.tag_name().to_ascii_lowercase().as_str() {
        "textarea" | "select" => true,
        "input" => !matches!(
            element.get_attribute("type").as_deref(),
            Some("checkbox" | "radio" | "button" | "submit" | "reset")
        ),
        _ => element
            .closest("[contenteditable]:not([contenteditable=false])")
            .ok()
            .flatten()
            .is_some(),
    };
    if typing {
        Focus::OtherField
    } else {
        Focus::Elsewhere
    }
}

/// The window's key listener, the "Keyboard shortcuts" button and its dialog.
#[component]
pub fn Shortcuts() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let dialog = NodeRef::<html::Dialog>::new();
    let button = NodeRef::<html::Button>::new();
    let close_button = NodeRef::<html::Button>::new();

    let open = move || {
        if let Some(dialog) = dialog.get_untracked() {
            if !dialog.open() {
                let _ = dialog.show_modal();
                if let Some(close) = close_button.get_untracked() {
                    let _ = close.focus();
                }
            }
        }
    };
    let close = move || {
        if let Some(dialog) = dialog.get_untracked() {
            dialog.close();
        }
    };
    // Focus goes back to where it was when the dialog opened (the browser's modal dialog
    // does this too; the button is the fallback when that element is gone). A browser
    // object, so it is kept only in the browser (a server render never opens the dialog).
    #[cfg(feature = "hydrate")]
    let returning = StoredValue::new_local(None::<leptos::web_sys::HtmlElement>);
    let on_close = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(element) = returning
            .try_update_value(Option::take)
            .flatten()
            .filter(|e| e.is_connected())
        {
            let _ = element.focus();
            return;
        }
        if let Some(b) = button.get_untracked() {
            let _ = b.focus();
        }
    };
    let remember_focus = move || {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast as _;
            let active = document()
                .active_element()
                .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok());
            returning.set_value(active);
        }
    };

    #[cfg(feature = "hydrate")]
    {
        let navigate = use_navigate();
        let handle = window_event_listener(ev::keydown, move |ev| {
            if ev.default_prevented() || ev.is_composing() {
                return;
            }
            if dialog.get_untracked().is_some_and(|d| d.open()) {
                return; // the dialog handles its own keys
            }
            let focus = focus_of(&ev);
            let key = ev.key();
            let command = ev.ctrl_key() || ev.meta_key();
            match key.as_str() {
                "Escape" if state.streaming.get_untracked() => {
                    ev.prevent_default();
                    state.stop();
                    super::state::focus_message();
                }
                "k" | "K" if command && !ev.alt_key() && !ev.shift_key() => {
                    // Not from another field (a title being renamed, a message being
                    // edited): there Ctrl+K keeps the browser's meaning.
                    if focus == Focus::OtherField {
                        return;
                    }
                    ev.prevent_default();
                    if state.current.get_untracked().is_some() {
                        navigate("/chat", Default::default());
                    }
                    super::state::focus_message();
                }
                // Opens the edit when there is a message of the person to edit; otherwise
                // ↑ keeps its usual meaning.
                "ArrowUp"
                    if focus == Focus::Composer
                        && !command
                        && !ev.alt_key()
                        && !ev.shift_key()
                        && state.draft.with_untracked(|d| d.is_empty())
                        && state.edit_last() =>
                {
                    ev.prevent_default();
                }
                "?" if focus == Focus::Elsewhere && !command && !ev.alt_key() => {
                    ev.prevent_default();
                    remember_focus();
                    open();
                }
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    }

    #[cfg(not(feature = "hydrate"))]
    let _ = state;

    // Only the Close button can take focus in the dialog: Tab stays on it.
    let on_dialog_keydown = move |ev: ev::KeyboardEvent| {
        if ev.key() == "Tab" {
            ev.prevent_default();
            if let Some(close) = close_button.get_untracked() {
                let _ = close.focus();
            }
        }
    };

    view! {
        <div class="shortcuts-bar">
            <button
                type="button"
                class="ghost shortcuts-button"
                node_ref=button
                aria-haspopup="dialog"
                aria-keyshortcuts="?"
                on:click=move |_| {
                    remember_focus();
                    open();
                }
            >"Keyboard shortcuts"</button>
        </div>
        <dialog
            class="shortcuts-dialog"
            node_ref=dialog
            aria-labelledby="shortcuts-title"
            on:close=on_close
            on:keydown=on_dialog_keydown
        >
            <h2 id="shortcuts-title">"Keyboard shortcuts"</h2>
            <dl class="shortcuts-list">
                <div><dt><kbd>"Enter"</kbd></dt><dd>"Send the message"</dd></div>
                <div><dt><kbd>"Shift"</kbd>" + "<kbd>"Enter"</kbd></dt><dd>"New line"</dd></div>
                <div><dt><kbd>"Esc"</kbd></dt><dd>"Stop the answer being written"</dd></div>
                <div><dt><kbd>"Ctrl"</kbd>" + "<kbd>"K"</kbd>" (" <kbd>"⌘"</kbd>" + "<kbd>"K"</kbd>")"</dt><dd>"New conversation"</dd></div>
                <div><dt><kbd>"↑"</kbd></dt><dd>"In an empty Message field: edit your last message"</dd></div>
                <div><dt><kbd>"?"</kbd></dt><dd>"Show these shortcuts"</dd></div>
            </dl>
            <div class="button-row">
                <button type="button" class="primary" node_ref=close_button on:click=move |_| close()>"Close"</button>
            </div>
        </dialog>
    }
}
