//! Conversations with the Agents. Sending a message streams from `POST /api/v1/chat`
//! (Server-Sent Events); everything else is a server function here.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::server::chat;

/// An Agent as the browser sees it (no system prompt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub model: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct MessageView {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    /// An answer cut off by a dropped stream, Stop or an upstream error.
    pub incomplete: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub messages: Vec<MessageView>,
}

/// Token totals of one model over the current calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UsageRow {
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub answers: i64,
}

/// A new conversation's title: its first message on one line, at most 60 characters.
pub fn conversation_title(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(60)
        .collect()
}

/// The body of `POST /api/v1/chat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// The browser's id for this message; sending it again (a retry) never stores the
    /// message twice.
    #[serde(default)]
    pub client_message_id: Option<String>,
}

#[server(prefix = "/api/fn", endpoint = "agents")]
pub async fn list_agents() -> Result<Vec<AgentView>, AppError> {
    let (state, session) = super::context().await?;
    session.require().await?;
    Ok(state.agents.views())
}

#[server(prefix = "/api/fn", endpoint = "models")]
pub async fn available_models() -> Result<Vec<String>, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::available_models(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversations")]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::list(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationView, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::get(&state, user_id, &id).await
}

#[server(prefix = "/api/fn", endpoint = "rename_conversation")]
pub async fn rename_conversation(
    id: String,
    title: String,
) -> Result<ConversationSummary, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::rename(&state, user_id, &id, &title).await
}

#[server(prefix = "/api/fn", endpoint = "delete_conversation")]
pub async fn delete_conversation(id: String) -> Result<(), AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::delete(&state, user_id, &id).await?;
    leptos_axum::redirect("/chat");
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "usage_this_month")]
pub async fn usage_this_month() -> Result<Vec<UsageRow>, AppError> {
    let (state, session) = super::context().await?;
    let user_id = session.require().await?;
    chat::usage_this_month(&state, user_id).await
}
