//! Read-auditing: every read of a citizen's data by someone other than the citizen is recorded in
//! a `DataAccessed` event. Handlers hand the record to a queue and go on; one task appends what
//! queued up as one batch (one append, one commit) every few milliseconds, so recording costs the
//! read path a channel send. When the queue is full, a handler waits for room rather than drop a
//! record. On shutdown the queue is drained and appended before the process ends; a crash loses at
//! most the last batch's few milliseconds of reads.

use std::time::Duration;

use domain::data_access::{
    DataAccessed, DataRead, EVENT_TYPE, MAX_READS_PER_EVENT, SCHEMA_VERSION,
};
use domain::{Actor, Channel, EventMetadata, StreamId, StreamVersion};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use commands::{EventStore, NewEvent};

/// Records queued before a handler waits.
const QUEUE: usize = 10_000;
/// Records appended together at most.
const BATCH: usize = 1_000;
/// How long a batch gathers after its first record.
const GATHER: Duration = Duration::from_millis(20);

/// The handlers' side of read-auditing. Cheap to clone.
#[derive(Clone)]
pub struct ReadAudit {
    queue: mpsc::Sender<DataRead>,
}

impl ReadAudit {
    /// The recorder over `store`, and the task that appends its batches until `stop` (then it
    /// drains the queue). Spawn the task.
    pub fn new(
        store: EventStore,
        stop: CancellationToken,
    ) -> (ReadAudit, impl std::future::Future<Output = ()> + Send) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        (ReadAudit { queue }, flush(store, receiver, stop))
    }

    /// Queues a record; waits only while the queue is full.
    pub async fn record(&self, read: DataRead) {
        if self.queue.send(read).await.is_err() {
            tracing::error!("read-auditing has stopped; a read was not recorded");
        }
    }
}

async fn flush(store: EventStore, mut receiver: mpsc::Receiver<DataRead>, stop: CancellationToken) {
    loop {
        // Cancel safe: `recv` loses nothing when another branch wins.
        let first = tokio::select! {
            read = receiver.recv() => read,
            () = stop.cancelled() => None,
        };
        let Some(first) = first else {
            // Stopping (or every sender gone): append what is still queued, then end.
            receiver.close();
            let mut rest = Vec::new();
            while let Some(read) = receiver.recv().await {
                rest.push(read);
                if rest.len() == BATCH {
                    append(&store, std::mem::take(&mut rest)).await;
                }
            }
            if !rest.is_empty() {
                append(&store, rest).await;
            }
            return;
        };
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            // Cancel safe: a record `recv` returns is kept; a timeout loses nothing.
            match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some(read)) => batch.push(read),
                Ok(None) | Err(_) => break,
            }
        }
        append(&store, batch).await;
    }
}

/// Appends one batch as a stream of its own (events of up to 250 reads), retrying while the
/// database cannot be reached.
async fn append(store: &EventStore, batch: Vec<DataRead>) {
    let stream = StreamId::from_uuid(Uuid::now_v7());
    let events: Vec<NewEvent> = batch
        .chunks(MAX_READS_PER_EVENT)
        .filter_map(|reads| {
            let payload = DataAccessed {
                reads: reads.to_vec(),
            }
            .to_payload()
            .ok()?;
            NewEvent::new(Uuid::now_v7(), EVENT_TYPE, SCHEMA_VERSION, payload).ok()
        })
        .collect();
    let Ok(actor) = Actor::system("read-audit") else {
        return;
    };
    let metadata = EventMetadata {
        actor,
        channel: Channel::System,
        correlation_id: stream.as_uuid(),
        causation_id: None,
    };
    let mut pause = Duration::from_millis(50);
    loop {
        match store
            .append(stream, StreamVersion::EMPTY, &events, &metadata)
            .await
        {
            Ok(_) => return,
            // Only a database that cannot be reached now is worth waiting for.
            Err(
                error @ (commands::StoreError::Unavailable(_)
                | commands::StoreError::Database { .. }),
            ) => {
                tracing::error!(error = %error, reads = events.len(), "cannot record reads of citizens' data; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(error = %error, reads = events.len(), "reads of citizens' data cannot be recorded");
                return;
            }
        }
    }
}

/// The purpose a client gives for a read (`X-Purpose`, UTF-8), at most 500 printable characters.
///
/// # Errors
/// [`crate::problem::ApiError::InvalidParameter`] for a purpose that is too long or not text.
pub fn purpose(req: &actix_web::HttpRequest) -> Result<Option<String>, crate::problem::ApiError> {
    let Some(value) = req.headers().get("x-purpose") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value.as_bytes())
        .ok()
        .map(str::trim)
        .filter(|t| t.chars().count() <= 500 && !t.chars().any(char::is_control))
        .ok_or(crate::problem::ApiError::InvalidParameter {
            field: "X-Purpose",
            reason: "at most 500 printable characters".into(),
        })?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// A read of the data of the citizens a request concerns (its applicant, and its subject), by
/// `principal`, recorded unless the principal is one of those citizens.
pub async fn record_read(
    audit: &ReadAudit,
    principal: &crate::auth::Principal,
    citizens: &[&domain::Iin],
    what: String,
    purpose: Option<String>,
) {
    for citizen in citizens {
        if principal.iin.as_ref() == Some(*citizen) {
            continue;
        }
        audit
            .record(DataRead {
                subject: (*citizen).clone(),
                reader: principal.subject.clone(),
                role: principal.role.to_string(),
                organisation: principal.organisation.clone(),
                what: what.clone(),
                purpose: purpose.clone(),
                at: chrono::Utc::now(),
            })
            .await;
    }
}
