use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{
        chat::{gate::PanelFocus, ChatView, KeyProblem},
        protected::Protected,
    },
    types::user::UserView,
};

/// `/chat`: whether the account has a usable key is decided on the server from the session
/// user, so the key panel never flashes in (or out). Without one, the conversations are
/// still there to read, search and export; the panel stands where the Message field would.
#[component]
pub fn ChatPage() -> impl IntoView {
    PanelFocus::provide();
    view! {
        <Title text="Chat"/>
        <Protected children=|user: UserView| {
            let key_problem = if !user.has_api_key && !user.platform_key {
                Some(KeyProblem::Required)
            } else if user.key_valid == Some(false) {
                Some(KeyProblem::Rejected)
            } else {
                None
            };
            view! { <ChatView key_problem/> }
        }/>
    }
}
