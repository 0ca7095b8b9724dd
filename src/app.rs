//! The HTML shell, the `App` component and its routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::{
    api::auth::{session_user, Logout, UserView},
    components::header::Header,
    error::AppError,
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

/// Who is logged in, and the actions that change it; provided to every page.
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: Resource<Result<Option<UserView>, AppError>>,
    pub logout: ServerAction<Logout>,
    /// Bumped by anything that changes who is logged in or what they look like (login,
    /// registration, a saved key).
    pub refresh: RwSignal<u32>,
}

impl Auth {
    /// Reloads the session user.
    pub fn reload(&self) {
        self.refresh.update(|n| *n += 1);
    }

    /// Reloads the session user whenever `action` succeeds.
    pub fn reload_after<S>(&self, action: ServerAction<S>)
    where
        S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Send + Sync + 'static,
    {
        let auth = *self;
        Effect::new(move |_| {
            if action.value().with(|v| matches!(v, Some(Ok(_)))) {
                auth.reload();
            }
        });
    }

    /// The user once loaded; `None` while loading or when anonymous.
    pub fn current(&self) -> Option<UserView> {
        self.user.get().and_then(|r| r.ok()).flatten()
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/apexaurum.css"/>
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
