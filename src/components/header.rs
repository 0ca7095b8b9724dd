use leptos::{prelude::*, server_fn::ServerFn};
use leptos_router::components::A;

use crate::{
    api::auth::Logout,
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
                            <nav
                                class="site-nav"
                                aria-label="Main"
                                on:pointerover=move |ev| preload_link_target(&ev)
                                on:focusin=move |ev| preload_link_target(&ev)
                            >
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
                                // A plain form, posted by the browser: the server ends the
                                // session and answers with the login page, a page load that
                                // leaves nothing of the signed-in pages in memory. (Handled
                                // in the page, a logout clicked before the page had finished
                                // hydrating changed who is signed in under the hydration,
                                // which then stopped with a panic.)
                                <form method="post" action={<Logout as ServerFn>::PATH} class="inline-form">
                                    <button type="submit" class="link-button">"Log out"</button>
                                </form>
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

/// The page a link is about to be followed to starts loading (see [`crate::app::preload_page`]).
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
fn preload_link_target(ev: &leptos::ev::Event) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast as _;
        if let Some(href) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("a[href]").ok().flatten())
            .and_then(|a| a.get_attribute("href"))
        {
            crate::app::preload_page(&href);
        }
    }
}
