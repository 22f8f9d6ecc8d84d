//! Read-auditing: every read of a citizen's data by someone other than the citizen is recorded in
//! a `DataAccessed` event, and **no such read is answered before its record is durable**.
//!
//! Group commit: a handler hands its reads to the committer and waits; the committer takes every
//! record queued while its previous append was under way, packs them into events by bytes
//! (`DataAccessed::pack`) and appends them as one stream of their own (one transaction, one flush),
//! then answers each handler. Under load many reads share a commit; alone, a read waits for one.
//! If the log cannot take a record within [`RETRY_FOR`], the handler is told so and the read is
//! refused (503), never served unaudited. A record that could not be stored is refused before it
//! is queued ([`AuditError::Refused`], a 400 at the edge), never dropped later.
//!
//! The committer writes on a connection of its own, not through the store's shared writers: a
//! group then waits for its own commit only, not for a turn among the other appends, and the
//! hand-offs between tasks on the way are gone (docs/adr/0010 has the figures).
//!
//! On shutdown the committer answers what is queued (one last attempt each) and ends; with the
//! database away it gives up after [`RETRY_FOR`] rather than hang.

use std::time::Duration;

use domain::data_access::{
    DataAccessed, DataRead, LogRead, RecordError, EVENT_TYPE, LOG_READ_EVENT_TYPE,
    LOG_READ_SCHEMA_VERSION, SCHEMA_VERSION,
};
use domain::{Actor, Channel, EventMetadata, StreamId, StreamVersion};
use event_store::{EventStore, NewEvent, StoreError, MAX_EVENTS_PER_APPEND};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Handlers whose reads may wait for the committer at once.
const QUEUE: usize = 10_000;
/// The bytes of reads (by their bound) one append carries at most.
const APPEND_BYTES: usize = 4 * 1024 * 1024;
/// How long a read waits for the log to take its record before it is refused.
pub const RETRY_FOR: Duration = Duration::from_secs(2);

/// Why a read could not be recorded; the read is then not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The record could not be stored as it is (a field too long, a control character): the
    /// client's to fix, 400.
    #[error("the read cannot be recorded: {0}")]
    Refused(#[from] RecordError),
    /// The log did not take the record in time (database away, stopping): 503.
    #[error("the read cannot be recorded now")]
    Unavailable,
    /// The store refused the record for a reason that is a bug here: 500.
    #[error("the read's record was refused by the store: {0}")]
    Failed(String),
}

/// One handler's reads and where to tell it they are on record.
struct Pending {
    reads: Vec<DataRead>,
    bytes: usize,
    queued: Instant,
    done: oneshot::Sender<Result<(), AuditError>>,
}

/// The handlers' side of read-auditing. Cheap to clone.
#[derive(Clone)]
pub struct ReadAudit {
    queue: mpsc::Sender<Pending>,
    store: EventStore,
}

impl ReadAudit {
    /// The recorder over `store`, and the committer task that appends its groups until `stop`
    /// (then it answers what is queued and ends). Spawn the task.
    pub fn new(
        store: EventStore,
        stop: CancellationToken,
    ) -> (ReadAudit, impl std::future::Future<Output = ()> + Send) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let audit = ReadAudit {
            queue,
            store: store.clone(),
        };
        (audit, commit_groups(store, receiver, stop))
    }

    /// Handlers whose reads wait in the queue for the committer now (not those in the append
    /// under way): a queue that grows says the log does not keep up.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Records a read of the data of `citizens` (a request's applicant, its subject, ...) by
    /// `reader`, unless the reader is that citizen, and returns once the record is durable.
    ///
    /// # Errors
    /// [`AuditError::Refused`] for a record that cannot be stored as it is;
    /// [`AuditError::Unavailable`] when the log did not take it within [`RETRY_FOR`];
    /// [`AuditError::Failed`] when the store refused it otherwise.
    pub async fn record_reads(
        &self,
        reader: &Reader,
        citizens: &[&domain::Iin],
        what: String,
        purpose: Option<String>,
    ) -> Result<(), AuditError> {
        let at = chrono::Utc::now();
        let reads: Vec<DataRead> = citizens
            .iter()
            .filter(|citizen| reader.iin.as_ref() != Some(**citizen))
            .map(|citizen| DataRead {
                subject: (*citizen).clone(),
                reader: reader.id.clone(),
                role: reader.role.clone(),
                organisation: reader.organisation.clone(),
                what: what.clone(),
                purpose: purpose.clone(),
                at,
            })
            .collect();
        if reads.is_empty() {
            return Ok(());
        }
        for read in &reads {
            read.check()?;
        }
        let (done, answer) = oneshot::channel();
        let queued = Instant::now();
        let pending = Pending {
            bytes: reads.iter().map(DataRead::stored_bytes_bound).sum(),
            reads,
            queued,
            done,
        };
        // A full queue is waited on as long as a commit would be, no longer.
        tokio::time::timeout_at(queued + RETRY_FOR, self.queue.send(pending))
            .await
            .map_err(|_| AuditError::Unavailable)?
            .map_err(|_| AuditError::Unavailable)?;
        // The committer answers every record by its deadline (it bounds each append by it), so
        // no timer of the read's own is needed; a committer gone drops the answer unsent. Either
        // way the read is not answered as recorded.
        answer.await.unwrap_or(Err(AuditError::Unavailable))
    }
}

impl ReadAudit {
    /// Records a bulk read of the log (a page of the audit feed) and returns once it is durable.
    /// Feed pages are few and large: each is its own append, not one of a group.
    ///
    /// # Errors
    /// As [`ReadAudit::record_reads`].
    pub async fn record_log_read(&self, read: &LogRead) -> Result<(), AuditError> {
        read.check()?;
        let payload = serde_json::to_value(read).map_err(|e| AuditError::Failed(e.to_string()))?;
        let event = NewEvent::new(
            Uuid::now_v7(),
            LOG_READ_EVENT_TYPE,
            LOG_READ_SCHEMA_VERSION,
            payload,
        )
        .map_err(|e| AuditError::Failed(e.to_string()))?;
        let deadline = Instant::now() + RETRY_FOR;
        append(
            &self.store,
            None,
            &[event],
            deadline,
            &CancellationToken::new(),
        )
        .await
    }
}

/// Who read a citizen's data: the principal of the request, as the API identified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The token's subject (an operator's id, an auditor's, a citizen's IIN).
    pub id: String,
    /// The role the reader acted in (`operator`, `auditor`, `medical`, ...).
    pub role: String,
    /// The reader's organisation (a service centre, a medical organisation), if any.
    pub organisation: Option<String>,
    /// The reader's IIN when the reader is a person (their own data is not recorded).
    pub iin: Option<domain::Iin>,
}

/// The committer: one append at a time, on its own connection. While it commits, the next group
/// queues up, so under load each append carries what arrived during the previous one (the group
/// follows the commit time, with no gathering sleep), and alone a read waits for one commit.
/// (Two or three appends under way measured slower here, on one connection or on several: they
/// split the groups and contend for the same cores.)
async fn commit_groups(
    store: EventStore,
    mut receiver: mpsc::Receiver<Pending>,
    stop: CancellationToken,
) {
    let mut line: Line = None;
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            // Cancel safe: `recv` loses nothing when the stop wins.
            None => match tokio::select! {
                pending = receiver.recv() => pending,
                () = stop.cancelled() => None,
            } {
                Some(pending) => pending,
                None => break,
            },
        };
        let (group, next) = gather(first, &mut receiver);
        carried = next;
        commit(&store, &mut line, group, &stop).await;
    }
    // Stopping: what is queued gets one attempt each, then the committer ends.
    receiver.close();
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match receiver.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let (group, next) = gather(first, &mut receiver);
        carried = next;
        commit(&store, &mut line, group, &stop).await;
    }
}

/// `first` and whatever is queued behind it that fits one append; the first record that does
/// not fit is carried to the next group.
fn gather(
    first: Pending,
    receiver: &mut mpsc::Receiver<Pending>,
) -> (Vec<Pending>, Option<Pending>) {
    let mut bytes = first.bytes;
    let mut reads = first.reads.len();
    let mut group = vec![first];
    while let Ok(next) = receiver.try_recv() {
        // An event holds at least 50 checked reads: 1,000 events take any append's reads.
        if bytes + next.bytes > APPEND_BYTES
            || reads + next.reads.len() > MAX_EVENTS_PER_APPEND * 50
        {
            return (group, Some(next));
        }
        bytes += next.bytes;
        reads += next.reads.len();
        group.push(next);
    }
    (group, None)
}

/// Appends the reads of `group` as one stream of their own and answers each handler: on record,
/// or not (retried with the same events while the database cannot be reached, until the oldest
/// record's deadline or the stop).
async fn commit(
    store: &EventStore,
    line: &mut Line,
    group: Vec<Pending>,
    stop: &CancellationToken,
) {
    let deadline = group
        .iter()
        .map(|pending| pending.queued)
        .min()
        .unwrap_or_else(Instant::now)
        + RETRY_FOR;
    let mut reads = Vec::with_capacity(group.iter().map(|pending| pending.reads.len()).sum());
    let mut answers = Vec::with_capacity(group.len());
    for pending in group {
        reads.extend(pending.reads);
        answers.push(pending.done);
    }
    let count = reads.len();
    let outcome = match events_of(reads) {
        Ok(events) => append(store, Some(line), &events, deadline, stop).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        tracing::error!(error = %error, reads = count, "reads of citizens' data were not recorded; they are refused");
    }
    for done in answers {
        // A handler that went away (its client hung up) has nothing to be told.
        let _ = done.send(outcome.clone());
    }
}

/// The reads as `DataAccessed` events, each within the store's limit.
fn events_of(reads: Vec<DataRead>) -> Result<Vec<NewEvent>, AuditError> {
    DataAccessed::pack(reads)
        .into_iter()
        .map(|event| {
            let payload = event
                .to_payload()
                .map_err(|e| AuditError::Failed(e.to_string()))?;
            NewEvent::new(Uuid::now_v7(), EVENT_TYPE, SCHEMA_VERSION, payload)
                .map_err(|e| AuditError::Failed(e.to_string()))
        })
        .collect()
}

/// The committer's own connection, taken from the pool when it is needed and let go after a
/// failure (the next attempt takes a fresh one).
type Line = Option<deadpool_postgres::Client>;

/// One append of `events` as a new stream, on `line` or else through the store's shared writers,
/// retried (the same events, so a commit whose answer was lost is found stored) while the
/// database cannot be reached, until `deadline` or `stop`.
async fn append(
    store: &EventStore,
    mut line: Option<&mut Line>,
    events: &[NewEvent],
    deadline: Instant,
    stop: &CancellationToken,
) -> Result<(), AuditError> {
    let stream = StreamId::from_uuid(Uuid::now_v7());
    let actor = Actor::system("read-audit").map_err(|e| AuditError::Failed(e.to_string()))?;
    let metadata = EventMetadata {
        actor,
        channel: Channel::System,
        correlation_id: stream.as_uuid(),
        causation_id: None,
    };
    let mut pause = Duration::from_millis(20);
    loop {
        // No read model waits for these: the projectors find them on their next wake or poll.
        // An attempt ends by the deadline: the readers wait for no timer of their own.
        let attempt = match line.as_deref_mut() {
            Some(line) => {
                let attempt = append_on(store, line, stream, events, &metadata);
                match tokio::time::timeout_at(deadline, attempt).await {
                    Ok(attempt) => attempt,
                    Err(_) => {
                        // The statement may still be under way on it: the connection is closed,
                        // not given back to the pool for another caller to wait behind.
                        if let Some(client) = line.take() {
                            drop(deadpool_postgres::Object::take(client));
                        }
                        return Err(hung());
                    }
                }
            }
            None => tokio::time::timeout_at(
                deadline,
                store.append_unannounced(stream, StreamVersion::EMPTY, events, &metadata),
            )
            .await
            .map_err(|_| hung())?
            .map(|_| ()),
        };
        match attempt {
            Ok(_) => return Ok(()),
            Err(error @ (StoreError::Unavailable(_) | StoreError::Database { .. })) => {
                if stop.is_cancelled() || Instant::now() + pause > deadline {
                    tracing::warn!(error = %error, "the log cannot take reads' records now");
                    return Err(AuditError::Unavailable);
                }
                // Cancel safe: a pause keeps no state.
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => {}
                }
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(error) => return Err(AuditError::Failed(error.to_string())),
        }
    }
}

/// An append that did not end by its deadline (the database hangs): its reads are refused. It may
/// still commit; a read recorded but not answered is allowed, the reverse never.
fn hung() -> AuditError {
    tracing::warn!("an append of reads' records did not end in time; they are refused");
    AuditError::Unavailable
}

/// One attempt of an append on `line`, connecting it first if it is not; a connection that
/// failed is let go.
async fn append_on(
    store: &EventStore,
    line: &mut Line,
    stream: StreamId,
    events: &[NewEvent],
    metadata: &EventMetadata,
) -> Result<(), StoreError> {
    let client = match line {
        Some(client) => client,
        None => line.insert(
            store
                .database()
                .pool()
                .get()
                .await
                .map_err(StoreError::Unavailable)?,
        ),
    };
    let outcome = store
        .append_unannounced_on(client, stream, StreamVersion::EMPTY, events, metadata)
        .await;
    if matches!(
        outcome,
        Err(StoreError::Unavailable(_) | StoreError::Database { .. })
    ) {
        *line = None;
    }
    outcome.map(|_| ())
}

#[cfg(test)]
mod tests;
