//! The read side as a process runs it: the read models of the registry (`projections::ReadModel`),
//! fed from the log or from the Kafka topic ([`ProjectionSource`]), and the Kafka relay.

use event_store::EventStore;
use projections::kafka::relay::RelayProgress;
use projections::kafka::source::Observers;
use projections::kafka::{self, KafkaSettings};
use projections::{Progress, ReadModel};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::settings::ProjectionSource;

/// A running read model's task.
pub struct Running {
    pub model: ReadModel,
    pub task: JoinHandle<()>,
}

/// Why the read models cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReadSideError {
    #[error("reading from Kafka needs EGOV_KAFKA_BROKERS")]
    NoBroker,
}

/// Starts `models` reading from `source` until `stop`. The status view publishes its progress to
/// `status_progress` (the API's caches and long polls follow it; from Kafka it never leads, so the
/// cache stays off).
///
/// # Errors
/// [`ReadSideError::NoBroker`] for Kafka without a broker.
pub fn spawn(
    store: &EventStore,
    source: ProjectionSource,
    kafka: Option<&KafkaSettings>,
    models: &[ReadModel],
    status_progress: watch::Sender<Progress>,
    stop: &CancellationToken,
) -> Result<Vec<Running>, ReadSideError> {
    let kafka = match source {
        ProjectionSource::Off => return Ok(Vec::new()),
        ProjectionSource::Postgres => None,
        ProjectionSource::Kafka => Some(kafka.ok_or(ReadSideError::NoBroker)?),
    };
    // The status view's progress goes to the API; the others' to no one.
    let mut status_progress = Some(status_progress);
    let running = models
        .iter()
        .map(|&model| {
            let progress = match model {
                ReadModel::RequestStatus => status_progress.take(),
                ReadModel::DataAccess | ReadModel::Analytics | ReadModel::LogTree => None,
            };
            let task = match kafka.filter(|_| model.follows_topic()) {
                None => {
                    let progress =
                        progress.unwrap_or_else(|| watch::channel(Progress::default()).0);
                    model.spawn(store, progress, None, stop)
                }
                Some(kafka) => {
                    let observers = Observers {
                        applied: None,
                        progress,
                    };
                    model.spawn_from_kafka(store.database().pool(), kafka, observers, stop)
                }
            };
            Running { model, task }
        })
        .collect();
    Ok(running)
}

/// Waits for the read models' tasks, logging any that failed.
pub async fn join(running: Vec<Running>) {
    for Running { model, task } in running {
        if let Err(error) = task.await {
            tracing::error!(projector = model.name(), error = %error, "the projector task failed");
        }
    }
}

/// Starts the relay to `kafka` until `stop`.
pub fn spawn_relay(
    store: &EventStore,
    kafka: &KafkaSettings,
    stop: &CancellationToken,
) -> (watch::Receiver<RelayProgress>, JoinHandle<()>) {
    let (progress, watching) = watch::channel(RelayProgress::default());
    let task = tokio::spawn(kafka::relay::run(
        store.clone(),
        kafka.clone(),
        progress,
        stop.clone(),
    ));
    (watching, task)
}
