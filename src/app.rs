//! The HTML shell, the `App` component and its routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::{
    api::auth::{session_user, Logout},
    auth::Auth,
    components::header::Header,
    pages::{
        chat::ChatPage, login::LoginPage, not_found::NotFound, register::RegisterPage,
        settings::SettingsPage,
    },
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|text| format!("{text} · ApexAurum")/>
        <Router>
            <Layout/>
        </Router>
    }
}

/// Everything inside the router. Pages create their own form actions: a form posted
/// without JavaScript comes back with its error in the URL, and only an action created
/// inside `<Routes>` can read it.
#[component]
fn Layout() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let refresh = RwSignal::new(0u32);
    let user = Resource::new(
        move || (logout.version().get(), refresh.get()),
        |_| session_user(),
    );
    provide_context(Auth {
        user,
        logout,
        refresh,
    });

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <Header/>
        <main id="main" tabindex="-1">
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=|| view! { <Redirect path="/chat"/> }/>
                // Async: the whole page is rendered before it is sent, so it reads (and its
                // forms work) with JavaScript off, not only before the WASM has loaded.
                <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("register") view=RegisterPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("settings") view=SettingsPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("chat") view=ChatPage ssr=SsrMode::Async/>
            </Routes>
        </main>
    }
}
