//! The service as one value. [`App::build`] opens the database (applying the migrations first),
//! starts the background work the settings ask for (the workflow, the read models, read-auditing,
//! the Kafka relay) and binds the HTTP listener, so the port is known before anything is served
//! (port 0 picks a free one: tests ask for it). [`App::run`] serves until the shutdown token is
//! cancelled, then stops everything in order.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web;
use commands::centre::Centre;
use commands::read_audit::ReadAudit;
use commands::results::ResultDocuments;
use commands::social_status::SocialStatusChecks;
use commands::workflow::{Workflow, WorkflowSettings};
use commands::Requests;
use event_store::{Database, DbError, EventStore, MigrationError};
use projections::{Progress, StatusView};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::adapters::{AdapterError, Adapters};
use crate::db_watch::DbWatch;
use crate::drain::InFlight;
use crate::metrics::{Metrics, Operations};
use crate::pages::development::Development;
use crate::read_side::{self, ReadSideError, Running};
use crate::server::{self, Shared};
use crate::settings::ProjectionSource;
use crate::state::{self, AppState, RelayWatch};
use crate::token::{Authenticator, DevKey, KeyError, VerifyingKey};
use crate::Settings;

/// How long a stopping server waits for the requests in flight before it stops its workers
/// (which then drain what is left within their own shutdown timeout).
const DRAIN_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no database: DATABASE_URL is not set")]
    NoDatabase,
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("applying the migrations")]
    Migration(#[from] MigrationError),
    #[error(
        "DATABASE_URL logs in as {user:?}, which owns the schema or is a superuser; in production \
         the service logs in as a runtime login (a NOINHERIT member of egov_app holding nothing \
         itself) and only EGOV_MIGRATE_DATABASE_URL or `egov migrate` uses the owner"
    )]
    OwnerLogin { user: String },
    #[error("the token keys: {0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    NotInProduction(#[from] crate::settings::NotInProduction),
    #[error(transparent)]
    Adapters(#[from] AdapterError),
    #[error(transparent)]
    ReadSide(#[from] ReadSideError),
    #[error("development mode's stand-ins: {0}")]
    Development(#[from] crate::pages::development::DevelopmentError),
    #[error("binding EGOV_HTTP_ADDR={addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The service, bound and with its background work running; [`App::run`] serves it.
pub struct App {
    port: u16,
    server: Server,
    /// The state's stop signal: long polls answer at once once it is cancelled.
    stopping: CancellationToken,
    in_flight: InFlight,
    background: Background,
}

/// A background task and the token that stops it.
struct Stoppable {
    what: &'static str,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Stoppable {
    fn spawn(
        what: &'static str,
        task: impl FnOnce(CancellationToken) -> JoinHandle<()>,
    ) -> Stoppable {
        let stop = CancellationToken::new();
        Stoppable {
            what,
            task: task(stop.clone()),
            stop,
        }
    }

    /// As [`Stoppable::spawn`], for a task started with a handle of its own (`T`).
    fn spawn_with<T>(
        what: &'static str,
        task: impl FnOnce(CancellationToken) -> (T, JoinHandle<()>),
    ) -> (T, Stoppable) {
        let stop = CancellationToken::new();
        let (handle, task) = task(stop.clone());
        (handle, Stoppable { what, task, stop })
    }

    /// Tells it to stop and waits until it has.
    async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(task = self.what, error = %error, "a background task failed");
        }
    }
}

/// The service's background work.
struct Background {
    workflow: Option<Stoppable>,
    read_audit: Stoppable,
    read_models: (CancellationToken, Vec<Running>),
    relay: Option<Stoppable>,
    /// Signs the log's tree heads (`projections::log_tree::heads`).
    tree_heads: Option<Stoppable>,
    db_watch: Stoppable,
}

impl App {
    /// Builds the service with the production adapters of `settings`.
    ///
    /// # Errors
    /// [`StartError`] naming what cannot be set up.
    pub async fn build(settings: &Settings) -> Result<App, StartError> {
        let db = open(settings).await?;
        let adapters = Adapters::production(settings, &db)?;
        Self::assemble(settings, db, adapters)
    }

    /// Builds the service with `adapters` (fakes, in tests).
    ///
    /// # Errors
    /// As [`App::build`].
    pub async fn build_with(settings: &Settings, adapters: Adapters) -> Result<App, StartError> {
        let db = open(settings).await?;
        Self::assemble(settings, db, adapters)
    }

    fn assemble(settings: &Settings, db: Database, adapters: Adapters) -> Result<App, StartError> {
        let authenticator = authenticator(settings)?;
        // Bound first: a taken address stops the start before anything runs in the background.
        let bind = |source| StartError::Bind {
            addr: settings.http_addr,
            source,
        };
        let listener = TcpListener::bind(settings.http_addr).map_err(bind)?;
        let port = listener.local_addr().map_err(bind)?.port();
        let store = EventStore::new(db.clone());
        let requests = Requests::new(store.clone()).with_sign_within(settings.sign_within);
        let (progress_tx, progress) = tokio::sync::watch::channel(Progress::default());
        let driver = settings
            .workflow
            .then(|| workflow(settings, requests.clone(), &adapters));
        let metrics = Metrics::new(Some(Operations {
            registries: vec![
                ("workflow", adapters.registries.clone()),
                ("social-status", adapters.checks.clone()),
            ],
            workflow: driver.clone(),
        }));
        let (db_watch, db_watch_task) = watch_database(settings, &db, &metrics);
        let (background, read_audit) = Background::start(
            settings,
            &store,
            driver,
            progress_tx,
            db_watch_task,
            &adapters.log,
        )?;
        let stopping = CancellationToken::new();
        let state = AppState {
            centre: Centre::new(requests.clone(), adapters.scans.clone()),
            documents: ResultDocuments::new(db.clone()),
            social_status: SocialStatusChecks::new(store, adapters.checks.clone()),
            read_audit,
            status_view: StatusView::cached(db.pool().clone(), progress.clone()),
            feeds: std::sync::Arc::new(tokio::sync::Semaphore::new(crate::routes::audit::FEEDS)),
            polls: crate::polls::Polls::following(progress),
            metrics,
            status_bodies: state::status_bodies(),
            stopping: stopping.clone(),
            relay: settings.kafka.as_ref().map(|kafka| RelayWatch {
                name: projections::kafka::relay::checkpoint_name(&kafka.topic),
                stuck_after: settings.kafka_stuck_after,
            }),
            outside: state::Outside {
                registries: vec![adapters.registries.clone(), adapters.checks.clone()],
                verifier: adapters.verifier.clone(),
            },
            read_models_stale_after: settings.read_models_stale_after,
            readiness: state::Readiness::default(),
            health_reads: state::HealthReads::default(),
            log_key: adapters.log.verifier(),
            witnesses: settings.witness_keys.clone(),
            tree_nodes: projections::log_tree::UpperNodes::for_serving(),
            requests,
            db,
        };
        let in_flight = InFlight::default();
        let shared = Shared {
            metrics: web::Data::new(state.metrics.clone()),
            state: web::Data::new(state),
            authenticator: web::Data::new(authenticator),
            in_flight: web::Data::new(in_flight.clone()),
            db_watch: web::Data::new(db_watch),
            write_limits: web::Data::new(write_limits(settings)),
            development: Development::in_development(settings, adapters.dev_ca.clone())?
                .map(web::Data::new),
        };
        let server = server::start(listener, shared).map_err(bind)?;
        Ok(App {
            port,
            server,
            stopping,
            in_flight,
            background,
        })
    }

    /// The port the server is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled. Then long polls answer at once, the requests in
    /// flight finish (up to 2 s) before the HTTP workers stop, the workflow finishes its steps in
    /// flight, the reads recorded are appended, the read models stop at a checkpoint, and last the
    /// relay, so that those reads reach the topic too.
    ///
    /// # Errors
    /// An IO error of the server.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let App {
            server,
            stopping,
            in_flight,
            background,
            ..
        } = self;
        let handle = server.handle();
        tokio::pin!(server);
        let served = tokio::select! {
            result = &mut server => result,
            () = shutdown.cancelled() => {
                stopping.cancel();
                if !in_flight.drained(DRAIN_FIRST).await {
                    tracing::warn!(requests = in_flight.count(), "stopping with requests still in flight");
                }
                tracing::info!("shutting down: draining requests");
                // The server future must keep being polled for the stop to complete.
                let (_, result) = tokio::join!(handle.stop(true), &mut server);
                result
            }
        };
        background.stop().await;
        tracing::info!("egov stopped");
        served
    }
}

impl Background {
    /// Starts what `settings` ask for: the workflow (`driver`, when this process runs it), the
    /// read models (the status view's progress to `status_progress`), the relay, and
    /// read-auditing, whose recorder it returns.
    fn start(
        settings: &Settings,
        store: &EventStore,
        driver: Option<Arc<Workflow>>,
        status_progress: tokio::sync::watch::Sender<Progress>,
        db_watch: Stoppable,
        log: &Arc<domain::tree_head::NoteSigner>,
    ) -> Result<(Background, ReadAudit), StartError> {
        let workflow = driver
            .map(|workflow| Stoppable::spawn("workflow", |stop| tokio::spawn(workflow.run(stop))));
        if workflow.is_none() {
            tracing::info!(
                "EGOV_WORKFLOW=off: requests are driven by separate `egov worker` processes"
            );
        }
        let read_models_stop = CancellationToken::new();
        let read_models = read_side::spawn(
            store,
            settings.projections,
            settings.kafka.as_ref(),
            &settings.read_models,
            status_progress,
            &read_models_stop,
        )?;
        if settings.projections != ProjectionSource::Postgres {
            tracing::info!(source = ?settings.projections, "EGOV_PROJECTIONS: the read models are not fed from the log here");
        }
        let relay = settings.kafka.as_ref().map(|kafka| {
            Stoppable::spawn("relay", |stop| {
                read_side::spawn_relay(store, kafka, &stop).1
            })
        });
        // Heads are signed where the tree is kept (from the log, whatever feeds the others).
        let tree_heads = (settings.projections != ProjectionSource::Off
            && settings
                .read_models
                .contains(&projections::ReadModel::LogTree))
        .then(|| {
            Stoppable::spawn("tree heads", |stop| {
                tokio::spawn(projections::log_tree::heads::run(
                    store.database().clone(),
                    log.clone(),
                    settings.tree_head_every,
                    settings.kafka.as_ref().and_then(head_publisher),
                    stop,
                ))
            })
        });
        let audit_stop = CancellationToken::new();
        let (audit, audit_task) = ReadAudit::new(store.clone(), audit_stop.clone());
        let read_audit = Stoppable {
            what: "read-auditing",
            stop: audit_stop,
            task: tokio::spawn(audit_task),
        };
        let background = Background {
            workflow,
            read_audit,
            read_models: (read_models_stop, read_models),
            relay,
            tree_heads,
            db_watch,
        };
        Ok((background, audit))
    }

    async fn stop(self) {
        if let Some(workflow) = self.workflow {
            workflow.stop().await;
        }
        self.read_audit.stop().await;
        if let Some(tree_heads) = self.tree_heads {
            tree_heads.stop().await;
        }
        let (stop, running) = self.read_models;
        stop.cancel();
        read_side::join(running).await;
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        self.db_watch.stop().await;
    }
}

/// Applies the migrations that are missing (as [`Settings::migration_config`] logs in) and opens
/// the pool, whose login must not own the schema in production.
///
/// # Errors
/// [`StartError`] when there is no database URL, the database cannot be migrated, or production
/// logs in as the owner ([`StartError::OwnerLogin`]).
pub async fn open(settings: &Settings) -> Result<Database, StartError> {
    let db_settings = settings.db_settings()?.ok_or(StartError::NoDatabase)?;
    match settings.migration_config()? {
        Some(owner) => {
            event_store::migrate(&owner).await?;
        }
        None => tracing::info!(
            "no EGOV_MIGRATE_DATABASE_URL: the schema is left as it is (`egov migrate` applies \
             the migrations)"
        ),
    }
    let user = db_settings.config.get_user().unwrap_or_default().to_owned();
    let db = Database::connect(db_settings)?;
    if db.login_rights().await?.beyond_runtime() {
        if settings.mode == crate::settings::Mode::Production {
            return Err(StartError::OwnerLogin { user });
        }
        tracing::warn!(
            user,
            "DEVELOPMENT MODE: DATABASE_URL logs in as the schema's owner or a superuser"
        );
    }
    Ok(db)
}

/// The publisher of the signed tree heads to Kafka; none when it cannot be made (logged: the heads
/// are kept in the database either way).
fn head_publisher(
    kafka: &projections::kafka::KafkaSettings,
) -> Option<projections::kafka::heads::HeadPublisher> {
    projections::kafka::heads::HeadPublisher::new(kafka)
        .inspect_err(|error| tracing::error!(error = %error, "tree heads will not go to Kafka"))
        .ok()
}

/// The limits on how often and how much a principal writes.
fn write_limits(settings: &Settings) -> crate::limits::WriteLimits {
    crate::limits::WriteLimits::new(
        settings.writes_per_second,
        settings.write_burst,
        settings.daily_filings,
        settings.daily_filings_staff,
    )
    .with_body_deadline(settings.body_deadline)
}

/// The probe of the database (`crate::db_watch`), its state kept in `metrics`.
fn watch_database(settings: &Settings, db: &Database, metrics: &Metrics) -> (DbWatch, Stoppable) {
    let metrics = metrics.clone();
    Stoppable::spawn_with("database watch", |stop| {
        DbWatch::spawn(
            db.settings().config.clone(),
            settings.db_stall_after,
            move |up| metrics.set_database_up(up),
            stop,
        )
    })
}

/// The token checker: the configured keys, or (in development only) the development key.
fn authenticator(settings: &Settings) -> Result<Authenticator, StartError> {
    let keys = if settings.jwt_public_keys.is_empty() {
        settings.development_only(
            "EGOV_JWT_PUBLIC_KEYS",
            "trusting the development key beside the data directory (tokens from `egov token`)",
        )?;
        let dev = DevKey::load_or_create(&settings.dev_key_path())?;
        vec![dev.verifying_key()?]
    } else {
        let keys = VerifyingKey::load_all(&settings.jwt_public_keys)?;
        tracing::info!(keys = keys.len(), issuer = %settings.jwt_issuer, audience = %settings.jwt_audience, "checking tokens against the configured keys");
        keys
    };
    Ok(Authenticator::new(
        keys,
        settings.jwt_issuer.clone(),
        settings.jwt_audience.clone(),
    ))
}

/// The workflow over `requests` and `adapters` (in `egov serve`, or alone in `egov worker`).
pub fn workflow(settings: &Settings, requests: Requests, adapters: &Adapters) -> Arc<Workflow> {
    Workflow::new(
        requests,
        adapters.verifier.clone(),
        adapters.registries.clone(),
        adapters.provider.clone(),
        WorkflowSettings {
            concurrency: settings.workflow_concurrency,
            lease: settings.workflow_lease,
            ..WorkflowSettings::default()
        },
    )
}
