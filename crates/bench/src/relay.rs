//! `egov-bench relay`: the Kafka relay's throughput and the lag from append to a Kafka-sourced
//! projection, against the broker at `brokers`, in a scratch database.
//!
//! 1. **Lag under load.** Requests arrive at `rate` per second, shaped like the workflow's: each is
//!    filed (a real `RequestSubmitted`, so the status view gets its row) and then receives the rest
//!    of its `events_per_request` events in four appends 100 ms apart, as the workflow's steps
//!    do. The relay publishes them and the status view's projector reads them back from the
//!    topic; every event's lag is the time from its append (its recorded time) to the commit of
//!    the projector's batch holding it.
//! 2. **Throughput.** With the relay stopped, a backlog of `backlog` events is written; the relay
//!    is started again and timed until the broker acknowledged all of them.
//!
//! The target of issue 8: the relay keeps up with at least 3 times the event rate of the load.
//! The last line is one JSON object.

use std::time::{Duration, Instant};

use commands::{Requests, Submission};
use domain::{Actor, Channel, EventMetadata, Iin, ServiceCode, StreamId, StreamVersion};
use event_store::{EventStore, NewEvent};
use projections::kafka::relay::RelayProgress;
use projections::kafka::{source, KafkaSettings};
use projections::ReadModel;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::scratch::{failed, migrated, BenchError};
use crate::stats::percentile_ms;

/// What the relay benchmark is asked to do.
#[derive(Debug, Clone)]
pub struct RelayBenchOptions {
    pub brokers: String,
    pub seconds: u64,
    /// Requests per second of the load.
    pub rate: u64,
    /// Events of one request (a pension-fund statement's lifecycle has 12).
    pub events_per_request: u64,
    /// Events written while the relay is stopped, then drained.
    pub backlog: u64,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct RelayBenchReport {
    pub seconds: u64,
    pub rate: u64,
    pub events_per_request: u64,
    /// Events appended per second by the load.
    pub load_events_per_s: f64,
    /// From append to the Kafka-sourced status view, over the events of the measured seconds.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// The backlog drained: from log to acknowledged by the broker.
    pub backlog_events: u64,
    pub relay_events_per_s: f64,
    /// `relay_events_per_s / load_events_per_s` (target: at least 3).
    pub headroom: f64,
}

/// The applicant of every benchmark request.
const APPLICANT: &str = "760324400005";

/// Runs the relay benchmark in the (scratch) database of `config`.
///
/// # Errors
/// [`BenchError`] naming what failed.
pub async fn run(
    config: &tokio_postgres::Config,
    options: &RelayBenchOptions,
) -> Result<RelayBenchReport, BenchError> {
    let db = migrated(config, 24).await?;
    let store = EventStore::new(db.clone());
    let mut kafka = KafkaSettings::new(options.brokers.clone());
    kafka.topic = format!("egov.bench-{}", uuid::Uuid::new_v4().simple());
    kafka.group_prefix = format!("egov-bench-{}", uuid::Uuid::new_v4().simple());

    // Over connections of their own.
    let read_side = EventStore::new(migrated(config, 6).await?);
    let (lags, load_events_per_s) = lag_under_load(&store, &read_side, &kafka, options).await?;
    let (drained, drain_seconds) = drain(&store, read_side, kafka, options.backlog).await?;
    #[allow(clippy::cast_precision_loss)]
    let relay_events_per_s = drained as f64 / drain_seconds;
    let lag_max = lags.iter().max().copied().unwrap_or_default();
    Ok(RelayBenchReport {
        seconds: options.seconds,
        rate: options.rate,
        events_per_request: options.events_per_request,
        load_events_per_s,
        lag_p50_ms: percentile_ms(&lags, 0.5),
        lag_p99_ms: percentile_ms(&lags, 0.99),
        lag_max_ms: lag_max.as_secs_f64() * 1000.0,
        backlog_events: drained,
        relay_events_per_s,
        headroom: relay_events_per_s / load_events_per_s.max(f64::MIN_POSITIVE),
    })
}

/// The lag under load: the relay and the Kafka-sourced status view running while the load is
/// appended; the lag of each event of the measured window, and the events appended per second.
async fn lag_under_load(
    store: &EventStore,
    read_side: &EventStore,
    kafka: &KafkaSettings,
    options: &RelayBenchOptions,
) -> Result<(Vec<Duration>, f64), BenchError> {
    let relay_stop = CancellationToken::new();
    let (relay_progress, relay_watch) = watch::channel(RelayProgress::default());
    let relay = tokio::spawn(projections::kafka::relay::run(
        read_side.clone(),
        kafka.clone(),
        relay_progress,
        relay_stop.clone(),
    ));
    let projector_stop = CancellationToken::new();
    let (applied_tx, mut applied) = mpsc::unbounded_channel();
    let projector = ReadModel::RequestStatus.spawn_from_kafka(
        read_side.database().pool(),
        kafka,
        source::Observers {
            applied: Some(applied_tx),
            progress: None,
        },
        &projector_stop,
    );
    // The topic exists and the projector holds its partitions before the clock starts.
    projections::kafka::ensure_topic(kafka)
        .await
        .map_err(failed)?;
    tokio::time::sleep(Duration::from_secs(3)).await;

    eprintln!(
        "{} requests/s of {} events for {} s (+2 s warm-up) through the relay to {} and back into the status view ...",
        options.rate, options.events_per_request, options.seconds, options.brokers
    );
    let warm_up = Duration::from_secs(2);
    let started = Instant::now();
    let measure_from = chrono::Utc::now() + chrono::Duration::from_std(warm_up).map_err(failed)?;
    let until = started + warm_up + Duration::from_secs(options.seconds);
    let load = tokio::spawn(load(store.clone(), options.clone(), until));
    let appended = load.await.map_err(failed)??;
    let load_seconds = started.elapsed().as_secs_f64();
    // Wait for the projector to take in the tail, then gather the lags of the measured window.
    let end = store.head().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay_watch.borrow().cursor < end && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lags = crate::stats::event_lags(&mut applied, measure_from).lags;
    projector_stop.cancel();
    let _ = projector.await;
    relay_stop.cancel();
    let _ = relay.await;
    #[allow(clippy::cast_precision_loss)]
    let load_events_per_s = appended as f64 / load_seconds;
    eprintln!(
        "lag from append to the Kafka-sourced status view: p50 {:.1} ms, p99 {:.1} ms over {} events ({:.0} events/s appended)",
        percentile_ms(&lags, 0.5),
        percentile_ms(&lags, 0.99),
        lags.len(),
        load_events_per_s
    );
    Ok((lags, load_events_per_s))
}

/// The relay's throughput: a backlog of `events` written with the relay stopped, then drained;
/// the events it published and the seconds it took.
async fn drain(
    store: &EventStore,
    read_side: EventStore,
    kafka: KafkaSettings,
    events: u64,
) -> Result<(u64, f64), BenchError> {
    // 2. Throughput: a backlog written with the relay stopped, then drained.
    eprintln!(
        "writing a backlog of {} events with the relay stopped ...",
        events
    );
    backlog(store, events).await?;
    let head = store.head().await?;
    let relay_stop = CancellationToken::new();
    let (relay_progress, mut relay_watch) = watch::channel(RelayProgress::default());
    let drain_started = Instant::now();
    let relay = tokio::spawn(projections::kafka::relay::run(
        read_side,
        kafka,
        relay_progress,
        relay_stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if relay_watch.borrow().cursor >= head {
            break;
        }
        if Instant::now() > deadline {
            return Err(failed(
                "the relay did not drain the backlog within 10 minutes",
            ));
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), relay_watch.changed()).await;
    }
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let drained = relay_watch.borrow().events;
    relay_stop.cancel();
    let _ = relay.await;
    Ok((drained, drain_seconds))
}

fn metadata(stream: StreamId) -> Result<EventMetadata, BenchError> {
    Ok(EventMetadata {
        actor: Actor::system("bench-relay").map_err(failed)?,
        channel: Channel::System,
        correlation_id: stream.as_uuid(),
        causation_id: None,
    })
}

/// Events of one step: `count` of them, with a payload the size of a lookup's answer.
fn step_events(count: u64, step: u64) -> Result<Vec<NewEvent>, BenchError> {
    (0..count)
        .map(|n| {
            NewEvent::new(
                uuid::Uuid::new_v4(),
                "BenchStepRecorded",
                1,
                serde_json::json!({
                    "step": step, "n": n,
                    "lookup": "fund-movements", "attempt": 1,
                    "answer": {"status": "found", "data": {"period": "2023", "amount": "1234567.89"}}
                }),
            )
            .map_err(failed)
        })
        .collect()
}

/// Files `rate` requests a second until `until`; returns the events appended.
async fn load(
    store: EventStore,
    options: RelayBenchOptions,
    until: Instant,
) -> Result<u64, BenchError> {
    let requests = Requests::new(store.clone());
    let applicant = Iin::parse(APPLICANT).map_err(failed)?;
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let rest = options.events_per_request.saturating_sub(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut appended = 0;
    while Instant::now() < until {
        ticker.tick().await;
        let requests = requests.clone();
        let store = store.clone();
        let applicant = applicant.clone();
        tasks.spawn(async move {
            let submitted = requests
                .submit(Submission::on_portal(
                    ServiceCode::PensionFundStatement,
                    applicant,
                    serde_json::json!({}),
                ))
                .await?;
            let stream = StreamId::from_uuid(submitted.info.request_id);
            let metadata = metadata(stream)?;
            let mut version = submitted.version;
            let mut appended = 1u64;
            // The rest in four steps, 100 ms apart, as the workflow's steps come.
            for step in 0..4u64 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let count = rest / 4 + u64::from(step < rest % 4);
                if count == 0 {
                    continue;
                }
                let events = step_events(count, step)?;
                store.append(stream, version, &events, &metadata).await?;
                version = version
                    .advanced_by(count)
                    .ok_or_else(|| failed("stream version overflow"))?;
                appended += count;
            }
            Ok::<_, BenchError>(appended)
        });
        // Collect what has finished, so that the set stays small.
        while let Some(done) = tasks.try_join_next() {
            appended += done.map_err(failed)??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        appended += done.map_err(failed)??;
    }
    Ok(appended)
}

/// Writes `events` events, 10 to an append, from 8 writers.
async fn backlog(store: &EventStore, events: u64) -> Result<(), BenchError> {
    let mut tasks = tokio::task::JoinSet::new();
    let per_writer = events / 8;
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut written = 0;
            while written < per_writer {
                let stream = StreamId::from_uuid(uuid::Uuid::new_v4());
                let metadata = metadata(stream)?;
                let mut version = StreamVersion::EMPTY;
                for step in 0..3 {
                    let count = (per_writer - written).min(10);
                    if count == 0 {
                        break;
                    }
                    store
                        .append(stream, version, &step_events(count, step)?, &metadata)
                        .await?;
                    version = version
                        .advanced_by(count)
                        .ok_or_else(|| failed("stream version overflow"))?;
                    written += count;
                }
            }
            Ok::<_, BenchError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(failed)??;
    }
    Ok(())
}

/// The report as lines for people.
pub fn print_table(report: &RelayBenchReport) {
    eprintln!(
        "relay: {:.0} events/s from log to acknowledged ({} events drained); the load appends {:.0} events/s ({} requests/s x {} events): headroom {:.1}x (target 3x)",
        report.relay_events_per_s,
        report.backlog_events,
        report.load_events_per_s,
        report.rate,
        report.events_per_request,
        report.headroom
    );
    eprintln!(
        "append -> Kafka-sourced status view: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.lag_p50_ms, report.lag_p99_ms, report.lag_max_ms
    );
}
