//! The partitions a Kafka-sourced projector owns, and which message of each it takes next.
//!
//! The relay publishes with the idempotent producer to a topic that is neither compacted nor
//! written in transactions, so a partition's offsets run without holes: a message beyond the next
//! offset to apply means the ones between did not come (a stale fetch across a rebalance, or a
//! broker's answer after a pause). Taking it would skip them for good - the stored offset moves
//! past them - so the consumer seeks back to the next offset and reads them. Only when the broker
//! no longer has them (its log now begins after them: retention) does it go on from where the
//! broker's log begins, and the hole is parked in `projections.kafka_parked`, where `/readyz` and
//! `/metrics` show it.

use std::collections::HashMap;

/// Where one owned partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Next {
    /// The offset of the next message to apply; `None` while nothing is stored for the
    /// partition, so it is read from wherever the broker's log begins.
    offset: Option<i64>,
    /// Messages beyond `offset` in a row (each one sought back from).
    beyond: u32,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Take it into the batch.
    Take,
    /// Leave it: its partition is not ours (its new owner applies it), or it is before the next
    /// offset (fetched before a seek took effect: already applied).
    Leave,
    /// It is beyond `next`: the messages from there did not come. `times`: how many messages in
    /// a row were (this one included).
    Beyond { next: i64, times: u32 },
}

/// The partitions this consumer owns (after the rebalances it has taken in).
#[derive(Debug, Default)]
pub(super) struct Owned {
    next: HashMap<i32, Next>,
}

impl Owned {
    /// `partitions` are ours now, each from its stored offset (`None`: nothing stored).
    pub(super) fn assign(&mut self, partitions: &[(i32, Option<i64>)]) {
        for &(partition, offset) in partitions {
            self.next.insert(partition, Next { offset, beyond: 0 });
        }
    }

    /// Every partition was taken away.
    pub(super) fn revoke(&mut self) {
        self.next.clear();
    }

    /// What to do with the message at `offset` of `partition`; a message taken moves the
    /// partition's next offset past it.
    pub(super) fn admit(&mut self, partition: i32, offset: i64) -> Admit {
        let Some(next) = self.next.get_mut(&partition) else {
            return Admit::Leave;
        };
        let expected = next.offset.unwrap_or(offset);
        match offset.cmp(&expected) {
            std::cmp::Ordering::Less => Admit::Leave,
            std::cmp::Ordering::Equal => {
                *next = Next {
                    offset: Some(offset.saturating_add(1)),
                    beyond: 0,
                };
                Admit::Take
            }
            std::cmp::Ordering::Greater => {
                next.beyond = next.beyond.saturating_add(1);
                Admit::Beyond {
                    next: expected,
                    times: next.beyond,
                }
            }
        }
    }

    /// Goes on at `offset` of `partition`, past a hole the broker no longer has.
    pub(super) fn skip_to(&mut self, partition: i32, offset: i64) {
        if let Some(next) = self.next.get_mut(&partition) {
            *next = Next {
                offset: Some(offset),
                beyond: 0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_taken_in_offset_order_and_repeats_and_strangers_are_left() {
        let mut owned = Owned::default();
        owned.assign(&[(0, Some(10)), (1, None)]);
        assert_eq!(owned.admit(0, 9), Admit::Leave, "applied before");
        assert_eq!(owned.admit(0, 10), Admit::Take);
        assert_eq!(owned.admit(0, 10), Admit::Leave, "taken already");
        assert_eq!(owned.admit(0, 11), Admit::Take);
        assert_eq!(
            owned.admit(1, 500),
            Admit::Take,
            "nothing stored: any start"
        );
        assert_eq!(owned.admit(1, 501), Admit::Take);
        assert_eq!(owned.admit(2, 0), Admit::Leave, "not ours");
        owned.revoke();
        assert_eq!(owned.admit(0, 12), Admit::Leave, "taken away");
    }

    #[test]
    fn a_message_beyond_the_next_offset_is_never_taken_until_the_hole_is_given_up() {
        let mut owned = Owned::default();
        owned.assign(&[(3, Some(50))]);
        for times in 1..=3 {
            assert_eq!(owned.admit(3, 52), Admit::Beyond { next: 50, times });
        }
        // The missing message comes after a seek back: the count ends.
        assert_eq!(owned.admit(3, 50), Admit::Take);
        assert_eq!(owned.admit(3, 52), Admit::Beyond { next: 51, times: 1 });
        // The broker's log now begins at 52: gone on from there.
        owned.skip_to(3, 52);
        assert_eq!(owned.admit(3, 51), Admit::Leave);
        assert_eq!(owned.admit(3, 52), Admit::Take);
        assert_eq!(owned.admit(3, 53), Admit::Take);
        // A new assignment starts from its stored offset, the count from zero.
        owned.assign(&[(3, Some(60))]);
        assert_eq!(owned.admit(3, 61), Admit::Beyond { next: 60, times: 1 });
    }
}
