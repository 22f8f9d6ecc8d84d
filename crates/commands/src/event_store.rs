//! The PostgreSQL event store: the single source of truth of egov-events.
//!
//! It gives the five guarantees of DESIGN.md, each with a named test in `crates/commands/tests/`:
//! 1. **append-only**: enforced by the database (triggers and grants, `migrations/V1`);
//! 2. **optimistic concurrency**: [`EventStore::append`] names the version it expects and gets
//!    [`StoreError::Conflict`] with the actual version when another writer got there first; the
//!    events of one append commit together or not at all;
//! 3. **idempotency**: re-appending stored event ids appends nothing and reports the original
//!    positions ([`AppendOutcome::already_stored`]);
//! 4. **a gap-free, exactly-once global read**: [`EventStore::read_all`] and
//!    [`EventStore::subscribe`] (woken by `LISTEN/NOTIFY`);
//! 5. **tamper evidence and metadata**: every event carries its actor, channel, correlation and
//!    causation ids, recorded time and schema version, and a SHA-256 hash chained per stream;
//!    [`EventStore::verify_stream`] and [`EventStore::verify_all`] name the first altered event.
//!
//! Submodules: `append` (writes), `read` (the read API the read side uses), `subscription` (live
//! following), `verify` (the hash chain), `combiner` (writes appends, several in one call under
//! load), `notifier` (wakes subscribers after commits), `error`.

mod append;
mod combiner;
mod error;
mod new_event;
mod notifier;
mod read;
mod subscription;
mod verify;

use std::sync::Arc;

pub use append::{AppendOutcome, AppendedEvent, MAX_EVENTS_PER_APPEND, MAX_EVENT_BYTES};
pub use error::{InvalidEvent, StoreError};
pub use new_event::NewEvent;
pub(crate) use read::first_column;
pub use read::Page;
pub use subscription::{Subscription, SubscriptionOptions};
pub use verify::VerifyReport;

use crate::db::Database;

/// The channel on which commits are announced to subscribers.
const NOTIFY_CHANNEL: &str = "egov_events";

/// The event store over one [`Database`]. Cheap to clone: clones share the pool and the notifier.
#[derive(Clone)]
pub struct EventStore {
    db: Database,
    notifier: Arc<notifier::Notifier>,
    combiner: Arc<combiner::Combiner>,
}

impl EventStore {
    /// A store over `db`. Starts the tasks that write appends and announce commits to subscribers,
    /// so it must be called inside a Tokio runtime; they end when the last clone of the store is
    /// dropped.
    pub fn new(db: Database) -> Self {
        let notifier = Arc::new(notifier::Notifier::start(db.pool().clone()));
        let combiner = Arc::new(combiner::Combiner::start(db.pool().clone()));
        Self {
            db,
            notifier,
            combiner,
        }
    }

    /// The database this store writes to.
    pub fn database(&self) -> &Database {
        &self.db
    }
}
