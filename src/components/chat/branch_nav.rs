//! The version switcher under a message with several versions: "‹ 2 / 3 ›".

use leptos::prelude::*;

use super::state::ChatState;
use crate::types::chat::Siblings;

#[component]
pub fn BranchNav(siblings: Siblings) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let number = siblings.index + 1;
    let count = siblings.count;
    let label = format!("Version {number} of {count}");
    let Siblings {
        prev_id, next_id, ..
    } = siblings;
    let disabled = move || !state.can_branch();
    let has_prev = prev_id.is_some();
    let has_next = next_id.is_some();
    let prev = StoredValue::new(prev_id);
    let next = StoredValue::new(next_id);
    view! {
        <div class="branch-nav" role="group" aria-label=label>
            <button
                type="button"
                class="ghost branch-step"
                aria-label="Previous version"
                disabled=move || disabled() || !has_prev
                on:click=move |_| {
                    if let Some(id) = prev.get_value() {
                        state.select(id);
                    }
                }
            >"‹"</button>
            <span class="branch-count" aria-hidden="true">{format!("{number} / {count}")}</span>
            <button
                type="button"
                class="ghost branch-step"
                aria-label="Next version"
                disabled=move || disabled() || !has_next
                on:click=move |_| {
                    if let Some(id) = next.get_value() {
                        state.select(id);
                    }
                }
            >"›"</button>
        </div>
    }
}
