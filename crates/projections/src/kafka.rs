//! Kafka: the bus that carries every event beyond the database (docs/architecture.md, "Kafka").
//!
//! - [`relay`]: follows the log's gap-free cursor and publishes every event, in log order, to one
//!   topic keyed by stream id; its checkpoint moves only after the broker acknowledged delivery
//!   (at-least-once).
//! - [`source`]: a projector fed from the topic instead of the log, in a consumer group; it
//!   applies each event idempotently (by stream version, see [`crate::Projector`]) and keeps its
//!   partition offsets in PostgreSQL, moved in the same transaction as its rows.
//!
//! PostgreSQL stays the source of truth: with no broker configured nothing here runs.

pub mod relay;
pub mod source;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

use crate::ProjectionError;

/// Where the broker is and how the topic is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: comma-separated `host:port` of the brokers.
    pub brokers: String,
    /// The topic every event goes to.
    pub topic: String,
    /// Partitions of the topic when the relay creates it.
    pub partitions: i32,
    /// Replication factor of the topic when the relay creates it.
    pub replication: i32,
    /// Consumer groups of Kafka-sourced projectors are named `<group_prefix>.<read model>`.
    pub group_prefix: String,
    /// How long the group waits for a silent consumer before its partitions move to another.
    pub session_timeout: Duration,
}

impl KafkaSettings {
    /// The default topic name.
    pub const DEFAULT_TOPIC: &'static str = "egov.request-events";

    /// Settings for `brokers` with the defaults for everything else.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: Self::DEFAULT_TOPIC.to_owned(),
            partitions: 6,
            replication: 1,
            group_prefix: "egov-projections".to_owned(),
            session_timeout: Duration::from_secs(10),
        }
    }

    /// The configuration every client of ours starts from.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "egov-events");
        config
    }

    /// The consumer group of the Kafka-sourced projector of `read_model`.
    pub fn group(&self, read_model: &str) -> String {
        format!("{}.{read_model}", self.group_prefix)
    }
}

/// Creates the topic with the configured partitions unless it exists.
///
/// # Errors
/// [`ProjectionError::Kafka`] when the broker cannot be reached or refuses the topic.
pub async fn ensure_topic(settings: &KafkaSettings) -> Result<(), ProjectionError> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .map_err(ProjectionError::kafka("creating a Kafka admin client"))?;
    let topic = NewTopic::new(
        &settings.topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication),
    );
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(ProjectionError::kafka("creating the topic"))?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(
                topic = %name,
                partitions = settings.partitions,
                replication = settings.replication,
                "Kafka topic created"
            ),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                tracing::error!(topic = %name, error = %code, "the broker refused to create the topic");
                return Err(ProjectionError::Kafka {
                    doing: "creating the topic",
                    source: KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}

/// The header names every published event carries.
pub mod headers {
    /// The event's type, e.g. `RequestSubmitted`.
    pub const EVENT_TYPE: &str = "event-type";
    /// The payload's schema version.
    pub const SCHEMA_VERSION: &str = "schema-version";
    /// The event's id (unique over the log).
    pub const EVENT_ID: &str = "event-id";
    /// The business transaction (the request's id for everything done for one request).
    pub const CORRELATION_ID: &str = "correlation-id";
}
