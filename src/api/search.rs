//! Searching one's conversations from the chat page's sidebar.

#[cfg(feature = "ssr")]
use crate::server::search;
use crate::{error::AppError, types::search::SearchHit};
use leptos::prelude::*;

/// The person's conversations whose title or messages hold every word of `q`, newest
/// first (as `GET /api/v1/conversations?q=`); a `q` without words finds nothing.
#[server(prefix = "/api/fn", endpoint = "search_conversations")]
pub async fn search_conversations(q: String) -> Result<Vec<SearchHit>, AppError> {
    let (state, user_id) = super::authenticated()?;
    search::search(&state, user_id, &q).await
}
