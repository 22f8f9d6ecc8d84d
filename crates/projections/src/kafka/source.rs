//! A projector fed from the Kafka topic instead of the log (`egov projections run --source kafka`).
//!
//! Every process running the projector of one read model joins the consumer group
//! `<prefix>.<read model>`, so the topic's partitions are shared out among them and move to the
//! others when one stops. A batch of messages is applied with the projector's own
//! [`Projector::apply`] (idempotent by stream version, so the relay's re-published tail changes
//! nothing) and the next offset of every partition it touched is stored in
//! `projections.kafka_offsets` in the same transaction. When partitions are assigned, the consumer
//! starts each from the offset stored there (from the beginning when none is), not from what the
//! group committed in Kafka: a crash neither applies a message twice nor skips one. The offsets
//! are also committed to Kafka afterwards, for the broker's own lag tools.
//!
//! Within a partition messages arrive in the relay's order, and all events of one request share a
//! partition, which is all the projectors need: none of them relates events of different
//! requests by order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::RecordedEvent;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::KafkaSettings;
use crate::projector::BatchApplied;
use crate::retry::{sleep_unless, Backoff};
use crate::{Progress, ProjectionError, Projector};

mod partitions;
mod stored;

use partitions::{Admit, Owned, Past};
pub use stored::{offsets, parked, PartitionOffset};

/// Most messages applied in one transaction.
const BATCH: usize = 1_000;

/// How long a batch waits for more messages once it has one.
const GATHER: Duration = Duration::from_millis(2);

/// Seeks back in a row after which each waits a little: more than finding a batch's beginning or
/// a hole takes (partitions.rs), so the broker's answers are changing.
const SEEKS_BEFORE_PAUSING: u32 = 20;

/// How long the broker may take to answer a partition's watermarks or a seek.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Who hears of the batches a Kafka-sourced projector commits.
#[derive(Debug, Default)]
pub struct Observers {
    /// Every batch with its events' recorded times (benchmarks).
    pub applied: Option<mpsc::UnboundedSender<BatchApplied>>,
    /// The streams each batch touched, for long polls waiting on the read model. The projector
    /// never claims leadership here: in a group no process sees every change.
    pub progress: Option<watch::Sender<Progress>>,
}

/// Keeps the read model of `projector` up to date from the topic until `shutdown`. A batch the
/// database does not take is tried again in place; other failures are logged and retried with
/// backoff (the consumer leaves the group and joins it again). The loop never gives up on its
/// own. Needs Tokio's multi-thread runtime: partitions are assigned inside the consumer's poll,
/// which reads their offsets from the database in place.
pub async fn run<P: Projector>(
    pool: Pool,
    projector: Arc<P>,
    settings: KafkaSettings,
    observers: Observers,
    shutdown: CancellationToken,
) {
    let name = projector.name();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    while !shutdown.is_cancelled() {
        let started = std::time::Instant::now();
        match consume(&pool, projector.as_ref(), &settings, &observers, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                let wait = backoff.after(started.elapsed());
                tracing::error!(projector = name, source = "kafka", error = %error, cause = ?std::error::Error::source(&error), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "Kafka-sourced projector failed; it rejoins its group");
                if sleep_unless(&shutdown, wait).await {
                    break;
                }
            }
        }
    }
    tracing::info!(
        projector = name,
        source = "kafka",
        "Kafka-sourced projector stopped"
    );
}

/// What a rebalance did, for the consuming loop to take in.
#[derive(Debug)]
enum Change {
    /// These partitions are ours now, each starting at this offset (none: nothing stored).
    Assigned(Vec<(i32, Option<i64>)>),
    /// Every partition was taken away (the eager protocol revokes all before assigning anew).
    Revoked,
    /// The stored offsets could not be read, so nothing was assigned.
    Failed(ProjectionError),
}

/// The consumer's context: assigns partitions at the offsets stored in PostgreSQL.
struct Assignments {
    runtime: tokio::runtime::Handle,
    pool: Pool,
    projector: &'static str,
    topic: String,
    changes: Mutex<Vec<Change>>,
}

impl Assignments {
    fn push(&self, change: Change) {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(change);
    }

    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let stored = tokio::task::block_in_place(|| {
            self.runtime
                .block_on(offsets(&self.pool, self.projector, &self.topic))
        });
        let stored: HashMap<i32, i64> = match stored {
            Ok(rows) => rows
                .into_iter()
                .map(|row| (row.partition, row.next_offset))
                .collect(),
            Err(error) => {
                self.push(Change::Failed(error));
                return;
            }
        };
        let mut assigned = Vec::new();
        for element in tpl.elements_for_topic(&self.topic) {
            assigned.push((
                element.partition(),
                stored.get(&element.partition()).copied(),
            ));
        }
        for &(partition, next) in &assigned {
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            if let Err(error) = tpl.set_partition_offset(&self.topic, partition, offset) {
                self.push(Change::Failed(ProjectionError::kafka(
                    "positioning a partition",
                )(error)));
                return;
            }
        }
        if let Err(error) = consumer.assign(tpl) {
            self.push(Change::Failed(ProjectionError::kafka(
                "assigning partitions",
            )(error)));
            return;
        }
        let listed: Vec<String> = assigned
            .iter()
            .map(|(partition, next)| match next {
                Some(next) => format!("({partition}, {next})"),
                None => format!("({partition}, from the beginning)"),
            })
            .collect();
        tracing::info!(projector = self.projector, partitions = %listed.join(", "), "partitions assigned (partition, next offset)");
        self.push(Change::Assigned(assigned));
    }
}

impl ClientContext for Assignments {}

impl ConsumerContext for Assignments {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(error) = consumer.unassign() {
                    tracing::warn!(projector = self.projector, error = %error, "unassigning partitions failed");
                }
                tracing::info!(projector = self.projector, "partitions revoked");
                self.push(Change::Revoked);
            }
            other => {
                tracing::warn!(projector = self.projector, error = ?other, "rebalance error");
                if let Err(error) = consumer.unassign() {
                    tracing::warn!(projector = self.projector, error = %error, "unassigning partitions failed");
                }
                self.push(Change::Revoked);
            }
        }
    }
}

/// One message taken for the batch: an event to apply, or a message that is not one, to park.
struct Taken {
    partition: i32,
    offset: i64,
    message: Read,
}

enum Read {
    Event(RecordedEvent),
    NotAnEvent(Parked),
}

/// A message that is not an event, as `projections.kafka_parked` keeps it (migrations/V14).
struct Parked {
    reason: String,
    head: Vec<u8>,
    size: i64,
}

/// How much of a parked message is kept.
const PARKED_HEAD: usize = 64 * 1024;

async fn consume<P: Projector>(
    pool: &Pool,
    projector: &P,
    settings: &KafkaSettings,
    observers: &Observers,
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    let name = projector.name();
    let context = Assignments {
        runtime: tokio::runtime::Handle::current(),
        pool: pool.clone(),
        projector: name,
        topic: settings.topic.clone(),
        changes: Mutex::new(Vec::new()),
    };
    let session_ms = settings.session_timeout.as_millis().max(1_000);
    let mut config = settings.client_config();
    config
        .set("group.id", settings.group(name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session_ms.to_string())
        .set("heartbeat.interval.ms", (session_ms / 4).to_string())
        // How long the broker may hold a fetch while it has nothing new: the lag's floor.
        .set("fetch.wait.max.ms", "10");
    let consumer: StreamConsumer<Assignments> = config
        .create_with_context(context)
        .map_err(ProjectionError::kafka("creating the Kafka consumer"))?;
    consumer
        .subscribe(&[settings.topic.as_str()])
        .map_err(ProjectionError::kafka("subscribing to the topic"))?;
    tracing::info!(projector = name, topic = %settings.topic, group = %settings.group(name), "Kafka-sourced projector joining its group");
    // The next offset to apply, per partition this consumer owns.
    let mut owned = Owned::default();
    let mut batch: Vec<Taken> = Vec::with_capacity(BATCH);
    loop {
        // Cancel safe: `recv` loses no message when dropped (rdkafka), and nothing is taken yet.
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            message = consumer.recv() => message,
        };
        take(&consumer, first, &mut owned, &mut batch, name).await?;
        while batch.len() < BATCH {
            match tokio::time::timeout(GATHER, consumer.recv()).await {
                Ok(message) => take(&consumer, message, &mut owned, &mut batch, name).await?,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let Some(stored) = commit_patiently(
            pool,
            projector,
            &settings.topic,
            &batch,
            observers,
            shutdown,
        )
        .await?
        else {
            return Ok(());
        };
        let mut positions = TopicPartitionList::new();
        for (partition, next) in stored {
            positions
                .add_partition_offset(&settings.topic, partition, Offset::Offset(next))
                .map_err(ProjectionError::kafka("listing offsets to commit"))?;
        }
        if let Err(error) = consumer.commit(&positions, CommitMode::Async) {
            tracing::debug!(projector = name, error = %error, "committing offsets to Kafka failed (PostgreSQL holds them)");
        }
        batch.clear();
    }
}

/// Takes in the rebalances that happened while polling, then `message` if it is the next one of a
/// partition this consumer owns.
async fn take(
    consumer: &StreamConsumer<Assignments>,
    message: Result<rdkafka::message::BorrowedMessage<'_>, KafkaError>,
    owned: &mut Owned,
    batch: &mut Vec<Taken>,
    name: &'static str,
) -> Result<(), ProjectionError> {
    for change in consumer.context().take() {
        match change {
            Change::Assigned(partitions) => owned.assign(&partitions),
            Change::Revoked => owned.revoke(),
            Change::Failed(error) => return Err(error),
        }
    }
    let message = match message {
        Ok(message) => message,
        Err(error) => {
            // The client reconnects by itself; a missing topic appears once the relay creates it.
            tracing::warn!(projector = name, error = %error, "Kafka consumer error; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Ok(());
        }
    };
    let (partition, offset) = (message.partition(), message.offset());
    if !admit(consumer, owned, partition, offset, batch, name).await? {
        return Ok(());
    }
    let payload = message.payload().unwrap_or_default();
    let message = match serde_json::from_slice::<RecordedEvent>(payload) {
        Ok(event) => Read::Event(event),
        Err(error) => {
            tracing::error!(projector = name, partition, offset, bytes = payload.len(), error = %error, "a message on the topic is not an event; parked in projections.kafka_parked, going on");
            Read::NotAnEvent(Parked {
                reason: error.to_string(),
                head: payload[..payload.len().min(PARKED_HEAD)].to_vec(),
                size: i64::try_from(payload.len()).unwrap_or(i64::MAX),
            })
        }
    };
    batch.push(Taken {
        partition,
        offset,
        message,
    });
    Ok(())
}

/// Acts on what [`Owned::admit`] said of the message at `offset` of `partition`: whether to take
/// it. A message beyond the next offset is taken only once the offsets before it are given up as
/// a hole ([`Owned::past`]): until then the partition is sought back (partitions.rs says why and
/// how far). A hole is parked as a message of its own at its last offset.
async fn admit(
    consumer: &StreamConsumer<Assignments>,
    owned: &mut Owned,
    partition: i32,
    offset: i64,
    batch: &mut Vec<Taken>,
    name: &'static str,
) -> Result<bool, ProjectionError> {
    let (next, times) = match owned.admit(partition, offset) {
        Admit::Take => return Ok(true),
        Admit::Leave => return Ok(false),
        Admit::Beyond { next, times } => (next, times),
    };
    let topic = consumer.context().topic.as_str();
    let (low, _) =
        tokio::task::block_in_place(|| consumer.fetch_watermarks(topic, partition, BROKER_TIMEOUT))
            .map_err(ProjectionError::kafka("reading a partition's watermarks"))?;
    let from = match owned.past(partition, offset, low) {
        Past::SeekTo(from) => from,
        Past::Hole { from, to } => {
            let reason = if to < low {
                format!("offsets {from} to {to} are not on the broker (its log begins at {low})")
            } else {
                format!("offsets {from} to {to} did not come from the broker, not even after {} seeks back", times - 1)
            };
            tracing::error!(
                projector = name,
                partition,
                from,
                to,
                low,
                "{reason}; parked as a hole in projections.kafka_parked, going on"
            );
            batch.push(Taken {
                partition,
                offset: to,
                message: Read::NotAnEvent(Parked {
                    reason,
                    head: Vec::new(),
                    size: 0,
                }),
            });
            if owned.admit(partition, offset) == Admit::Take {
                return Ok(true);
            }
            to + 1
        }
    };
    tracing::warn!(
        projector = name,
        partition,
        offset,
        next,
        from,
        times,
        "a message came beyond the next offset to apply; seeking back"
    );
    if times > SEEKS_BEFORE_PAUSING {
        // The broker answers differently each time: do not spin.
        let pause = (times - SEEKS_BEFORE_PAUSING).min(10);
        tokio::time::sleep(Duration::from_millis(100).saturating_mul(pause)).await;
    }
    tokio::task::block_in_place(|| {
        consumer.seek(topic, partition, Offset::Offset(from), BROKER_TIMEOUT)
    })
    .map_err(ProjectionError::kafka("seeking back"))?;
    Ok(false)
}

/// A batch taken apart: its events, and per partition the next offset and the recorded time of
/// its newest event (none when it held only parked messages).
struct Split {
    events: Vec<RecordedEvent>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    recorded: Vec<Option<DateTime<Utc>>>,
}

fn split(batch: &[Taken]) -> Split {
    let mut events = Vec::with_capacity(batch.len());
    let mut next: HashMap<i32, (i64, Option<DateTime<Utc>>)> = HashMap::new();
    for taken in batch {
        let recorded = match &taken.message {
            Read::Event(event) => {
                events.push(event.clone());
                Some(event.recorded_at)
            }
            Read::NotAnEvent(_) => None,
        };
        let entry = next.entry(taken.partition).or_insert((0, None));
        if taken.offset + 1 > entry.0 {
            *entry = (taken.offset + 1, recorded.or(entry.1));
        }
    }
    let partitions: Vec<i32> = next.keys().copied().collect();
    let offsets = partitions.iter().map(|p| next[p].0).collect();
    let recorded = partitions.iter().map(|p| next[p].1).collect();
    Split {
        events,
        partitions,
        offsets,
        recorded,
    }
}

/// Keeps the messages of `batch` that are not events in `projections.kafka_parked`.
async fn park(
    tx: &tokio_postgres::Transaction<'_>,
    projector: &str,
    topic: &str,
    batch: &[Taken],
) -> Result<(), ProjectionError> {
    for taken in batch {
        if let Read::NotAnEvent(parked) = &taken.message {
            tx.execute(
                "INSERT INTO projections.kafka_parked \
                        (projector, topic, partition, \"offset\", reason, head, size) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &projector,
                    &topic,
                    &taken.partition,
                    &taken.offset,
                    &parked.reason,
                    &parked.head,
                    &parked.size,
                ],
            )
            .await
            .map_err(ProjectionError::database(
                "parking a message that is not an event",
            ))?;
        }
    }
    Ok(())
}

/// [`commit`], tried again in place for as long as the database fails: the consumer keeps its
/// partitions meanwhile (librdkafka heartbeats on a thread of its own), so a database outage or
/// failover does not make every projector of the group leave it and join again - rebalances that
/// a broker may not finish promptly. Trying again is safe: a failed transaction leaves nothing,
/// and applying is idempotent. `None` when told to stop first.
async fn commit_patiently<P: Projector>(
    pool: &Pool,
    projector: &P,
    topic: &str,
    batch: &[Taken],
    observers: &Observers,
    shutdown: &CancellationToken,
) -> Result<Option<Vec<(i32, i64)>>, ProjectionError> {
    // At most a second between tries: a try costs one connection attempt, and a longer wait was
    // what the read models lagged by after a restart of PostgreSQL (up to 5 s).
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        match commit(pool, projector, topic, batch, observers).await {
            Ok(stored) => return Ok(Some(stored)),
            Err(error @ (ProjectionError::Db(_) | ProjectionError::Store(_))) => {
                let wait = backoff.after(Duration::ZERO);
                tracing::warn!(projector = projector.name(), source = "kafka", error = %error, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "cannot store a batch; trying again, keeping the partitions");
                // Cancel safe: it only waits; the batch is still whole, and left unapplied on a
                // stop (its messages come again from the stored offsets).
                if sleep_unless(shutdown, wait).await {
                    return Ok(None);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Applies `batch` and stores the partitions' next offsets, in one transaction; returns them.
async fn commit<P: Projector>(
    pool: &Pool,
    projector: &P,
    topic: &str,
    batch: &[Taken],
    observers: &Observers,
) -> Result<Vec<(i32, i64)>, ProjectionError> {
    let Split {
        events,
        partitions,
        offsets,
        recorded,
    } = split(batch);
    let read_at = Utc::now();
    let mut client = pool.get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(ProjectionError::database(
            "starting a projector's transaction",
        ))?;
    let table = projector.table();
    // This commit waits for a synchronous standby, unlike a log-fed projector's (docs/adr/0008):
    // the consumer goes on from its place in memory, so a commit lost in a failover would leave
    // a hole in the read model. A log-fed projector starts again from its stored checkpoint.
    let changed = projector.apply(&tx, &table, &events, None).await?;
    park(&tx, projector.name(), topic, batch).await?;
    tx.execute(
        "INSERT INTO projections.kafka_offsets AS o \
                (projector, topic, partition, next_offset, last_recorded_at, updated_at) \
         SELECT $1, $2, u.partition, u.next_offset, u.recorded_at, now() \
           FROM unnest($3::int4[], $4::int8[], $5::timestamptz[]) AS u(partition, next_offset, recorded_at) \
         ON CONFLICT (projector, topic, partition) DO UPDATE \
            SET next_offset = GREATEST(o.next_offset, excluded.next_offset), \
                last_recorded_at = coalesce(excluded.last_recorded_at, o.last_recorded_at), \
                updated_at = now()",
        &[&projector.name(), &topic, &partitions, &offsets, &recorded],
    )
    .await
    .map_err(ProjectionError::database("storing Kafka offsets"))?;
    tx.commit()
        .await
        .map_err(ProjectionError::database("committing a projector's batch"))?;
    tracing::debug!(
        projector = projector.name(),
        source = "kafka",
        events = events.len(),
        changed,
        "batch applied"
    );
    if let Some(applied) = &observers.applied {
        let _ = applied.send(BatchApplied::now(&events, read_at));
    }
    if let Some(progress) = &observers.progress {
        let mut streams: Vec<uuid::Uuid> = events.iter().map(|e| e.stream_id.as_uuid()).collect();
        streams.sort_unstable();
        streams.dedup();
        progress.send_modify(|p| {
            p.batches = p.batches.wrapping_add(1);
            p.streams = streams.into();
            p.leader = false;
        });
    }
    Ok(partitions.into_iter().zip(offsets).collect())
}
