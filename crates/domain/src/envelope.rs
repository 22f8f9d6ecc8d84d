//! The envelope of a stored event: positions, the actor, the channel and the ids that let one
//! request's story be followed across processes (docs/architecture.md, guarantee 5).
//!
//! These are plain data shared by the write side (`commands`) and the read side (`projections`),
//! which is why they live in the pure crate rather than next to the SQL that stores them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_hash::EventHash;
use crate::identifiers::{Iin, IinError};

/// The identity of one event stream; one stream per service request (stream id = request id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(Uuid);

impl StreamId {
    /// Wraps an existing id (ids are drawn by the caller: the domain draws no random numbers).
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The id as a UUID, for SQL and JSON boundaries.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many events a stream holds; the version of its newest event. `StreamVersion::EMPTY` (0) is a
/// stream with no events yet, so the first event of a stream has version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamVersion(u64);

impl StreamVersion {
    /// The version of a stream that has no events.
    pub const EMPTY: StreamVersion = StreamVersion(0);

    /// Wraps a count of events.
    pub const fn new(version: u64) -> Self {
        Self(version)
    }

    /// The count of events as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version `n` events later, or `None` past `u64::MAX`.
    pub fn advanced_by(self, n: u64) -> Option<StreamVersion> {
        self.0.checked_add(n).map(StreamVersion)
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A place in the global, gap-free order of the log: the id of the transaction that wrote an event
/// and the event's position within the log.
///
/// Readers resume *after* a cursor. Ordering by `(transaction, position)` rather than by position
/// alone is what makes the order gap-free: positions are drawn before commit, so a transaction that
/// commits late would otherwise slip in behind a reader (docs/architecture.md, guarantee 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cursor {
    transaction: i64,
    position: i64,
}

impl Cursor {
    /// Before the first event: reading after it reads the whole log.
    pub const START: Cursor = Cursor {
        transaction: 0,
        position: 0,
    };

    /// A cursor at an event, from the columns the store keeps.
    pub const fn new(transaction: i64, position: i64) -> Self {
        Self {
            transaction,
            position,
        }
    }

    /// The transaction id part.
    pub const fn transaction(&self) -> i64 {
        self.transaction
    }

    /// The position part.
    pub const fn position(&self) -> i64 {
        self.position
    }
}

/// The text form is `TRANSACTION-POSITION`, e.g. `7421-1033`: short, URL-safe, and ordered the same
/// way as the cursor when both parts are compared as numbers.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.transaction, self.position)
    }
}

/// A cursor string that is not `TRANSACTION-POSITION` with two non-negative numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor is TRANSACTION-POSITION with two non-negative whole numbers, e.g. 7421-1033")]
pub struct CursorError;

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tx, pos) = s.split_once('-').ok_or(CursorError)?;
        let parse = |part: &str| -> Result<i64, CursorError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CursorError);
            }
            part.parse().map_err(|_| CursorError)
        };
        Ok(Cursor::new(parse(tx)?, parse(pos)?))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Who caused an event (docs/architecture.md, guarantee 5).
///
/// The text form is `KIND:ID`: `citizen:900101300007`, `operator:op-17`, `system:workflow`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A citizen acting for themselves, named by IIN.
    Citizen { iin: Iin },
    /// A service-centre operator, named by the operator id from the token.
    Operator { id: String },
    /// A component of this system (the workflow, a projector, the relay, the benchmark).
    System { component: String },
}

/// An actor string that is not `citizen:ID`, `operator:ID` or `system:ID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// The part before `:` is not a known kind.
    #[error("an actor is citizen:ID, operator:ID or system:ID")]
    UnknownKind,
    /// The id is empty, longer than 128 characters or holds control characters.
    #[error("an actor id is 1 to 128 printable characters")]
    BadId,
    /// A citizen's id is not a valid IIN.
    #[error("a citizen actor is named by a valid IIN: {0}")]
    BadIin(#[from] IinError),
}

impl Actor {
    const MAX_ID_CHARS: usize = 128;

    /// Parses the text form `KIND:ID`.
    ///
    /// # Errors
    /// [`ActorError`] names which part is wrong.
    pub fn parse(raw: &str) -> Result<Self, ActorError> {
        let (kind, id) = raw.split_once(':').ok_or(ActorError::UnknownKind)?;
        let id_chars = id.chars().count();
        if id_chars == 0 || id_chars > Self::MAX_ID_CHARS || id.chars().any(char::is_control) {
            return Err(ActorError::BadId);
        }
        let id = id.to_owned();
        match kind {
            "citizen" => Ok(Actor::Citizen {
                iin: Iin::parse(&id)?,
            }),
            "operator" => Ok(Actor::Operator { id }),
            "system" => Ok(Actor::System { component: id }),
            _ => Err(ActorError::UnknownKind),
        }
    }

    /// A system component as actor.
    ///
    /// # Errors
    /// [`ActorError::BadId`] for an empty or over-long name.
    pub fn system(component: &str) -> Result<Self, ActorError> {
        Self::parse(&format!("system:{component}"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Citizen { iin } => write!(f, "citizen:{iin}"),
            Actor::Operator { id } => write!(f, "operator:{id}"),
            Actor::System { component } => write!(f, "system:{component}"),
        }
    }
}

impl FromStr for Actor {
    type Err = ActorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Actor::parse(s)
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Through which channel an event came (docs/domain.md 1.2), plus the system's own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The e-government portal (PEP), citizens filing for themselves.
    Portal,
    /// A public service centre (TsON), an operator filing for a citizen.
    ServiceCentre,
    /// The system itself: workflow steps, timers, projections.
    System,
}

/// A channel string other than `portal`, `service-centre` or `system`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a channel is portal, service-centre or system")]
pub struct ChannelError;

impl Channel {
    /// The stable text form, as stored and as shown in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Portal => "portal",
            Channel::ServiceCentre => "service-centre",
            Channel::System => "system",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = ChannelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "portal" => Ok(Channel::Portal),
            "service-centre" => Ok(Channel::ServiceCentre),
            "system" => Ok(Channel::System),
            _ => Err(ChannelError),
        }
    }
}

/// What the caller says about an append besides the events themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Who caused the events.
    pub actor: Actor,
    /// Through which channel.
    pub channel: Channel,
    /// The business transaction the events belong to: the request's id for everything done for
    /// one request, carried through HTTP spans, workers and Kafka headers.
    pub correlation_id: Uuid,
    /// The command or event that caused these events, when there is one.
    pub causation_id: Option<Uuid>,
}

/// An event as it is stored: envelope, payload and its link in the stream's hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Where the event stands in the gap-free global order; read after it to resume.
    pub cursor: Cursor,
    /// The stream (request) the event belongs to.
    pub stream_id: StreamId,
    /// 1 for the first event of the stream, then one more for each event.
    pub stream_version: StreamVersion,
    /// Unique over the whole log; re-appending it appends nothing (idempotency).
    pub event_id: Uuid,
    /// The past-tense name of the event, e.g. `RequestSubmitted`.
    pub event_type: String,
    /// The version of the payload's schema, so old payloads can be upcast on read.
    pub schema_version: u32,
    /// The event's data, a JSON object.
    pub payload: serde_json::Value,
    /// Actor, channel, correlation and causation.
    pub metadata: EventMetadata,
    /// When the store recorded the event, to the microsecond.
    pub recorded_at: DateTime<Utc>,
    /// SHA-256 over the previous event's hash and this event's canonical bytes.
    pub hash: EventHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_through_text() {
        let cursor = Cursor::new(7421, 1033);
        assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
    }

    #[test]
    fn cursor_parse_rejects_signs_and_garbage() {
        for raw in [
            "",
            "-",
            "1-",
            "-1",
            "1--2",
            "+1-2",
            "a-b",
            "1-2-3",
            "99999999999999999999-1",
        ] {
            assert_eq!(raw.parse::<Cursor>(), Err(CursorError), "{raw:?}");
        }
    }

    #[test]
    fn actor_round_trips_through_text() {
        for raw in ["citizen:900101300007", "operator:op-17", "system:workflow"] {
            let actor = Actor::parse(raw).expect("valid actor");
            assert_eq!(actor.to_string(), raw);
        }
    }

    #[test]
    fn actor_parse_names_the_broken_rule() {
        assert_eq!(Actor::parse("robot:x"), Err(ActorError::UnknownKind));
        assert_eq!(Actor::parse("citizen"), Err(ActorError::UnknownKind));
        assert_eq!(Actor::parse("citizen:"), Err(ActorError::BadId));
        assert!(matches!(
            Actor::parse("citizen:900101300008"),
            Err(ActorError::BadIin(_))
        ));
        assert_eq!(Actor::parse("system:a\nb"), Err(ActorError::BadId));
        assert_eq!(
            Actor::parse(&format!("system:{}", "x".repeat(129))),
            Err(ActorError::BadId)
        );
    }

    #[test]
    fn channel_round_trips_through_text() {
        for channel in [Channel::Portal, Channel::ServiceCentre, Channel::System] {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
        }
    }
}
