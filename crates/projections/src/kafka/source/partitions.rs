//! The partitions a Kafka-sourced projector owns, and which message of each it takes next.
//!
//! The relay publishes with the idempotent producer to a topic that is neither compacted nor
//! written in transactions, so every offset of a partition holds a message. A message beyond the
//! next offset to apply means the ones between did not come, and taking it would skip them for
//! good - the stored offset moves past them. They fail to come for two reasons:
//!
//! - a stale fetch across a rebalance, or a broker's answer after a pause: seeking back to the
//!   next offset brings them;
//! - a broker that answers a fetch only with the batches that *begin* at or after the offset
//!   asked for (tansu does: a projector that stopped in the middle of one of the producer's
//!   batches was handed the batch after it, again after every seek). Seeking back further, to
//!   where that batch begins, brings them; the messages before the next offset are left.
//!
//! So the consumer seeks back from the next offset, twice as far each time, never before where
//! the broker's log begins nor further than a producer's batch holds ([`LONGEST_BATCH`]). Only
//! when a seek from that floor still comes back beyond the next offset does it accept a hole: the
//! broker does not have those offsets (retention moved its log's beginning past them, or another
//! producer's transaction markers or compaction left them empty). The hole is parked in
//! `projections.kafka_parked`, where `/readyz` and `/metrics` show it, and the partition goes on.

use std::collections::HashMap;

use crate::kafka::LONGEST_BATCH;

/// Where one owned partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Next {
    /// The offset of the next message to apply; `None` while nothing is stored for the
    /// partition, so it is read from wherever the broker's log begins.
    offset: Option<i64>,
    /// Messages beyond `offset` in a row (each one sought back from).
    beyond: u32,
    /// The offset of the last of those messages [`Owned::past`] was asked about.
    beyond_at: Option<i64>,
    /// Where the last seek back went.
    sought: Option<i64>,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Take it into the batch.
    Take,
    /// Leave it: its partition is not ours (its new owner applies it), or it is before the next
    /// offset (fetched before a seek took effect, or the head of a batch sought back to: already
    /// applied).
    Leave,
    /// It is beyond `next`: the messages from there did not come. `times`: how many messages in
    /// a row were (this one included).
    Beyond { next: i64, times: u32 },
}

/// How to get past a message beyond the next offset ([`Owned::past`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Past {
    /// Seek the partition back to this offset and read on from there.
    SeekTo(i64),
    /// The broker does not have offsets `from..=to`: park them as a hole. The partition now goes
    /// on from `to + 1`.
    Hole { from: i64, to: i64 },
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
            self.next.insert(
                partition,
                Next {
                    offset,
                    ..Next::default()
                },
            );
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
                    ..Next::default()
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

    /// How to get past the message at `offset` of `partition`, which [`Owned::admit`] found
    /// beyond the next offset, when the broker's log begins at `low`: where to seek back to, or
    /// the hole to park. Seeks back twice as far each time (the first time to the next offset
    /// itself), never before `low` nor further than [`LONGEST_BATCH`]; the hole is accepted only
    /// when the broker's log begins after the next offset, or when a seek from that floor brought
    /// the same message beyond it again.
    pub(super) fn past(&mut self, partition: i32, offset: i64, low: i64) -> Past {
        let Some(state) = self.next.get_mut(&partition) else {
            return Past::SeekTo(offset);
        };
        let Some(next) = state.offset else {
            return Past::SeekTo(offset);
        };
        if low > next {
            return self.hole(partition, next, low - 1);
        }
        let floor = low.max(next.saturating_sub(LONGEST_BATCH));
        let again = state.beyond_at.replace(offset) == Some(offset);
        if again && state.sought.is_some_and(|sought| sought <= floor) {
            return self.hole(partition, next, offset - 1);
        }
        let back = match state.beyond {
            0 | 1 => 0,
            times => 1_i64 << (times - 2).min(62),
        };
        let to = next.saturating_sub(back).max(floor);
        state.sought = Some(to);
        Past::SeekTo(to)
    }

    /// Gives up offsets `from..=to` of `partition`: it goes on after them.
    fn hole(&mut self, partition: i32, from: i64, to: i64) -> Past {
        if let Some(next) = self.next.get_mut(&partition) {
            *next = Next {
                offset: Some(to.saturating_add(1)),
                ..Next::default()
            };
        }
        Past::Hole { from, to }
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
        // The broker's log now begins at 52: a hole up to it, gone on from there.
        assert_eq!(owned.past(3, 52, 52), Past::Hole { from: 51, to: 51 });
        assert_eq!(owned.admit(3, 51), Admit::Leave);
        assert_eq!(owned.admit(3, 52), Admit::Take);
        assert_eq!(owned.admit(3, 53), Admit::Take);
        // A new assignment starts from its stored offset, the count from zero.
        owned.assign(&[(3, Some(60))]);
        assert_eq!(owned.admit(3, 61), Admit::Beyond { next: 60, times: 1 });
    }

    /// Seeks back as a broker answering each one with `answer(from)` makes the partition do,
    /// from `next` with the broker's log beginning at `low`; the messages then taken or the hole.
    fn search(next: i64, low: i64, answer: impl Fn(i64) -> Vec<i64>) -> (Vec<i64>, Vec<Past>) {
        let mut owned = Owned::default();
        owned.assign(&[(0, Some(next))]);
        let (mut taken, mut seeks) = (Vec::new(), Vec::new());
        let mut from = next;
        while seeks.len() < 40 {
            let mut went = None;
            for offset in answer(from) {
                match owned.admit(0, offset) {
                    Admit::Take => taken.push(offset),
                    Admit::Leave => {}
                    Admit::Beyond { .. } => {
                        let past = owned.past(0, offset, low);
                        seeks.push(past);
                        match past {
                            Past::SeekTo(to) => went = Some(to),
                            Past::Hole { .. } => {
                                assert_eq!(owned.admit(0, offset), Admit::Take);
                                taken.push(offset);
                                continue;
                            }
                        }
                        break;
                    }
                }
            }
            match went {
                Some(to) => from = to,
                None => return (taken, seeks),
            }
        }
        panic!("still seeking after {seeks:?}");
    }

    #[test]
    fn a_broker_answering_only_with_batches_beginning_after_the_offset_is_read_from_the_batch_start(
    ) {
        // Batches of 4 from 0: a fetch from `from` gets the batches beginning at or after it.
        let batches = |from: i64| ((from + 3) / 4 * 4..20).collect::<Vec<_>>();
        let (taken, seeks) = search(10, 0, batches);
        assert_eq!(taken, (10..20).collect::<Vec<_>>());
        assert_eq!(
            seeks,
            [Past::SeekTo(10), Past::SeekTo(9), Past::SeekTo(8)],
            "back to the next offset, then twice as far each time"
        );
    }

    #[test]
    fn a_hole_in_the_middle_of_the_log_is_given_up_once_sought_back_to_its_floor() {
        // Offsets 50 to 52 are empty; the log begins at 40.
        let holed = |from: i64| {
            (from..60)
                .filter(|o| !(50..=52).contains(o))
                .collect::<Vec<_>>()
        };
        let (taken, seeks) = search(50, 40, holed);
        assert_eq!(taken, (53..60).collect::<Vec<_>>());
        assert_eq!(
            seeks,
            [
                Past::SeekTo(50),
                Past::SeekTo(49),
                Past::SeekTo(48),
                Past::SeekTo(46),
                Past::SeekTo(42),
                Past::SeekTo(40),
                Past::Hole { from: 50, to: 52 },
            ]
        );
        // Never further back than a batch holds.
        let (taken, seeks) = search(LONGEST_BATCH * 3, 0, |from| {
            (from..LONGEST_BATCH * 3 + 5)
                .filter(|o| *o != LONGEST_BATCH * 3)
                .collect()
        });
        assert_eq!(taken.first(), Some(&(LONGEST_BATCH * 3 + 1)));
        assert_eq!(seeks[seeks.len() - 2], Past::SeekTo(LONGEST_BATCH * 2));
    }

    #[test]
    fn messages_beyond_that_change_from_one_seek_to_the_next_never_make_a_hole() {
        // A stale fetch: each answer begins further on, so none is the same message again.
        let mut owned = Owned::default();
        owned.assign(&[(0, Some(10))]);
        for (times, offset) in (1..=30).zip(11..) {
            assert_eq!(owned.admit(0, offset), Admit::Beyond { next: 10, times });
            assert!(matches!(owned.past(0, offset, 0), Past::SeekTo(_)));
        }
        assert_eq!(owned.admit(0, 10), Admit::Take);
    }
}
