//! Prompt caching: `cache_control` breakpoints that let each follow-up read the earlier
//! turns from Anthropic's cache instead of paying full input price for them again.
//!
//! Two breakpoints (Anthropic allows four): the Agent's system prompt, which every message
//! of every conversation with that Agent shares, and the last block of the conversation so
//! far (the person's latest message). The next message's request starts with this one's
//! prefix, and Anthropic looks back from a breakpoint for the longest prefix it has cached,
//! so the next turn reads all of this one from the cache and writes only what is new.
//! A prefix changes (and is written again) when the history budget leaves older turns out.

use super::anthropic::protocol::{CacheControl, Content, MessagesRequest, RequestBlock};

/// Puts the breakpoints on `request`: its system prompt and its last message become one
/// text block each, marked `ephemeral` (the 5-minute cache).
pub fn mark(request: &mut MessagesRequest) {
    if let Some(system) = request.system.as_mut() {
        mark_last_block(system);
    }
    if let Some(last) = request.messages.last_mut() {
        mark_last_block(&mut last.content);
    }
}

fn mark_last_block(content: &mut Content) {
    match content {
        Content::Text(text) if !text.is_empty() => {
            *content = Content::Blocks(vec![RequestBlock::Text {
                text: std::mem::take(text),
                cache_control: Some(CacheControl::ephemeral()),
            }]);
        }
        Content::Text(_) => {}
        Content::Blocks(blocks) => {
            if let Some(RequestBlock::Text { cache_control, .. }) = blocks.last_mut() {
                *cache_control = Some(CacheControl::ephemeral());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::server::anthropic::protocol::{Message, Role};

    #[test]
    fn the_system_prompt_and_the_latest_message_carry_the_breakpoints() {
        let message = |role, text: &str| Message {
            role,
            content: Content::Text(text.into()),
        };
        let mut request = MessagesRequest {
            model: "claude-sonnet-4-5".into(),
            max_tokens: 10,
            system: Some(Content::Text("Be brief.".into())),
            messages: vec![
                message(Role::User, "one"),
                message(Role::Assistant, "two"),
                message(Role::User, "three"),
            ],
            stream: true,
            thinking: None,
        };
        mark(&mut request);
        let wire = serde_json::to_value(&request).unwrap();
        let marked = json!({"type": "ephemeral"});
        assert_eq!(
            wire["system"],
            json!([{"type": "text", "text": "Be brief.", "cache_control": marked}])
        );
        assert_eq!(wire["messages"][0]["content"], "one");
        assert_eq!(wire["messages"][1]["content"], "two");
        assert_eq!(
            wire["messages"][2]["content"],
            json!([{"type": "text", "text": "three", "cache_control": marked}])
        );
        // Marking twice changes nothing.
        let again = {
            let mut r = request.clone();
            mark(&mut r);
            r
        };
        assert_eq!(again, request);
    }
}
