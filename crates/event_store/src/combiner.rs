//! Writing appends, several in one call when they queue up.
//!
//! A commit costs a round trip, a function call and a WAL flush whatever it carries, and on a
//! small machine that fixed cost, not the rows, bounds how many single-event appends a second the
//! store takes. So appends are written by a few *lanes*: while every lane is busy, new appends wait
//! in a queue, and a lane that becomes free takes everything queued (up to [`MAX_BATCH`] appends)
//! and writes it with one call of `append_batch`, in one transaction. Each append in the batch is
//! still checked against its own expected version and either stored whole or rejected whole, and
//! its caller hears back only after the transaction committed. Under light load the queue is empty
//! and every append is written alone by `append_events`, with no added latency.
//!
//! When a batch fails as a whole (an event id already stored, a writer elsewhere winning a version
//! race, a lost connection), its appends are written again one by one, so that each gets its own
//! answer; a batch that had committed after all then finds its events stored and reports them as
//! such.

use std::sync::Arc;

use deadpool_postgres::{Pool, PoolError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::prepared::{is_rejection, AppendedEvent, PreparedAppend};
use domain::Cursor;
use domain::StreamVersion;

/// Most appends written by one call.
pub(crate) const MAX_BATCH: usize = 64;

/// A batch stops taking appends once it holds this many events (a larger append is written alone).
const MAX_BATCH_EVENTS: usize = 1_000;

/// How many calls may be under way at once: one per core of the database server measured best
/// (fewer, larger batches; ADR 0003).
const LANES: usize = 2;

/// How an append was written.
pub(crate) enum Written {
    /// Stored, at these positions, in stream order.
    Appended(Vec<AppendedEvent>),
    /// Refused for its expected version or an event id; the caller finds out which.
    Rejected,
    /// Not written: the database could not be reached or failed.
    Failed(Failure),
}

/// Why an append could not be written.
pub(crate) enum Failure {
    Pool(PoolError),
    Database(tokio_postgres::Error),
}

struct Job {
    append: Arc<PreparedAppend>,
    done: oneshot::Sender<Written>,
}

/// The queue in front of the lanes. The task behind it ends when the store is dropped.
pub(crate) struct Combiner {
    jobs: mpsc::UnboundedSender<Job>,
    pool: Pool,
}

impl Combiner {
    pub(crate) fn start(pool: Pool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool.clone(), queue));
        Self { jobs, pool }
    }

    /// Writes one append, alone or with others, and says how.
    pub(crate) async fn submit(&self, append: Arc<PreparedAppend>) -> Written {
        let (done, answer) = oneshot::channel();
        let job = Job { append, done };
        if let Err(returned) = self.jobs.send(job) {
            // The lanes' task is gone (the runtime is shutting down): write it here.
            return write_one(&self.pool, &returned.0.append).await;
        }
        match answer.await {
            Ok(written) => written,
            // A lane dropped the job without answering: only when its task was cancelled.
            Err(_) => Written::Failed(Failure::Pool(PoolError::Closed)),
        }
    }
}

async fn run(pool: Pool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let lanes = Arc::new(Semaphore::new(LANES));
    loop {
        // A lane first, then the queue: while all lanes are busy, appends gather in the queue.
        let Ok(lane) = lanes.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut events = first.append.event_ids.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && events < MAX_BATCH_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.append.event_ids.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, batch).await;
            drop(lane);
        });
    }
}

async fn write_batch(pool: &Pool, batch: Vec<Job>) {
    if batch.len() > 1 {
        match write_together(pool, &batch).await {
            Ok(results) => {
                for (job, written) in batch.into_iter().zip(results) {
                    let _ = job.done.send(written);
                }
                return;
            }
            Err(error) => {
                tracing::debug!(error.message = %error, appends = batch.len(), "batch refused; writing its appends one by one");
            }
        }
    }
    for job in batch {
        let written = write_one(pool, &job.append).await;
        let _ = job.done.send(written);
    }
}

async fn write_one(pool: &Pool, append: &PreparedAppend) -> Written {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return Written::Failed(Failure::Pool(error)),
    };
    match append.execute(&client).await {
        Ok(events) => Written::Appended(events),
        Err(error) if is_rejection(&error) => Written::Rejected,
        Err(error) => Written::Failed(Failure::Database(error)),
    }
}

/// Writes several appends with one call of `append_batch`; one answer per append.
async fn write_together(pool: &Pool, batch: &[Job]) -> Result<Vec<Written>, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let statement = client
        .prepare_cached(
            "SELECT out_tx_id, out_accepted, out_positions \
               FROM append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .await
        .map_err(|e| e.to_string())?;
    let appends: Vec<&PreparedAppend> = batch.iter().map(|job| job.append.as_ref()).collect();
    let per_append =
        |f: &dyn Fn(&PreparedAppend) -> i64| appends.iter().map(|a| f(a)).collect::<Vec<i64>>();
    let counts: Vec<i32> = appends
        .iter()
        .map(|a| i32::try_from(a.event_ids.len()).unwrap_or(i32::MAX))
        .collect();
    let stream_ids: Vec<uuid::Uuid> = appends.iter().map(|a| a.stream_id.as_uuid()).collect();
    let expected = per_append(&|a| i64::try_from(a.expected.get()).unwrap_or(i64::MAX));
    let actors: Vec<&str> = appends.iter().map(|a| a.actor.as_str()).collect();
    let channels: Vec<&str> = appends
        .iter()
        .map(|a| a.metadata.channel.as_str())
        .collect();
    let correlation_ids: Vec<uuid::Uuid> =
        appends.iter().map(|a| a.metadata.correlation_id).collect();
    let causation_ids: Vec<Option<uuid::Uuid>> =
        appends.iter().map(|a| a.metadata.causation_id).collect();
    let recorded_at: Vec<chrono::DateTime<chrono::Utc>> =
        appends.iter().map(|a| a.recorded_at).collect();
    let event_ids: Vec<uuid::Uuid> = appends
        .iter()
        .flat_map(|a| a.event_ids.iter().copied())
        .collect();
    let event_types: Vec<&str> = appends
        .iter()
        .flat_map(|a| a.event_types.iter().map(String::as_str))
        .collect();
    let schema_versions: Vec<i32> = appends
        .iter()
        .flat_map(|a| a.schema_versions.iter().copied())
        .collect();
    let payloads: Vec<_> = appends.iter().flat_map(|a| a.payload_params()).collect();
    let canonical: Vec<&[u8]> = appends
        .iter()
        .flat_map(|a| a.canonical.iter().map(Vec::as_slice))
        .collect();
    let row = client
        .query_one(
            &statement,
            &[
                &counts,
                &stream_ids,
                &expected,
                &actors,
                &channels,
                &correlation_ids,
                &causation_ids,
                &recorded_at,
                &event_ids,
                &event_types,
                &schema_versions,
                &payloads,
                &canonical,
            ],
        )
        .await
        .map_err(|e| e.to_string())?;
    let results = answers(&appends, &row)?;
    if results.len() != batch.len() {
        return Err("append_batch answered for a different number of appends".into());
    }
    Ok(results)
}

/// Each append's answer from `append_batch`'s row: rejected, or stored at its positions.
fn answers(appends: &[&PreparedAppend], row: &tokio_postgres::Row) -> Result<Vec<Written>, String> {
    let tx_id: Option<i64> = row.try_get(0).map_err(|e| e.to_string())?;
    let accepted: Vec<bool> = row.try_get(1).map_err(|e| e.to_string())?;
    let positions: Vec<Option<i64>> = row.try_get(2).map_err(|e| e.to_string())?;
    let mut positions = positions.into_iter();
    let mut results = Vec::with_capacity(appends.len());
    for (append, accepted) in appends.iter().zip(accepted) {
        let mine: Vec<Option<i64>> = positions.by_ref().take(append.event_ids.len()).collect();
        if !accepted {
            results.push(Written::Rejected);
            continue;
        }
        let events = append
            .event_ids
            .iter()
            .zip(mine)
            .zip(1u64..)
            .map(|((&event_id, position), offset)| AppendedEvent {
                event_id,
                stream_version: StreamVersion::new(append.expected.get().saturating_add(offset)),
                cursor: Cursor::new(tx_id.unwrap_or(0), position.unwrap_or(0)),
            })
            .collect();
        results.push(Written::Appended(events));
    }
    Ok(results)
}
