use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{
        chat::{
            gate::{KeyRejected, KeyRequired, PanelFocus},
            ChatView,
        },
        protected::Protected,
    },
    types::user::UserView,
};

/// `/chat`: the key gate is decided on the server from the session user, so nobody sees
/// the chat flash before a key panel (or the other way round).
#[component]
pub fn ChatPage() -> impl IntoView {
    PanelFocus::provide();
    view! {
        <Title text="Chat"/>
        <Protected children=|user: UserView| {
            if !user.has_api_key && !user.platform_key {
                view! { <KeyRequired gate=user.gate/> }.into_any()
            } else if user.key_valid == Some(false) {
                view! { <KeyRejected/> }.into_any()
            } else {
                view! { <ChatView/> }.into_any()
            }
        }/>
    }
}
