//! Request numbers: drawn once per stream (`allocate_request_number`, migrations/V3), and looked
//! up to find a request's stream.

use chrono::NaiveDate;
use domain::{RequestNumber, StreamId};
use uuid::Uuid;

use super::{CommandError, Submission};
use event_store::{first_column, EventStore, StoreError};

/// The number of the request in `stream_id`: the one it was given before, or the next of `day`
/// (counted against the daily limit of the submission's actor).
///
/// The drawing commits without waiting for the disk. No one learns the number before the
/// request's first event is appended, and that append waits for the WAL to be flushed past this
/// commit, which comes earlier in it: a crash that loses the drawing loses that append too, so a
/// number lost can only be one no one was told (docs/adr/0008).
pub(super) async fn allocate(
    store: &EventStore,
    stream_id: StreamId,
    day: NaiveDate,
    submission: &Submission,
) -> Result<RequestNumber, CommandError> {
    let principal = submission.actor.to_string();
    let limit = i32::try_from(submission.daily_limit).unwrap_or(i32::MAX);
    let rows = store
        .query_relaxed(
            "SELECT allocate_request_number($1, $2, $3, $4)",
            &[&stream_id.as_uuid(), &day, &principal, &limit],
            "drawing a request number",
        )
        .await
        .map_err(|error| match &error {
            // The actor's daily limit (migrations/V13).
            StoreError::Database { source, .. }
                if source
                    .as_db_error()
                    .is_some_and(|e| e.code().code() == "EGQ01") =>
            {
                CommandError::DailyLimitReached {
                    until: domain::calendar::start_of_next_day(day),
                }
            }
            // The day's counter is past 999999 (its CHECK constraint).
            StoreError::Database { source, .. }
                if source
                    .as_db_error()
                    .is_some_and(|e| e.constraint().is_some()) =>
            {
                CommandError::NumbersExhausted
            }
            _ => error.into(),
        })?;
    let raw: String = first_column(&rows, "drawing a request number")?.unwrap_or_default();
    RequestNumber::parse(&raw).map_err(|error| CommandError::Corrupt {
        stream_id,
        reason: format!("drawn number {raw:?}: {error}"),
    })
}

/// The stream of the request with this number.
pub(super) async fn find(
    store: &EventStore,
    number: &RequestNumber,
) -> Result<Option<StreamId>, CommandError> {
    let doing = "looking up a request number";
    let rows = store
        .query(
            "SELECT stream_id FROM request_numbers WHERE number = $1",
            &[&number.as_str()],
            doing,
        )
        .await?;
    Ok(first_column::<Uuid>(&rows, doing)?.map(StreamId::from_uuid))
}
