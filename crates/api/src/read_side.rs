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
            // The status view's progress goes to the API; the others' to no one.
            let mut status_progress = Some(status_progress);
            let mut progress_of = |name: &str| {
                match name {
                    RequestStatusProjector::NAME => status_progress.take(),
                    _ => None,
                }
                .unwrap_or_else(|| watch::channel(Progress::default()).0)
            };
            let mut from_log = |name: &'static str,
                                task: fn(
                EventStore,
                watch::Sender<Progress>,
                CancellationToken,
            ) -> JoinHandle<()>| {
                if wanted(name) {
                    let task = task(store.clone(), progress_of(name), stop.clone());
                    running.push(Running { name, task });
                }
            };
            from_log(RequestStatusProjector::NAME, |store, progress, stop| {
                tokio::spawn(projections::run(
                    store,
                    Arc::new(RequestStatusProjector),
                    progress,
                    stop,
                ))
            });
            from_log(DataAccessProjector::NAME, |store, progress, stop| {
                tokio::spawn(projections::run(
                    store,
                    Arc::new(DataAccessProjector),
                    progress,
                    stop,
                ))
            });
            from_log(AnalyticsProjector::NAME, |store, progress, stop| {
                tokio::spawn(projections::run(
                    store,
                    Arc::new(AnalyticsProjector),
                    progress,
                    stop,
                ))
            });
        }
        ProjectionSource::Kafka => {
            let kafka = kafka.ok_or(ReadSideError::NoBroker)?;
            // Long polls on the status view wake on the Kafka-fed batches too.
            let mut status_progress = Some(status_progress);
            let mut observers_of = |name: &str| Observers {
                applied: None,
                progress: match name {
                    RequestStatusProjector::NAME => status_progress.take(),
                    _ => None,
                },
            };
            let mut from_topic = |name: &'static str,
                                  task: fn(
                EventStore,
                KafkaSettings,
                Observers,
                CancellationToken,
            ) -> JoinHandle<()>| {
                if wanted(name) {
                    let task = task(
                        store.clone(),
                        kafka.clone(),
                        observers_of(name),
                        stop.clone(),
                    );
                    running.push(Running { name, task });
                }
            };
            from_topic(
                RequestStatusProjector::NAME,
                |store, kafka, observers, stop| {
                    let pool = store.database().pool().clone();
                    tokio::spawn(kafka::source::run(
                        pool,
                        Arc::new(RequestStatusProjector),
                        kafka,
                        observers,
                        stop,
                    ))
                },
            );
            from_topic(
                DataAccessProjector::NAME,
                |store, kafka, observers, stop| {
                    let pool = store.database().pool().clone();
                    tokio::spawn(kafka::source::run(
                        pool,
                        Arc::new(DataAccessProjector),
                        kafka,
                        observers,
                        stop,
                    ))
                },
            );
            from_topic(AnalyticsProjector::NAME, |store, kafka, observers, stop| {
                let pool = store.database().pool().clone();
                tokio::spawn(kafka::source::run(
                    pool,
                    Arc::new(AnalyticsProjector),
                    kafka,
                    observers,
                    stop,
                ))
            });
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
