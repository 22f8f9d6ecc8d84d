//! The request aggregate: the lifecycle of docs/domain.md 3 for every service and both channels, as two
//! pure functions.
//!
//! - [`decide`] holds every rule: given the state, a command and the time, it returns the events to
//!   record or a [`DomainError`]. It reads no clock and draws no random numbers.
//! - [`evolve`] applies one event to the state. It holds no rules, never fails and never panics, so
//!   any stored stream can be loaded: `events.iter().fold(Request::default(), evolve)`.
//!
//! Portal: submitted -> signed by the citizen -> signature verified -> the service's lookups in
//! order -> result issued. Service centre (docs/domain.md 3.4, table 2): submitted by an operator -> the
//! applicant in GBD FL (and the power of attorney in ENIS for a representative) -> scans -> the
//! operator's signature, verified -> the fund lookup -> result. Any failing check ends in a refusal
//! with the reason of docs/domain.md 5; deadlines missed and the survey are recorded along the way.

pub mod centre;
mod centre_events;
mod command;
mod decide;
mod ending;
mod event_type;
mod events;
mod lookups;
mod signing;
mod state;
mod upcast;

pub use crate::catalog::DEFAULT_SIGN_WITHIN;
pub use command::{Command, DomainError, Filing, LookupOutcome, SignatureCheck};
pub use decide::decide;
pub use event_type::{EventType, UnknownEventType};

pub use events::*;
pub use state::{evolve, Closed, Open, Outcome, Request, RequestInfo, Stage};

#[cfg(test)]
mod tests;
