//! Checkpoints: where each projector stands in the gap-free order, and how far behind it is.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use domain::Cursor;
use serde::Serialize;

use crate::ProjectionError;

/// How far a projector is behind the head of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lag {
    /// The read model.
    pub name: String,
    /// The last event it applied.
    pub cursor: Cursor,
    /// Events committed after the cursor (counted up to [`Lag::COUNT_LIMIT`]).
    pub events_behind: i64,
    /// How long ago the oldest event it has not applied was recorded; 0 when it is caught up.
    pub seconds_behind: f64,
    /// When the checkpoint last moved, if ever.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Lag {
    /// Counting stops here, so that a projector far behind costs a bounded query.
    pub const COUNT_LIMIT: i64 = 1_000_000;
}

/// The checkpoint of `name` ([`Cursor::START`] when it never ran).
pub async fn load(client: &impl GenericClient, name: &str) -> Result<Cursor, ProjectionError> {
    let row = client
        .query_opt(
            "SELECT tx_id, position FROM projections.checkpoints WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(ProjectionError::database("reading a checkpoint"))?;
    Ok(row.map_or(Cursor::START, |row| {
        Cursor::new(row.get::<_, i64>(0), row.get::<_, i64>(1))
    }))
}

/// Takes the projector's lock for the rest of `tx` and reads its checkpoint. Only one transaction
/// at a time writes a read model: the live projector in any process, or a rebuild's swap.
pub(crate) async fn lock(tx: &Transaction<'_>, name: &str) -> Result<Cursor, ProjectionError> {
    let database = ProjectionError::database("locking a projector");
    let statement = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock(hashtextextended('egov-projection:' || $1, 0))",
        )
        .await
        .map_err(database)?;
    tx.execute(&statement, &[&name]).await.map_err(database)?;
    load(tx, name).await
}

/// Moves the checkpoint of `name` to `cursor`, counting `applied` more events.
pub(crate) async fn store(
    tx: &Transaction<'_>,
    name: &str,
    cursor: Cursor,
    applied: i64,
    reset: bool,
) -> Result<(), ProjectionError> {
    let sql = if reset {
        "INSERT INTO projections.checkpoints AS c (name, tx_id, position, events_applied, updated_at) \
         VALUES ($1, $2, $3, $4, now()) \
         ON CONFLICT (name) DO UPDATE SET tx_id = $2, position = $3, events_applied = $4, updated_at = now()"
    } else {
        "INSERT INTO projections.checkpoints AS c (name, tx_id, position, events_applied, updated_at) \
         VALUES ($1, $2, $3, $4, now()) \
         ON CONFLICT (name) DO UPDATE SET tx_id = $2, position = $3, \
             events_applied = c.events_applied + $4, updated_at = now()"
    };
    let database = ProjectionError::database("moving a checkpoint");
    // Cached: in a projector's batch this runs after its writes, holding the transaction's id.
    let statement = tx.prepare_cached(sql).await.map_err(database)?;
    tx.execute(
        &statement,
        &[&name, &cursor.transaction(), &cursor.position(), &applied],
    )
    .await
    .map_err(database)?;
    Ok(())
}

/// How far `name` is behind the head of the log.
///
/// # Errors
/// When the database fails.
pub async fn lag(pool: &Pool, name: &str) -> Result<Lag, ProjectionError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT tx_id, position, updated_at FROM projections.checkpoints WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(ProjectionError::database("reading a checkpoint"))?;
    let (cursor, updated_at) = row.map_or((Cursor::START, None), |row| {
        (
            Cursor::new(row.get(0), row.get(1)),
            row.get::<_, Option<DateTime<Utc>>>(2),
        )
    });
    let behind = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at))::float8, 0) \
               FROM (SELECT recorded_at FROM events \
                      WHERE (tx_id, position) > ($1, $2) \
                      ORDER BY tx_id, position LIMIT $3) AS behind",
            &[&cursor.transaction(), &cursor.position(), &Lag::COUNT_LIMIT],
        )
        .await
        .map_err(ProjectionError::database("measuring a projector's lag"))?;
    Ok(Lag {
        name: name.to_owned(),
        cursor,
        events_behind: behind.get(0),
        seconds_behind: behind.get::<_, f64>(1).max(0.0),
        updated_at,
    })
}
