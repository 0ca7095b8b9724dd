//! Conversations with the Agents. Sending a message streams from `POST /api/v1/chat`
//! (Server-Sent Events); everything else is a server function here.

#[cfg(feature = "ssr")]
use crate::server::{chat, conversations};
use crate::{
    error::AppError,
    types::chat::{AgentView, ConversationSummary, ConversationView, UsageRow},
};
use leptos::prelude::*;

#[server(prefix = "/api/fn", endpoint = "agents")]
pub async fn list_agents() -> Result<Vec<AgentView>, AppError> {
    let (state, _) = super::authenticated().await?;
    Ok(state.agents.views())
}

#[server(prefix = "/api/fn", endpoint = "models")]
pub async fn available_models() -> Result<Vec<String>, AppError> {
    let (state, user_id) = super::authenticated().await?;
    chat::available_models(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversations")]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, AppError> {
    let (state, user_id) = super::authenticated().await?;
    conversations::list(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationView, AppError> {
    let (state, user_id) = super::authenticated().await?;
    conversations::get(&state, user_id, &id).await
}

#[server(prefix = "/api/fn", endpoint = "rename_conversation")]
pub async fn rename_conversation(
    id: String,
    title: String,
) -> Result<ConversationSummary, AppError> {
    let (state, user_id) = super::authenticated().await?;
    conversations::rename(&state, user_id, &id, &title).await
}

#[server(prefix = "/api/fn", endpoint = "delete_conversation")]
pub async fn delete_conversation(id: String) -> Result<(), AppError> {
    let (state, user_id) = super::authenticated().await?;
    conversations::delete(&state, user_id, &id).await?;
    leptos_axum::redirect("/chat");
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "usage_this_month")]
pub async fn usage_this_month() -> Result<Vec<UsageRow>, AppError> {
    let (state, user_id) = super::authenticated().await?;
    conversations::usage_this_month(&state, user_id).await
}
