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
        .query_opt(LOAD, &[&name])
        .await
        .map_err(ProjectionError::database("reading a checkpoint"))?;
    Ok(cursor_of(row))
}

/// Reading a checkpoint.
const LOAD: &str = "SELECT tx_id, position FROM projections.checkpoints WHERE name = $1";

fn cursor_of(row: Option<tokio_postgres::Row>) -> Cursor {
    row.map_or(Cursor::START, |row| {
        Cursor::new(row.get::<_, i64>(0), row.get::<_, i64>(1))
    })
}

/// Takes the projector's lock for the rest of `tx` and reads its checkpoint. Only one transaction
/// at a time writes a read model: the live projector in any process, or a rebuild's swap.
pub(crate) async fn lock(tx: &Transaction<'_>, name: &str) -> Result<Cursor, ProjectionError> {
    let database = ProjectionError::database("locking a projector");
    // Both prepared first (cached: no round trip after a connection's first batch), then sent
    // together: the read runs after the lock is granted, in a snapshot taken after it.
    let lock = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock(hashtextextended('egov-projection:' || $1, 0))",
        )
        .await
        .map_err(database)?;
    let read = tx.prepare_cached(LOAD).await.map_err(database)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&name];
    let (locked, row) =
        futures_util::join!(tx.execute(&lock, &params), tx.query_opt(&read, &params));
    locked.map_err(database)?;
    Ok(cursor_of(row.map_err(ProjectionError::database(
        "reading a checkpoint",
    ))?))
}

/// Moves the checkpoint of `name` to `cursor`, counting `applied` more events, and commits `tx`:
/// the statement and the COMMIT go out together, so the transaction's id (which every reader of
/// the log waits for) is not held while this task waits to be scheduled again. When the statement
/// fails, PostgreSQL answers the COMMIT by rolling back, and the error is returned.
pub(crate) async fn store_and_commit(
    tx: Transaction<'_>,
    name: &str,
    cursor: Cursor,
    applied: i64,
) -> Result<(), ProjectionError> {
    let database = ProjectionError::database("moving a checkpoint");
    // Prepared first (cached: no round trip after a connection's first batch), so that the
    // statement is sent before the COMMIT.
    let statement = tx.prepare_cached(STORE).await.map_err(database)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&name, &cursor.transaction(), &cursor.position(), &applied];
    // Polled in order: each sends its message on its first poll.
    let (stored, committed) =
        futures_util::join!(tx.execute(&statement, &params), tx.batch_execute("COMMIT"));
    // The COMMIT ended the transaction either way; dropping `tx` would send a ROLLBACK that only
    // draws a warning. It owns no memory of its own, so forgetting it leaks nothing.
    std::mem::forget(tx);
    stored.map_err(database)?;
    committed.map_err(ProjectionError::database("committing a projector's batch"))?;
    Ok(())
}

/// The end of a live projector's batch: its checkpoint moved and the COMMIT, to be sent with the
/// batch's last writes ([`crate::writes::pipelined`]), so that the transaction does not hold its
/// id (which every reader of the log waits for) while the projector's task waits to be scheduled
/// again between its writes and its commit.
///
/// They go out with the writes only once the checkpoint read under the projector's lock has come
/// back and is where the batch starts; otherwise the projector's loop checks it and commits
/// itself, as before ([`store_and_commit`]).
pub struct Finish<'a> {
    name: &'a str,
    expected: Cursor,
    next: Cursor,
    events: i64,
    /// The checkpoint read under the lock, once it has come back.
    found: std::sync::OnceLock<Cursor>,
    /// Whether the checkpoint and the COMMIT went out (the transaction is then over).
    sent: std::sync::atomic::AtomicBool,
}

impl<'a> Finish<'a> {
    /// The end of the batch of `events` events of `name` from `expected` to `next`.
    pub(crate) fn new(name: &'a str, expected: Cursor, next: Cursor, events: i64) -> Self {
        Self {
            name,
            expected,
            next,
            events,
            found: std::sync::OnceLock::new(),
            sent: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Records the checkpoint read under the lock.
    pub(crate) fn found(&self, cursor: Cursor) {
        let _ = self.found.set(cursor);
    }

    /// Whether the checkpoint and the COMMIT went out with the writes.
    pub(crate) fn sent(&self) -> bool {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sends the checkpoint and the COMMIT, in this order, once the batch's last writes have been
    /// sent (the futures send on their first poll), if the checkpoint read under the lock is back
    /// and is where the batch starts; `None` when they are left to the projector's loop.
    pub(crate) async fn send(
        &self,
        tx: &Transaction<'_>,
        writes: impl std::future::Future<Output = Result<Vec<u64>, ProjectionError>>,
    ) -> Result<Vec<u64>, ProjectionError> {
        if self.found.get() != Some(&self.expected) {
            return writes.await;
        }
        let database = ProjectionError::database("moving a checkpoint");
        let statement = tx.prepare_cached(STORE).await.map_err(database)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
            &self.name,
            &self.next.transaction(),
            &self.next.position(),
            &self.events,
        ];
        self.sent.store(true, std::sync::atomic::Ordering::SeqCst);
        // Polled in order: each sends its messages on its first poll.
        let (written, stored, committed) = futures_util::join!(
            writes,
            tx.execute(&statement, &params),
            tx.batch_execute("COMMIT")
        );
        let written = written?;
        stored.map_err(database)?;
        committed.map_err(ProjectionError::database("committing a projector's batch"))?;
        Ok(written)
    }
}

/// Moving a checkpoint forward, counting the events applied.
const STORE: &str =
    "INSERT INTO projections.checkpoints AS c (name, tx_id, position, events_applied, updated_at) \
     VALUES ($1, $2, $3, $4, now()) \
     ON CONFLICT (name) DO UPDATE SET tx_id = $2, position = $3, \
         events_applied = c.events_applied + $4, updated_at = now()";

/// Moves the checkpoint of `name` to `cursor`, counting `applied` more events (or, with `reset`,
/// counting from `applied`).
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
        STORE
    };
    let database = ProjectionError::database("moving a checkpoint");
    // Cached: it runs after the writes of a batch (the Kafka relay's), holding the transaction's id.
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
