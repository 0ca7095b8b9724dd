//! Conversations with the Agents, and sending a message: `send_message` streams the
//! answer back as it arrives.

// `send_message`'s arguments are the fields of `POST /api/v1/chat`'s JSON body, one each
// (the server macro also generates functions that take them all).
#![allow(clippy::too_many_arguments)]

#[cfg(feature = "ssr")]
use crate::server::{billing, chat, chat_stream, conversations};
#[cfg(feature = "ssr")]
use crate::types::chat::ChatRequest;
use crate::{
    error::AppError,
    types::chat::{AgentView, ConversationSummary, ConversationView, UsageRow},
};
use leptos::{
    prelude::*,
    server_fn::codec::{ByteStream, Json, Streaming},
};

/// Sends a message (the arguments are `POST /api/v1/chat`'s body, as JSON) and streams the
/// answer: [`ChatEvent`](crate::types::chat::ChatEvent) frames, one JSON object a line,
/// read with [`FrameDecoder`](crate::types::chat::FrameDecoder); an empty line is a
/// keep-alive. A failure before the answer starts (no usable key, a bad request, Anthropic
/// unavailable or refusing the key) is this call's `AppError` with its HTTP status; after
/// that it is the stream's `error` event. Dropping the stream (Stop, leaving the page, a
/// closed tab) closes the connection, and the server cancels the call to Anthropic,
/// keeping what arrived as an incomplete answer.
#[server(prefix = "/api/fn", endpoint = "send_message", input = Json, output = Streaming)]
pub async fn send_message(
    message: String,
    conversation_id: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    client_message_id: Option<String>,
    #[server(default)] regenerate: Option<String>,
    #[server(default)] edit_of: Option<String>,
    /// "Send anyway": past the spending cap, this once.
    #[server(default)]
    over_cap: bool,
) -> Result<ByteStream<AppError>, AppError> {
    let (state, user) = super::signed_in()?;
    let key = billing::chat_key_of(&state, &user).await?;
    let request = ChatRequest {
        message,
        conversation_id,
        agent,
        model,
        client_message_id,
        regenerate,
        edit_of,
        over_cap,
    };
    let events = chat::start(state, &user, key, request).await?;
    let response = use_context::<leptos_axum::ResponseOptions>().ok_or_else(|| {
        tracing::error!("send_message ran without the response options");
        AppError::Internal
    })?;
    for (name, value) in chat_stream::unbuffered_headers() {
        response.insert_header(name, value);
    }
    Ok(ByteStream::new(chat_stream::frames(events)))
}

#[server(prefix = "/api/fn", endpoint = "agents")]
pub async fn list_agents() -> Result<Vec<AgentView>, AppError> {
    let (state, _) = super::authenticated()?;
    Ok(state.agents.views())
}

#[server(prefix = "/api/fn", endpoint = "models")]
pub async fn available_models() -> Result<Vec<String>, AppError> {
    let (state, user_id) = super::authenticated()?;
    chat::available_models(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversations")]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::list(&state, user_id).await
}

#[server(prefix = "/api/fn", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationView, AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::get(&state, user_id, &id).await
}

/// Switches a conversation to the branch through `message_id` (a version of a message);
/// returns the conversation along it.
#[server(prefix = "/api/fn", endpoint = "select_branch")]
pub async fn select_branch(
    conversation_id: String,
    message_id: String,
) -> Result<ConversationView, AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::select(&state, user_id, &conversation_id, &message_id).await
}

#[server(prefix = "/api/fn", endpoint = "rename_conversation")]
pub async fn rename_conversation(
    id: String,
    title: String,
) -> Result<ConversationSummary, AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::rename(&state, user_id, &id, &title).await
}

#[server(prefix = "/api/fn", endpoint = "delete_conversation")]
pub async fn delete_conversation(id: String) -> Result<(), AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::delete(&state, user_id, &id).await?;
    leptos_axum::redirect("/chat");
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "usage_this_month")]
pub async fn usage_this_month() -> Result<Vec<UsageRow>, AppError> {
    let (state, user_id) = super::authenticated()?;
    conversations::usage_this_month(&state, user_id).await
}
