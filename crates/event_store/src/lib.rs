//! The PostgreSQL event store: the single source of truth of egov-events, shared by the write
//! side (`commands`) and the read side (`projections`).
//!
//! It gives the five guarantees of the architecture (docs/architecture.md), each with a named test
//! in `crates/event_store/tests/guarantees/`:
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
//! Map of the crate:
//! - [`db`]: the connection pool ([`Database`], [`DbSettings`]); every pooled session drops to the
//!   application's role; commits that need not wait for the disk ([`db::query_relaxed`]);
//! - [`migrations`]: the forward-only migrations of `migrations/`, applied under an advisory lock;
//! - `append` (writes) over `prepared` (an append checked and in the database's shape) and
//!   `combiner` (several queued appends written in one call under load);
//! - `read` (the gap-free global read and single streams), `subscription` (following the log
//!   live), `notifier` (wakes subscribers after commits), `verify` (the hash chains), `error`.

mod append;
mod combiner;
pub mod db;
mod error;
pub mod migrations;
mod new_event;
mod notifier;
mod prepared;
mod read;
mod subscription;
mod verify;

use std::sync::Arc;

pub use append::AppendOutcome;
pub use db::{provision_runtime_login, Database, DbError, DbFailure, DbSettings, LoginRights};
pub use error::{InvalidEvent, StoreError};
pub use migrations::{migrate, migrate_through, MigrationError};
pub use new_event::NewEvent;
pub use prepared::{AppendedEvent, MAX_EVENTS_PER_APPEND, MAX_EVENT_BYTES};
pub use read::{events_by_id, first_column, stored_leaves, Page, PageEnd};
pub use subscription::{Subscription, SubscriptionOptions};
pub use verify::VerifyReport;

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
