//! The wait before a failed loop (a projector, the relay, a Kafka-fed projector) tries again:
//! doubling from a first wait up to a ceiling, and from the first wait again once a run lasted at
//! least as long as the ceiling. A wait that only ever grew left the relay 5-10 s behind after each
//! restart of PostgreSQL in the fault campaign: every earlier outage had raised it for good.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The waits of one loop.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, ceiling: Duration) -> Self {
        Self {
            first,
            ceiling,
            next: first,
        }
    }

    /// The wait after a run that failed having lasted `ran`: the first one again after a run at
    /// least as long as the ceiling (it had recovered), else twice the last, up to the ceiling.
    pub(crate) fn after(&mut self, ran: Duration) -> Duration {
        if ran >= self.ceiling {
            self.next = self.first;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        wait
    }

    /// Starts over from the first wait (the loop made progress).
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Sleeps for `wait`; true when `shutdown` came first.
pub(crate) async fn sleep_unless(shutdown: &CancellationToken, wait: Duration) -> bool {
    // Cancel safe: both branches only wait.
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_up_to_the_ceiling_and_start_over_after_a_long_run_or_a_reset() {
        let mut backoff = Backoff::new(200 * MS, 1_000 * MS);
        let quick = Duration::ZERO;
        let waits: Vec<Duration> = (0..5).map(|_| backoff.after(quick)).collect();
        assert_eq!(
            waits,
            [200 * MS, 400 * MS, 800 * MS, 1_000 * MS, 1_000 * MS]
        );
        // A run as long as the ceiling had recovered: its failure waits as briefly as the first.
        assert_eq!(backoff.after(1_000 * MS), 200 * MS);
        assert_eq!(backoff.after(quick), 400 * MS);
        backoff.reset();
        assert_eq!(backoff.after(quick), 200 * MS);
    }
}
