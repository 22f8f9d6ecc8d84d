//! The pure core of egov-events: no IO, no async, no SQL, no clock reads.
//!
//! Map of the crate:
//! - [`envelope`]: what every stored event carries besides its payload - who caused it ([`Actor`]),
//!   through which [`Channel`], correlation and causation ids, schema version - and the position types
//!   ([`StreamId`], [`StreamVersion`], [`Cursor`]) shared by the write side and the read side.
//! - [`hash_chain`]: the canonical bytes of an event and the per-stream SHA-256 chain over them, so
//!   that anyone holding the events can check, without the database, that none was altered.
//!
//! - [`identifiers`]: [`Iin`] (national check digit), [`Sik`], [`RequestNumber`], built only by
//!   parsing.
//!
//! - [`calendar`]: the Kazakhstan working-day calendar (data, not code) and deadline arithmetic in
//!   `Asia/Almaty`.
//!
//! - [`catalog`]: every service of DOMAIN.md as data: names, kind, channels, form validation,
//!   lookups, result document, refusals, step limits and deadline.
//!
//! The request aggregate (`decide`/`evolve`), the status texts and the payload upcasters follow in
//! issue #4; they will live here because they, too, are pure.

pub mod calendar;
pub mod catalog;
pub mod envelope;
pub mod hash_chain;
pub mod identifiers;

pub use calendar::{CalendarError, TimeLimit, WorkingCalendar};
pub use catalog::{RequestForm, Service, ServiceCode, CATALOG};
pub use envelope::{
    Actor, ActorError, Channel, ChannelError, Cursor, EventMetadata, RecordedEvent, StreamId,
    StreamVersion,
};
pub use hash_chain::{
    canonical_bytes, chain_hash, verify_chain, ChainBreak, ChainBreakKind, ChainVerifier,
    EventHash, GENESIS_HASH,
};
pub use identifiers::{Iin, IinError, RequestNumber, RequestNumberError, Sex, Sik, SikError};
