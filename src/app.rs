//! The HTML shell, the `App` component and its routes.

use crate::resource::resource;
use leptos::{nonce::use_nonce, prelude::*};
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    lazy_route, Lazy, LazyRoute, SsrMode, StaticSegment,
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

/// The pages that run without WASM: plain forms, posted to the server, which answers with
/// the next page (see `components::auth_form`).
pub const PAGES_WITHOUT_WASM: [&str; 2] = ["/login", "/register"];

pub fn shell(options: LeptosOptions) -> impl IntoView {
    let without_wasm = use_context::<http::request::Parts>()
        .is_some_and(|parts| PAGES_WITHOUT_WASM.contains(&parts.uri.path()));
    // Those pages get the few lines of script their forms use instead of the app.
    let scripts = if without_wasm {
        view! { <script src="/forms.js" defer nonce=use_nonce()></script> }.into_any()
    } else {
        view! { <HydrationScripts options=options.clone()/> }.into_any()
    };
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
                {scripts}
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
    let user = resource(
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
                // Each page's code is its own WASM chunk (`cargo leptos build --split`): a
                // page loads the app's core and its own chunk, never another page's.
                <Route path=StaticSegment("login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async/>
                <Route path=StaticSegment("register") view={Lazy::<RegisterRoute>::new()} ssr=SsrMode::Async/>
                <Route path=StaticSegment("settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
                <Route path=StaticSegment("chat") view={Lazy::<ChatRoute>::new()} ssr=SsrMode::Async/>
            </Routes>
        </main>
    }
}

/// Starts loading the chunk of the page at `path` ahead of a click on a link to it (the
/// pointer over the link, or keyboard focus on it), so a first client-side visit to a page
/// does not wait for its code after the click. Loading twice costs nothing: a chunk loads once.
pub fn preload_page(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let path = path.to_owned();
        leptos::task::spawn_local(async move {
            match path.as_str() {
                "/chat" => ChatRoute::preload().await,
                "/settings" => SettingsRoute::preload().await,
                _ => {}
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// A page whose code loads with it: one lazy route per page, each split into its own WASM
/// chunk by `cargo leptos build --split` (one chunk for everything without `--split`).
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}

lazy_page!(LoginRoute, LoginPage);
lazy_page!(RegisterRoute, RegisterPage);
lazy_page!(SettingsRoute, SettingsPage);
lazy_page!(ChatRoute, ChatPage);
