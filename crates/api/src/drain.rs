//! Letting the requests in flight finish before the server's workers stop.
//!
//! Each of actix's workers runs its own runtime, and a pooled database connection belongs to the
//! runtime of the worker that opened it. When the server stops, a worker with nothing to do stops
//! at once, and the connections it opened close under whichever request holds them then: a long
//! poll that the stop woke (it answers at once with what it has) would find its read cut off and
//! answer 503. So a stopping server first waits, briefly, until no request is in flight, and only
//! then stops its workers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How many requests are being handled. Cheap to clone.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Counter>);

#[derive(Default)]
struct Counter {
    requests: AtomicUsize,
    idle: Notify,
}

/// Counts a request until dropped.
pub(crate) struct Handling(Arc<Counter>);

impl Drop for Handling {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// Counts a request in flight until the guard is dropped (by `metrics::track`, which wraps
    /// every request).
    pub(crate) fn enter(&self) -> Handling {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        Handling(self.0.clone())
    }

    /// How many requests are being handled now.
    pub fn count(&self) -> usize {
        self.0.requests.load(Ordering::SeqCst)
    }

    /// Returns once no request is in flight, or after `limit` (clients that keep sending on open
    /// connections may never let it reach zero); whether it did.
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the count is read, so that the last request ending in between
            // still wakes this.
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.count() == 0 {
                return true;
            }
            // Cancel safe: both branches only wait.
            tokio::select! {
                () = idle => {}
                () = tokio::time::sleep_until(deadline) => return self.count() == 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::time::Duration;

    #[tokio::test]
    async fn draining_returns_when_the_last_request_ends_or_at_its_limit_when_one_never_does() {
        let in_flight = InFlight::default();
        assert!(in_flight.drained(Duration::from_secs(5)).await, "none");
        let first = in_flight.enter();
        let second = in_flight.enter();
        let ending = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(first);
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(second);
        });
        let started = std::time::Instant::now();
        assert!(in_flight.drained(Duration::from_secs(5)).await);
        assert!(started.elapsed() < Duration::from_secs(5));
        ending.await.expect("ending");
        let _stuck = in_flight.enter();
        assert!(!in_flight.drained(Duration::from_millis(100)).await);
        assert_eq!(in_flight.count(), 1);
    }
}
