use leptos::prelude::*;
use leptos_router::components::A;

use crate::{
    auth::Auth,
    components::icons::{Icon, IconSvg},
};

/// Product name, navigation and the signed-in email.
#[component]
pub fn Header() -> impl IntoView {
    let auth = expect_context::<Auth>();
    view! {
        <header class="site-header">
            <a class="brand" href="/chat">
                <IconSvg icon=Icon::Diamond class="brand-mark"/>
                "ApexAurum"
            </a>
            <Transition fallback=|| ()>
                {move || {
                    auth.user.get().map(|result| match result.ok().flatten() {
                        Some(user) => view! {
                            <nav class="site-nav" aria-label="Main">
                                <A href="/chat">"Chat"</A>
                                <A href="/settings">
                                    "Settings"
                                    {((!user.has_api_key && !user.platform_key) || user.key_valid == Some(false)).then(|| view! {
                                        <span class="nav-hint" title="Add your Anthropic API key">
                                            <span aria-hidden="true">" •"</span>
                                            <span class="visually-hidden">" (API key needed)"</span>
                                        </span>
                                    })}
                                </A>
                                <span class="user-email" title="Signed in">{user.email.clone()}</span>
                                <ActionForm action=auth.logout attr:class="inline-form">
                                    <button type="submit" class="link-button">"Log out"</button>
                                </ActionForm>
                            </nav>
                        }.into_any(),
                        None => view! {
                            <nav class="site-nav" aria-label="Main">
                                <A href="/login">"Log in"</A>
                                <A href="/register">"Register"</A>
                            </nav>
                        }.into_any(),
                    })
                }}
            </Transition>
        </header>
    }
}
