//! `egov-registry-sim`: the registry simulator as its own process (see the `registry_sim` crate).
//!
//! Once bound it prints `listening on <address>` as its first line on stdout (with `--addr
//! 127.0.0.1:0` the port is the one the system gave), so whoever started it knows where it is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use registry_sim::{check_faults, FaultSettings, Registry, Simulator};

#[derive(Parser)]
#[command(
    name = "egov-registry-sim",
    version,
    about = "Synthetic AIS GTsVP, GBD FL, ENIS and MTSZN registries over HTTP, with fault injection"
)]
struct Cli {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// The fixture of synthetic citizens (format in crates/registry_sim/README.md).
    #[arg(long, default_value = "fixtures/registry.json")]
    fixture: PathBuf,
    /// Added latency for every registry answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The share of registry answers that are 503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Answer every registry call with 503.
    #[arg(long)]
    outage: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let faults = FaultSettings {
        latency_ms: cli.latency_ms,
        error_rate: cli.error_rate,
        outage: cli.outage,
    };
    if let Err(reason) = check_faults(&faults) {
        eprintln!("egov-registry-sim: {reason}");
        return ExitCode::from(2);
    }
    let registry = match Registry::load(&cli.fixture) {
        Ok(registry) => registry,
        Err(error) => {
            eprintln!("egov-registry-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let citizens = registry.citizens.len();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("egov-registry-sim: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let simulator = match Simulator::build(cli.addr, registry, faults) {
            Ok(simulator) => simulator,
            Err(error) => {
                eprintln!("egov-registry-sim: cannot bind {}: {error}", cli.addr);
                return ExitCode::FAILURE;
            }
        };
        let addr = SocketAddr::new(cli.addr.ip(), simulator.port());
        println!("listening on {addr}");
        tracing::info!(%addr, citizens, faults = ?faults, "registry simulator serving");
        let stop = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        match simulator.run_until(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("egov-registry-sim: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
