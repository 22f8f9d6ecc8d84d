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
    let lock = tx.prepare_cached(LOCK).await.map_err(database)?;
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

/// A live projector's batch sent whole: the relaxed commit, the projector's lock, the batch's
/// writes, the checkpoint moved and the COMMIT go out together, in one round trip
/// ([`crate::writes::pipelined`]), so that the transaction holds its id (which every reader of
/// the log waits for) only while PostgreSQL runs them, never while the projector's task waits to
/// be scheduled again.
///
/// The checkpoint is not read first: `projections.advance_checkpoint` (migrations/V11) moves it
/// only from where the batch starts and raises otherwise (a rebuild swapped the read model in
/// meanwhile), and the COMMIT then rolls the batch back. Since the checkpoint moves in the same
/// transactions as the rows, none of the batch's events is applied yet when it holds, so `apply`
/// need not read the versions it has ([`crate::writes::applied_versions`]).
pub struct Finish<'a> {
    name: &'a str,
    expected: Cursor,
    next: Cursor,
    events: i64,
    /// Whether the batch went out (the transaction is then over).
    sent: std::sync::atomic::AtomicBool,
}

/// The SQLSTATE `projections.advance_checkpoint` raises when the checkpoint moved.
const CHECKPOINT_MOVED: &str = "EGC01";

impl<'a> Finish<'a> {
    /// The end of the batch of `events` events of `name` from `expected` to `next`.
    pub(crate) fn new(name: &'a str, expected: Cursor, next: Cursor, events: i64) -> Self {
        Self {
            name,
            expected,
            next,
            events,
            sent: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the batch went out, ending the transaction.
    pub(crate) fn sent(&self) -> bool {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sends the relaxed commit and the lock, then `writes` (a future that sends the batch's
    /// statements on its first poll), then the checkpoint and the COMMIT.
    ///
    /// # Errors
    /// [`ProjectionError::CheckpointMoved`] when the checkpoint is not where the batch starts;
    /// otherwise the first statement that failed. Either way the transaction is rolled back.
    pub(crate) async fn send(
        &self,
        tx: &Transaction<'_>,
        writes: impl std::future::Future<Output = Result<Vec<u64>, ProjectionError>>,
    ) -> Result<Vec<u64>, ProjectionError> {
        let database = ProjectionError::database("moving a checkpoint");
        let lock = tx.prepare_cached(LOCK).await.map_err(database)?;
        let advance = tx.prepare_cached(ADVANCE).await.map_err(database)?;
        let locking: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&self.name];
        let advancing: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
            &self.name,
            &self.expected.transaction(),
            &self.expected.position(),
            &self.next.transaction(),
            &self.next.position(),
            &self.events,
        ];
        self.sent.store(true, std::sync::atomic::Ordering::SeqCst);
        // Polled in order: each sends its messages on its first poll, and PostgreSQL runs them in
        // the order sent.
        let (relaxed, locked, written, advanced, committed) = futures_util::join!(
            tx.batch_execute(event_store::db::RELAXED_COMMIT),
            tx.execute(&lock, &locking),
            writes,
            tx.execute(&advance, &advancing),
            tx.batch_execute("COMMIT")
        );
        relaxed.map_err(ProjectionError::database("relaxing a projector's commit"))?;
        locked.map_err(ProjectionError::database("locking a projector"))?;
        let written = written?;
        if let Err(error) = advanced {
            if error
                .code()
                .is_some_and(|code| code.code() == CHECKPOINT_MOVED)
            {
                return Err(ProjectionError::CheckpointMoved(self.name.to_owned()));
            }
            return Err(database(error));
        }
        committed.map_err(ProjectionError::database("committing a projector's batch"))?;
        Ok(written)
    }
}

/// A projector's lock, for the rest of its transaction.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('egov-projection:' || $1, 0))";

/// Moving a live projector's checkpoint from where its batch started (migrations/V11).
const ADVANCE: &str = "SELECT projections.advance_checkpoint($1, $2, $3, $4, $5, $6)";

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

/// How long ago the oldest event the read model `name` has not applied from the log was
/// recorded, 0 when it holds the log: [`Lag::seconds_behind`] without counting the events behind
/// (one index lookup), for a caller that asks often (`/readyz`).
///
/// # Errors
/// When the database cannot be asked.
pub async fn log_staleness(
    client: &impl GenericClient,
    name: &str,
) -> Result<f64, ProjectionError> {
    let cursor = load(client, name).await?;
    oldest_after(client, cursor).await
}

/// How long ago the oldest event after `cursor` was recorded, 0 when there is none.
async fn oldest_after(client: &impl GenericClient, cursor: Cursor) -> Result<f64, ProjectionError> {
    let row = client
        .query_one(
            "SELECT coalesce(extract(epoch FROM now() - min(recorded_at))::float8, 0) \
               FROM (SELECT recorded_at FROM events WHERE (tx_id, position) > ($1, $2) \
                      ORDER BY tx_id, position LIMIT 1) AS oldest",
            &[&cursor.transaction(), &cursor.position()],
        )
        .await
        .map_err(ProjectionError::database("measuring a projector's lag"))?;
    Ok(row.get::<_, f64>(0).max(0.0))
}

/// How long the read model `name`, fed from a Kafka topic, has applied nothing while the relay
/// had published events newer than all it applied: `None` when it was never fed from a topic,
/// 0 when nothing published waits for it. Measured over all its partitions together (the
/// newest event applied from any of them), so one partition stuck while the others move does not
/// show here; the consumer group's own lag does.
///
/// # Errors
/// When the database cannot be asked.
pub async fn kafka_staleness(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<f64>, ProjectionError> {
    let rows = client
        .query(
            "SELECT o.topic, \
                    extract(epoch FROM now() - max(o.updated_at))::float8, \
                    (SELECT e.recorded_at FROM events e \
                      WHERE (e.tx_id, e.position) <= (r.tx_id, r.position) \
                      ORDER BY e.tx_id DESC, e.position DESC LIMIT 1) \
                      > coalesce(max(o.last_recorded_at), '-infinity') AS waiting \
               FROM projections.kafka_offsets o \
               LEFT JOIN projections.checkpoints r ON r.name = 'kafka-relay:' || o.topic \
              WHERE o.projector = $1 \
              GROUP BY o.topic, r.tx_id, r.position",
            &[&name],
        )
        .await
        .map_err(ProjectionError::database(
            "measuring a Kafka-fed projector's lag",
        ))?;
    // The most current of the topics it was fed from.
    Ok(rows
        .iter()
        .map(|row| {
            let waiting = row.get::<_, Option<bool>>(2).unwrap_or(false);
            if waiting {
                row.get::<_, f64>(1).max(0.0)
            } else {
                0.0
            }
        })
        .reduce(f64::min))
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
    let events_behind = client
        .query_one(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE (tx_id, position) > ($1, $2) \
                                    ORDER BY tx_id, position LIMIT $3) AS behind",
            &[&cursor.transaction(), &cursor.position(), &Lag::COUNT_LIMIT],
        )
        .await
        .map_err(ProjectionError::database("measuring a projector's lag"))?
        .get(0);
    let seconds_behind = oldest_after(&client, cursor).await?;
    Ok(Lag {
        name: name.to_owned(),
        cursor,
        events_behind,
        seconds_behind,
        updated_at,
    })
}
