//! Who is logged in, as the pages know it: the session user, loaded once per page and
//! shared through context, with the actions that change it.

use crate::resource::JsonResource;
use leptos::prelude::*;

use crate::{error::AppError, types::user::UserView};

/// Who is logged in; provided to every page. (Logging out is a page load: the header's
/// form posts to the logout server function.)
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: JsonResource<Result<Option<UserView>, AppError>>,
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
