//! What a command handler can answer besides success.

use domain::request::DomainError;
use domain::{RequestNumber, StreamId};

use event_store::StoreError;

/// Errors of the request command handlers.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused the command: a client's mistake or a request in the wrong state (4xx).
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// No such request, or one the caller may not see: the two answer alike (404).
    #[error("no such request")]
    NotFound,
    /// The idempotency key was used before for a different request (422).
    #[error("the idempotency key was used for request {number}")]
    IdempotencyKeyReused { number: RequestNumber },
    /// The actor filed as many requests today as it may (429 until `until`).
    #[error("the daily limit of filings is reached until {until}")]
    DailyLimitReached {
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The day's request numbers are spent (503).
    #[error("no request number is left for today")]
    NumbersExhausted,
    /// Other writers kept winning the race for the stream (409, retry).
    #[error("the request is busy; try again")]
    Busy,
    /// A stored event of the stream cannot be read as a request event (500; an operator must look).
    #[error("stream {stream_id} cannot be read: {reason}")]
    Corrupt { stream_id: StreamId, reason: String },
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The scans' store failed (503: try again).
    #[error("the scans cannot be kept now")]
    Scans(#[from] crate::adapters::scans::ScanError),
}
