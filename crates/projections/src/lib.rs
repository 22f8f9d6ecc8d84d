//! The read side of egov-events: projectors that follow the event log's gap-free cursor and keep
//! read models, each with its checkpoint moved in the same transaction as its rows.
//!
//! Map of the crate:
//! - [`projector`]: the [`Projector`] trait (how a read model applies a batch of events) and
//!   [`run`], the loop that catches up from the checkpoint and then follows the log live (woken
//!   by `NOTIFY` through the event store's subscription), publishing its [`Progress`].
//! - [`read_models`]: every read model in one registry ([`ReadModel`]): run from the log or the
//!   topic, rebuilt, replay-checked, asked for its lag;
//! - [`rebuild`]: a read model rebuilt from the first event into shadow tables and swapped in
//!   within one transaction, so readers never see it empty or half-built.
//! - [`replay`]: a read model replayed in temporary tables and compared with the stored ones
//!   (`egov replay --check`).
//! - [`checkpoint`]: where each projector stands, and its lag behind the head of the log.
//! - [`request_status`]: the status view that the portal's "refresh status" reads.
//! - [`analytics`]: the facts per request and step behind the `analytics` views, without personal
//!   data.
//! - [`data_access`]: "who looked at my data", the reads of each citizen's data by others.
//! - [`log_tree`]: the Merkle tree over the whole log (every event a leaf, every complete subtree
//!   a stored node), and the reads that tree heads and proofs are made of.
//! - [`kafka`]: the relay that publishes the log to a Kafka topic, and projectors fed from it.
//! - [`tables`]: the shape of a read model's tables (their keys, how a rebuild swaps them in);
//!   `writes`: a batch's statements, pipelined, and the request events a read model has not applied;
//!   `leader`: one process projects at a time; `retry`: the waits of a loop that failed;
//!   `error`: [`ProjectionError`].
//!
//! Events are read through the event store's public read API (`event_store::EventStore::read_all`
//! and `subscribe`); nothing here writes events.

pub mod analytics;
pub mod checkpoint;
pub mod data_access;
mod error;
pub mod kafka;
mod leader;
pub mod log_tree;
pub mod projector;
pub mod read_models;
pub mod rebuild;
pub mod replay;
pub mod request_status;
mod retry;
pub mod tables;
mod writes;

pub use analytics::AnalyticsProjector;
pub use checkpoint::Lag;
pub use data_access::DataAccessProjector;
pub use error::ProjectionError;
pub use log_tree::LogTreeProjector;
pub use projector::{run, run_observed, BatchApplied, Progress, Projector};
pub use read_models::{ReadModel, UnknownReadModel};
pub use rebuild::RebuildReport;
pub use replay::{CheckReport, Through};
pub use request_status::{RequestStatusProjector, StatusRow, StatusView};

/// The schema that holds every read model and the checkpoints (migrations/V3).
pub const SCHEMA: &str = "projections";
