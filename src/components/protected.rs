use leptos::prelude::*;
use leptos_router::{components::Redirect, hooks::use_location};

use crate::{auth::Auth, types::user::UserView};

/// Renders `children` with the logged-in user; anyone else goes to `/login` and back.
/// (Full page loads are gated on the server before rendering; this covers client-side
/// navigation after a session has ended.)
#[component]
pub fn Protected<F, V>(children: F) -> impl IntoView
where
    F: Fn(UserView) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let auth = expect_context::<Auth>();
    let location = use_location();
    let children = std::sync::Arc::new(children);
    view! {
        <Suspense fallback=|| view! { <p class="loading" aria-live="polite">"Loading…"</p> }>
            {move || {
                let children = children.clone();
                // Await the user rather than read it: while a login reloads the user, a read
                // would still see the anonymous one and send the person back to /login.
                Suspend::new(async move {
                    match auth.user.await.ok().flatten() {
                        Some(user) => children(user).into_any(),
                        None => {
                            let search = location.search.get_untracked();
                            let query = if search.is_empty() { String::new() } else { format!("?{}", search.trim_start_matches('?')) };
                            let next = format!("{}{query}", location.pathname.get_untracked());
                            let path = format!("/login?next={}", crate::util::encode_query(&next));
                            view! { <Redirect path=path/> }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}
