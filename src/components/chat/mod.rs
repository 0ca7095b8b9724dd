//! The chat: conversation list, the open conversation, and the Message field.

mod branch_nav;
mod branching;
mod composer;
mod cost;
pub mod gate;
mod message_actions;
mod shortcuts;
mod sidebar;
mod state;
pub mod stream;
mod thread;
mod upstream_notice;

use leptos::prelude::*;

use composer::Composer;
use gate::{KeyRejected, KeyRequired};

use crate::auth::Auth;
use shortcuts::Shortcuts;
use sidebar::Sidebar;
use state::{ChatState, KeyProblem};
use thread::{MessageLog, ThreadHeader};

/// The chat for an account with a usable key.
#[component]
pub fn ChatView() -> impl IntoView {
    let state = ChatState::new();
    provide_context(state);
    view! {
        {move || match state.key_problem.get() {
            Some(KeyProblem::Rejected) => view! { <KeyRejected/> }.into_any(),
            Some(KeyProblem::Required) => {
                let gate = expect_context::<Auth>().current().map(|u| u.gate).unwrap_or_default();
                view! { <KeyRequired gate/> }.into_any()
            }
            None => ().into_any(),
        }}
        <div class="chat-layout" class:hidden=move || state.key_problem.get().is_some()>
            <Sidebar/>
            <section class="thread" aria-labelledby="thread-title">
                <ThreadHeader/>
                <MessageLog/>
                <Composer/>
                <Shortcuts/>
            </section>
        </div>
    }
    .into_any()
}
