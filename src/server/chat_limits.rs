//! Bounds on chatting, per person: how many answers may stream at once (on this instance)
//! and how many messages a minute (shared by every instance, through the limiter's store).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crate::error::AppError;

/// How long to wait before trying again once every slot is taken: answers take seconds.
const SLOT_RETRY: Duration = Duration::from_secs(5);

/// Answers streaming now, per user, on this instance; and, once the server is stopping and
/// has given them their grace time, the word to cut them short (see [`Self::cut_all`]).
#[derive(Debug)]
pub struct StreamSlots {
    open: Mutex<HashMap<i64, usize>>,
    /// Set when the answers still streaming are to end now.
    cut: tokio::sync::watch::Sender<bool>,
    /// Told when the last open slot is freed.
    emptied: tokio::sync::Notify,
}

impl Default for StreamSlots {
    fn default() -> Self {
        Self {
            open: Mutex::default(),
            cut: tokio::sync::watch::channel(false).0,
            emptied: tokio::sync::Notify::new(),
        }
    }
}

/// One streaming answer's place; the place frees itself when dropped (stream ended, browser
/// gone, task ended however it ended).
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user_id: i64,
}

impl StreamSlots {
    /// A place for one more answer of `user_id`'s, or `rate_limited` when `max` stream
    /// already.
    pub fn take(self: &Arc<Self>, user_id: i64, max: usize) -> Result<StreamSlot, AppError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user_id).or_default();
        if *count >= max {
            return Err(AppError::rate_limited(SLOT_RETRY));
        }
        *count += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user_id,
        })
    }

    /// Answers streaming now for `user_id`.
    pub fn open(&self, user_id: i64) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&user_id).copied().unwrap_or(0)
    }

    /// Tells every answer streaming on this instance, and any begun from now on, to end now
    /// (the server is stopping): each keeps what arrived, as a cut-off answer.
    pub fn cut_all(&self) {
        self.cut.send_replace(true);
    }

    /// Resolves once [`Self::cut_all`] was called (at once if it was already).
    pub fn cut(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut cut = self.cut.subscribe();
        async move {
            // The sender lives as long as the slots, which the caller's state holds.
            if cut.wait_for(|cut| *cut).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves once no answer holds a slot (every relay has stored what it had).
    pub async fn all_ended(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            emptied.await;
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                // Nobody's count stays behind: the map holds only people streaming now.
                open.remove(&self.user_id);
                if open.is_empty() {
                    self.slots.emptied.notify_waiters();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_gets_at_most_max_places_and_a_finished_stream_frees_one() {
        let slots = Arc::new(StreamSlots::default());
        let a = slots.take(1, 2).unwrap();
        let _b = slots.take(1, 2).unwrap();
        assert!(matches!(
            slots.take(1, 2),
            Err(AppError::RateLimited {
                retry_after_secs: 5
            })
        ));
        let _other = slots.take(2, 2).expect("another person is not affected");
        drop(a);
        assert_eq!(slots.open(1), 1);
        let _c = slots.take(1, 2).unwrap();
    }

    #[tokio::test]
    async fn cutting_reaches_answers_begun_before_and_after_and_the_end_of_the_last_is_told() {
        let slots = Arc::new(StreamSlots::default());
        let before = slots.cut();
        let a = slots.take(1, 3).unwrap();
        let b = slots.take(2, 3).unwrap();
        let ended = tokio::spawn({
            let slots = slots.clone();
            async move { slots.all_ended().await }
        });
        tokio::task::yield_now().await;
        assert!(!ended.is_finished());
        slots.cut_all();
        before.await;
        slots.cut().await; // already cut: at once
        drop(a);
        tokio::task::yield_now().await;
        assert!(!ended.is_finished(), "one answer still holds its slot");
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), ended)
            .await
            .expect("told when the last slot was freed")
            .unwrap();
        slots.all_ended().await; // none open: at once
    }

    #[test]
    fn nobody_is_remembered_once_their_streams_end() {
        let slots = Arc::new(StreamSlots::default());
        for user in 0..1000 {
            drop(slots.take(user, 3).unwrap());
        }
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
