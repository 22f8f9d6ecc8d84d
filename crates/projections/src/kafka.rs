//! Kafka: the bus that carries every event beyond the database (docs/architecture.md, "Kafka").
//!
//! - [`relay`]: follows the log's gap-free cursor and publishes every event, in log order, to one
//!   topic keyed by stream id; its checkpoint moves only after the broker acknowledged delivery
//!   (at-least-once).
//! - [`heads`]: publishes the log's signed tree heads to a topic of their own, for consumers to
//!   check the events they read against;
//! - [`source`]: a projector fed from the topic instead of the log, in a consumer group; it
//!   applies each event idempotently (by stream version, see [`crate::Projector`]) and keeps its
//!   partition offsets in PostgreSQL, moved in the same transaction as its rows.
//!
//! PostgreSQL stays the source of truth: with no broker configured nothing here runs.

pub mod heads;
pub mod relay;
pub mod source;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

use crate::ProjectionError;

/// The most messages the relay puts in one batch (its producer's `batch.num.messages`). A
/// Kafka-sourced projector seeks back at most this far to find the batch a message is in.
pub(crate) const LONGEST_BATCH: i64 = 10_000;

/// Where the broker is and how the topic is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: comma-separated `host:port` of the brokers.
    pub brokers: String,
    /// The topic every event goes to.
    pub topic: String,
    /// The topic the log's signed tree heads go to (one partition, keyed by size).
    pub heads_topic: String,
    /// Partitions of the topic when the relay creates it.
    pub partitions: i32,
    /// Replication factor of the topic when the relay creates it.
    pub replication: i32,
    /// Consumer groups of Kafka-sourced projectors are named `<group_prefix>.<read model>`.
    pub group_prefix: String,
    /// How long the group waits for a silent consumer before its partitions move to another.
    pub session_timeout: Duration,
    /// How the clients reach the brokers.
    pub security: KafkaSecurity,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether it authenticates with SASL.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// How the clients reach the brokers: TLS (with the brokers' CA, and a client certificate when
/// the brokers ask for one) and SASL, each passed to librdkafka under its own property name.
/// librdkafka checks the broker's host name against its certificate by default.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    /// `ssl.ca.location`: the CA certificates (PEM) the brokers' certificates are checked against.
    pub ssl_ca_location: Option<String>,
    /// `ssl.certificate.location` and `ssl.key.location`: the client's certificate and key.
    pub ssl_certificate_location: Option<String>,
    pub ssl_key_location: Option<String>,
    /// `ssl.key.password`: the client key's passphrase.
    pub ssl_key_password: Option<String>,
    /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
}

impl std::fmt::Debug for KafkaSecurity {
    // The passwords are never shown, only whether they are set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("ssl_certificate_location", &self.ssl_certificate_location)
            .field("ssl_key_location", &self.ssl_key_location)
            .field("ssl_key_password", &secret(&self.ssl_key_password))
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &secret(&self.sasl_password))
            .finish()
    }
}

impl KafkaSecurity {
    /// Sets the properties on a client's configuration.
    fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", self.protocol.as_str());
        let properties = [
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
            ("ssl.key.password", &self.ssl_key_password),
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
        ];
        for (key, value) in properties {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
    }
}

impl KafkaSettings {
    /// The default topic name.
    pub const DEFAULT_TOPIC: &'static str = "egov.request-events";
    /// The default topic of the signed tree heads.
    pub const DEFAULT_HEADS_TOPIC: &'static str = "egov.tree-heads";

    /// Settings for `brokers` with the defaults for everything else.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: Self::DEFAULT_TOPIC.to_owned(),
            heads_topic: Self::DEFAULT_HEADS_TOPIC.to_owned(),
            partitions: 6,
            replication: 1,
            group_prefix: "egov-projections".to_owned(),
            session_timeout: Duration::from_secs(10),
            security: KafkaSecurity::default(),
        }
    }

    /// The configuration every client of ours starts from.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "egov-events");
        self.security.apply(&mut config);
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
    ensure_topic_named(settings, &settings.topic, settings.partitions).await
}

/// Creates `name` with `partitions` (and the configured replication) unless it exists.
///
/// # Errors
/// [`ProjectionError::Kafka`] when the broker cannot be reached or refuses the topic.
pub(crate) async fn ensure_topic_named(
    settings: &KafkaSettings,
    name: &str,
    partitions: i32,
) -> Result<(), ProjectionError> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .map_err(ProjectionError::kafka("creating a Kafka admin client"))?;
    let topic = NewTopic::new(
        name,
        partitions,
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
                partitions,
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

#[cfg(test)]
mod tests {
    use rdkafka::producer::BaseProducer;

    use super::{KafkaSecurity, KafkaSettings, SecurityProtocol};

    #[test]
    fn clients_take_tls_and_sasl_settings_and_never_print_a_password() {
        let mut settings = KafkaSettings::new("127.0.0.1:1");
        settings.security = KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("egov".into()),
            sasl_password: Some("hunter2".into()),
            ssl_key_password: Some("swordfish".into()),
            ..KafkaSecurity::default()
        };
        // librdkafka refuses `sasl_ssl` and SCRAM when built without TLS and SASL.
        let producer: Result<BaseProducer, _> = settings.client_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
        let config = settings.client_config();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.username"), Some("egov"));
    }
}
