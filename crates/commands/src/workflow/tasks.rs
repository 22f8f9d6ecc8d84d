//! The to-do list of the workflow (`workflow.tasks`): fed from the log, claimed by workers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::request::EventType;
use domain::{Cursor, StreamId};
use tokio::sync::Semaphore;
use tokio_postgres::types::ToSql;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Workflow, WorkflowError};
use event_store::SubscriptionOptions;

/// The event types that give a request work to do.
/// A refusal too: its signed document is issued next (REG 284-286), whoever recorded it.
const STARTS_WORK: [EventType; 4] = [
    EventType::RequestSubmitted,
    EventType::RequestSigned,
    EventType::OperatorSigned,
    EventType::RequestRefused,
];

/// How a worker gives a task back.
enum Release {
    /// Nothing is left to do until someone acts.
    Done,
    /// A timer: due again then.
    At(DateTime<Utc>),
    /// Driving failed; due again after a backoff.
    Failed(String),
}

/// The feeder's statements, prepared once per connection (preparing takes no transaction id).
struct FeedStatements {
    lock: tokio_postgres::Statement,
    read: tokio_postgres::Statement,
    queue: tokio_postgres::Statement,
    advance: tokio_postgres::Statement,
}

impl FeedStatements {
    async fn prepare(client: &deadpool_postgres::Object) -> Result<FeedStatements, WorkflowError> {
        let database = WorkflowError::database;
        let lock = client
            .prepare_cached(
                "SELECT pg_advisory_xact_lock(hashtextextended('egov-workflow-feed', 0))",
            )
            .await
            .map_err(database("preparing the feeder's lock"))?;
        let read = client
            .prepare_cached("SELECT tx_id, position FROM workflow.feed")
            .await
            .map_err(database("preparing the feeder's checkpoint"))?;
        let queue = client
            .prepare_cached(
                "INSERT INTO workflow.tasks AS t (stream_id, due_at)
             SELECT s, now() FROM unnest($1::uuid[]) AS s
             ON CONFLICT (stream_id) DO UPDATE
                SET due_at = LEAST(t.due_at, now()),
                    generation = t.generation + 1,
                    updated_at = now()",
            )
            .await
            .map_err(database("preparing the queueing of tasks"))?;
        let advance = client
            .prepare_cached(
                "UPDATE workflow.feed SET tx_id = $1, position = $2, updated_at = now()",
            )
            .await
            .map_err(database("preparing the feeder's checkpoint"))?;
        Ok(FeedStatements {
            lock,
            read,
            queue,
            advance,
        })
    }
}

/// A claimed task.
#[derive(Debug, Clone, Copy)]
pub(super) struct Task {
    pub stream_id: StreamId,
    pub generation: i64,
}

impl Workflow {
    /// Follows the log and queues the requests that have work. Restarts from its checkpoint after
    /// any failure, with backoff.
    pub(super) async fn feed(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match self.feed_from_checkpoint(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "workflow feeder failed; it resumes from its checkpoint");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// One run of the feeder: from the stored checkpoint until shutdown, or until another feeder
    /// moved the checkpoint (then the caller starts again from it).
    async fn feed_from_checkpoint(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<(), WorkflowError> {
        let store = self.requests.store();

        let client = self.client().await?;
        let row = client
            .query_one("SELECT tx_id, position FROM workflow.feed", &[])
            .await
            .map_err(WorkflowError::database("reading the feeder's checkpoint"))?;
        drop(client);
        let mut expected = Cursor::new(row.get(0), row.get(1));
        let mut subscription = store.subscribe(expected, SubscriptionOptions::default());
        loop {
            // Cancel safe: `next_batch` moves its cursor only when it returns events.
            let batch = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                batch = subscription.next_batch() => batch?,
            };
            let Some(last) = batch.last() else { continue };
            let next = last.cursor;
            let mut streams: Vec<Uuid> = batch
                .iter()
                .filter(|e| STARTS_WORK.iter().any(|kind| kind.code() == e.event_type))
                .map(|e| e.stream_id.as_uuid())
                .collect();
            streams.sort_unstable();
            streams.dedup();
            if !self.queue(expected, next, &streams).await? {
                tracing::info!("another feeder moved the workflow's checkpoint; following from it");
                return Ok(());
            }
            expected = next;
            if !streams.is_empty() {
                tracing::debug!(tasks = streams.len(), to = %next, "workflow tasks queued");
                self.wake.notify_one();
            }
        }
    }

    /// Queues `streams` as due now and moves the feeder's checkpoint from `expected` to `next`, in
    /// one transaction under the feeder's lock; `false` (nothing written) when another feeder
    /// moved the checkpoint meanwhile.
    async fn queue(
        &self,
        expected: Cursor,
        next: Cursor,
        streams: &[Uuid],
    ) -> Result<bool, WorkflowError> {
        let mut client = self.client().await?;
        // The feeder's lock, then its checkpoint: neither gives the transaction an id, which
        // readers of the log would wait for; the writes after them go out together.
        let database = WorkflowError::database;
        let FeedStatements {
            lock,
            read,
            queue,
            advance,
        } = FeedStatements::prepare(&client).await?;
        let tx = client
            .transaction()
            .await
            .map_err(database("starting the feeder's transaction"))?;
        // The tasks are derived from the log: after a crash that loses this commit the
        // feeder queues them again from its older checkpoint (driving a request twice changes
        // nothing). Sent together with the lock.
        let (relaxed, locked) = futures_util::join!(
            tx.batch_execute(event_store::db::RELAXED_COMMIT),
            tx.execute(&lock, &[])
        );
        relaxed.map_err(database("relaxing the feeder's commit"))?;
        locked.map_err(database("locking the feeder's checkpoint"))?;
        let row = tx
            .query_one(&read, &[])
            .await
            .map_err(database("reading the feeder's checkpoint"))?;
        if Cursor::new(row.get(0), row.get(1)) != expected {
            return Ok(false);
        }
        let queued = async {
            if streams.is_empty() {
                return Ok(0);
            }
            tx.execute(&queue, &[&streams])
                .await
                .map_err(database("queueing workflow tasks"))
        };
        let moved = async {
            tx.execute(&advance, &[&next.transaction(), &next.position()])
                .await
                .map_err(database("moving the feeder's checkpoint"))
        };
        // Polled in this order, so the tasks are queued before the checkpoint moves, and the
        // COMMIT goes out with them: the transaction's id (which every reader of the log waits
        // for) is not held while this task waits to be scheduled again. When a write fails,
        // PostgreSQL answers the COMMIT by rolling back.
        let committed = async {
            tx.batch_execute("COMMIT")
                .await
                .map_err(database("committing the feeder's batch"))
        };
        let (queued, moved, committed) = futures_util::join!(queued, moved, committed);
        // The COMMIT ended the transaction either way; dropping `tx` would send a ROLLBACK
        // that only draws a warning. It owns no memory of its own, so forgetting it leaks
        // nothing.
        std::mem::forget(tx);
        queued?;
        moved?;
        committed?;
        Ok(true)
    }

    /// Renews the lease of the tasks this process is driving, so that only a dead worker loses
    /// them; a claim it does not act on (its release was lost) runs out.
    pub(super) async fn heartbeat(self: Arc<Self>, shutdown: CancellationToken) {
        let every = self.settings.lease / 3;
        loop {
            // Cancel safe: both branches only wait.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let driving = self.driving_now();
            if driving.is_empty() {
                continue;
            }
            let renewed = async {
                let client = self.client().await?;
                client
                    .execute(
                        "UPDATE workflow.tasks SET claimed_until = now() + make_interval(secs => $2)
                          WHERE claimed_by = $1 AND stream_id = ANY($3)",
                        &[&self.worker_id, &self.settings.lease.as_secs_f64(), &driving],
                    )
                    .await
                    .map_err(WorkflowError::database("renewing the workflow's leases"))
            };
            if let Err(error) = renewed.await {
                tracing::warn!(error = %error, "cannot renew the workflow's leases");
            }
        }
    }

    /// Claims due tasks and drives them, at most `concurrency` at once, until shutdown; then waits
    /// for the requests in flight.
    pub(super) async fn work(self: Arc<Self>, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            // Wait for a free slot before claiming, so a claimed task never waits on a slot.
            let free = match slots.clone().acquire_owned().await {
                Ok(permit) => {
                    let more = slots.available_permits();
                    drop(permit);
                    more + 1
                }
                Err(_) => break,
            };
            let claimed = match self.claim(free).await {
                Ok(claimed) => {
                    backoff = Duration::from_millis(100);
                    claimed
                }
                Err(error) => {
                    tracing::error!(error = %error, "cannot claim workflow tasks");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if claimed.is_empty() {
                // Cancel safe: each branch only waits; a permit of `wake` left unconsumed is kept.
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.settings.poll) => {}
                }
                continue;
            }
            for task in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let this = self.clone();
                this.set_driving(task.stream_id, true);
                tokio::spawn(async move {
                    this.run_task(task).await;
                    this.set_driving(task.stream_id, false);
                    drop(permit);
                });
            }
        }
        // Wait for the requests in flight to reach a recorded step.
        let _ = slots
            .acquire_many(u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX))
            .await;
    }

    /// The tasks this process is driving now.
    fn driving_now(&self) -> Vec<Uuid> {
        self.driving
            .lock()
            .map(|driving| driving.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Marks `stream` as driven by this process, or no longer.
    fn set_driving(&self, stream: StreamId, driving: bool) {
        if let Ok(mut set) = self.driving.lock() {
            if driving {
                set.insert(stream.as_uuid());
            } else {
                set.remove(&stream.as_uuid());
            }
        }
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, WorkflowError> {
        self.requests
            .store()
            .database()
            .pool()
            .get()
            .await
            .map_err(|e| WorkflowError::Db(e.into()))
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Task>, WorkflowError> {
        let client = self.client().await?;
        let database = WorkflowError::database("claiming workflow tasks");
        let claim = client
            .prepare_cached(
                "WITH due AS (
                    SELECT stream_id, claimed_by AS previous FROM workflow.tasks
                     WHERE due_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
                     ORDER BY due_at
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE workflow.tasks t
                    SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2),
                        updated_at = now()
                   FROM due WHERE t.stream_id = due.stream_id
                 RETURNING t.stream_id, t.generation, due.previous",
            )
            .await
            .map_err(database)?;
        // A claim lost with its commit in a crash leaves the task unclaimed: it is claimed again.
        let rows = event_store::db::query_relaxed(
            &client,
            &claim,
            &[
                &self.worker_id,
                &self.settings.lease.as_secs_f64(),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(database)?;
        for row in &rows {
            // A claim that ran out: its worker died, was stopped, or lost its release.
            if let Some(previous) = row.get::<_, Option<String>>(2) {
                self.takeovers
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(stream_id = %row.get::<_, uuid::Uuid>(0), previous = %previous, "took over a task whose claim ran out");
            }
        }
        Ok(rows
            .iter()
            .map(|row| Task {
                stream_id: StreamId::from_uuid(row.get(0)),
                generation: row.get(1),
            })
            .collect())
    }

    async fn run_task(&self, task: Task) {
        let released = match self.drive(task.stream_id).await {
            Ok(None) => self.release(task, Release::Done).await,
            Ok(Some(at)) => self.release(task, Release::At(at)).await,
            Err(error) => {
                tracing::error!(stream_id = %task.stream_id, error = %error, cause = ?std::error::Error::source(&error), "driving a request failed; it is retried");
                self.release(task, Release::Failed(error.to_string())).await
            }
        };
        if let Err(error) = released {
            tracing::warn!(stream_id = %task.stream_id, error = %error, "cannot release a workflow task; its lease runs out instead");
        }
    }

    /// Gives a task back: deleted when nothing is left to do, due again at `until` (a timer), or
    /// due soon after a failure. New work queued meanwhile (a newer generation) is due at once.
    async fn release(&self, task: Task, release: Release) -> Result<(), WorkflowError> {
        let client = self.client().await?;
        let id = task.stream_id.as_uuid();
        let database = WorkflowError::database("releasing a workflow task");
        // A release lost with its commit in a crash leaves the task claimed until its lease runs
        // out; then it is driven again, which appends nothing twice.
        match release {
            Release::Done => {
                let deleted = execute_relaxed(
                    &client,
                    "DELETE FROM workflow.tasks
                      WHERE stream_id = $1 AND generation = $2 AND claimed_by = $3",
                    &[&id, &task.generation, &self.worker_id],
                )
                .await
                .map_err(database)?;
                if deleted == 0 {
                    execute_relaxed(
                        &client,
                        "UPDATE workflow.tasks SET due_at = now(), claimed_by = NULL, claimed_until = NULL,
                                failures = 0, last_error = NULL, updated_at = now()
                          WHERE stream_id = $1 AND claimed_by = $2",
                        &[&id, &self.worker_id],
                    )
                    .await
                    .map_err(database)?;
                    self.wake.notify_one();
                }
            }
            Release::At(at) => {
                execute_relaxed(
                    &client,
                    "UPDATE workflow.tasks
                        SET due_at = CASE WHEN generation = $2 THEN $4 ELSE now() END,
                            claimed_by = NULL, claimed_until = NULL, failures = 0, last_error = NULL,
                            updated_at = now()
                      WHERE stream_id = $1 AND claimed_by = $3",
                    &[&id, &task.generation, &self.worker_id, &at],
                )
                .await
                .map_err(database)?;
            }
            Release::Failed(error) => {
                execute_relaxed(
                    &client,
                    "UPDATE workflow.tasks
                        SET due_at = now() + make_interval(secs => least(60, 2 ^ least(failures, 6))),
                            failures = failures + 1, last_error = $3,
                            claimed_by = NULL, claimed_until = NULL, updated_at = now()
                      WHERE stream_id = $1 AND claimed_by = $2",
                    &[&id, &self.worker_id, &error],
                )
                .await
                .map_err(database)?;
            }
        }
        Ok(())
    }
}

/// `sql` (prepared once per connection) run as [`event_store::db::execute_relaxed`] runs it.
async fn execute_relaxed(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    event_store::db::execute_relaxed(client, &statement, params).await
}
