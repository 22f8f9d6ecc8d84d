//! The signed tree heads on Kafka (`EGOV_KAFKA_TREE_HEADS_TOPIC`, `egov.tree-heads`): one
//! partition, each head keyed by its size, its value the head as JSON with the signed note. A
//! consumer of the events' topic checks each event against them (its leaf from the event itself,
//! an inclusion proof from the API). Heads are durable in `tree_heads` first; a head the broker
//! did not take is tried again on the next tick, and a later head stands for any missed one (a
//! consistency proof bridges any two sizes).

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::json;

use super::KafkaSettings;
use crate::log_tree::heads::{Publish, SignedHead};
use crate::ProjectionError;

/// How long one head may wait for the broker before it is left for the next tick.
const DELIVERY: Duration = Duration::from_secs(5);

/// Publishes signed heads to their topic.
pub struct HeadPublisher {
    producer: FutureProducer,
    topic: String,
    settings: KafkaSettings,
    topic_ready: bool,
}

impl HeadPublisher {
    /// A publisher to the heads' topic of `settings` (created on first use).
    ///
    /// # Errors
    /// [`ProjectionError::Kafka`] when the producer cannot be made.
    pub fn new(settings: &KafkaSettings) -> Result<Self, ProjectionError> {
        let mut config = settings.client_config();
        config.set("acks", "all").set("message.timeout.ms", "5000");
        let producer = config
            .create()
            .map_err(ProjectionError::kafka("creating the tree heads' producer"))?;
        Ok(Self {
            producer,
            topic: settings.heads_topic.clone(),
            settings: settings.clone(),
            topic_ready: false,
        })
    }
}

impl Publish for HeadPublisher {
    /// Publishes `signed`, keyed by its size; [`ProjectionError::Kafka`] when the broker does not
    /// take it in time.
    async fn publish(&mut self, signed: &SignedHead) -> Result<(), ProjectionError> {
        if !self.topic_ready {
            super::ensure_topic_named(&self.settings, &self.topic, 1).await?;
            self.topic_ready = true;
        }
        let head = &signed.head;
        let value = json!({
            "origin": head.origin,
            "size": head.size,
            "root": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, head.root),
            "time": head.time,
            "note": signed.note,
        })
        .to_string();
        let key = head.size.to_string();
        let record = FutureRecord::to(&self.topic)
            .key(key.as_str())
            .payload(value.as_str());
        self.producer
            .send(record, Timeout::After(DELIVERY))
            .await
            .map_err(|(error, _)| ProjectionError::Kafka {
                doing: "publishing a tree head",
                source: error,
            })?;
        Ok(())
    }
}
