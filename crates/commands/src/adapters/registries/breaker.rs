//! A circuit breaker: after `failures` failures in a row the circuit opens and calls fail at once
//! for `cool_down`; then one trial call is let through (half-open): its success closes the
//! circuit, its failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failures: u32,
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            cool_down: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out.
    HalfOpen,
}

/// One registry's breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere while holding it; the state stays usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go out now (taking the half-open trial when the cool-down is over).
    pub fn allow(&self) -> bool {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    /// A call got an answer (found or not found).
    pub fn succeeded(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    /// A call got no answer.
    pub fn failed(&self) {
        let mut state = self.state();
        let open = State::Open {
            until: Instant::now() + self.settings.cool_down,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.settings.failures => State::Closed {
                failures: failures + 1,
            },
            _ => open,
        };
    }

    /// Whether the circuit is open (calls fail at once).
    pub fn is_open(&self) -> bool {
        matches!(*self.state(), State::Open { until } if Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_closes_after_a_good_trial() {
        let breaker = CircuitBreaker::new(BreakerSettings {
            failures: 3,
            cool_down: Duration::from_millis(50),
        });
        breaker.failed();
        breaker.failed();
        breaker.succeeded(); // an answer resets the count
        breaker.failed();
        breaker.failed();
        assert!(breaker.allow(), "two failures in a row keep it closed");
        breaker.failed();
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "open: calls fail at once");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allow(), "after the cool-down one trial goes out");
        assert!(!breaker.allow(), "only one");
        breaker.failed();
        assert!(!breaker.allow(), "a failed trial opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allow());
        breaker.succeeded();
        assert!(breaker.allow() && breaker.allow(), "a good trial closes it");
    }
}
