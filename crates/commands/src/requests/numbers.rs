//! Request numbers: drawn once per stream (`allocate_request_number`, migrations/V3), and looked
//! up to find a request's stream.

use chrono::NaiveDate;
use domain::{RequestNumber, StreamId};
use uuid::Uuid;

use super::CommandError;
use crate::event_store::{EventStore, StoreError};

/// The number of the request in `stream_id`: the one it was given before, or the next of `day`.
pub(super) async fn allocate(
    store: &EventStore,
    stream_id: StreamId,
    day: NaiveDate,
) -> Result<RequestNumber, CommandError> {
    let doing = "drawing a request number";
    let client = store
        .database()
        .pool()
        .get()
        .await
        .map_err(StoreError::Unavailable)?;
    let row = client
        .query_one(
            "SELECT allocate_request_number($1, $2)",
            &[&stream_id.as_uuid(), &day],
        )
        .await
        .map_err(|source| {
            if source
                .as_db_error()
                .is_some_and(|e| e.constraint().is_some())
            {
                CommandError::NumbersExhausted
            } else {
                StoreError::Database { doing, source }.into()
            }
        })?;
    let raw: String = row
        .try_get(0)
        .map_err(|source| StoreError::Database { doing, source })?;
    RequestNumber::parse(&raw).map_err(|error| CommandError::Corrupt {
        stream_id,
        reason: format!("drawn number {raw}: {error}"),
    })
}

/// The stream of the request with this number.
pub(super) async fn find(
    store: &EventStore,
    number: &RequestNumber,
) -> Result<Option<StreamId>, CommandError> {
    let doing = "looking up a request number";
    let client = store
        .database()
        .pool()
        .get()
        .await
        .map_err(StoreError::Unavailable)?;
    let row = client
        .query_opt(
            "SELECT stream_id FROM request_numbers WHERE number = $1",
            &[&number.to_string()],
        )
        .await
        .map_err(|source| StoreError::Database { doing, source })?;
    row.map(|row| row.try_get::<_, Uuid>(0).map(StreamId::from_uuid))
        .transpose()
        .map_err(|source| StoreError::Database { doing, source }.into())
}
