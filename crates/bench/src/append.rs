//! `egov-bench append`: the event store's throughput and latency, measured against pgbench on the
//! same server in the same run, so the figures compare like with like.
//!
//! Runs in a scratch database created for the run and dropped afterwards: (a) one event per append
//! and (b) ten events per append, each at `writers` concurrent writers for `seconds`; (c) the
//! gap-free reader catching up over everything written; then pgbench at the same concurrency
//! running (a') a one-row INSERT and (b') a ten-row INSERT of the same row shape into a plain table.
//! The last line printed is one JSON object with every figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use domain::{Actor, Channel, Cursor, EventMetadata, StreamId, StreamVersion};
use event_store::{EventStore, NewEvent};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::scratch::{self, connect, BenchError};
use crate::stats::percentile_ms;

/// What the benchmark is asked to do.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// How long each of (a), (b), (a') and (b') runs.
    pub seconds: u64,
    /// Concurrent writers (and pgbench clients).
    pub writers: usize,
    /// The directory holding `pgbench`, if known (the embedded cluster's binaries).
    pub pg_bindir: Option<PathBuf>,
}

/// The figures of one run; serialised as the last line.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub writers: usize,
    pub seconds: u64,
    pub single_events_per_s: f64,
    pub single_p50_ms: f64,
    pub single_p99_ms: f64,
    pub batch_events_per_s: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    pub reader_events_per_s: f64,
    pub reader_events: u64,
    pub pgbench_single_tps: f64,
    pub pgbench_batch_events_per_s: f64,
    pub single_ratio: f64,
    pub batch_ratio: f64,
}

pub(crate) struct Run {
    pub events: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

/// Runs the event store benchmark in the (scratch) database of `config`.
///
/// # Errors
/// [`BenchError`] naming what failed.
pub async fn run(
    config: &tokio_postgres::Config,
    options: &BenchOptions,
) -> Result<BenchReport, BenchError> {
    let store = EventStore::new(scratch::migrated(config, options.writers + 2).await?);
    let seconds = Duration::from_secs(options.seconds);

    eprintln!(
        "(a) 1 event per append, {} writers, {} s ...",
        options.writers, options.seconds
    );
    let single = appends(&store, options.writers, 1, seconds).await?;
    eprintln!(
        "(b) 10 events per append, {} writers, {} s ...",
        options.writers, options.seconds
    );
    let batch = appends(&store, options.writers, 10, seconds).await?;

    eprintln!(
        "(c) the gap-free reader catching up over {} events ...",
        single.events + batch.events
    );
    let started = Instant::now();
    let mut cursor = Cursor::START;
    let mut read = 0u64;
    loop {
        let page = store.read_all(cursor, 5_000).await?;
        if page.events.is_empty() {
            break;
        }
        read += u64::try_from(page.events.len()).unwrap_or(0);
        cursor = page.next;
    }
    let reader_elapsed = started.elapsed();

    eprintln!(
        "(a') and (b') pgbench, {} clients, {} s each ...",
        options.writers, options.seconds
    );
    let client = connect(config).await?;
    client
        .batch_execute(PLAIN_TABLE)
        .await
        .map_err(|e| BenchError::Database("creating the pgbench table", e))?;
    let pgbench = find_pgbench(options.pg_bindir.as_deref());
    let single_tps = pgbench_tps(&pgbench, config, options, &insert_statement(1))?;
    let batch_tps = pgbench_tps(&pgbench, config, options, &insert_statement(10))?;

    let rate = |run: &Run| per_second(run.events, run.elapsed);
    let report = BenchReport {
        writers: options.writers,
        seconds: options.seconds,
        single_events_per_s: rate(&single),
        single_p50_ms: percentile_ms(&single.latencies, 0.50),
        single_p99_ms: percentile_ms(&single.latencies, 0.99),
        batch_events_per_s: rate(&batch),
        batch_p50_ms: percentile_ms(&batch.latencies, 0.50),
        batch_p99_ms: percentile_ms(&batch.latencies, 0.99),
        reader_events_per_s: per_second(read, reader_elapsed),
        reader_events: read,
        pgbench_single_tps: single_tps,
        pgbench_batch_events_per_s: batch_tps * 10.0,
        single_ratio: ratio(rate(&single), single_tps),
        batch_ratio: ratio(rate(&batch), batch_tps * 10.0),
    };
    Ok(report)
}

/// `writers` tasks, each appending `per_append` events at a time to its own streams for `duration`.
pub(crate) async fn appends(
    store: &EventStore,
    writers: usize,
    per_append: u64,
    duration: Duration,
) -> Result<Run, BenchError> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let metadata = EventMetadata {
                    actor: Actor::parse("system:bench").expect("a valid constant actor"),
                    channel: Channel::System,
                    correlation_id: Uuid::now_v7(),
                    causation_id: None,
                };
                let mut latencies = Vec::new();
                let mut events = 0u64;
                let (mut stream, mut version) =
                    (StreamId::from_uuid(Uuid::now_v7()), StreamVersion::EMPTY);
                while Instant::now() < deadline {
                    // Streams stay short, as requests' streams are.
                    if version.get() >= 50 {
                        (stream, version) =
                            (StreamId::from_uuid(Uuid::now_v7()), StreamVersion::EMPTY);
                    }
                    let batch: Vec<NewEvent> = (0..per_append)
                        .map(|i| {
                            NewEvent::new(
                                Uuid::now_v7(),
                                "BenchEventRecorded",
                                1,
                                sample_payload(i),
                            )
                        })
                        .collect::<Result<_, _>>()?;
                    let began = Instant::now();
                    let outcome = store.append(stream, version, &batch, &metadata).await?;
                    latencies.push(began.elapsed());
                    version = outcome.version();
                    events += per_append;
                }
                Ok::<_, BenchError>((events, latencies))
            })
        })
        .collect();
    let mut run = Run {
        events: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (events, latencies) = task.await.map_err(BenchError::Writer)??;
        run.events += events;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

/// A payload of the size of a typical request event (about 150 bytes).
fn sample_payload(i: u64) -> serde_json::Value {
    json!({"service": "pension-fund-statement", "step": i, "registry": "aisgcvp", "outcome": "succeeded", "attempt": 1, "elapsed_ms": 42})
}

/// The reference table: the same columns as `events`, with no key, index, trigger or default.
const PLAIN_TABLE: &str = "CREATE TABLE bench_plain (
    position bigint, tx_id bigint, stream_id uuid, stream_version bigint, event_id uuid,
    event_type text, schema_version integer, payload jsonb, actor text, channel text,
    correlation_id uuid, causation_id uuid, recorded_at timestamptz, hash bytea)";

fn insert_statement(rows: usize) -> String {
    let row = "(:pos, 1, gen_random_uuid(), :pos, gen_random_uuid(), 'BenchEventRecorded', 1, \
        '{\"service\": \"pension-fund-statement\", \"step\": 1, \"registry\": \"aisgcvp\", \"outcome\": \"succeeded\", \"attempt\": 1, \"elapsed_ms\": 42}', \
        E'system\\x3abench', 'system', gen_random_uuid(), NULL, now(), \
        '\\x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff')";
    let values = vec![row; rows].join(", ");
    format!("\\set pos random(1, 1000000000)\nINSERT INTO bench_plain VALUES {values};\n")
}

fn find_pgbench(bindir: Option<&Path>) -> PathBuf {
    let mut candidates: Vec<PathBuf> = bindir.map(|d| d.join("pgbench")).into_iter().collect();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pgbench"))
        .collect();
    debian.sort();
    candidates.extend(debian.into_iter().rev());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("pgbench"))
}

fn pgbench_tps(
    pgbench: &Path,
    config: &tokio_postgres::Config,
    options: &BenchOptions,
    script: &str,
) -> Result<f64, BenchError> {
    let file = std::env::temp_dir().join(format!("egov-bench-{}.sql", Uuid::now_v7().simple()));
    std::fs::write(&file, script).map_err(|e| BenchError::Pgbench(e.to_string()))?;
    let clients = options.writers.to_string();
    let output = Command::new(pgbench)
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients,
            "-j",
            "2",
            "-T",
            &options.seconds.to_string(),
            "-f",
        ])
        .arg(&file)
        .arg(scratch::conninfo(config))
        .output();
    let _ = std::fs::remove_file(&file);
    let output = output
        .map_err(|e| BenchError::Pgbench(format!("cannot run {}: {e}", pgbench.display())))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BenchError::Pgbench(format!(
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    // "tps = 1234.567890 (without initial connection time)"
    text.lines()
        .filter(|l| l.starts_with("tps = "))
        .find_map(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| BenchError::Pgbench(format!("no tps in its output:\n{text}")))
}

pub(crate) fn per_second(events: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        // Event counts of a run stay far below 2^52, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        let events = events as f64;
        events / seconds
    } else {
        0.0
    }
}

pub(crate) fn ratio(ours: f64, reference: f64) -> f64 {
    if reference > 0.0 {
        ours / reference
    } else {
        0.0
    }
}

/// The report as a table for people.
pub fn print_table(report: &BenchReport) {
    println!(
        "egov bench append: {} writers, {} s per run",
        report.writers, report.seconds
    );
    println!(
        "  (a)  1 event/append   {:>10.0} events/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        report.single_events_per_s, report.single_p50_ms, report.single_p99_ms
    );
    println!(
        "  (a') pgbench 1-row    {:>10.0} rows/s    ratio (a)/(a') = {:.2}",
        report.pgbench_single_tps, report.single_ratio
    );
    println!(
        "  (b)  10 events/append {:>10.0} events/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        report.batch_events_per_s, report.batch_p50_ms, report.batch_p99_ms
    );
    println!(
        "  (b') pgbench 10-row   {:>10.0} rows/s    ratio (b)/(b') = {:.2}",
        report.pgbench_batch_events_per_s, report.batch_ratio
    );
    println!(
        "  (c)  gap-free reader  {:>10.0} events/s  over {} events",
        report.reader_events_per_s, report.reader_events
    );
}
