//! The write side of egov-events: everything that decides and records what happens to a request.
//! Every outcome of the outside world comes back as an event, through the domain's `decide`.
//!
//! Map of the crate:
//! - [`requests`]: the command handlers for requests (submit, sign, survey): load the stream,
//!   `decide`, append at the loaded version, with idempotent retries;
//! - [`centre`]: the service centre's desk: filing for the citizen present (the identity checks
//!   answered while the operator waits) and the scans of paper documents;
//! - [`workflow`]: the process manager - a feeder from the log into a task table, and workers
//!   that drive each request (signature check, lookups in order, result or refusal, time limits);
//! - [`results`]: the provider's signing key and the store of issued result documents;
//! - [`social_status`]: the social-status check of a medical organisation, answered at once and
//!   recorded;
//! - [`read_audit`]: reads of citizens' data by anyone else, queued and recorded in batches;
//! - [`adapters`]: the outside world behind traits - the NCA's signature checks ([`adapters::nca`]),
//!   the registries over HTTP ([`adapters::registries`]), the scans' store
//!   ([`adapters::scans`]) - each with an in-memory fake (the `fakes` feature) for fast tests.
//!
//! The event store itself is the `event_store` crate, shared with the read side.

pub mod adapters;
pub mod centre;
pub mod read_audit;
pub mod requests;
pub mod results;
pub mod social_status;
pub mod workflow;

pub use requests::{CommandError, Requests, Submission};

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
