//! The read models there are, in one place. `egov serve`, `egov projections run|rebuild|status`
//! and `egov replay --check` all go through [`ReadModel`]: every read model can be run (from the
//! log or from the Kafka topic), rebuilt, replay-checked and asked for its lag, and a new one is
//! added here once.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Pool};
use event_store::EventStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::kafka::source::Observers;
use crate::kafka::KafkaSettings;
use crate::projector::{run_observed, BatchApplied, Progress};
use crate::rebuild::{rebuild, RebuildReport};
use crate::replay::{check, CheckReport, Through};
use crate::tables::{Swap, Table, Unpacked};
use crate::{checkpoint, AnalyticsProjector, DataAccessProjector, ProjectionError};
use crate::{Lag, LogTreeProjector, RequestStatusProjector};

/// A read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadModel {
    /// The status view the portal's "refresh status" reads.
    RequestStatus,
    /// "Who looked at my data": reads of each citizen's data by others.
    DataAccess,
    /// The facts behind the analysts' views, without personal data.
    Analytics,
    /// The Merkle tree over the whole log, which tree heads and proofs are read from.
    LogTree,
}

/// A name that is no read model's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no read model is called {0:?}; there are: request_status, data_access, analytics, log_tree"
)]
pub struct UnknownReadModel(pub String);

/// Calls the generic `$body` with the read model's projector bound to `$projector`.
macro_rules! with_projector {
    ($model:expr, $projector:ident => $body:expr) => {
        match $model {
            ReadModel::RequestStatus => {
                let $projector = RequestStatusProjector;
                $body
            }
            ReadModel::DataAccess => {
                let $projector = DataAccessProjector;
                $body
            }
            ReadModel::Analytics => {
                let $projector = AnalyticsProjector;
                $body
            }
            ReadModel::LogTree => {
                let $projector = LogTreeProjector;
                $body
            }
        }
    };
}

impl ReadModel {
    /// Every read model.
    pub const ALL: [ReadModel; 4] = [
        ReadModel::RequestStatus,
        ReadModel::DataAccess,
        ReadModel::Analytics,
        ReadModel::LogTree,
    ];

    /// Its name: of its checkpoint, of its consumer group, of its main table.
    pub const fn name(self) -> &'static str {
        match self {
            ReadModel::RequestStatus => RequestStatusProjector::NAME,
            ReadModel::DataAccess => DataAccessProjector::NAME,
            ReadModel::Analytics => AnalyticsProjector::NAME,
            ReadModel::LogTree => LogTreeProjector::NAME,
        }
    }

    /// Its tables, the main one first.
    pub const fn tables(self) -> &'static [Table] {
        match self {
            ReadModel::RequestStatus => const { &[Table::plain("", &["stream_id"])] },
            ReadModel::DataAccess => const { &[Table::plain("", &["event_id", "seq"])] },
            ReadModel::Analytics => {
                const {
                    &[
                        Table::plain("", &["stream_id"]),
                        Table::plain("_steps", &["stream_id", "step"]),
                    ]
                }
            }
            ReadModel::LogTree => {
                const {
                    &[
                        Table::plain("", &["level", "idx"]),
                        Table {
                            suffix: "_tiles",
                            key: &["tile"],
                            unpacked: Some(Unpacked {
                                function: "projections.log_tree_leaves",
                                label: "_leaves",
                                key: &["idx"],
                            }),
                        },
                    ]
                }
            }
        }
    }

    /// How a rebuild swaps it in: the analytics tables are read by the views of schema
    /// `analytics` (migrations/V6), the others by this service alone.
    pub const fn swap(self) -> Swap {
        match self {
            ReadModel::RequestStatus | ReadModel::DataAccess | ReadModel::LogTree => Swap::Rename,
            ReadModel::Analytics => Swap::Copy,
        }
    }

    /// Keeps it up to date from the log until `stop`, publishing each batch's progress to
    /// `progress` (and, for benchmarks, each batch to `applied`).
    pub fn spawn(
        self,
        store: &EventStore,
        progress: watch::Sender<Progress>,
        applied: Option<tokio::sync::mpsc::UnboundedSender<BatchApplied>>,
        stop: &CancellationToken,
    ) -> JoinHandle<()> {
        let (store, stop) = (store.clone(), stop.clone());
        with_projector!(self, projector => tokio::spawn(run_observed(
            store,
            Arc::new(projector),
            progress,
            applied,
            stop,
        )))
    }

    /// Whether it can be fed from the Kafka topic: not the log's tree, whose leaves follow the
    /// log's global order, which the topic's partitions do not keep.
    pub const fn follows_topic(self) -> bool {
        !matches!(self, ReadModel::LogTree)
    }

    /// Keeps it up to date from the Kafka topic until `stop`, in the consumer group of its name.
    pub fn spawn_from_kafka(
        self,
        pool: &Pool,
        kafka: &KafkaSettings,
        observers: Observers,
        stop: &CancellationToken,
    ) -> JoinHandle<()> {
        let (pool, kafka, stop) = (pool.clone(), kafka.clone(), stop.clone());
        with_projector!(self, projector => tokio::spawn(crate::kafka::source::run(
            pool,
            Arc::new(projector),
            kafka,
            observers,
            stop,
        )))
    }

    /// Rebuilds it from the first event and swaps it in.
    ///
    /// # Errors
    /// When reading the log or writing the shadow tables fails; the live tables are untouched.
    pub async fn rebuild(self, store: &EventStore) -> Result<RebuildReport, ProjectionError> {
        with_projector!(self, projector => rebuild(store, &projector, self.tables(), self.swap()).await)
    }

    /// Replays it from the log and compares the result with the stored rows.
    ///
    /// # Errors
    /// When reading the log or the tables fails.
    pub async fn check(
        self,
        store: &EventStore,
        through: Through,
    ) -> Result<CheckReport, ProjectionError> {
        with_projector!(self, projector => check(store, &projector, self.tables(), through).await)
    }

    /// How far it is behind the head of the log.
    ///
    /// # Errors
    /// When the database cannot be asked.
    pub async fn lag(self, pool: &Pool) -> Result<Lag, ProjectionError> {
        checkpoint::lag(pool, self.name()).await
    }

    /// How many seconds it is behind, whichever way it is fed: the lesser of its lag behind the
    /// log ([`checkpoint::log_staleness`]) and, when it is fed from a Kafka topic, how long it has
    /// applied nothing while published events waited ([`checkpoint::kafka_staleness`]). Both
    /// feeds write the same rows, so the more current one tells how current the read model is.
    /// Nothing is counted: `/readyz` and `/metrics` ask this often, and a read model fed from the
    /// topic leaves its log checkpoint at the start (counting from there read the whole log).
    ///
    /// # Errors
    /// When the database cannot be asked.
    pub async fn seconds_behind(self, client: &impl GenericClient) -> Result<f64, ProjectionError> {
        let from_topic = checkpoint::kafka_staleness(client, self.name()).await?;
        if from_topic == Some(0.0) {
            return Ok(0.0);
        }
        let from_log = checkpoint::log_staleness(client, self.name()).await?;
        Ok(from_topic.map_or(from_log, |topic| topic.min(from_log)))
    }
}

impl std::fmt::Display for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ReadModel {
    type Err = UnknownReadModel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ReadModel::ALL
            .into_iter()
            .find(|model| model.name() == name)
            .ok_or_else(|| UnknownReadModel(name.to_owned()))
    }
}

/// The projector trait's names agree with the registry (a test, so that a renamed projector is
/// caught here and not by a checkpoint that silently starts from scratch).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Projector;

    #[test]
    fn every_read_model_is_found_by_its_projectors_name_and_no_other() {
        for model in ReadModel::ALL {
            let projector_name = with_projector!(model, projector => projector.name());
            assert_eq!(model.name(), projector_name);
            assert_eq!(model.name().parse::<ReadModel>(), Ok(model));
            assert_eq!(model.tables()[0].suffix, "", "the main table comes first");
        }
        assert_eq!(
            "status".parse::<ReadModel>(),
            Err(UnknownReadModel("status".into()))
        );
    }
}
