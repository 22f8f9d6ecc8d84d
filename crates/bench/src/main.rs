//! `egov-bench`: the benchmarks of egov-events, each printing a table for people and, as its last
//! line, one JSON object with every figure. Each runs in a scratch database on the server of
//! `DATABASE_URL` (or of the embedded cluster, as `egov` starts it), dropped afterwards.
//!
//! - [`append`]: the event store's throughput and latency against pgbench on the same server;
//! - [`read`]: the status view's rebuild rate and `GET /requests/{number}` under wrk against
//!   `/healthz`, with read-auditing, and the audit feed;
//! - [`workflow`]: requests carried from submission to result per second through the real
//!   workflow, with per-step medians and the status view's lag;
//! - [`relay`]: the Kafka relay's lag and throughput;
//! - [`log`]: the verifiable log: appends with and without the tree, its rebuild rate and storage,
//!   inclusion and consistency proofs;
//! - [`scratch`] (the scratch database) and [`stats`] (percentiles, lags) serve them all.

mod append;
mod log;
mod read;
mod relay;
mod scratch;
mod stats;
mod workflow;

use std::process::ExitCode;

use anyhow::Context;
use api::Settings;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "egov-bench",
    version,
    about = "Benchmarks of egov-events; the last line of each is its figures as JSON"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
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
        /// Rounds of (a citizen's run, an operator's run) that `read_audit_ratio` compares: on a
        /// noisy machine more rounds give a steadier ratio.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
        rounds: u32,
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
    /// The verifiable log: appends with the tree's projector against without, the tree's rebuild
    /// rate and storage per event, inclusion proofs per second, consistency proofs over a large
    /// tree.
    Log(log::LogBenchOptions),
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
    egov::process::run("egov-bench", |settings| async move {
        bench(cli.bench, settings).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs one benchmark against the server of `DATABASE_URL`, or of the embedded cluster.
async fn bench(bench: Bench, settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    // The embedded cluster (when used) lives until the benchmark is done; dropping it stops it.
    let Some((settings, _embedded)) = egov::database::resolve(settings, &shutdown).await? else {
        return Ok(());
    };
    let admin = settings
        .db_settings()?
        .context("no database to run the benchmark in")?
        .config;
    let brokers = settings
        .kafka
        .as_ref()
        .map_or_else(|| "127.0.0.1:9092".to_owned(), |k| k.brokers.clone());
    let pg_bindir = settings.pg_bindir.clone();
    let json = scratch::in_scratch_database(&admin, |config| async move {
        run(bench, &config, brokers, pg_bindir).await
    })
    .await?;
    println!("{json}");
    Ok(())
}

/// Runs `bench` in the scratch database of `config`; its figures as one JSON line.
async fn run(
    bench: Bench,
    config: &tokio_postgres::Config,
    brokers: String,
    pg_bindir: Option<std::path::PathBuf>,
) -> Result<String, scratch::BenchError> {
    let json = match bench {
        Bench::Append { seconds, writers } => {
            let options = append::BenchOptions {
                seconds,
                writers,
                pg_bindir,
            };
            let report = append::run(config, &options).await?;
            append::print_table(&report);
            serde_json::to_string(&report)
        }
        Bench::Log(options) => {
            let report = log::run(config, &options).await?;
            log::print_table(&report);
            serde_json::to_string(&report)
        }
        Bench::Read {
            requests,
            keys,
            seconds,
            connections,
            rounds,
        } => {
            let options = read::ReadBenchOptions {
                requests,
                keys,
                seconds,
                connections,
                rounds: rounds as usize,
            };
            serde_json::to_string(&read::run(config, &options).await?)
        }
        Bench::Workflow {
            seconds,
            clients,
            concurrency,
            rate,
        } => {
            let options = workflow::WorkflowBenchOptions {
                seconds,
                clients,
                concurrency,
                rate,
            };
            let report = workflow::run(config, &options).await?;
            workflow::print_table(&report);
            serde_json::to_string(&report)
        }
        Bench::Relay {
            seconds,
            rate,
            events_per_request,
            backlog,
        } => {
            let options = relay::RelayBenchOptions {
                brokers,
                seconds,
                rate,
                events_per_request,
                backlog,
            };
            let report = relay::run(config, &options).await?;
            relay::print_table(&report);
            serde_json::to_string(&report)
        }
    };
    json.map_err(scratch::failed)
}
