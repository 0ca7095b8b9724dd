//! The chat: conversation list, the open conversation, and the Message field.

mod branch_nav;
mod branching;
mod composer;
mod cost;
pub mod gate;
mod message_actions;
mod reading;
mod shortcuts;
mod sidebar;
mod state;
pub mod stream;
mod thread;
mod upstream_notice;

use leptos::prelude::*;

use composer::Composer;
use gate::{KeyRejected, KeyRequired};

use crate::{
    auth::Auth,
    components::copy::{CopyStatus, CopyStatusRegion},
};
use shortcuts::Shortcuts;
use sidebar::Sidebar;
use state::ChatState;
pub use state::KeyProblem;
use thread::{MessageLog, ThreadHeader};

/// The chat. Without a usable key (`key_problem`), the conversations can still be read,
/// searched and exported: the key panel takes the Message field's place.
#[component]
pub fn ChatView(key_problem: Option<KeyProblem>) -> impl IntoView {
    let state = ChatState::new(key_problem);
    provide_context(state);
    CopyStatus::provide();
    view! {
        <div class="chat-layout">
            <Sidebar/>
            <section class="thread" aria-labelledby="thread-title">
                <ThreadHeader/>
                <MessageLog/>
                {move || match state.key_problem.get() {
                    None => view! { <Composer/> }.into_any(),
                    Some(KeyProblem::Rejected) => view! {
                        <div class="composer-gate"><KeyRejected/></div>
                    }.into_any(),
                    Some(KeyProblem::Required) => {
                        let gate = expect_context::<Auth>().current().map(|u| u.gate).unwrap_or_default();
                        view! { <div class="composer-gate"><KeyRequired gate/></div> }.into_any()
                    }
                }}
                <Shortcuts/>
            </section>
        </div>
        <CopyStatusRegion/>
    }
    .into_any()
}
