//! Long polls (`GET /requests/{number}?wait=`, `?min_version=`): who waits for which request, so
//! that a commit of the status view wakes only the polls of the requests it changed, and how many
//! polls one principal may hold at once.
//!
//! The status view's projector publishes, with each batch, the streams the batch touched
//! ([`Progress::streams`]). [`Polls::follow`] wakes the polls watching those streams; when it may
//! have missed a batch (its `batches` count jumped: a burst coalesced, leadership changed, a
//! rebuild swapped the table) it wakes them all, as the status view's row cache drops everything.
//! A process that does not project the view itself (a standby, or one following Kafka) sees no
//! streams: it wakes its polls every [`FOLLOWER_TICK`] instead, one re-read each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use projections::Progress;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Polls one principal may hold at once: a portal follows a request or two.
pub const PER_PRINCIPAL: usize = 8;
/// Polls the process holds at once, all principals together.
pub const TOTAL: usize = 10_000;
/// How often a process that does not project the view wakes its polls to re-read.
const FOLLOWER_TICK: Duration = Duration::from_millis(500);

/// The polls of the process.
#[derive(Default)]
pub struct Polls {
    /// The polls watching each stream.
    watched: Mutex<HashMap<Uuid, Watched>>,
    /// The polls each principal holds, and all of them.
    held: Mutex<Held>,
}

struct Watched {
    notify: Arc<Notify>,
    polls: usize,
}

#[derive(Default)]
struct Held {
    by_principal: HashMap<String, usize>,
    total: usize,
}

/// A principal already holds as many polls as it may, or the process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPolls;

/// A poll held by a principal; dropping it (the answer, or the client hanging up) frees it.
pub struct Slot {
    polls: Arc<Polls>,
    principal: String,
}

/// A poll's watch on a stream: wakes when a commit touches it.
pub struct Watch {
    polls: Arc<Polls>,
    stream: Uuid,
    notify: Arc<Notify>,
}

impl Polls {
    /// Takes one of `principal`'s poll slots.
    ///
    /// # Errors
    /// [`TooManyPolls`] when the principal holds [`PER_PRINCIPAL`] already, or the process
    /// [`TOTAL`].
    pub fn hold(self: &Arc<Self>, principal: String) -> Result<Slot, TooManyPolls> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.total >= TOTAL {
            return Err(TooManyPolls);
        }
        let count = held.by_principal.entry(principal.clone()).or_insert(0);
        if *count >= PER_PRINCIPAL {
            return Err(TooManyPolls);
        }
        *count += 1;
        held.total += 1;
        Ok(Slot {
            polls: self.clone(),
            principal,
        })
    }

    /// Watches `stream` until the watch is dropped.
    pub fn watch(self: &Arc<Self>, stream: Uuid) -> Watch {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = watched.entry(stream).or_insert_with(|| Watched {
            notify: Arc::new(Notify::new()),
            polls: 0,
        });
        entry.polls += 1;
        Watch {
            polls: self.clone(),
            stream,
            notify: entry.notify.clone(),
        }
    }

    /// Wakes the polls of `streams`.
    fn changed(&self, streams: &[Uuid]) {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in streams {
            if let Some(entry) = watched.get(stream) {
                entry.notify.notify_waiters();
            }
        }
    }

    /// Wakes every poll.
    fn changed_all(&self) {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in watched.values() {
            entry.notify.notify_waiters();
        }
    }

    /// Polls held now (for tests and metrics).
    pub fn held(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// New polls, woken from now on by the projector's `progress` (a task of their own).
    pub fn following(progress: watch::Receiver<Progress>) -> Arc<Self> {
        let polls = Arc::new(Self::default());
        tokio::spawn(polls.clone().follow(progress));
        polls
    }

    /// Follows the status view's projector and wakes the polls of what each batch changed, until
    /// the projector's sender is gone. Spawn it.
    pub async fn follow(self: Arc<Self>, mut progress: watch::Receiver<Progress>) {
        let mut last = progress.borrow_and_update().batches;
        let mut tick = tokio::time::interval(FOLLOWER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Cancel safe: `changed` and `tick` keep no state across a lost race.
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let current = progress.borrow_and_update().clone();
                    if current.leader && current.batches.wrapping_sub(last) == 1 {
                        self.changed(&current.streams);
                    } else {
                        self.changed_all();
                    }
                    last = current.batches;
                }
                _ = tick.tick() => {
                    if !progress.borrow().leader {
                        self.changed_all();
                    }
                }
            }
        }
    }
}

impl Watch {
    /// A future that completes at the next wake of this stream's polls; enable it (`enable()`)
    /// before reading the row, so that a commit between the read and the wait is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self
            .polls
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = watched.get_mut(&self.stream) {
            entry.polls -= 1;
            if entry.polls == 0 {
                watched.remove(&self.stream);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .polls
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.total = held.total.saturating_sub(1);
        if let Some(count) = held.by_principal.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                held.by_principal.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_holds_at_most_its_share_and_a_dropped_slot_frees_one() {
        let polls = Arc::new(Polls::default());
        let mut slots: Vec<Slot> = (0..PER_PRINCIPAL)
            .map(|_| polls.hold("citizen:1".into()).expect("within the share"))
            .collect();
        assert_eq!(polls.hold("citizen:1".into()).err(), Some(TooManyPolls));
        let other = polls.hold("citizen:2".into()).expect("another principal");
        drop(slots.pop());
        let again = polls.hold("citizen:1".into()).expect("a slot was freed");
        assert_eq!(polls.held(), PER_PRINCIPAL + 1);
        drop((other, again, slots));
        assert_eq!(polls.held(), 0);
    }

    #[tokio::test]
    async fn a_change_wakes_the_polls_of_its_stream_and_no_other() {
        let polls = Arc::new(Polls::default());
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (watch_a, watch_b) = (polls.watch(a), polls.watch(b));
        {
            let woken_a = watch_a.notified();
            let woken_b = watch_b.notified();
            tokio::pin!(woken_a, woken_b);
            woken_a.as_mut().enable();
            woken_b.as_mut().enable();
            polls.changed(&[a]);
            tokio::time::timeout(Duration::from_secs(1), woken_a)
                .await
                .expect("a is woken");
            let b_woken = tokio::time::timeout(Duration::from_millis(50), woken_b).await;
            assert!(b_woken.is_err(), "b is not woken by a change of a");
        }
        drop((watch_a, watch_b));
        assert!(
            polls.watched.lock().expect("lock").is_empty(),
            "watches are let go"
        );
    }
}
