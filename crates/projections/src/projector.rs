//! The projector trait and the loop that keeps a read model up to date.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Transaction;
use domain::{Cursor, RecordedEvent};
use event_store::EventStore;
use event_store::SubscriptionOptions;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{self, Finish};
use crate::leader::Leadership;
use crate::retry::{sleep_unless, Backoff};
use crate::ProjectionError;

/// The event types in the log that are not a request's (reads of citizens' data and of the log,
/// social-status checks): projectors of requests skip their payloads
/// ([`SubscriptionOptions::without_payload`]).
pub const NOT_REQUESTS: &[&str] = &[
    domain::data_access::EVENT_TYPE,
    domain::data_access::LOG_READ_EVENT_TYPE,
    domain::social_status::EVENT_TYPE,
];

/// The most events a live batch holds, whatever a read model asks ([`Projector::reading`]): a
/// batch is one transaction, and its events and writes are held in memory (with payloads only
/// for read models that read them, which keep the default batch of 1,000).
pub const MAX_BATCH: u32 = 100_000;

/// A read model: how it applies events.
///
/// `apply` must be idempotent by stream version (an event at or below the version a row already
/// has changes nothing), because a batch may be offered again after a crash between apply and
/// commit, and it must only write inside `tx`, the transaction that also moves the checkpoint.
pub trait Projector: Send + Sync + 'static {
    /// The read model's name: the name of its checkpoint and of its table in the `projections`
    /// schema.
    fn name(&self) -> &'static str;

    /// Applies `events` (in log order) to `table` (schema-qualified). Returns how many events
    /// changed something.
    ///
    /// `finish` is given by the live loop: `apply` then reads nothing and sends its writes, all of
    /// them, through [`crate::writes::pipelined`] with it, which sends the whole batch with its
    /// lock, checkpoint and COMMIT (see [`Finish`]); or it sends nothing at all, and the loop
    /// commits.
    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
        finish: Option<&'a Finish<'a>>,
    ) -> impl Future<Output = Result<u64, ProjectionError>> + Send + 'a;

    /// How the live loop reads the log for this read model: which payloads it leaves out, how
    /// large and how often its batches are. A batch holds at most [`MAX_BATCH`] events.
    fn reading(&self) -> SubscriptionOptions {
        SubscriptionOptions::default()
    }

    /// The live table, schema-qualified.
    fn table(&self) -> String {
        format!("{}.{}", crate::SCHEMA, self.name())
    }
}

/// What a running projector has applied: readers wait on changes of it (long polls).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// The checkpoint after the last committed batch.
    pub cursor: Cursor,
    /// Batches committed since the process started that changed the read model (a batch that
    /// changed nothing moves `cursor` without telling the receivers).
    pub batches: u64,
    /// The streams the last batch touched (caches of the read model drop them).
    pub streams: Arc<[uuid::Uuid]>,
    /// Whether this process is the one projecting (and so sees every change). `batches` jumps by
    /// more than one whenever a cache can no longer trust what it holds (leadership gained or
    /// lost, the table swapped by a rebuild).
    pub leader: bool,
}

/// Tells caches to drop everything and whether this process now leads.
fn reset(progress: &watch::Sender<Progress>, leader: bool) {
    progress.send_modify(|p| {
        p.batches = p.batches.wrapping_add(2);
        p.streams = Arc::from([]);
        p.leader = leader;
    });
}

/// A batch a projector committed (for benchmarks measuring the lag from append to read model).
#[derive(Debug, Clone)]
pub struct BatchApplied {
    /// When each event of the batch was recorded in the log.
    pub recorded_at: Vec<chrono::DateTime<chrono::Utc>>,
    /// When the projector had read the batch (from the log, or the topic).
    pub read_at: chrono::DateTime<chrono::Utc>,
    /// When the batch was committed.
    pub committed_at: chrono::DateTime<chrono::Utc>,
}

impl BatchApplied {
    /// How long each event recorded from `from` on took to reach the read model.
    pub fn lags_since(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> impl Iterator<Item = std::time::Duration> + '_ {
        self.each_since(from, self.committed_at)
    }

    /// How long each event recorded from `from` on waited to be read.
    pub fn waits_since(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> impl Iterator<Item = std::time::Duration> + '_ {
        self.each_since(from, self.read_at)
    }

    /// From each event's recorded time to `until`, for the events recorded from `from` on.
    fn each_since(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> impl Iterator<Item = std::time::Duration> + '_ {
        self.recorded_at
            .iter()
            .filter(move |recorded| **recorded >= from)
            .map(move |recorded| (until - *recorded).to_std().unwrap_or_default())
    }

    /// How long the batch took from read to committed.
    pub fn applying(&self) -> std::time::Duration {
        (self.committed_at - self.read_at)
            .to_std()
            .unwrap_or_default()
    }

    /// The batch of `events`, read at `read_at` and committed now.
    pub(crate) fn now(events: &[RecordedEvent], read_at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            recorded_at: events.iter().map(|e| e.recorded_at).collect(),
            read_at,
            committed_at: chrono::Utc::now(),
        }
    }
}

/// Keeps the read model of `projector` up to date until `shutdown`: catches up from its
/// checkpoint, then follows the log live. Each batch is applied and the checkpoint moved in one
/// transaction; on shutdown it stops between batches, at a checkpoint. Failures are logged and
/// retried with backoff; the loop never gives up on its own.
pub async fn run<P: Projector>(
    store: EventStore,
    projector: Arc<P>,
    progress: watch::Sender<Progress>,
    shutdown: CancellationToken,
) {
    run_observed(store, projector, progress, None, shutdown).await;
}

/// [`run`], telling `applied` of every batch committed.
pub async fn run_observed<P: Projector>(
    store: EventStore,
    projector: Arc<P>,
    progress: watch::Sender<Progress>,
    applied: Option<tokio::sync::mpsc::UnboundedSender<BatchApplied>>,
    shutdown: CancellationToken,
) {
    let name = projector.name();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    let config = store.database().settings().config.clone();
    'leading: while !shutdown.is_cancelled() {
        let Some(mut leadership) = Leadership::take(&config, name, &shutdown).await else {
            break;
        };
        // The database answers again: a failure from now on starts from the first wait.
        backoff.reset();
        reset(&progress, true);
        while !shutdown.is_cancelled() {
            let started = std::time::Instant::now();
            // Cancel safe: `follow` stops between batches (its own select is on a cancel-safe
            // `next_batch`, and a batch's transaction is never cut: dropped, it rolls back);
            // `lost` only waits on the connection task.
            let outcome = tokio::select! {
                outcome = follow(&store, projector.as_ref(), &progress, applied.as_ref(), &shutdown) => outcome,
                () = leadership.lost() => {
                    tracing::warn!(projector = name, "leadership lost; standing by");
                    reset(&progress, false);
                    continue 'leading;
                }
            };
            match outcome {
                Ok(Stopped::Shutdown) => break,
                Ok(Stopped::CheckpointMoved) => {
                    tracing::info!(
                        projector = name,
                        "checkpoint moved by another writer (a rebuild?); resuming from it"
                    );
                    reset(&progress, true);
                    backoff.reset();
                }
                Err(error) => {
                    let wait = backoff.after(started.elapsed());
                    tracing::error!(projector = name, error = %error, cause = ?std::error::Error::source(&error), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "projector failed; it resumes from its checkpoint");
                    if sleep_unless(&shutdown, wait).await {
                        break;
                    }
                }
            }
        }
    }
    reset(&progress, false);
    tracing::info!(projector = name, "projector stopped at its checkpoint");
}

/// How long after a batch the log counts as busy: the projector waits that long for the next one
/// with its connection had and its transaction begun.
const BUSY_FOR: Duration = Duration::from_millis(250);

enum Stopped {
    Shutdown,
    CheckpointMoved,
}

async fn follow<P: Projector>(
    store: &EventStore,
    projector: &P,
    progress: &watch::Sender<Progress>,
    observer: Option<&tokio::sync::mpsc::UnboundedSender<BatchApplied>>,
    shutdown: &CancellationToken,
) -> Result<Stopped, ProjectionError> {
    let client = store.database().pool().get().await?;
    let start = checkpoint::load(&client, projector.name()).await?;
    drop(client);
    tracing::info!(projector = projector.name(), from = %start, "projector following the log");
    let options = projector.reading();
    let options = SubscriptionOptions {
        batch_size: options.batch_size.min(MAX_BATCH),
        ..options
    };
    let mut subscription = store.subscribe(start, options);
    let mut expected = start;
    // Whether a batch came a moment ago: the log is busy, and the next batch likely comes soon.
    let mut busy = false;
    loop {
        let database = ProjectionError::database("starting a projector's transaction");
        // Assigned in either branch; the transaction borrows it.
        let mut client;
        let (batch, read_at, tx) = if busy {
            // While the log is busy, the connection and the BEGIN of the next batch's transaction
            // are had while the batch is awaited, so that neither delays it. A transaction that
            // has only begun holds no id and no snapshot, so it keeps no reader of the log
            // waiting; when no batch comes for a moment it is rolled back (dropped), and the
            // projector waits without it.
            client = store.database().pool().get().await?;
            let waiting = async {
                // Cancel safe: `next_batch` moves its cursor only when it returns events.
                tokio::select! {
                    () = shutdown.cancelled() => None,
                    batch = tokio::time::timeout(BUSY_FOR, subscription.next_batch()) => Some(batch),
                }
            };
            let (batch, begun) = futures_util::join!(waiting, client.transaction());
            let batch = match batch {
                None => return Ok(Stopped::Shutdown),
                Some(Err(_quiet)) => {
                    busy = false;
                    continue;
                }
                Some(Ok(batch)) => batch?,
            };
            (batch, chrono::Utc::now(), begun.map_err(database)?)
        } else {
            // Cancel safe: `next_batch` moves its cursor only when it returns events.
            let batch = tokio::select! {
                () = shutdown.cancelled() => return Ok(Stopped::Shutdown),
                batch = subscription.next_batch() => batch?,
            };
            let read_at = chrono::Utc::now();
            client = store.database().pool().get().await?;
            (
                batch,
                read_at,
                client.transaction().await.map_err(database)?,
            )
        };
        let Some(last) = batch.last() else { continue };
        let next = last.cursor;
        let Some(applied) = commit_batch(projector, tx, &batch, expected, next).await? else {
            return Ok(Stopped::CheckpointMoved);
        };
        busy = true;
        tracing::debug!(projector = projector.name(), events = batch.len(), applied, to = %next, "batch applied");
        if let Some(observer) = observer {
            let _ = observer.send(BatchApplied::now(&batch, read_at));
        }
        expected = next;
        publish(progress, &batch, next, applied);
    }
}

/// Tells the read model's readers that a batch up to `next` is committed. A batch that changed
/// nothing in the read model (reads recorded by read-auditing, say) moves the cursor without
/// waking caches and long polls to look again.
fn publish(
    progress: &watch::Sender<Progress>,
    batch: &[RecordedEvent],
    next: Cursor,
    applied: u64,
) {
    if applied == 0 {
        progress.send_if_modified(|p| {
            p.cursor = next;
            false
        });
        return;
    }
    let mut streams: Vec<uuid::Uuid> = batch.iter().map(|e| e.stream_id.as_uuid()).collect();
    streams.sort_unstable();
    streams.dedup();
    progress.send_modify(|p| {
        p.cursor = next;
        p.batches = p.batches.wrapping_add(1);
        p.streams = streams.into();
    });
}

/// Applies `batch` (from `expected` to `next`) in `tx` and commits it with the checkpoint moved;
/// how many events changed the read model, or `None` when the checkpoint had moved (nothing is
/// committed).
async fn commit_batch<P: Projector>(
    projector: &P,
    tx: Transaction<'_>,
    batch: &[RecordedEvent],
    expected: Cursor,
    next: Cursor,
) -> Result<Option<u64>, ProjectionError> {
    let table = projector.table();
    let events = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    // A read model is rebuilt from the log: after a crash that loses this commit the checkpoint is
    // a few batches back and those batches are applied again (`apply` is idempotent), so the
    // commit does not wait for the disk (docs/adr/0008).
    let finish = Finish::new(projector.name(), expected, next, events);
    let applied = projector.apply(&tx, &table, batch, Some(&finish)).await;
    if finish.sent() {
        // The batch went out whole with its COMMIT: the transaction is over, committed or rolled
        // back. Dropping `tx` would send a ROLLBACK that only draws a warning; it owns no memory
        // of its own, so forgetting it leaks nothing.
        std::mem::forget(tx);
        return match applied {
            Err(ProjectionError::CheckpointMoved(_)) => Ok(None),
            applied => applied.map(Some),
        };
    }
    // Nothing of the batch was for this read model, and `apply` sent nothing: the checkpoint is
    // checked under the lock and moved here.
    let applied = applied?;
    let (relaxed, locked) = futures_util::join!(
        tx.batch_execute(event_store::db::RELAXED_COMMIT),
        checkpoint::lock(&tx, projector.name())
    );
    relaxed.map_err(ProjectionError::database("relaxing a projector's commit"))?;
    if locked? != expected {
        return Ok(None);
    }
    checkpoint::store_and_commit(tx, projector.name(), next, events).await?;
    Ok(Some(applied))
}
