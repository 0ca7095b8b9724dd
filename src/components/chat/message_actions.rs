//! What can be done with a stored message: Edit (the person's), Regenerate (the last
//! answer), and flipping between its versions.

use leptos::{ev, html, prelude::*};
use leptos_router::hooks::use_navigate;

use super::{branch_nav::BranchNav, state::ChatState};
use crate::types::chat::MessageView;

/// The element id of a message's Edit button, where focus returns after an edit closes.
pub fn edit_button_id(message_id: &str) -> String {
    format!("edit-{message_id}")
}

/// The buttons under a stored message. `last`: it ends the conversation as shown.
#[component]
pub fn MessageActions(message: MessageView, last: bool) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let is_user = message.role == "user";
    let versions = (message.siblings.count > 1).then(|| message.siblings.clone());
    let id = StoredValue::new(message.id);
    let disabled = move || !state.can_branch();
    // Regenerate only where the conversation ends, and not below a live answer.
    let can_regenerate = move || !is_user && last && state.live.with(|l| l.is_empty());
    view! {
        <div class="message-actions">
            {versions.map(|siblings| view! { <BranchNav siblings/> })}
            {is_user.then(|| view! {
                <button
                    type="button"
                    class="ghost message-action"
                    id=edit_button_id(&id.get_value())
                    disabled=disabled
                    on:click=move |_| state.editing.set(Some(id.get_value()))
                >"Edit"</button>
            })}
            <Show when=can_regenerate>
                {
                    let navigate = navigate.clone();
                    view! {
                        <button
                            type="button"
                            class="ghost message-action"
                            disabled=disabled
                            on:click=move |_| state.regenerate(id.get_value(), navigate.clone())
                        >"Regenerate"</button>
                    }
                }
            </Show>
        </div>
    }
}

/// The person's message as an editable field: "Save & send" sends it as a new version,
/// "Cancel" (or Esc) leaves it as it was.
#[component]
pub fn EditMessage(message: MessageView) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let navigate = use_navigate();
    let text = RwSignal::new(message.content.clone());
    let field = NodeRef::<html::Textarea>::new();
    let id = StoredValue::new(message.id);
    let field_id = format!("edit-field-{}", id.get_value());
    Effect::new(move |_| {
        if let Some(field) = field.get() {
            let _ = field.focus();
            let end = u32::try_from(field.value().encode_utf16().count()).unwrap_or(0);
            let _ = field.set_selection_range(end, end);
        }
    });
    let cancel = move || {
        state.editing.set(None);
        let button = edit_button_id(&id.get_value());
        request_animation_frame(move || {
            #[cfg(feature = "hydrate")]
            {
                use leptos::wasm_bindgen::JsCast as _;
                if let Some(b) = document()
                    .get_element_by_id(&button)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = b.focus();
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = button;
        });
    };
    let save = {
        let navigate = navigate.clone();
        move || state.edit(id.get_value(), text.get_untracked(), navigate.clone())
    };
    let on_submit = {
        let save = save.clone();
        move |ev: ev::SubmitEvent| {
            ev.prevent_default();
            save();
        }
    };
    let on_keydown = move |ev: ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            // Handled here: the page's own Esc (stop a stream) must not run too.
            ev.prevent_default();
            cancel();
        } else if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            save();
        }
    };
    view! {
        <form class="message message-user edit-message" on:submit=on_submit>
            <label class="visually-hidden" for=field_id.clone()>"Edit your message"</label>
            <textarea
                id=field_id
                class="edit-field"
                rows="3"
                node_ref=field
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=on_keydown
            ></textarea>
            <div class="button-row">
                <button
                    type="submit"
                    class="primary"
                    disabled=move || !state.can_branch() || text.with(|t| t.trim().is_empty())
                >"Save & send"</button>
                <button type="button" on:click=move |_| cancel()>"Cancel"</button>
            </div>
        </form>
    }
}
