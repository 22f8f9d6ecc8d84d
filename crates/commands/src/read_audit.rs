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

use event_store::{EventStore, NewEvent};

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
        // Gather by sleeping, not by waiting on the queue: a task parked on `recv` is woken (a
        // cross-thread wake-up) by every record sent, tens of thousands a second under load; a
        // sleeping one is woken once. A queue already holding a batch is not slept on.
        if receiver.len() + 1 < BATCH {
            // Cancel safe: sleeping keeps no state; a stop ends the gathering early.
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                () = stop.cancelled() => {}
            }
        }
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        append(&store, batch).await;
    }
}

/// Appends one batch as a stream of its own (events of up to `MAX_READS_PER_EVENT` reads), retrying while the
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
                error @ (event_store::StoreError::Unavailable(_)
                | event_store::StoreError::Database { .. }),
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

/// Who read a citizen's data: the principal of the request, as the API identified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The token's subject (an operator's id, an auditor's, a citizen's IIN).
    pub id: String,
    /// The role the reader acted in (`operator`, `auditor`, `medical`, ...).
    pub role: String,
    /// The reader's organisation (a service centre, a medical organisation), if any.
    pub organisation: Option<String>,
    /// The reader's IIN when the reader is a citizen (their own data is not recorded).
    pub iin: Option<domain::Iin>,
}

impl ReadAudit {
    /// Records a read of the data of `citizens` (a request's applicant, and its subject) by
    /// `reader`, unless the reader is that citizen.
    pub async fn record_reads(
        &self,
        reader: &Reader,
        citizens: &[&domain::Iin],
        what: String,
        purpose: Option<String>,
    ) {
        for citizen in citizens {
            if reader.iin.as_ref() == Some(*citizen) {
                continue;
            }
            self.record(DataRead {
                subject: (*citizen).clone(),
                reader: reader.id.clone(),
                role: reader.role.clone(),
                organisation: reader.organisation.clone(),
                what: what.clone(),
                purpose: purpose.clone(),
                at: chrono::Utc::now(),
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Cursor, Iin};
    use testkit::TestDb;

    const CITIZENS: [&str; 2] = ["760324400005", "850715300003"];

    fn operator(id: &str) -> Reader {
        Reader {
            id: id.into(),
            role: "operator".into(),
            organisation: Some("TsON-1".into()),
            iin: None,
        }
    }

    /// The recorder over a fresh database, its flush task running.
    async fn start() -> (TestDb, EventStore, ReadAudit, Flushing) {
        let db = TestDb::migrated().await;
        let store = EventStore::new(db.database());
        let stop = CancellationToken::new();
        let (audit, task) = ReadAudit::new(store.clone(), stop.clone());
        let task = tokio::spawn(task);
        (db, store, audit, Flushing { stop, task })
    }

    struct Flushing {
        stop: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    impl Flushing {
        async fn stop(self) {
            self.stop.cancel();
            self.task.await.expect("flush task");
        }
    }

    /// Every event stored in `store`, decoded, in the order of the log.
    async fn stored_events(store: &EventStore) -> Vec<DataAccessed> {
        let page = store.read_all(Cursor::START, 10_000).await.expect("reads");
        page.events
            .into_iter()
            .map(|event| {
                assert_eq!(event.event_type, EVENT_TYPE);
                assert_eq!(event.schema_version, SCHEMA_VERSION);
                DataAccessed::from_payload(event.schema_version, event.payload).expect("decodes")
            })
            .collect()
    }

    #[tokio::test]
    async fn a_read_is_appended_within_seconds_when_the_server_keeps_running() {
        let (_db, store, audit, flushing) = start().await;
        let subject = Iin::parse(CITIZENS[0]).expect("iin");
        audit
            .record_reads(
                &operator("op-1"),
                &[&subject],
                "request:20261123000001".into(),
                Some("call".into()),
            )
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let reads = loop {
            let reads: Vec<DataRead> = stored_events(&store)
                .await
                .into_iter()
                .flat_map(|event| event.reads)
                .collect();
            if !reads.is_empty() || tokio::time::Instant::now() > deadline {
                break reads;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(reads.len(), 1, "the read is stored while the server runs");
        assert_eq!(reads[0].subject, subject);
        assert_eq!(reads[0].reader, "op-1");
        assert_eq!(reads[0].purpose.as_deref(), Some("call"));
        flushing.stop().await;
    }

    #[tokio::test]
    async fn every_queued_read_is_appended_in_events_within_the_limit_when_the_server_stops() {
        let (_db, store, audit, flushing) = start().await;
        let citizens: Vec<Iin> = CITIZENS
            .iter()
            .map(|c| Iin::parse(c).expect("iin"))
            .collect();
        // More than a batch, recorded faster than a gathering lasts, by two operators; the citizen
        // reading their own request is not recorded.
        let reads = 2 * BATCH + 7;
        for n in 0..reads {
            let reader = operator(if n % 3 == 0 { "op-2" } else { "op-1" });
            audit
                .record_reads(&reader, &[&citizens[n % 2]], format!("request:{n}"), None)
                .await;
        }
        let citizen = Reader {
            id: CITIZENS[0].into(),
            role: "citizen".into(),
            organisation: None,
            iin: Some(citizens[0].clone()),
        };
        audit
            .record_reads(&citizen, &[&citizens[0]], "request:own".into(), None)
            .await;
        flushing.stop().await;

        // The global read shows a commit once no older transaction of the cluster is open (other
        // tests run beside this one): read until the reads are there, or 10 s have passed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let events = loop {
            let events = stored_events(&store).await;
            let stored: usize = events.iter().map(|event| event.reads.len()).sum();
            if stored >= reads || tokio::time::Instant::now() > deadline {
                break events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(events
            .iter()
            .all(|event| event.reads.len() <= MAX_READS_PER_EVENT));
        let mut stored: Vec<DataRead> = events.into_iter().flat_map(|event| event.reads).collect();
        assert_eq!(stored.len(), reads, "every queued read, and only those");
        // Within an event reads are grouped by reader; across the log each read appears once.
        stored.sort_by_key(|read| {
            read.what
                .strip_prefix("request:")
                .and_then(|n| n.parse::<usize>().ok())
        });
        for (n, read) in stored.iter().enumerate() {
            assert_eq!(read.what, format!("request:{n}"));
            assert_eq!(read.subject, citizens[n % 2]);
            assert_eq!(read.reader, if n % 3 == 0 { "op-2" } else { "op-1" });
            assert_eq!(read.role, "operator");
        }
    }
}
