//! The relay: every event of the log, in log order, on one Kafka topic.
//!
//! One relay publishes at a time (a session advisory lock, like a projector's leadership). It reads
//! a batch from its checkpoint through the event store's subscription, hands every event to the
//! idempotent producer (`enable.idempotence`, `acks=all`, keyed by stream id so that one request's
//! events keep their order in one partition), waits until the broker acknowledged all of them and
//! only then moves its checkpoint. A relay that dies re-publishes at most the batch it had not
//! finished; consumers drop those duplicates by stream version.
//!
//! While the broker is unreachable, deliveries simply wait (the producer never times a message
//! out) and the checkpoint stays where it is: commands go on, events accumulate in PostgreSQL, and
//! the lag in `/metrics` grows. When the broker is back the producer delivers what it holds and the
//! relay drains the backlog in order.

use std::time::{Duration, Instant};

use domain::{Cursor, RecordedEvent};
use event_store::EventStore;
use event_store::SubscriptionOptions;
use futures_util::future::join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ensure_topic, headers, KafkaSettings};
use crate::leader::Leadership;
use crate::retry::{sleep_unless, Backoff};
use crate::{checkpoint, ProjectionError};

/// Most events handed to the producer before the relay waits for their acknowledgement.
const BATCH: u32 = 2_000;

/// How often a relay waiting for acknowledgements says so in the log.
const WAITING_REPORT: Duration = Duration::from_secs(15);

/// The checkpoint name of the relay to `topic` (in `projections.checkpoints`).
pub fn checkpoint_name(topic: &str) -> String {
    format!("kafka-relay:{topic}")
}

/// What the relay has published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayProgress {
    /// The checkpoint: every event up to it is acknowledged by the broker.
    pub cursor: Cursor,
    /// Events acknowledged since the process started.
    pub events: u64,
    /// Whether this process is the one relaying.
    pub leader: bool,
}

/// Publishes the log to the topic until `shutdown`: waits for the relay's leadership, creates the
/// topic when it is missing, then follows the log. Failures are logged and retried with backoff
/// from the checkpoint; the loop never gives up on its own.
pub async fn run(
    store: EventStore,
    settings: KafkaSettings,
    progress: watch::Sender<RelayProgress>,
    shutdown: CancellationToken,
) {
    let name = checkpoint_name(&settings.topic);
    let config = store.database().settings().config.clone();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    'leading: while !shutdown.is_cancelled() {
        let Some(mut leadership) = Leadership::take(&config, &name, &shutdown).await else {
            break;
        };
        // The database answers again: a failure from now on starts from the first wait.
        backoff.reset();
        progress.send_modify(|p| p.leader = true);
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            // Cancel safe: a batch whose acknowledgements are not all in leaves the checkpoint
            // where it was, and the next relay publishes it again.
            let outcome = tokio::select! {
                outcome = publish(&store, &settings, &name, &progress, &shutdown) => outcome,
                () = leadership.lost() => {
                    tracing::warn!(relay = %name, "relay leadership lost; standing by");
                    progress.send_modify(|p| p.leader = false);
                    continue 'leading;
                }
            };
            match outcome {
                Ok(()) => break,
                Err(error) => {
                    let wait = backoff.after(started.elapsed());
                    tracing::error!(relay = %name, error = %error, cause = ?std::error::Error::source(&error), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "relay failed; it resumes from its checkpoint");
                    if sleep_unless(&shutdown, wait).await {
                        break 'leading;
                    }
                }
            }
        }
    }
    progress.send_modify(|p| p.leader = false);
    tracing::info!(relay = %name, "relay stopped at its checkpoint");
}

fn producer(settings: &KafkaSettings) -> Result<FutureProducer, ProjectionError> {
    let mut config = settings.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // A message that fails could leave a gap in its partition: better a fatal error, after
        // which the relay starts again from its checkpoint.
        .set("enable.gapless.guarantee", "true")
        // Never give up on a message: while the broker is down, deliveries wait for it.
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        // Kafka-sourced projectors find the batch a message is in within this many (source.rs).
        .set("batch.num.messages", super::LONGEST_BATCH.to_string())
        // The Java client's partitioner, so that other clients agree on where a key goes.
        .set("partitioner", "murmur2_random");
    config
        .create()
        .map_err(ProjectionError::kafka("creating the Kafka producer"))
}

/// Follows the log from the checkpoint until shutdown (`Ok`) or a failure.
async fn publish(
    store: &EventStore,
    settings: &KafkaSettings,
    name: &str,
    progress: &watch::Sender<RelayProgress>,
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    ensure_topic(settings).await?;
    let producer = producer(settings)?;
    let start = {
        let client = store.database().pool().get().await?;
        checkpoint::load(&client, name).await?
    };
    tracing::info!(relay = name, topic = %settings.topic, brokers = %settings.brokers, from = %start, "relay publishing the log");
    let options = SubscriptionOptions {
        batch_size: BATCH,
        ..SubscriptionOptions::default()
    };
    let mut subscription = store.subscribe(start, options);
    let mut expected = start;
    loop {
        // Cancel safe: `next_batch` moves its cursor only when it returns events.
        let batch = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            batch = subscription.next_batch() => batch?,
        };
        let Some(last) = batch.last() else { continue };
        let next = last.cursor;
        let deliveries = send(&producer, &settings.topic, &batch, shutdown).await?;
        let Some(deliveries) = deliveries else {
            return Ok(());
        };
        if !acknowledged(deliveries, batch.len(), name, shutdown).await? {
            return Ok(());
        }
        let mut client = store.database().pool().get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(ProjectionError::database(
                "starting the relay's transaction",
            ))?;
        let stored = checkpoint::lock(&tx, name).await?;
        if stored != expected {
            // Only a second relay could have moved it; resume from where it got to.
            tracing::warn!(relay = name, stored = %stored, expected = %expected, "the relay's checkpoint moved under it; resuming from it");
            return Err(ProjectionError::CheckpointMoved(name.to_owned()));
        }
        let count = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        checkpoint::store(&tx, name, next, count, false).await?;
        tx.commit()
            .await
            .map_err(ProjectionError::database("moving the relay's checkpoint"))?;
        expected = next;
        tracing::debug!(relay = name, events = batch.len(), to = %next, "batch acknowledged");
        progress.send_modify(|p| {
            p.cursor = next;
            p.events += batch.len() as u64;
        });
    }
}

/// Hands every event of `batch` to the producer, in order. `None` on shutdown.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    batch: &[RecordedEvent],
    shutdown: &CancellationToken,
) -> Result<Option<Vec<rdkafka::producer::DeliveryFuture>>, ProjectionError> {
    let mut deliveries = Vec::with_capacity(batch.len());
    for event in batch {
        let key = event.stream_id.to_string();
        let value = serde_json::to_vec(event).map_err(|error| ProjectionError::Undecodable {
            stream_id: event.stream_id,
            version: event.stream_version.get(),
            reason: error.to_string(),
        })?;
        let schema_version = event.schema_version.to_string();
        let event_id = event.event_id.to_string();
        let correlation_id = event.metadata.correlation_id.to_string();
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some(event.event_type.as_str()),
            })
            .insert(Header {
                key: headers::SCHEMA_VERSION,
                value: Some(schema_version.as_str()),
            })
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(event_id.as_str()),
            })
            .insert(Header {
                key: headers::CORRELATION_ID,
                value: Some(correlation_id.as_str()),
            });
        let mut record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_slice())
            .headers(headers)
            .timestamp(event.recorded_at.timestamp_millis());
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The producer's queue is full (the broker is slow or away): wait for room.
                    record = back;
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(None),
                        () = tokio::time::sleep(Duration::from_millis(10)) => {}
                    }
                }
                Err((error, _)) => {
                    return Err(ProjectionError::Kafka {
                        doing: "handing an event to the producer",
                        source: error,
                    })
                }
            }
        }
    }
    Ok(Some(deliveries))
}

/// Waits until every delivery is acknowledged (`true`), or shutdown (`false`). While the broker
/// is away it says so every [`WAITING_REPORT`].
async fn acknowledged(
    deliveries: Vec<rdkafka::producer::DeliveryFuture>,
    count: usize,
    name: &str,
    shutdown: &CancellationToken,
) -> Result<bool, ProjectionError> {
    let started = Instant::now();
    let all = join_all(deliveries);
    tokio::pin!(all);
    let mut report =
        tokio::time::interval_at(tokio::time::Instant::now() + WAITING_REPORT, WAITING_REPORT);
    let results = loop {
        // Cancel safe: `all` is pinned and polled again on the next turn; ticks keep no state.
        tokio::select! {
            () = shutdown.cancelled() => return Ok(false),
            results = &mut all => break results,
            _ = report.tick() => tracing::warn!(
                relay = name,
                events = count,
                waiting_s = started.elapsed().as_secs(),
                "the broker has not acknowledged the relay's batch yet; the producer keeps retrying"
            ),
        }
    };
    if started.elapsed() >= WAITING_REPORT {
        tracing::info!(
            relay = name,
            events = count,
            waited_s = started.elapsed().as_secs(),
            "the broker acknowledged the relay's batch; catching up"
        );
    }
    for result in results {
        match result {
            Ok(Ok(_)) => {}
            Ok(Err((error, _))) => {
                return Err(ProjectionError::Kafka {
                    doing: "delivering an event",
                    source: error,
                })
            }
            Err(_) => {
                return Err(ProjectionError::Kafka {
                    doing: "delivering an event (the producer went away)",
                    source: KafkaError::Canceled,
                })
            }
        }
    }
    Ok(true)
}
