//! Versions of a conversation: regenerating the last answer, editing a message of the
//! person, and flipping between the versions the server keeps (see `server::branches`).
//! What is shown after each of them is the conversation as the server sends it back.

use leptos::prelude::*;
use leptos_router::NavigateOptions;

use super::{
    state::{focus_message, ChatState, LiveItem},
    stream::new_client_message_id,
};
use crate::{
    error::AppError,
    types::chat::{ChatRequest, ConversationView, MessageView},
};

impl ChatState {
    /// The stored conversation to show: the one fetched after the latest answer or switch
    /// of version when it is the current one, else the page's own. Reads a resource: call
    /// it inside a `<Suspense>`/`<Transition>`.
    pub fn stored(&self) -> Option<Option<Result<ConversationView, AppError>>> {
        let current = self.current.get();
        let fresh = self.fresh.with(|f| {
            f.clone()
                .filter(|v| Some(&v.summary.id) == current.as_ref())
        });
        match fresh {
            Some(view) => Some(Some(Ok(view))),
            None => self.conversation.get(),
        }
    }

    /// The stored messages shown: the current path, up to the cut.
    pub fn shown_messages(&self) -> Vec<MessageView> {
        let cut = self.cut.get();
        let mut messages = match self.stored() {
            Some(Some(Ok(view))) => view.messages,
            _ => Vec::new(),
        };
        if let Some(cut) = cut {
            if let Some(at) = messages.iter().position(|m| m.id == cut) {
                messages.truncate(at);
            }
        }
        messages
    }

    /// Fetches conversation `id` again and shows it in place of the live items, unless
    /// another answer started meanwhile (its own end will fetch again).
    pub fn reload(self, id: String) {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let view = crate::api::chat::get_conversation(id).await;
            if self.streaming.try_get_untracked() != Some(false) {
                return;
            }
            if let Ok(view) = view {
                self.show(view);
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    }

    /// After Stop: once the server has stored what arrived (it does so when it notices
    /// the closed connection, so a moment later), shows the conversation as stored, and
    /// reads the list again: the stored answer moved the conversation to the top, which the
    /// list read at Stop may not have seen yet. Left as it is when the answer does not
    /// turn up.
    pub fn reload_stopped(self) {
        // The answers shown before: the stopped one is none of them.
        let known: Vec<String> = match untrack(|| self.stored()) {
            Some(Some(Ok(view))) => view.messages.into_iter().map(|m| m.id).collect(),
            _ => Vec::new(),
        };
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            for attempt in 0..8 {
                if attempt > 0 {
                    crate::util::pause(250).await;
                }
                let Some(Some(id)) = self.current.try_get_untracked() else {
                    return;
                };
                if self.streaming.try_get_untracked() != Some(false) {
                    return;
                }
                let Ok(view) = crate::api::chat::get_conversation(id).await else {
                    return;
                };
                let stored = view.messages.last().is_some_and(|m| {
                    m.role == "assistant" && m.incomplete && !known.contains(&m.id)
                });
                if stored {
                    if self.streaming.try_get_untracked() == Some(false) {
                        self.show(view);
                    }
                    self.refresh_list();
                    return;
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = known;
    }

    /// Shows `view` as the conversation, nothing live below it.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn show(&self, view: ConversationView) {
        if self.current.get_untracked().as_deref() != Some(view.summary.id.as_str()) {
            return;
        }
        self.fresh.set(Some(view));
        self.live.set(Vec::new());
        self.cut.set(None);
        self.branch_error.set(None);
    }

    /// Whether versions may be asked for or switched now.
    pub fn can_branch(&self) -> bool {
        self.hydrated.get() && !self.streaming.get()
    }

    /// Asks for another answer in place of the stored answer `answer_id` (kept as an
    /// earlier version).
    pub fn regenerate<N>(self, answer_id: String, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        if !untrack(|| self.can_branch()) {
            return;
        }
        let Some(conversation_id) = self.current.get_untracked() else {
            return;
        };
        let request = ChatRequest {
            conversation_id: Some(conversation_id),
            model: untrack(|| self.effective_model()),
            regenerate: Some(answer_id.clone()),
            ..ChatRequest::default()
        };
        self.editing.set(None);
        self.branch_error.set(None);
        self.cut.set(Some(answer_id));
        let answer = self.new_answer(request);
        self.live.set(vec![LiveItem::Answer(answer.clone())]);
        self.run(answer, navigate);
    }

    /// Sends `text` as a new version of the person's stored message `message_id`; the
    /// turns after the old version stay on its branch.
    pub fn edit<N>(self, message_id: String, text: String, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        let text = text.trim().to_string();
        if text.is_empty() || !untrack(|| self.can_branch()) {
            return;
        }
        let Some(conversation_id) = self.current.get_untracked() else {
            return;
        };
        let request = ChatRequest {
            message: text.clone(),
            conversation_id: Some(conversation_id),
            model: untrack(|| self.effective_model()),
            client_message_id: Some(new_client_message_id()),
            edit_of: Some(message_id.clone()),
            ..ChatRequest::default()
        };
        self.editing.set(None);
        self.branch_error.set(None);
        self.cut.set(Some(message_id));
        let sent = LiveItem::Sent {
            key: self.next_key(),
            text,
        };
        let answer = self.new_answer(request);
        self.live.set(vec![sent, LiveItem::Answer(answer.clone())]);
        focus_message();
        self.run(answer, navigate);
    }

    /// Shows the version `message_id` (and the turns last seen under it).
    pub fn select(self, message_id: String) {
        if !untrack(|| self.can_branch()) {
            return;
        }
        let Some(conversation_id) = self.current.get_untracked() else {
            return;
        };
        self.editing.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match crate::api::chat::select_branch(conversation_id, message_id).await {
                Ok(view) => self.show(view),
                Err(e) => self.branch_error.set(Some(e.to_string())),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (conversation_id, message_id);
    }

    /// Opens the edit of the person's last stored message, if nothing follows it live.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn edit_last(&self) -> bool {
        if !untrack(|| self.can_branch()) || self.live.with_untracked(|l| !l.is_empty()) {
            return false;
        }
        let last = untrack(|| self.shown_messages())
            .into_iter()
            .rev()
            .find(|m| m.role == "user");
        match last {
            Some(message) => {
                self.editing.set(Some(message.id));
                true
            }
            None => false,
        }
    }
}
