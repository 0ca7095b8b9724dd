//! The HTML shell, the `App` component and its routes.

use crate::resource::resource;
use leptos::{nonce::use_nonce, prelude::*};
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    Lazy, LazyRoute, SsrMode, StaticSegment,
};

#[cfg(feature = "hydrate")]
use leptos::wasm_split::wasm_split;

use crate::{
    api::auth::session_user,
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
    let refresh = RwSignal::new(0u32);
    let user = resource(move || refresh.get(), |_| session_user());
    provide_context(Auth { user, refresh });

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
            // The chunk alone, not the route's `preload`: that one, before hydration has
            // finished, is the page being hydrated asking for its own code, and gives up
            // with the notice. A link's chunk that does not arrive is asked for again on
            // the click (and the page loaded from the server if it fails then too).
            let _ = match path.as_str() {
                "/chat" => preload_chat_route().await,
                "/settings" => preload_settings_route().await,
                _ => Ok(()),
            };
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// A page whose code loads with it: one lazy route per page, each cut into its own WASM
/// chunk by `cargo leptos build --split` (one chunk for everything without `--split`).
///
/// The chunk is loaded with wasm-split's `fallible` form (see [`crate::chunk`]), not
/// `#[lazy_route]`, whose loader panics when a chunk does not arrive and so stops the whole
/// WASM. When a click's page does not arrive (a dropped connection, a deploy that replaced
/// the files), the browser loads that page from the server instead, as without JavaScript.
macro_rules! lazy_page {
    ($route:ident, $page:ident, $chunk:ident, $pre:ident) => {
        struct $route;

        #[cfg(feature = "hydrate")]
        #[wasm_split($chunk, wasm_split_path = ::leptos::wasm_split, fallible, preload($pre))]
        fn $chunk() -> Result<AnyView, crate::chunk::Unloaded> {
            Ok(view! { <$page/> }.into_any())
        }

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                #[cfg(feature = "hydrate")]
                {
                    let target = page_being_opened();
                    match $chunk().await {
                        Ok(view) => view,
                        Err(crate::chunk::Unloaded) => load_from_server(target).await,
                    }
                }
                #[cfg(not(feature = "hydrate"))]
                view! { <$page/> }.into_any()
            }

            // The router awaits this before it hydrates the page the browser has just
            // loaded (and before it opens one on a click), then hydrates with the view,
            // which must be ready by then. So the page just loaded asks again for its code
            // here, and if it never comes, stays as the server sent it ([`stay_as_sent`]).
            // A page the router opens falls back to the server instead
            // ([`load_from_server`], from `view`).
            async fn preload() {
                #[cfg(feature = "hydrate")]
                {
                    use std::sync::atomic::Ordering;
                    if crate::HYDRATED.load(Ordering::Relaxed) {
                        let _ = $pre().await;
                    } else {
                        let load = || async { $pre().await.map_err(crate::chunk::Unloaded::from) };
                        let waits = &crate::chunk::FIRST_LOAD_RETRIES_MS;
                        if crate::chunk::with_retries(waits, load, crate::util::pause)
                            .await
                            .is_err()
                        {
                            stay_as_sent::<()>().await;
                        }
                    }
                }
            }
        }
    };
}

lazy_page!(LoginRoute, LoginPage, login_route, preload_login_route);
lazy_page!(
    RegisterRoute,
    RegisterPage,
    register_route,
    preload_register_route
);
lazy_page!(
    SettingsRoute,
    SettingsPage,
    settings_route,
    preload_settings_route
);
lazy_page!(ChatRoute, ChatPage, chat_route, preload_chat_route);

/// The address of the page the router is opening.
#[cfg(feature = "hydrate")]
fn page_being_opened() -> leptos_router::location::Url {
    leptos_router::hooks::use_url().get_untracked()
}

/// A page whose code did not load when the router opened it (a click, Back or Forward):
/// the browser loads it from the server instead, which renders it whole, and its code is
/// fetched afresh with it. The page on screen stays as it is meanwhile. (The page the
/// browser has just loaded does not come here: see [`stay_as_sent`].)
#[cfg(feature = "hydrate")]
async fn load_from_server(target: leptos_router::location::Url) -> AnyView {
    use leptos_router::location::{BrowserUrl, LocationProvider};
    let Some(window) = web_sys::window() else {
        return std::future::pending().await;
    };
    if !crate::HYDRATED.load(std::sync::atomic::Ordering::Relaxed) {
        // Not reached (`preload` comes first), but loading again could go on for ever.
        return stay_as_sent().await;
    }
    let location = window.location();
    // Back and Forward have already put the page's address in the location bar (and going
    // to the address already there, fragment and all, would only scroll).
    let _ = if BrowserUrl::current().ok().as_ref() == Some(&target) {
        location.reload()
    } else {
        let mut address = target.path().to_owned();
        if !target.search().is_empty() {
            address.push('?');
            address.push_str(target.search());
        }
        let hash = target.hash();
        if !hash.is_empty() && !hash.starts_with('#') {
            address.push('#');
        }
        address.push_str(hash);
        location.assign(&address)
    };
    std::future::pending().await
}

/// The page the browser has just loaded, whose own code did not arrive (asked for again,
/// see [`crate::chunk::FIRST_LOAD_RETRIES_MS`]): loading the page again could go on for
/// ever, so it stays as the server sent it, and says so, with a plain link that loads it
/// again. Its hydration never finishes: this never returns, so the framework neither
/// hydrates the page without its view nor stops with a panic, and what the server sent
/// (links, and forms that post without code) keeps working.
#[cfg(feature = "hydrate")]
async fn stay_as_sent<T>() -> T {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        // An empty `href` is this page's own address; `rel="external"` keeps the router
        // (whose link handler may be running) out of it, so the browser loads the page
        // afresh.
        let _ = body.insert_adjacent_html("afterbegin", PAGE_NOT_LOADED);
    }
    std::future::pending().await
}

/// Shown when the code of the page the browser has just loaded did not arrive.
#[cfg(feature = "hydrate")]
const PAGE_NOT_LOADED: &str = concat!(
    r#"<p class="form-error page-not-loaded" role="alert">"#,
    "Part of this page did not load, so its buttons do not work yet. ",
    "Check your connection, then ",
    r#"<a href="" rel="external">reload the page</a>.</p>"#
);
