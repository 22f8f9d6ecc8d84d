//! A batch's statements: its rows written with the transaction id held as briefly as possible.
//!
//! Readers of the log wait for the oldest transaction still open anywhere in the cluster (see
//! `event_store::read`), and a transaction gets its id at its first write. So a
//! projector's transaction must not stay open for round trips after it: its statements are
//! prepared first (cached per connection; preparing takes no id), then sent together and answered
//! in one round trip.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use domain::request::{EventDecodeError, RequestEvent};
use domain::RecordedEvent;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::checkpoint::Finish;
use crate::ProjectionError;

/// One statement of a batch's writes.
pub(crate) struct Write<'a> {
    pub sql: String,
    pub params: Vec<&'a (dyn ToSql + Sync)>,
    /// What it does, for the error.
    pub doing: &'static str,
}

/// Runs `writes` in their order, pipelined; the rows each changed. With `finish` (a live
/// projector's batch), the whole batch goes out with them, ending the transaction (see
/// [`Finish`]): this must then be the batch's only statement.
///
/// # Errors
/// The first statement that failed (the ones after it fail too: the transaction is aborted, and a
/// COMMIT sent with them rolls it back).
pub(crate) async fn pipelined(
    tx: &Transaction<'_>,
    writes: &[Write<'_>],
    finish: Option<&Finish<'_>>,
) -> Result<Vec<u64>, ProjectionError> {
    let statements = futures_util::future::try_join_all(writes.iter().map(|w| async move {
        tx.prepare_cached(&w.sql)
            .await
            .map_err(ProjectionError::database(w.doing))
    }))
    .await?;
    // `try_join_all` polls in order, so the statements go out (and run) in this order.
    let written = futures_util::future::try_join_all(writes.iter().zip(&statements).map(
        |(w, statement)| async move {
            tx.execute(statement, &w.params)
                .await
                .map_err(ProjectionError::database(w.doing))
        },
    ));
    match finish {
        Some(finish) => finish.send(tx, written).await,
        None => written.await,
    }
}

/// The versions `table` already holds for `streams` (rows at or below them are applied): read
/// before a batch's writes, over a cached statement. None for a live projector's batch (with
/// `finish`): it starts at the checkpoint, which moves with the rows, so none of it is applied.
///
/// # Errors
/// When the database fails.
pub(crate) async fn applied_versions(
    tx: &Transaction<'_>,
    table: &str,
    streams: &[Uuid],
    finish: Option<&Finish<'_>>,
) -> Result<HashMap<Uuid, i64>, ProjectionError> {
    if finish.is_some() {
        return Ok(HashMap::new());
    }
    let database = ProjectionError::database("reading applied versions");
    let statement = tx
        .prepare_cached(&format!(
            "SELECT stream_id, version FROM {table} WHERE stream_id = ANY($1)"
        ))
        .await
        .map_err(database)?;
    Ok(tx
        .query(&statement, &[&streams])
        .await
        .map_err(database)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// The request events of `events` that `table` has not applied yet (above the version its row
/// holds), decoded, each with its envelope; events of other streams (reads of citizens' data,
/// social-status checks) are left out.
///
/// # Errors
/// When the database fails, or a request event cannot be decoded ([`ProjectionError::Undecodable`]).
pub(crate) async fn unapplied_request_events<'e>(
    tx: &Transaction<'_>,
    table: &str,
    events: &'e [RecordedEvent],
    finish: Option<&Finish<'_>>,
) -> Result<Vec<(&'e RecordedEvent, RequestEvent)>, ProjectionError> {
    let mut streams: Vec<Uuid> = events.iter().map(|e| e.stream_id.as_uuid()).collect();
    streams.sort_unstable();
    streams.dedup();
    let applied = applied_versions(tx, table, &streams, finish).await?;
    let mut unapplied = Vec::with_capacity(events.len());
    for recorded in events {
        let version = recorded.stream_version.get();
        let stored = applied
            .get(&recorded.stream_id.as_uuid())
            .copied()
            .unwrap_or(0);
        if i64::try_from(version).unwrap_or(i64::MAX) <= stored {
            continue;
        }
        match RequestEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload.clone(),
        ) {
            Ok(event) => unapplied.push((recorded, event)),
            Err(EventDecodeError::UnknownType(_)) => {} // not a request's event
            Err(error) => {
                return Err(ProjectionError::Undecodable {
                    stream_id: recorded.stream_id,
                    version,
                    reason: error.to_string(),
                })
            }
        }
    }
    Ok(unapplied)
}
