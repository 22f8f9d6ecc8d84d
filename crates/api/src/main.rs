//! `egov`: the binary. It parses the subcommand, sets up tracing, loads [`Settings`] and calls into
//! the libraries; the work itself lives there.

use std::process::ExitCode;

use anyhow::Context;
use api::embedded_postgres::EmbeddedPostgres;
use api::{bench, telemetry, Application, Settings};
use clap::{Parser, Subcommand};
use commands::{Database, DbSettings, EventStore};
use domain::StreamId;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
    /// Apply the migrations that are not applied yet, then exit.
    Migrate,
    /// Check the hash chains of the event log and name the first altered event of each stream.
    Verify {
        /// Check only this stream (request id).
        #[arg(long, conflicts_with = "all")]
        stream: Option<Uuid>,
        /// Check every stream (the default).
        #[arg(long)]
        all: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
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
        Cmd::Verify { stream, all: _ } => verify(db_settings, stream).await,
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
    commands::db::migrate(&db_settings.config)
        .await
        .context("applying the migrations")?;
    let db = Database::connect(db_settings)?;
    let app = Application::build(settings.http_addr, db)
        .with_context(|| format!("binding EGOV_HTTP_ADDR={}", settings.http_addr))?;
    tracing::info!(addr = %settings.http_addr.ip(), port = app.port(), "egov serving HTTP");
    app.run_until(shutdown.cancelled()).await?;
    tracing::info!("egov stopped");
    Ok(ExitCode::SUCCESS)
}

async fn verify(db_settings: DbSettings, stream: Option<Uuid>) -> anyhow::Result<ExitCode> {
    let store = EventStore::new(Database::connect(db_settings)?);
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
