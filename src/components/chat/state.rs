//! The chat page's state, shared by its parts through context, and what sending does.
//!
//! Stored messages come from the server (and so are in the server-rendered page); what is
//! sent in this visit is kept as "live" items below them, so an answer that has just
//! finished is not fetched again and nothing flickers when the URL gains `?c=<id>`.

use crate::resource::{resource, JsonResource};
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::{hooks::use_query_map, NavigateOptions};

use super::{
    stream::{new_client_message_id, Outcome},
    upstream_notice::{Trouble, UpstreamNotice},
};
use crate::{
    api::chat::{
        available_models, get_conversation, list_agents, list_conversations, DeleteConversation,
        RenameConversation,
    },
    auth::Auth,
    error::AppError,
    types::chat::{
        AgentView, ChatRequest, ConversationSummary, ConversationView, Done, RateLimitWarning,
    },
};

/// Why the key panel stands in the Message field's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Required,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerStatus {
    Streaming,
    Done,
    /// Stopped, or replaced by a retry: what arrived stays, marked incomplete.
    Incomplete,
    Failed {
        message: String,
        retryable: bool,
    },
    /// Refused by the person's spending cap (its message gives the figures); "Send anyway"
    /// sends it past the cap, once.
    OverCap(String),
}

/// An answer requested in this visit. Reference-counted signals: it lives as long as the
/// list (or a stream still writing to it) holds it, whichever part of the page made it.
#[derive(Clone)]
pub struct LiveAnswer {
    pub key: u32,
    pub text: ArcRwSignal<String>,
    pub status: ArcRwSignal<AnswerStatus>,
    /// The conversation was longer than what is sent with a message: older turns were left
    /// out of what the Agent saw.
    pub history_truncated: ArcRwSignal<bool>,
    /// The `done` event, once the answer is complete: its usage and cost.
    pub done: ArcRwSignal<Option<Done>>,
    request: Arc<ChatRequest>,
}

#[derive(Clone)]
pub enum LiveItem {
    Sent { key: u32, text: String },
    Answer(LiveAnswer),
}

impl LiveItem {
    pub fn key(&self) -> u32 {
        match self {
            Self::Sent { key, .. } => *key,
            Self::Answer(a) => a.key,
        }
    }
}

#[derive(Clone, Copy)]
pub struct ChatState {
    /// The conversation messages go to; `None` starts a new one.
    pub current: RwSignal<Option<String>>,
    /// The conversation whose stored messages are loaded from the server.
    pub shown: RwSignal<Option<String>>,
    pub conversation: JsonResource<Option<Result<ConversationView, AppError>>>,
    pub conversations: JsonResource<Result<Vec<ConversationSummary>, AppError>>,
    list_version: RwSignal<u32>,
    pub agents: JsonResource<Result<Vec<AgentView>, AppError>>,
    pub models: JsonResource<Result<Vec<String>, AppError>>,
    /// The Agent picked for a new conversation (`None`: the default, the first).
    pub agent: RwSignal<Option<String>>,
    /// The model picked in the menu (`None`: the conversation's, or the Agent's).
    pub model: RwSignal<Option<String>>,
    pub live: RwSignal<Vec<LiveItem>>,
    pub draft: RwSignal<String>,
    pub streaming: RwSignal<bool>,
    pub key_problem: RwSignal<Option<KeyProblem>>,
    /// What Anthropic said instead of the last answer (a rate limit, an overload, …).
    pub upstream: RwSignal<Option<UpstreamNotice>>,
    /// Less than a tenth left of one of the key's rate limits, after the last answer.
    pub rate_note: RwSignal<Option<RateLimitWarning>>,
    /// False until the WASM runs: sending needs it.
    pub hydrated: RwSignal<bool>,
    /// The open conversation list on narrow screens.
    pub list_open: RwSignal<bool>,
    pub rename: ServerAction<RenameConversation>,
    pub delete: ServerAction<DeleteConversation>,
    /// The conversation as the server last sent it after an answer or a switch of
    /// version; shown instead of `conversation` while it is the current one.
    pub fresh: RwSignal<Option<ConversationView>>,
    /// Stored messages from this one on are not shown: a regenerated answer or an edited
    /// message is taking their place (as live items).
    pub cut: RwSignal<Option<String>>,
    /// The person's stored message being edited.
    pub editing: RwSignal<Option<String>>,
    /// Why the last switch of version failed.
    pub branch_error: RwSignal<Option<String>>,
    auth: Auth,
    next_key: StoredValue<u32>,
    /// Bumped whenever another conversation opens: a stream still running for the old
    /// one must not steer the page any more.
    generation: StoredValue<u32>,
    /// Stops the answer being streamed when taken or dropped (so also when the page goes).
    stopper: StoredValue<Option<Stopper>>,
}

/// Aborts the task reading an answer when dropped; dropping that task's future closes the
/// connection, and the server cancels the call to Anthropic.
struct Stopper {
    /// The [`LiveAnswer::key`] being read.
    answer: u32,
    handle: futures::future::AbortHandle,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl ChatState {
    /// The chat's state; `key_problem`: the account has no usable key (then the models,
    /// which need one, are not asked for).
    pub fn new(key_problem: Option<KeyProblem>) -> Self {
        let query = use_query_map();
        let initial = query
            .with_untracked(|q| q.get("c"))
            .filter(|c| !c.is_empty());
        let current = RwSignal::new(initial.clone());
        let shown = RwSignal::new(initial.clone());
        let list_version = RwSignal::new(0u32);
        let rename = ServerAction::<RenameConversation>::new();
        let delete = ServerAction::<DeleteConversation>::new();
        let key_problem = RwSignal::new(key_problem);
        let state = Self {
            current,
            shown,
            conversation: resource(
                move || shown.get(),
                |id| async move {
                    match id {
                        Some(id) => Some(get_conversation(id).await),
                        None => None,
                    }
                },
            ),
            conversations: resource(
                move || {
                    (
                        list_version.get(),
                        rename.version().get(),
                        delete.version().get(),
                    )
                },
                |_| list_conversations(),
            ),
            list_version,
            agents: resource(|| (), |_| list_agents()),
            models: resource(
                move || key_problem.get().is_none(),
                |usable| async move {
                    if usable {
                        available_models().await
                    } else {
                        Ok(Vec::new())
                    }
                },
            ),
            agent: RwSignal::new(None),
            model: RwSignal::new(None),
            live: RwSignal::new(Vec::new()),
            draft: RwSignal::new(String::new()),
            streaming: RwSignal::new(false),
            key_problem,
            upstream: RwSignal::new(None),
            rate_note: RwSignal::new(None),
            hydrated: RwSignal::new(false),
            list_open: RwSignal::new(initial.is_none()),
            rename,
            delete,
            fresh: RwSignal::new(None),
            cut: RwSignal::new(None),
            editing: RwSignal::new(None),
            branch_error: RwSignal::new(None),
            auth: expect_context::<Auth>(),
            next_key: StoredValue::new(0),
            generation: StoredValue::new(0),
            stopper: StoredValue::new(None),
        };

        // Another conversation opened (a link, Back, New, a deletion): start over there.
        Effect::new(move |_| {
            let wanted = query.with(|q| q.get("c")).filter(|c| !c.is_empty());
            if wanted != state.current.get_untracked() {
                state.switch_to(wanted);
            }
        });
        Effect::new(move |_| state.hydrated.set(true));
        on_cleanup(move || state.stop());
        state
    }

    /// Shows `id` (or a new conversation), leaving whatever was running.
    pub fn switch_to(self, id: Option<String>) {
        self.stop();
        self.generation.update_value(|g| *g += 1);
        self.current.set(id.clone());
        self.shown.set(id);
        self.live.set(Vec::new());
        self.model.set(None);
        self.streaming.set(false);
        self.fresh.set(None);
        self.cut.set(None);
        self.editing.set(None);
        self.branch_error.set(None);
        self.upstream.set(None);
        self.rate_note.set(None);
    }

    /// The current conversation's summary. Reads resources: call it inside a
    /// `<Suspense>`/`<Transition>`.
    pub fn summary(&self) -> Option<ConversationSummary> {
        let id = self.current.get()?;
        let listed = self.conversations.with(|list| {
            list.as_ref()
                .and_then(|l| l.as_ref().ok())
                .and_then(|l| l.iter().find(|c| c.id == id).cloned())
        });
        listed.or_else(|| {
            self.conversation.with(|c| match c {
                Some(Some(Ok(view))) if view.summary.id == id => Some(view.summary.clone()),
                _ => None,
            })
        })
    }

    /// The Agent with this id, or the default (first) one.
    pub fn agent_view(&self, id: Option<&str>) -> Option<AgentView> {
        self.agents.with(|agents| {
            let agents = agents.as_ref()?.as_ref().ok()?;
            id.and_then(|id| agents.iter().find(|a| a.id == id))
                .or_else(|| agents.first())
                .cloned()
        })
    }

    /// The Agent of the current conversation, or the one picked for a new one.
    pub fn current_agent(&self) -> Option<AgentView> {
        match self.summary() {
            Some(summary) => self.agent_view(Some(&summary.agent)),
            None => self.agent_view(self.agent.get().as_deref()),
        }
    }

    /// The model the next message is sent with.
    pub fn effective_model(&self) -> Option<String> {
        self.model
            .get()
            .or_else(|| self.summary().map(|s| s.model))
            .or_else(|| self.current_agent().map(|a| a.model))
    }

    /// Whether this is a new conversation with nothing sent yet.
    pub fn is_blank(&self) -> bool {
        self.current.get().is_none() && self.live.with(|l| l.is_empty())
    }

    pub(super) fn next_key(&self) -> u32 {
        self.next_key.update_value(|k| *k += 1);
        self.next_key.get_value()
    }

    /// Anthropic refused the saved key: the chat gives way to the panel, and the account
    /// (which the server has marked) is read again.
    pub fn key_rejected(&self) {
        if self.key_problem.get_untracked() != Some(KeyProblem::Rejected) {
            super::gate::PanelFocus::arm();
            self.key_problem.set(Some(KeyProblem::Rejected));
            self.auth.reload();
        }
    }

    pub fn refresh_list(&self) {
        self.list_version.update(|v| *v += 1);
    }

    /// Sends what is in the Message field.
    pub fn send<N>(self, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        if self.streaming.get_untracked() || !self.hydrated.get_untracked() {
            return;
        }
        let text = self.draft.get_untracked().trim().to_string();
        if text.is_empty() {
            focus_message();
            return;
        }
        let conversation_id = self.current.get_untracked();
        let agent = match conversation_id {
            Some(_) => None,
            None => untrack(|| self.current_agent()).map(|a| a.id),
        };
        let request = ChatRequest {
            message: text.clone(),
            conversation_id,
            agent,
            model: untrack(|| self.effective_model()),
            client_message_id: Some(new_client_message_id()),
            ..ChatRequest::default()
        };
        self.draft.set(String::new());
        self.list_open.set(false);
        self.settle_failures();
        let sent = LiveItem::Sent {
            key: self.next_key(),
            text,
        };
        let answer = self.new_answer(request);
        self.live.update(|l| {
            l.push(sent);
            l.push(LiveItem::Answer(answer.clone()));
        });
        focus_message();
        self.run(answer, navigate);
    }

    /// Sends a failed answer's message again, with the same id, so it is stored once.
    pub fn retry<N>(self, failed: LiveAnswer, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        self.resend(failed, navigate, false);
    }

    /// Sends a message the spending cap refused past the cap, this once.
    pub fn send_anyway<N>(self, refused: LiveAnswer, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        self.resend(refused, navigate, true);
    }

    fn resend<N>(self, failed: LiveAnswer, navigate: N, over_cap: bool)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        if self.streaming.get_untracked() {
            return;
        }
        let mut request = (*failed.request).clone();
        request.over_cap = over_cap;
        if let Some(id) = self.current.get_untracked() {
            request.conversation_id = Some(id);
            request.agent = None;
        }
        request.model = untrack(|| self.effective_model()).or(request.model);
        if failed.text.with_untracked(|t| t.is_empty()) {
            self.live
                .update(|l| l.retain(|item| item.key() != failed.key));
        } else {
            failed.status.set(AnswerStatus::Incomplete);
        }
        let answer = self.new_answer(request);
        self.live
            .update(|l| l.push(LiveItem::Answer(answer.clone())));
        focus_message();
        self.run(answer, navigate);
    }

    /// A new message moves the conversation on: earlier failures no longer offer Retry
    /// (what arrived of them stays, marked incomplete).
    fn settle_failures(&self) {
        self.upstream.set(None);
        self.live.update(|items| {
            items.retain(|item| match item {
                LiveItem::Answer(a)
                    if matches!(
                        a.status.get_untracked(),
                        AnswerStatus::Failed { .. } | AnswerStatus::OverCap(_)
                    ) =>
                {
                    let keep = a.text.with_untracked(|t| !t.is_empty());
                    if keep {
                        a.status.set(AnswerStatus::Incomplete);
                    }
                    keep
                }
                _ => true,
            })
        });
    }

    /// Stops the answer being streamed; the server keeps what arrived.
    pub fn stop(&self) {
        // Dropping the stopper aborts.
        self.stopper.try_update_value(Option::take);
    }

    pub(super) fn new_answer(&self, request: ChatRequest) -> LiveAnswer {
        LiveAnswer {
            key: self.next_key(),
            text: ArcRwSignal::new(String::new()),
            status: ArcRwSignal::new(AnswerStatus::Streaming),
            history_truncated: ArcRwSignal::new(false),
            done: ArcRwSignal::new(None),
            request: Arc::new(request),
        }
    }

    pub(super) fn run<N>(self, answer: LiveAnswer, navigate: N)
    where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        self.streaming.set(true);
        scroll_to_end();
        #[cfg(feature = "hydrate")]
        {
            let (handle, registration) = futures::future::AbortHandle::new_pair();
            self.stopper.set_value(Some(Stopper {
                answer: answer.key,
                handle,
            }));
            let generation = self.generation.get_value();
            leptos::task::spawn_local(async move {
                let navigate: Navigate = std::rc::Rc::new(navigate);
                // Stop before the chunk has loaded still stops: `registration` is already
                // aborted when the reading starts.
                match answer_in_chunk(self, answer.clone(), generation, registration, navigate)
                    .await
                {
                    Ok(reading) => reading.await,
                    Err(crate::chunk::Unloaded) => self.unloaded(answer),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (answer, navigate);
    }

    /// What sending needs did not load (see [`answer_in_chunk`]): nothing was sent, and
    /// Retry sends the message, which the answer keeps, with its id.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn unloaded(self, answer: LiveAnswer) {
        if !self.reading_ended(&answer) {
            return;
        }
        answer.status.set(AnswerStatus::Failed {
            message: NOT_LOADED.into(),
            retryable: true,
        });
    }

    /// `answer` is no longer being read: nothing streams, and its Stop is gone (aborting it
    /// now would do nothing; another answer's stays). False when the page has been left
    /// meanwhile, and there is nothing to settle.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn reading_ended(&self, answer: &LiveAnswer) -> bool {
        if self.streaming.try_get_untracked().is_none() {
            return false;
        }
        self.streaming.set(false);
        self.stopper.update_value(|s| {
            if s.as_ref().is_some_and(|s| s.answer == answer.key) {
                *s = None;
            }
        });
        true
    }

    /// Settles an answer once its stream has ended, one way or another.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    async fn finish<N>(
        self,
        answer: LiveAnswer,
        generation: u32,
        request: Arc<ChatRequest>,
        outcome: Outcome,
        navigate: N,
    ) where
        N: Fn(&str, NavigateOptions) + Clone + 'static,
    {
        if !self.reading_ended(&answer) {
            return;
        }
        let still_here = self.generation.get_value() == generation;
        let retryable = |message: String| AnswerStatus::Failed {
            message,
            retryable: true,
        };
        // Whether a new conversation may have been created on the server anyway.
        let mut look_for_new = true;
        // Stopped after the first words: the server stores what arrived.
        let mut stopped_with_text = false;
        let trouble = Trouble::of(&outcome);
        match outcome {
            Outcome::Done(done) => {
                self.rate_note.set(done.rate_limit.clone());
                answer.status.set(AnswerStatus::Done);
                answer.history_truncated.set(done.history_truncated);
                answer.done.set(Some(done.clone()));
                look_for_new = false;
                if still_here {
                    self.adopt(done.conversation_id.clone(), &navigate);
                    // The stored answer, with its versions, takes the live one's place.
                    self.reload(done.conversation_id);
                }
            }
            Outcome::Stopped(error) => {
                // Every mid-stream failure is worth a retry; what arrived is stored.
                answer.status.set(retryable(error.message));
                if still_here {
                    look_for_new = false;
                    self.adopt(error.conversation_id, &navigate);
                }
            }
            Outcome::Lost => {
                answer.status.set(retryable(
                    "The connection was lost before the answer finished. Please try again.".into(),
                ));
            }
            Outcome::Aborted => {
                answer.status.set(AnswerStatus::Incomplete);
                stopped_with_text = answer.text.with_untracked(|t| !t.is_empty());
            }
            Outcome::Refused(error) => match error {
                AppError::ApiKeyInvalid => {
                    self.key_rejected();
                    return;
                }
                AppError::ApiKeyRequired => {
                    self.key_problem.set(Some(KeyProblem::Required));
                    self.auth.reload();
                    return;
                }
                AppError::Unauthenticated => {
                    self.auth.reload();
                    return;
                }
                AppError::SpendCapReached { .. } | AppError::SpendCapUnpriced { .. } => {
                    answer.status.set(AnswerStatus::OverCap(error.to_string()))
                }
                AppError::AnthropicUnavailable
                | AppError::RateLimited { .. }
                | AppError::Internal
                | AppError::Transport => answer.status.set(retryable(error.to_string())),
                _ => answer.status.set(AnswerStatus::Failed {
                    message: error.to_string(),
                    retryable: false,
                }),
            },
        }
        if !still_here {
            return;
        }
        if let Some(trouble) = trouble {
            self.show_upstream(UpstreamNotice::new(trouble, answer));
        }
        if look_for_new
            && request.conversation_id.is_none()
            && self.current.get_untracked().is_none()
        {
            self.find_started(&request.message, &navigate).await;
        }
        if stopped_with_text {
            // Shown as stored, the cut-off answer can be regenerated.
            self.reload_stopped();
        }
        self.refresh_list();
    }

    /// Anthropic's trouble is told in the composer, with its own Retry: the failed answer
    /// goes (or, if some of it arrived, stays marked incomplete).
    fn show_upstream(&self, notice: UpstreamNotice) {
        let answer = &notice.answer;
        if answer.text.with_untracked(|t| t.is_empty()) {
            self.live
                .update(|l| l.retain(|item| item.key() != answer.key));
        } else {
            answer.status.set(AnswerStatus::Incomplete);
        }
        self.upstream.set(Some(notice));
    }

    /// Makes `id` the current conversation and puts it in the URL (so a reload shows it).
    fn adopt<N>(&self, id: String, navigate: &N)
    where
        N: Fn(&str, NavigateOptions),
    {
        if self.current.get_untracked().as_deref() == Some(id.as_str()) {
            return;
        }
        let url = format!("/chat?c={}", crate::util::encode_query(&id));
        self.current.set(Some(id));
        navigate(
            &url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    }

    /// After Stop or a failure, the server has usually created the conversation and kept
    /// the message, but the stream never said which one it was: find it in the list (the
    /// newest, titled after the message), so the next message continues it.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    async fn find_started<N>(&self, message: &str, navigate: &N)
    where
        N: Fn(&str, NavigateOptions),
    {
        let title = crate::types::chat::conversation_title(message);
        if let Ok(list) = list_conversations().await {
            if let Some(newest) = list.into_iter().next().filter(|c| c.title == title) {
                if self.current.try_get_untracked() == Some(None) {
                    self.adopt(newest.id, navigate);
                }
            }
        }
    }
}

/// Said in an answer's place when the code that sends messages did not load.
pub const NOT_LOADED: &str =
    "The part of the page that sends messages did not load. Check your connection, then press Retry.";

/// How the chat moves to another address (the router's `navigate`), once it crosses into
/// the sending chunk.
#[cfg(feature = "hydrate")]
type Navigate = std::rc::Rc<dyn Fn(&str, NavigateOptions)>;

/// Sending a message and reading its answer, in the WASM chunk of what writes answers
/// (`crate::chunk`), with the Markdown renderer the answer needs: the request, the stream's
/// reader and its events' decoders, and what the end of an answer does to the page. A page
/// that is only read never loads it; typing a message starts loading it
/// ([`preload_sending`]). The returned future reads the answer until it
/// ends or `registration` is aborted (Stop), then settles it ([`ChatState::finish`]).
#[cfg(feature = "hydrate")]
#[leptos::wasm_split::wasm_split(
    apx_answers,
    wasm_split_path = ::leptos::wasm_split,
    fallible,
    preload(preload_sending_chunk)
)]
fn answer_in_chunk(
    state: ChatState,
    answer: LiveAnswer,
    generation: u32,
    registration: futures::future::AbortRegistration,
    navigate: Navigate,
) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>, crate::chunk::Unloaded> {
    Ok(Box::pin(async move {
        let request = answer.request.clone();
        let text = answer.text.clone();
        let reading = super::stream::send(&request, move |delta| {
            let follow = near_end();
            text.update(|t| t.push_str(delta));
            if follow {
                scroll_to_end();
            }
        });
        // Stop drops `reading` (the call or its stream) right here.
        let outcome = futures::future::Abortable::new(reading, registration)
            .await
            .unwrap_or(Outcome::Aborted);
        let navigate = move |url: &str, options: NavigateOptions| navigate(url, options);
        state
            .finish(answer, generation, request, outcome, navigate)
            .await;
    }))
}

/// Starts loading the code that sends messages (the person has started writing one), so
/// Send does not wait for it.
pub fn preload_sending() {
    // A failure shows when Send calls the chunk (`unloaded`), which tries again.
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async {
        let _ = preload_sending_chunk().await;
    });
}

/// Puts the keyboard focus in the Message field.
pub fn focus_message() {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast as _;
        if let Some(field) = document()
            .get_element_by_id("message")
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = field.focus();
        }
    }
}

/// Whether the page is scrolled to (about) its end, so new text should keep it there.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn near_end() -> bool {
    #[cfg(feature = "hydrate")]
    {
        let window = window();
        let Some(root) = document().document_element() else {
            return true;
        };
        let seen = window.scroll_y().unwrap_or(0.0)
            + window
                .inner_height()
                .ok()
                .and_then(|h| h.as_f64())
                .unwrap_or(0.0);
        f64::from(root.scroll_height()) - seen < 120.0
    }
    #[cfg(not(feature = "hydrate"))]
    true
}

/// Scrolls to the end of the page once the latest change is drawn.
pub fn scroll_to_end() {
    #[cfg(feature = "hydrate")]
    request_animation_frame(|| {
        if let Some(root) = document().document_element() {
            window().scroll_to_with_x_and_y(0.0, f64::from(root.scroll_height()));
        }
    });
}
