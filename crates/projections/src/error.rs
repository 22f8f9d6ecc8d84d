//! What can go wrong on the read side.

use domain::StreamId;
use event_store::{DbFailure, StoreError};

/// Errors of projectors and read-model queries.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No connection to the database, or a statement failed.
    #[error(transparent)]
    Db(#[from] DbFailure),
    /// A stored event of a known type cannot be read: the projector stops there rather than skip
    /// it, and its lag shows it (an operator must look).
    #[error("event {version} of stream {stream_id} cannot be read: {reason}")]
    Undecodable {
        stream_id: StreamId,
        version: u64,
        reason: String,
    },
    /// The Kafka client failed (the broker unreachable, a topic refused, a delivery failed).
    #[error("Kafka error while {doing}")]
    Kafka {
        doing: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// Another writer moved a checkpoint this process was following (a second relay); the loop
    /// resumes from where it got to.
    #[error("the checkpoint {0} moved under this process")]
    CheckpointMoved(String),
    /// The log's tree does not fit the log or itself (a node missing, an event in it twice): the
    /// projector stops there, and a rebuild or replay check says more.
    #[error("the log's tree: {0}")]
    Tree(String),
    /// No read model has this name.
    #[error("no read model is called {0:?}")]
    UnknownReadModel(String),
}

impl From<deadpool_postgres::PoolError> for ProjectionError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ProjectionError::Db(e.into())
    }
}

impl ProjectionError {
    pub(crate) fn database(
        doing: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> ProjectionError + Copy {
        move |source| ProjectionError::Db(DbFailure::of(doing)(source))
    }

    pub(crate) fn kafka(
        doing: &'static str,
    ) -> impl Fn(rdkafka::error::KafkaError) -> ProjectionError + Copy {
        move |source| ProjectionError::Kafka { doing, source }
    }
}
