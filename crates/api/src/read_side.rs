//! The read side as the binary runs it: the three projectors, fed from the log or from the Kafka
//! topic ([`ProjectionSource`]), and the Kafka relay.

use std::sync::Arc;

use commands::EventStore;
use projections::kafka::relay::RelayProgress;
use projections::kafka::source::Observers;
use projections::kafka::{self, KafkaSettings};
use projections::{AnalyticsProjector, DataAccessProjector, Progress, RequestStatusProjector};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::settings::ProjectionSource;

/// The read models there are.
pub const READ_MODELS: [&str; 3] = [
    RequestStatusProjector::NAME,
    DataAccessProjector::NAME,
    AnalyticsProjector::NAME,
];

/// A projector task.
pub struct Running {
    pub name: &'static str,
    pub task: JoinHandle<()>,
}

/// Why the projectors cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReadSideError {
    #[error("no read model is called {0:?}; there are: request_status, data_access, analytics")]
    UnknownReadModel(String),
    #[error("reading from Kafka needs EGOV_KAFKA_BROKERS")]
    NoBroker,
}

/// Starts the projectors of `only` (every read model when `None`) reading from `source`, until
/// `stop`. The status view's projector publishes its progress to `status_progress` (the API's
/// caches and long polls follow it; from Kafka it never leads, so the cache stays off).
///
/// # Errors
/// [`ReadSideError`] for an unknown read model, or Kafka without a broker.
pub fn spawn_projectors(
    store: &EventStore,
    source: ProjectionSource,
    kafka: Option<&KafkaSettings>,
    only: Option<&str>,
    status_progress: watch::Sender<Progress>,
    stop: &CancellationToken,
) -> Result<Vec<Running>, ReadSideError> {
    if let Some(name) = only {
        if !READ_MODELS.contains(&name) {
            return Err(ReadSideError::UnknownReadModel(name.to_owned()));
        }
    }
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    let mut running = Vec::new();
    match source {
        ProjectionSource::Off => {}
        ProjectionSource::Postgres => {
            let mut status_progress = Some(status_progress);
            let mut from_log = |name: &'static str, task: JoinHandle<()>| {
                running.push(Running { name, task });
            };
            if wanted(RequestStatusProjector::NAME) {
                let progress = status_progress
                    .take()
                    .unwrap_or_else(|| watch::channel(Progress::default()).0);
                from_log(
                    RequestStatusProjector::NAME,
                    tokio::spawn(projections::run(
                        store.clone(),
                        Arc::new(RequestStatusProjector),
                        progress,
                        stop.clone(),
                    )),
                );
            }
            if wanted(DataAccessProjector::NAME) {
                from_log(
                    DataAccessProjector::NAME,
                    tokio::spawn(projections::run(
                        store.clone(),
                        Arc::new(DataAccessProjector),
                        watch::channel(Progress::default()).0,
                        stop.clone(),
                    )),
                );
            }
            if wanted(AnalyticsProjector::NAME) {
                from_log(
                    AnalyticsProjector::NAME,
                    tokio::spawn(projections::run(
                        store.clone(),
                        Arc::new(AnalyticsProjector),
                        watch::channel(Progress::default()).0,
                        stop.clone(),
                    )),
                );
            }
        }
        ProjectionSource::Kafka => {
            let kafka = kafka.ok_or(ReadSideError::NoBroker)?;
            let pool = store.database().pool().clone();
            if wanted(RequestStatusProjector::NAME) {
                running.push(Running {
                    name: RequestStatusProjector::NAME,
                    task: tokio::spawn(kafka::source::run(
                        pool.clone(),
                        Arc::new(RequestStatusProjector),
                        kafka.clone(),
                        Observers {
                            applied: None,
                            progress: Some(status_progress),
                        },
                        stop.clone(),
                    )),
                });
            }
            if wanted(DataAccessProjector::NAME) {
                running.push(Running {
                    name: DataAccessProjector::NAME,
                    task: tokio::spawn(kafka::source::run(
                        pool.clone(),
                        Arc::new(DataAccessProjector),
                        kafka.clone(),
                        Observers::default(),
                        stop.clone(),
                    )),
                });
            }
            if wanted(AnalyticsProjector::NAME) {
                running.push(Running {
                    name: AnalyticsProjector::NAME,
                    task: tokio::spawn(kafka::source::run(
                        pool,
                        Arc::new(AnalyticsProjector),
                        kafka.clone(),
                        Observers::default(),
                        stop.clone(),
                    )),
                });
            }
        }
    }
    Ok(running)
}

/// Waits for the projector tasks, logging any that failed.
pub async fn join(running: Vec<Running>) {
    for Running { name, task } in running {
        if let Err(error) = task.await {
            tracing::error!(projector = name, error = %error, "the projector task failed");
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
