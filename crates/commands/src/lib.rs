//! The write side of egov-events.
//!
//! Map of the crate:
//! - [`db`]: the connection pool (every pooled session drops to the application's role) and the
//!   forward-only migrations from `migrations/`, applied under an advisory lock.
//! - [`event_store`]: the PostgreSQL event store and its five guarantees (DESIGN.md): append-only,
//!   optimistic concurrency, idempotency by event id, a gap-free global read with a live
//!   subscription, and a per-stream SHA-256 hash chain with `verify`.
//!
//! - [`requests`]: the command handlers for requests (submit, sign): load, `decide`, append, with
//!   idempotent retries.
//!
//! - [`registries`]: the adapter to the other agencies' registries over HTTP, with retries,
//!   backoff with jitter and a circuit breaker per registry.
//!
//! - [`nca`]: the NCA steps - a CMS signature checked for its document, chain, validity at
//!   signing time, key usage, IIN and revocation (OCSP).
//!
//! - [`workflow`]: the process manager - a feeder from the log into a task table, and workers that
//!   drive each request (signature check, lookups in order, result or refusal, time limits).
//! - [`results`]: the provider's signing key and the store of issued result documents.
//! - [`social_status`]: the social-status check of a medical organisation, answered at once and
//!   recorded.

pub mod db;
pub mod event_store;
pub mod nca;
pub mod registries;
pub mod requests;
pub mod results;
pub mod scans;
pub mod social_status;
pub mod workflow;

pub use db::{Database, DbError, DbSettings};
pub use event_store::{
    AppendOutcome, AppendedEvent, EventStore, InvalidEvent, NewEvent, Page, StoreError,
    Subscription, VerifyReport,
};
pub use requests::{CommandError, Requests, Submission};

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
