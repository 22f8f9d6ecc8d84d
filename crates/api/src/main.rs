//! `egov`: the binary. It parses the subcommand, sets up tracing, loads [`Settings`] and calls into
//! the libraries; the work itself lives there.

use std::process::ExitCode;

use anyhow::Context;
use api::auth::{Authenticator, Claims, DevKey, Role, VerifyingKey};
use api::embedded_postgres::EmbeddedPostgres;
use api::settings::ProjectionSource;
use api::{bench, read_side, telemetry, Application, Settings};
use clap::{Parser, Subcommand};
use commands::{Database, DbSettings, EventStore};
use domain::StreamId;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a stopping server waits for the requests in flight before it stops its workers (which
/// then drain what is left within their own shutdown timeout).
const DRAIN_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Parser)]
#[command(
    name = "egov",
    version,
    about = "Kazakhstan's social e-government services as an event-sourced system"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the HTTP API (applies the migrations first; starts the embedded PostgreSQL when no
    /// DATABASE_URL is set).
    Serve,
    /// Run only the workflow (signature checks, registry lookups, results, timers) until stopped;
    /// several workers may run beside `egov serve` (with EGOV_WORKFLOW=off there).
    Worker,
    /// Publish every event of the log, in order, to the Kafka topic until stopped (needs
    /// EGOV_KAFKA_BROKERS; `egov serve` runs the relay itself when that is set).
    Relay,
    /// Apply the migrations that are not applied yet, then exit.
    Migrate,
    /// Check the hash chains of the event log and name the first altered event of each stream.
    Verify {
        /// Check only this stream (request id).
        #[arg(long, conflicts_with_all = ["all", "request"])]
        stream: Option<Uuid>,
        /// Check only the request with this number.
        #[arg(long, conflicts_with = "all")]
        request: Option<String>,
        /// Check every stream (the default).
        #[arg(long)]
        all: bool,
    },
    /// Replay every read model from the log and compare it with the stored one; exit 4 and list
    /// the differing rows when they differ.
    Replay {
        /// Compare only (the one mode there is: nothing is written).
        #[arg(long, required = true)]
        check: bool,
        /// Where the stored read models were fed from: `postgres` replays up to each one's
        /// checkpoint, `kafka` the whole log (run it once the projectors have caught up).
        #[arg(long, value_enum, default_value = "postgres")]
        source: ProjectionSource,
    },
    /// Print a development token signed with the development key (development mode only).
    Token {
        /// The role the token carries.
        #[arg(long, value_enum)]
        role: api::auth::Role,
        /// The subject: a citizen's IIN, an operator's id, ...
        #[arg(long)]
        sub: String,
        /// How long the token is valid, e.g. 1h, 30m, 90s.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The organisation (service centre, medical organisation).
        #[arg(long)]
        org: Option<String>,
    },
    /// Read models: rebuild one from the first event, or show where each stands.
    Projections {
        #[command(subcommand)]
        what: ProjectionsCmd,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum ProjectionsCmd {
    /// Rebuild a read model from the first event into a shadow table and swap it in.
    Rebuild {
        /// The read model, e.g. request_status.
        name: String,
    },
    /// Each projector's checkpoint and lag (and the relay's, and the Kafka offsets), as JSON.
    Status,
    /// Run projectors until stopped, beside `egov serve` (with EGOV_PROJECTIONS=off there). With
    /// `--source kafka` several processes share the topic's partitions in a consumer group.
    Run {
        /// Where the events come from.
        #[arg(long, value_enum, default_value = "postgres")]
        source: api::settings::ProjectionSource,
        /// Only this read model (request_status, data_access or analytics).
        #[arg(long)]
        only: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// The read side: rebuild rate of the status view, and `GET /requests/{number}` under wrk
    /// against `/healthz` in the same run.
    Read {
        /// Requests written (5 events each) before measuring.
        #[arg(long, default_value_t = 200_000)]
        requests: u64,
        /// Distinct requests the load asks for, spread over all written.
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// Seconds for each wrk run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// wrk connections.
        #[arg(long, default_value_t = 64)]
        connections: u32,
    },
    /// Requests carried from submission to result per second through the real workflow (simulator
    /// at 0 ms, a local OCSP responder), the p50/p99 from signature to result, per-step medians.
    Workflow {
        /// Seconds measured (after a 2 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Citizens filing at once, each waiting for its result before filing again.
        #[arg(long, default_value_t = 256)]
        clients: usize,
        /// Requests the workflow drives at once.
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        /// File this many requests per second in all (paced) instead of as fast as they end.
        #[arg(long)]
        rate: Option<u64>,
    },
    /// The Kafka relay: lag from append to a Kafka-sourced status view under a workflow-shaped
    /// load, and its throughput draining a backlog (the broker at EGOV_KAFKA_BROKERS, default
    /// 127.0.0.1:9092; `bash scripts/kafka.sh start` starts one).
    Relay {
        /// Seconds of load measured (after a 2 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Requests per second of the load.
        #[arg(long, default_value_t = 300)]
        rate: u64,
        /// Events per request.
        #[arg(long, default_value_t = 12)]
        events_per_request: u64,
        /// Events of the backlog drained to measure throughput.
        #[arg(long, default_value_t = 200_000)]
        backlog: u64,
    },
    /// Append throughput and latency against a pgbench reference, and the reader's catch-up rate.
    Append {
        /// Seconds for each measured run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent writers (and pgbench clients).
        #[arg(long, default_value_t = 16)]
        writers: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("egov: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("egov: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "egov failed");
            eprintln!("egov: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Cmd, settings: Settings) -> anyhow::Result<ExitCode> {
    if let Cmd::Token {
        role,
        sub,
        ttl,
        org,
    } = &command
    {
        return token(&settings, *role, sub, ttl, org.clone());
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    // The embedded cluster (when used) lives until the subcommand is done; dropping it stops it.
    let Some((url, embedded)) = database(&settings, &shutdown).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut db_settings = DbSettings::from_url(&url)?;
    db_settings.pool_size = settings.db_pool_size;
    db_settings.statement_timeout = settings.db_statement_timeout;
    db_settings.app_role.clone_from(&settings.db_role);
    let outcome = match command {
        Cmd::Serve => serve(&settings, db_settings, &shutdown).await,
        Cmd::Worker => worker(&settings, db_settings, &shutdown).await,
        Cmd::Relay => relay(&settings, db_settings, &shutdown).await,
        Cmd::Migrate => {
            let applied = commands::db::migrate(&db_settings.config).await?;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none (up to date)".into()
                } else {
                    format!("{applied:?}")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify {
            stream,
            request,
            all: _,
        } => verify(db_settings, stream, request).await,
        Cmd::Token { .. } => Ok(ExitCode::SUCCESS),
        Cmd::Projections { what } => projections_cmd(&settings, db_settings, what, &shutdown).await,
        Cmd::Replay { check: _, source } => replay_check(db_settings, source).await,
        Cmd::Bench {
            what:
                BenchCmd::Read {
                    requests,
                    keys,
                    seconds,
                    connections,
                },
        } => {
            let options = api::bench_read::ReadBenchOptions {
                requests,
                keys,
                seconds,
                connections,
            };
            let report = api::bench_read::run(&db_settings.config, &options).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            what:
                BenchCmd::Workflow {
                    seconds,
                    clients,
                    concurrency,
                    rate,
                },
        } => {
            let options = api::bench_workflow::WorkflowBenchOptions {
                seconds,
                clients,
                concurrency,
                rate,
            };
            let report = api::bench_workflow::run(&db_settings.config, &options).await?;
            api::bench_workflow::print_table(&report);
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            what:
                BenchCmd::Relay {
                    seconds,
                    rate,
                    events_per_request,
                    backlog,
                },
        } => {
            let options = api::bench_relay::RelayBenchOptions {
                brokers: settings
                    .kafka
                    .as_ref()
                    .map_or_else(|| "127.0.0.1:9092".to_owned(), |k| k.brokers.clone()),
                seconds,
                rate,
                events_per_request,
                backlog,
            };
            let report = api::bench_relay::run(&db_settings.config, &options).await?;
            api::bench_relay::print_table(&report);
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            what: BenchCmd::Append { seconds, writers },
        } => {
            let options = bench::BenchOptions {
                seconds,
                writers,
                pg_bindir: settings.pg_bindir.clone(),
            };
            let report = bench::run(&db_settings.config, &options).await?;
            bench::print_table(&report);
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    };
    if let Some(embedded) = embedded {
        embedded
            .stop()
            .context("stopping the embedded PostgreSQL")?;
    }
    outcome
}

/// The database URL to use, starting the embedded cluster when none is configured. `None` when a
/// stop signal came first.
async fn database(
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<(String, Option<EmbeddedPostgres>)>> {
    if let Some(url) = &settings.database_url {
        return Ok(Some((url.clone(), None)));
    }
    tracing::info!(data_dir = %settings.data_dir.display(), "no DATABASE_URL: using the embedded PostgreSQL");
    let start = EmbeddedPostgres::start(&settings.data_dir, settings.pg_bindir.as_deref());
    tokio::select! {
        started = start => {
            let embedded = started.context("starting the embedded PostgreSQL")?;
            Ok(Some((embedded.url(), Some(embedded))))
        }
        () = shutdown.cancelled() => Ok(None),
    }
}

async fn serve(
    settings: &Settings,
    db_settings: DbSettings,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let db = open(db_settings).await?;
    let auth = authenticator(settings)?;
    let (registry_url, simulator) = registry(settings, shutdown)?;
    tracing::info!(registry = %registry_url, "registries");
    let store = EventStore::new(db.clone());
    let requests = commands::Requests::new(store.clone());
    let workflow_stop = CancellationToken::new();
    let workflow = if settings.workflow {
        let workflow = api::workers::build(settings, requests.clone(), &registry_url)?;
        Some(tokio::spawn(workflow.run(workflow_stop.clone())))
    } else {
        tracing::info!(
            "EGOV_WORKFLOW=off: requests are driven by separate `egov worker` processes"
        );
        None
    };
    let (progress_tx, progress) = tokio::sync::watch::channel(projections::Progress::default());
    let projectors_stop = CancellationToken::new();
    let projectors = read_side::spawn_projectors(
        &store,
        settings.projections,
        settings.kafka.as_ref(),
        None,
        progress_tx,
        &projectors_stop,
    )?;
    if settings.projections != ProjectionSource::Postgres {
        tracing::info!(source = ?settings.projections, "EGOV_PROJECTIONS: the read models are not fed from the log here");
    }
    let relay_stop = CancellationToken::new();
    let relay = settings
        .kafka
        .as_ref()
        .map(|kafka| read_side::spawn_relay(&store, kafka, &relay_stop));
    let audit_stop = CancellationToken::new();
    let (read_audit, audit_task) =
        api::read_audit::ReadAudit::new(store.clone(), audit_stop.clone());
    let audit_task = tokio::spawn(audit_task);
    let state = actix_web::web::Data::new(
        api::state::AppState::new(
            db.clone(),
            auth,
            progress,
            &registry_url,
            read_audit,
            shutdown.clone(),
        )?
        .with_relay(settings.kafka.as_ref().map(|kafka| api::state::RelayWatch {
            name: projections::kafka::relay::checkpoint_name(&kafka.topic),
            stuck_after: settings.kafka_stuck_after,
        })),
    );
    let in_flight = state.in_flight.clone();
    let app = Application::build(settings.http_addr, state)
        .with_context(|| format!("binding EGOV_HTTP_ADDR={}", settings.http_addr))?;
    tracing::info!(addr = %settings.http_addr.ip(), port = app.port(), "egov serving HTTP");
    // On a stop, long polls answer at once (they watch the same token); the workers stop once the
    // requests in flight are done (see `api::drain`), or after a moment if clients keep sending.
    app.run_until(async {
        shutdown.cancelled().await;
        if !in_flight.drained(DRAIN_FIRST).await {
            tracing::warn!(
                requests = in_flight.count(),
                "stopping with requests still in flight"
            );
        }
    })
    .await?;
    // The workflow finishes the steps in flight before the simulator it may be calling stops.
    workflow_stop.cancel();
    if let Some(workflow) = workflow {
        if let Err(error) = workflow.await {
            tracing::error!(error = %error, "the workflow task failed");
        }
    }
    if let Some(simulator) = simulator {
        let _ = simulator.await;
    }
    // In-flight requests are done: the reads they recorded are appended, then the projectors stop
    // between batches, at a checkpoint.
    audit_stop.cancel();
    if let Err(error) = audit_task.await {
        tracing::error!(error = %error, "the read-auditing task failed");
    }
    projectors_stop.cancel();
    read_side::join(projectors).await;
    // Last, so that the reads recorded above reach the topic too (when the broker is there).
    relay_stop.cancel();
    if let Some((_, relay)) = relay {
        if let Err(error) = relay.await {
            tracing::error!(error = %error, "the relay task failed");
        }
    }
    tracing::info!("egov stopped");
    Ok(ExitCode::SUCCESS)
}

/// Applies the migrations that are missing and opens the pool.
async fn open(db_settings: DbSettings) -> anyhow::Result<Database> {
    commands::db::migrate(&db_settings.config)
        .await
        .context("applying the migrations")?;
    Ok(Database::connect(db_settings)?)
}

/// `egov worker`: the workflow alone, until SIGINT/SIGTERM.
async fn worker(
    settings: &Settings,
    db_settings: DbSettings,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let db = open(db_settings).await?;
    let simulator_stop = CancellationToken::new();
    let (registry_url, simulator) = registry(settings, &simulator_stop)?;
    tracing::info!(registry = %registry_url, "registries");
    let requests = commands::Requests::new(EventStore::new(db));
    let workflow = api::workers::build(settings, requests, &registry_url)?;
    workflow.run(shutdown.clone()).await;
    simulator_stop.cancel();
    if let Some(simulator) = simulator {
        let _ = simulator.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `egov relay`: the Kafka relay alone, until SIGINT/SIGTERM.
async fn relay(
    settings: &Settings,
    db_settings: DbSettings,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let Some(kafka) = &settings.kafka else {
        anyhow::bail!("egov relay needs EGOV_KAFKA_BROKERS (host:port of the Kafka brokers)");
    };
    let store = EventStore::new(open(db_settings).await?);
    let (_progress, task) = read_side::spawn_relay(&store, kafka, shutdown);
    task.await.context("the relay task failed")?;
    Ok(ExitCode::SUCCESS)
}

/// The in-process registry simulator, running until the server stops.
type SimulatorTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// The registries' URL: `EGOV_REGISTRY_URL`, or the simulator started here with the shipped
/// fixture (stopped with the server).
fn registry(
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<(String, Option<SimulatorTask>)> {
    if let Some(url) = &settings.registry_url {
        return Ok((url.clone(), None));
    }
    let registry = api::registry_sim::Registry::built_in()?;
    let simulator = api::registry_sim::Simulator::build(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        registry,
        api::registry_sim::FaultSettings {
            latency_ms: 0,
            error_rate: 0.0,
            outage: false,
        },
    )
    .context("starting the registry simulator")?;
    let url = format!("http://127.0.0.1:{}", simulator.port());
    tracing::warn!(url = %url, "no EGOV_REGISTRY_URL: serving the registry simulator with the shipped synthetic citizens");
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { simulator.run_until(stop.cancelled_owned()).await });
    Ok((url, Some(task)))
}

/// The token checker: the configured keys, or the development key with a warning.
fn authenticator(settings: &Settings) -> anyhow::Result<Authenticator> {
    let keys = if settings.jwt_public_keys.is_empty() {
        let dev = DevKey::load_or_create(&settings.dev_key_path())?;
        tracing::warn!(
            key = %dev.path().display(),
            "DEVELOPMENT MODE: EGOV_JWT_PUBLIC_KEYS is not set; trusting the development key (get tokens with `egov token`)"
        );
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

fn token(
    settings: &Settings,
    role: Role,
    sub: &str,
    ttl: &str,
    org: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !settings.jwt_public_keys.is_empty() {
        anyhow::bail!("EGOV_JWT_PUBLIC_KEYS is set: tokens come from the identity provider, not from `egov token`");
    }
    let ttl = api::settings::parse_duration_with_hours(ttl).ok_or_else(|| {
        anyhow::anyhow!("--ttl {ttl:?}: expected a duration such as 1h, 30m or 90s")
    })?;
    let dev = DevKey::load_or_create(&settings.dev_key_path())?;
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        role,
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone(),
        exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        nbf: Some(now),
        iat: Some(now),
        org,
    };
    println!("{}", dev.sign(&claims)?);
    Ok(ExitCode::SUCCESS)
}

async fn projections_cmd(
    settings: &Settings,
    db_settings: DbSettings,
    what: ProjectionsCmd,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let db = open(db_settings).await?;
    match what {
        ProjectionsCmd::Run { source, only } => {
            let store = EventStore::new(db);
            let running = read_side::spawn_projectors(
                &store,
                source,
                settings.kafka.as_ref(),
                only.as_deref(),
                tokio::sync::watch::channel(projections::Progress::default()).0,
                shutdown,
            )?;
            read_side::join(running).await;
        }
        ProjectionsCmd::Rebuild { name } => {
            if name != projections::RequestStatusProjector::NAME {
                anyhow::bail!(
                    "no read model is called {name:?}; there is: {}",
                    projections::RequestStatusProjector::NAME
                );
            }
            let store = EventStore::new(db);
            let report = projections::rebuild(&store, &projections::RequestStatusProjector).await?;
            eprintln!(
                "rebuilt {}: {} events in {:.2} s ({:.0} events/s), swap held the lock {:.1} ms",
                report.name,
                report.events,
                report.seconds,
                report.events_per_second,
                report.swap_ms
            );
            println!("{}", serde_json::to_string(&report)?);
        }
        ProjectionsCmd::Status => {
            let mut lags = Vec::new();
            for name in read_side::READ_MODELS {
                lags.push(projections::checkpoint::lag(db.pool(), name).await?);
            }
            let Some(kafka) = &settings.kafka else {
                println!("{}", serde_json::to_string(&lags)?);
                return Ok(ExitCode::SUCCESS);
            };
            let relay_name = projections::kafka::relay::checkpoint_name(&kafka.topic);
            let relay = projections::checkpoint::lag(db.pool(), &relay_name).await?;
            let mut offsets = serde_json::Map::new();
            for name in read_side::READ_MODELS {
                let stored =
                    projections::kafka::source::offsets(db.pool(), name, &kafka.topic).await?;
                offsets.insert(name.to_owned(), serde_json::to_value(stored)?);
            }
            println!(
                "{}",
                serde_json::json!({ "projectors": lags, "relay": relay, "kafka_offsets": offsets })
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `egov replay --check`.
async fn replay_check(
    db_settings: DbSettings,
    source: ProjectionSource,
) -> anyhow::Result<ExitCode> {
    let store = EventStore::new(open(db_settings).await?);
    let through = match source {
        ProjectionSource::Kafka => projections::Through::End,
        ProjectionSource::Postgres | ProjectionSource::Off => projections::Through::Checkpoint,
    };
    let reports = [
        projections::check(
            &store,
            &projections::RequestStatusProjector,
            "stream_id",
            through,
        )
        .await?,
        projections::check(
            &store,
            &projections::DataAccessProjector,
            "event_id",
            through,
        )
        .await?,
    ];
    println!("{}", serde_json::to_string_pretty(&reports)?);
    let mut consistent = true;
    for report in &reports {
        if report.is_consistent() {
            eprintln!(
                "{}: {} rows match the replay of {} events",
                report.name, report.rows, report.events
            );
        } else {
            consistent = false;
            for difference in &report.differences {
                eprintln!("DIFFERS: {} {}", report.name, difference.key);
            }
        }
    }
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}

async fn verify(
    db_settings: DbSettings,
    stream: Option<Uuid>,
    request: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = EventStore::new(Database::connect(db_settings)?);
    let stream = match request {
        Some(number) => {
            let parsed = domain::RequestNumber::parse(&number)
                .map_err(|e| anyhow::anyhow!("--request {number:?}: {e}"))?;
            let found = commands::Requests::new(store.clone()).find(&parsed).await?;
            Some(
                found
                    .ok_or_else(|| anyhow::anyhow!("no request has the number {number}"))?
                    .as_uuid(),
            )
        }
        None => stream,
    };
    let report = match stream {
        Some(id) => store.verify_stream(StreamId::from_uuid(id)).await?,
        None => store.verify_all().await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.is_intact() {
        eprintln!(
            "intact: {} events in {} streams",
            report.events, report.streams
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for broken in &report.breaks {
            eprintln!("BROKEN: {broken}");
        }
        Ok(ExitCode::from(3))
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn stop_on_signal(token: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
    token.cancel();
}
