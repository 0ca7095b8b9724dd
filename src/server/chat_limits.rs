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

/// Answers streaming now, per user, on this instance.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<i64, usize>>,
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

    #[test]
    fn nobody_is_remembered_once_their_streams_end() {
        let slots = Arc::new(StreamSlots::default());
        for user in 0..1000 {
            drop(slots.take(user, 3).unwrap());
        }
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
