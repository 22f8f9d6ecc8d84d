//! What can go wrong with the event store, one variant per cause, each saying how the HTTP layer
//! should answer it.

use domain::{StreamId, StreamVersion};
use uuid::Uuid;

/// Errors of the event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An append with no events. A caller bug: 500 if it reaches HTTP.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// More events in one append than the store takes. A caller bug: 500.
    #[error("an append takes at most {limit} events, not {count}")]
    TooManyEvents { count: usize, limit: usize },
    /// One event cannot be stored as it is. Client data: 400/422 where a client sent it.
    #[error("event {event_id} cannot be stored: {reason}")]
    InvalidEvent {
        event_id: Uuid,
        reason: InvalidEvent,
    },
    /// Another writer appended to the stream first. Reload, decide again, retry; 409 when retries
    /// are spent.
    #[error("stream {stream_id} is at version {actual}, not {expected}")]
    Conflict {
        stream_id: StreamId,
        expected: StreamVersion,
        actual: StreamVersion,
    },
    /// An event id of this append is already stored, but not as this same append (another stream,
    /// or only some of the ids). A caller bug: event ids must not be reused; 500.
    #[error("event id {event_id} is already stored as another event")]
    EventIdReused { event_id: Uuid },
    /// No connection could be had (server down, pool exhausted). 503 with Retry-After.
    #[error("the event store is unavailable")]
    Unavailable(#[source] deadpool_postgres::PoolError),
    /// A statement failed (connection lost mid-append, timeout). Nothing half-written remains: an
    /// append is one transaction. 503.
    #[error("database error while {doing}")]
    Database {
        doing: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A stored row cannot be turned back into an event. 500, and an operator must look.
    #[error("the stored event at position {position} cannot be read: {reason}")]
    CorruptRow { position: i64, reason: String },
}

impl StoreError {
    pub(crate) fn database(
        doing: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> StoreError + Copy {
        move |source| StoreError::Database { doing, source }
    }
}

/// Why one event cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// The event type is empty, over 100 characters or not a plain name.
    #[error("the event type must be 1 to 100 letters, digits, '.', '-' or '_'")]
    BadEventType,
    /// Schema versions start at 1.
    #[error("the schema version must be at least 1")]
    BadSchemaVersion,
    /// The payload is not valid JSON text.
    #[error("the payload is not valid JSON: {0}")]
    InvalidJson(String),
    /// The payload is JSON but not an object.
    #[error("the payload must be a JSON object")]
    PayloadNotAnObject,
    /// A string in the payload holds U+0000, which PostgreSQL cannot store in jsonb.
    #[error("the payload holds the character U+0000")]
    PayloadHasNul,
    /// The same event id appears twice in one append.
    #[error("the event id appears twice in one append")]
    DuplicateInAppend,
    /// The event is larger than the store takes.
    #[error("the event takes {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
}
