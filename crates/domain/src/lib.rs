//! The pure core of egov-events: no IO, no async, no SQL, no clock reads.
//!
//! Map of the crate:
//! - [`envelope`]: what every stored event carries besides its payload - who caused it ([`Actor`]),
//!   through which [`Channel`], correlation and causation ids, schema version - and the position types
//!   ([`StreamId`], [`StreamVersion`], [`Cursor`]) shared by the write side and the read side.
//! - [`event_hash`]: the digest each stored event carries;
//! - [`hash_chain`]: the canonical bytes of an event and the per-stream SHA-256 chain over them, so
//!   that anyone holding the events can check, without the database, that none was altered.
//! - [`merkle`]: the Merkle tree of RFC 9162 over every event of the log (heads, inclusion and
//!   consistency proofs, their checks; the tree as stored nodes in `merkle::frontier`);
//! - [`tree_head`]: signed tree heads in the checkpoint form of Go's transparency logs;
//! - [`receipt`]: a document's event, its inclusion proof and signed head, checked offline.
//!
//! - [`identifiers`]: [`Iin`] (national check digit), [`Sik`], [`RequestNumber`], built only by
//!   parsing.
//!
//! - [`calendar`]: the Kazakhstan working-day calendar (data, not code) and deadline arithmetic in
//!   `Asia/Almaty`.
//!
//! - [`messages`]: every text people read - statuses, refusals, errors - in ru/kk/en, as data.
//! - [`refusal`]: the refusal reasons of docs/domain.md 5 with their stable codes.
//! - [`request`]: the request aggregate: commands, events (named once in `EventType`, upcast on
//!   read), `decide` (by part of the lifecycle) and `evolve`; the service centre's desk.
//! - [`scans`]: the paper documents an operator scans, and what a scan's bytes must be.
//! - [`catalog`]: every service of docs/domain.md 2 as data: names, kind, channels, form validation,
//!   lookups, result document, refusals, step limits and deadline.
//!
//! - [`workflow`]: what a request needs next (a check, a lookup, a timer, the result), read from its
//!   stream - the rules of the process manager.
//! - [`result`]: the result documents of docs/domain.md 6, composed from the registries' answers.
//! - [`data_access`]: a read of a citizen's data by someone else, as an event.
//! - [`social_status`]: the social-status check of a medical organisation (docs/domain.md 8).
//!
//! Stored payloads are versioned per event type and upcast on read (`request::RequestEvent::decode`).
//! Closed sets (service codes, statuses, refusals, errors, scan kinds, event types) are enums with
//! one `code()` and one `FromStr` each (`codes`).

pub mod calendar;
pub mod catalog;
mod codes;
pub mod data_access;
pub mod envelope;
pub mod event_hash;
pub mod hash_chain;
pub mod identifiers;
pub mod merkle;
pub mod messages;
pub mod receipt;
pub mod refusal;
pub mod request;
pub mod result;
pub mod scans;
pub mod social_status;
pub mod tree_head;
pub mod workflow;

pub use calendar::{CalendarError, TimeLimit, WorkingCalendar};
pub use catalog::{RequestForm, Service, ServiceCode, SignIn, SignedIn, CATALOG};
pub use envelope::{
    Actor, ActorError, Channel, ChannelError, Cursor, EventMetadata, RecordedEvent, StreamId,
    StreamVersion,
};
pub use event_hash::{EventHash, GENESIS_HASH};
pub use hash_chain::{
    canonical_bytes, canonical_json, chain_hash, verify_chain, ChainBreak, ChainBreakKind,
    ChainVerifier,
};
pub use identifiers::{Iin, IinError, RequestNumber, RequestNumberError, Sex, Sik, SikError};
pub use messages::{ErrorMessage, Message, Messages, RequestStatus, Texts};
pub use refusal::RefusalReason;
