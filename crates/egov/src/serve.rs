//! The long-running subcommands: `egov serve` (everything), `egov worker` (the workflow alone),
//! `egov relay` (the Kafka relay alone), each until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use api::{Adapters, App, Settings};
use commands::Requests;
use event_store::EventStore;
use registry_sim::{Background, FaultSettings, Simulator};
use tokio_util::sync::CancellationToken;

/// `egov serve`: the HTTP API with the workflow, the read models, read-auditing and the relay.
/// Once bound it prints `listening on <address>` as its first line on stdout (with port 0 in
/// `EGOV_HTTP_ADDR`, the port the system gave), so whoever started it knows where it is.
pub async fn serve(settings: &Settings, shutdown: &CancellationToken) -> anyhow::Result<ExitCode> {
    let (settings, simulator) = with_registries(settings)?;
    let app = App::build(&settings).await?;
    let addr = SocketAddr::new(settings.http_addr.ip(), app.port());
    tracing::info!(%addr, "egov serving HTTP");
    announce(addr);
    app.run(shutdown.clone()).await?;
    // Stopped after the workflow, which may be calling it until its last step in flight.
    if let Some(simulator) = simulator {
        simulator.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `egov worker`: the workflow alone.
pub async fn worker(settings: &Settings, shutdown: &CancellationToken) -> anyhow::Result<ExitCode> {
    let (settings, simulator) = with_registries(settings)?;
    let db = api::app::open(&settings).await?;
    let adapters = Adapters::production(&settings, &db)?;
    let requests = Requests::new(EventStore::new(db));
    api::app::workflow(&settings, requests, &adapters)
        .run(shutdown.clone())
        .await;
    if let Some(simulator) = simulator {
        simulator.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `egov relay`: the Kafka relay alone.
pub async fn relay(settings: &Settings, shutdown: &CancellationToken) -> anyhow::Result<ExitCode> {
    let Some(kafka) = &settings.kafka else {
        anyhow::bail!("egov relay needs EGOV_KAFKA_BROKERS (host:port of the Kafka brokers)");
    };
    let store = EventStore::new(api::app::open(settings).await?);
    let (_progress, task) = api::read_side::spawn_relay(&store, kafka, shutdown);
    task.await.context("the relay task failed")?;
    Ok(ExitCode::SUCCESS)
}

/// `settings` with the registries to use: `EGOV_REGISTRY_URL`, or the simulator started here with
/// the shipped synthetic citizens (stopped when the returned handle is).
fn with_registries(settings: &Settings) -> anyhow::Result<(Settings, Option<Background>)> {
    if settings.registry_url.is_some() {
        return Ok((settings.clone(), None));
    }
    settings.development_only(
        "EGOV_REGISTRY_URL",
        "serving the registry simulator with the shipped synthetic citizens",
    )?;
    let simulator = Simulator::spawn(FaultSettings {
        latency_ms: 0,
        error_rate: 0.0,
        outage: false,
    })
    .context("starting the registry simulator")?;
    tracing::info!(url = %simulator.url(), "the registry simulator listens");
    let mut settings = settings.clone();
    settings.registry_url = Some(simulator.url().to_owned());
    settings.test_citizens = test_citizens()?;
    Ok((settings, Some(simulator)))
}

/// The simulator's synthetic citizens, for development mode's sign-in to offer.
fn test_citizens() -> anyhow::Result<Vec<(domain::Iin, String)>> {
    let registry = registry_sim::fixture::Registry::built_in()?;
    let mut citizens: Vec<_> = registry
        .citizens
        .values()
        .map(|c| (c.iin.clone(), format!("{} {}", c.last_name, c.first_name)))
        .collect();
    citizens.sort();
    Ok(citizens)
}

/// Tells whoever started the process where it listens (stdout is otherwise unused: logs go to
/// stderr).
fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout only means that nobody listens for the address.
    let _ = writeln!(stdout, "listening on {addr}");
    let _ = stdout.flush();
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn stop_on_signal(token: CancellationToken) {
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
