//! `egov-bench workflow`: requests carried from submission to result per second, end to end, and
//! the time from signature to result. In a scratch database, with the registry simulator at 0 ms
//! latency and `openssl ocsp` over a test CA as the OCSP responder, it runs the real workflow (the
//! feeder, the workers, the OpenSSL verifier, the HTTP registries, the provider's CMS signature)
//! while `clients` simulated citizens each file a pension-fund statement, sign it with a real CMS
//! signature and wait for the result, again and again, for `seconds`. The times come from the
//! events' own recorded times; the per-step medians show where the time goes. The last line is one
//! JSON object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use commands::adapters::nca::OpensslVerifier;
use commands::adapters::registries::{BreakerSettings, HttpRegistries, RetryPolicy};
use commands::results::ProviderKey;
use commands::workflow::{Workflow, WorkflowSettings};
use commands::{Requests, Submission};
use domain::request::EventType;
use domain::{Actor, Channel, Cursor, Iin, ServiceCode};
use event_store::EventStore;
use event_store::SubscriptionOptions;
use serde::Serialize;
use testkit::pki::{Algorithm, Pki};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::scratch::{connect, in_scratch_database, BenchError};
use crate::stats::{event_lags, percentile_ms};
use projections::ReadModel;
use registry_sim::{FaultSettings, Registry, Simulator};

/// The applicant of every benchmark request (in the shipped fixture, with a SIK and movements).
const APPLICANT: &str = "760324400005";

/// What the workflow benchmark is asked to do.
#[derive(Debug, Clone)]
pub struct WorkflowBenchOptions {
    pub seconds: u64,
    /// Citizens filing at once, each waiting for their result before filing again.
    pub clients: usize,
    /// Requests the workflow drives at once.
    pub concurrency: usize,
    /// Requests filed per second, all clients together; `None`: each client files again as soon
    /// as its last request ended (as fast as the workflow goes).
    pub rate: Option<u64>,
}

/// The median time of each step, in milliseconds, from the events' recorded times.
#[derive(Debug, Serialize)]
pub struct StepTimes {
    /// Signed -> signature verified (CMS, chain, OCSP round trip).
    pub verify_ms: f64,
    /// Each lookup, asked -> answered (an HTTP call to the simulator, and two appends).
    pub lookup_iin_ms: f64,
    pub lookup_sik_ms: f64,
    pub lookup_fund_movements_ms: f64,
    /// Last answer -> result issued (compose, CMS sign, store the document, append).
    pub issue_ms: f64,
    /// Submitted -> signed (the client's share: building and sending its signature).
    pub client_sign_ms: f64,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct WorkflowBenchReport {
    pub seconds: u64,
    pub clients: usize,
    pub concurrency: usize,
    /// The paced filing rate, if one was asked for.
    pub rate: Option<u64>,
    pub completed: u64,
    pub refused: u64,
    pub requests_per_s: f64,
    pub events_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub steps: StepTimes,
    /// How far the status view stood behind the log while the workflow ran (sampled every
    /// 100 ms): p99, in milliseconds.
    pub status_lag_p99_ms: f64,
    /// The same for the analytics projection.
    pub analytics_lag_p99_ms: f64,
    /// Per event of the measured seconds: from its recorded time to the commit of the status
    /// view's batch holding it.
    pub status_event_lag_p50_ms: f64,
    pub status_event_lag_p99_ms: f64,
    /// The same for the analytics projection.
    pub analytics_event_lag_p99_ms: f64,
    /// Of the status view's lag: from recorded to read by the projector, per event.
    pub status_event_wait_p50_ms: f64,
    pub status_event_wait_p99_ms: f64,
    /// Of the status view's lag: from read to committed, per batch.
    pub status_batch_apply_p50_ms: f64,
    pub status_batch_apply_p99_ms: f64,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowBenchError {
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error("cannot prepare the scratch database")]
    Db(#[from] event_store::DbError),
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Command(#[from] commands::CommandError),
    #[error(transparent)]
    Result(#[from] commands::results::ResultError),
    #[error("{0}")]
    Setup(String),
}

fn setup(e: impl std::fmt::Display) -> WorkflowBenchError {
    WorkflowBenchError::Setup(e.to_string())
}

/// Runs the workflow benchmark on the server of `admin`.
///
/// # Errors
/// [`WorkflowBenchError`] naming what failed; the scratch database is dropped in any case.
pub async fn run(
    admin: &tokio_postgres::Config,
    options: &WorkflowBenchOptions,
) -> Result<WorkflowBenchReport, WorkflowBenchError> {
    in_scratch_database(
        admin,
        |config| async move { run_in(&config, options).await },
    )
    .await?
}

async fn run_in(
    config: &tokio_postgres::Config,
    options: &WorkflowBenchOptions,
) -> Result<WorkflowBenchReport, WorkflowBenchError> {
    let db = crate::scratch::migrated(config, 32).await?;
    let store = EventStore::new(db.clone());
    let requests = Requests::new(store.clone());

    // The outside world: a CA with its OCSP responder, the registries' simulator.
    let mut pki = Pki::new();
    let signer = pki.citizen(APPLICANT, Algorithm::EcP256, (-10, 300), false, true);
    let responder = pki.responder_with(2);
    let stop = CancellationToken::new();
    let simulator = Simulator::build(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Registry::built_in().map_err(setup)?,
        FaultSettings {
            latency_ms: 0,
            error_rate: 0.0,
            outage: false,
        },
    )
    .map_err(setup)?;
    let registry_url = format!("http://127.0.0.1:{}", simulator.port());
    let sim_task = tokio::spawn(simulator.run_until(stop.clone().cancelled_owned()));
    let keys = tempfile::tempdir().map_err(setup)?;
    let workflow = Workflow::new(
        requests.clone(),
        Arc::new(
            OpensslVerifier::new(
                pki.anchors(),
                Some(responder.url.clone()),
                Duration::from_secs(10),
            )
            .map_err(setup)?,
        ),
        Arc::new(
            HttpRegistries::new(
                &registry_url,
                RetryPolicy::single_attempt(Duration::from_secs(10)),
                BreakerSettings::default(),
            )
            .map_err(setup)?,
        ),
        ProviderKey::development(keys.path())?,
        WorkflowSettings {
            concurrency: options.concurrency,
            ..WorkflowSettings::default()
        },
    );
    let workflow_task = tokio::spawn(workflow.run(stop.clone()));
    // The projectors follow the log as in `egov serve`, over their own connections; their lag is
    // sampled while it runs.
    let projector_store = EventStore::new(crate::scratch::migrated(config, 6).await?);
    let mut projectors = Vec::new();
    let (status_tx, _status) = tokio::sync::watch::channel(projections::Progress::default());
    let (status_applied, mut status_batches) = tokio::sync::mpsc::unbounded_channel();
    projectors.push(ReadModel::RequestStatus.spawn(
        &projector_store,
        status_tx,
        Some(status_applied),
        &stop,
    ));
    let (analytics_tx, _analytics) = tokio::sync::watch::channel(projections::Progress::default());
    let (analytics_applied, mut analytics_batches) = tokio::sync::mpsc::unbounded_channel();
    projectors.push(ReadModel::Analytics.spawn(
        &projector_store,
        analytics_tx,
        Some(analytics_applied),
        &stop,
    ));

    // Who waits for which request: the watcher follows the log and answers at its end.
    let waiting: Waiting = Arc::default();
    let watcher = tokio::spawn(watch(store.clone(), waiting.clone(), stop.clone()));

    eprintln!(
        "{} clients filing and signing for {} s (+2 s warm-up), the workflow driving {} at once ...",
        options.clients, options.seconds, options.concurrency
    );
    let signer = Arc::new(signer);
    let pki = Arc::new(pki);
    let warm_up = Duration::from_secs(2);
    let started = Instant::now();
    let until = started + warm_up + Duration::from_secs(options.seconds);
    let sampler = tokio::spawn(sample_lag(db.clone(), started + warm_up, until));
    // A second into the warm-up the tables hold rows: statistics on them, as autovacuum keeps on
    // an operating database, let the planner use their indexes (a scratch database's first plans
    // are made for empty tables, and would scan them whole).
    let analyze = {
        let config = config.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let client = connect(&config).await?;
            client
                .batch_execute("ANALYZE")
                .await
                .map_err(|e| BenchError::Database("analyzing the tables", e))
        })
    };
    // With a rate, clients take a ticket before each filing; the tickets come at that rate.
    let tickets = options.rate.map(|rate| {
        let (send, receive) = tokio::sync::mpsc::channel::<()>(1);
        let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                if send.send(()).await.is_err() {
                    return;
                }
            }
        });
        Arc::new(tokio::sync::Mutex::new(receive))
    });
    let mut clients = Vec::new();
    for _ in 0..options.clients {
        let tickets = tickets.clone();
        let requests = requests.clone();
        let waiting = waiting.clone();
        let signer = signer.clone();
        let pki = pki.clone();
        clients.push(tokio::spawn(async move {
            let applicant = Iin::parse(APPLICANT).map_err(setup)?;
            let actor = Actor::Citizen {
                iin: applicant.clone(),
            };
            let mut ended = Vec::new();
            while Instant::now() < until {
                if let Some(tickets) = &tickets {
                    if tickets.lock().await.recv().await.is_none() {
                        break;
                    }
                }
                let submitted = requests
                    .submit(Submission {
                        service: ServiceCode::PensionFundStatement,
                        applicant: applicant.clone(),
                        form: serde_json::json!({}),
                        actor: actor.clone(),
                        channel: Channel::Portal,
                        idempotency_key: None,
                        representative: None,
                        operator_id: None,
                        presented: None,
                    })
                    .await?;
                let document = submitted.info.document_to_sign();
                let cms = pki.sign(&signer, &document, true);
                let (tx, rx) = oneshot::channel();
                if let Ok(mut waiting) = waiting.lock() {
                    waiting.insert(submitted.info.request_id, tx);
                }
                requests.sign(&submitted.info.number, &cms, &actor).await?;
                if let Ok(completed) = rx.await {
                    ended.push((Instant::now(), completed));
                }
            }
            Ok::<_, WorkflowBenchError>(ended)
        }));
    }
    let mut completed = 0u64;
    let mut refused = 0u64;
    for client in clients {
        let ended = client.await.map_err(setup)??;
        for (at, ok) in ended {
            if at >= started + warm_up && at < until {
                if ok {
                    completed += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    analyze.await.map_err(setup)??;
    let (status_lags, analytics_lags) = sampler.await.map_err(setup)?;
    let measured_from = chrono::Utc::now()
        - chrono::Duration::from_std(started.elapsed().saturating_sub(warm_up)).map_err(setup)?;
    let status_event_lags = event_lags(&mut status_batches, measured_from);
    let analytics_event_lags = event_lags(&mut analytics_batches, measured_from);
    stop.cancel();
    let _ = workflow_task.await;
    for projector in projectors {
        let _ = projector.await;
    }
    let _ = watcher.await;
    let _ = sim_task.await;
    drop(responder);

    let measured = Duration::from_secs(options.seconds).as_secs_f64();
    let client = connect(config).await?;
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .map_err(|e| BenchError::Database("counting events", e))?
        .get(0);
    let (latencies, steps) = timings(&client).await?;
    #[allow(clippy::cast_precision_loss)]
    let report = WorkflowBenchReport {
        seconds: options.seconds,
        clients: options.clients,
        concurrency: options.concurrency,
        rate: options.rate,
        completed,
        refused,
        requests_per_s: completed as f64 / measured,
        events_per_s: events as f64 / (measured + warm_up.as_secs_f64()),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        steps,
        status_lag_p99_ms: percentile_ms(&status_lags, 0.99),
        analytics_lag_p99_ms: percentile_ms(&analytics_lags, 0.99),
        status_event_lag_p50_ms: percentile_ms(&status_event_lags.lags, 0.50),
        status_event_lag_p99_ms: percentile_ms(&status_event_lags.lags, 0.99),
        status_event_wait_p50_ms: percentile_ms(&status_event_lags.waits, 0.50),
        status_event_wait_p99_ms: percentile_ms(&status_event_lags.waits, 0.99),
        status_batch_apply_p50_ms: percentile_ms(&status_event_lags.applying, 0.50),
        status_batch_apply_p99_ms: percentile_ms(&status_event_lags.applying, 0.99),
        analytics_event_lag_p99_ms: percentile_ms(&analytics_event_lags.lags, 0.99),
    };
    Ok(report)
}

/// Samples how far the status view and the analytics projection stand behind the log, every
/// 100 ms from `from` to `until`.
async fn sample_lag(
    db: event_store::Database,
    from: Instant,
    until: Instant,
) -> (Vec<Duration>, Vec<Duration>) {
    tokio::time::sleep_until(from.into()).await;
    let (mut status, mut analytics) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        for (name, samples) in [
            (projections::RequestStatusProjector::NAME, &mut status),
            (projections::AnalyticsProjector::NAME, &mut analytics),
        ] {
            if let Ok(lag) = projections::checkpoint::lag(db.pool(), name).await {
                samples.push(Duration::from_secs_f64(lag.seconds_behind.max(0.0)));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (status, analytics)
}

/// Requests awaited by clients: `true` when it ended with a result, `false` with a refusal.
type Waiting = Arc<Mutex<HashMap<uuid::Uuid, oneshot::Sender<bool>>>>;

async fn watch(store: EventStore, waiting: Waiting, stop: CancellationToken) {
    let mut subscription = store.subscribe(Cursor::START, SubscriptionOptions::default());
    loop {
        let batch = tokio::select! {
            () = stop.cancelled() => return,
            batch = subscription.next_batch() => batch,
        };
        let Ok(batch) = batch else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        for event in batch {
            let ok = match event.event_type.parse::<EventType>() {
                Ok(EventType::ResultIssued) => true,
                Ok(EventType::RequestRefused) => false,
                _ => continue,
            };
            let sender = waiting
                .lock()
                .ok()
                .and_then(|mut w| w.remove(&event.stream_id.as_uuid()));
            if let Some(sender) = sender {
                let _ = sender.send(ok);
            }
        }
    }
}

/// Signature-to-result latencies and the median of each step, from the recorded times.
async fn timings(
    client: &tokio_postgres::Client,
) -> Result<(Vec<Duration>, StepTimes), WorkflowBenchError> {
    let database = |e| BenchError::Database("reading the step times", e);
    let latencies: Vec<Duration> = client
        .query(
            "SELECT extract(epoch FROM r.recorded_at - s.recorded_at)::float8
               FROM events s JOIN events r ON r.stream_id = s.stream_id
              WHERE s.event_type = 'RequestSigned' AND r.event_type = 'ResultIssued'",
            &[],
        )
        .await
        .map_err(database)?
        .iter()
        .map(|row| Duration::from_secs_f64(row.get::<_, f64>(0).max(0.0)))
        .collect();
    let between = |from: EventType, to: EventType, lookup: Option<&str>| {
        let filter = lookup.map_or(String::new(), |l| {
            format!(" AND a.payload->>'lookup' = '{l}' AND b.payload->>'lookup' = '{l}'")
        });
        format!(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM b.recorded_at - a.recorded_at))::float8
               FROM events a JOIN events b ON b.stream_id = a.stream_id AND b.stream_version > a.stream_version
              WHERE a.event_type = '{from}' AND b.event_type = '{to}'{filter}",
            from = from.code(),
            to = to.code(),
        )
    };
    use EventType::{
        RegistryLookupRequested as Asked, RegistryLookupSucceeded as Answered, RequestSigned,
        RequestSubmitted, SignatureVerified,
    };
    let verify = between(RequestSigned, SignatureVerified, None);
    let iin = between(Asked, Answered, Some("iin"));
    let sik = between(Asked, Answered, Some("sik"));
    let fund = between(Asked, Answered, Some("fund-movements"));
    let client_sign = between(RequestSubmitted, RequestSigned, None);
    let issue = "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.recorded_at - l.recorded_at))::float8
                   FROM events r JOIN LATERAL (
                        SELECT max(x.recorded_at) AS recorded_at FROM events x
                         WHERE x.stream_id = r.stream_id AND x.event_type = 'RegistryLookupSucceeded') l ON true
                  WHERE r.event_type = 'ResultIssued'";
    let steps = StepTimes {
        verify_ms: median_ms(client, &verify).await?,
        lookup_iin_ms: median_ms(client, &iin).await?,
        lookup_sik_ms: median_ms(client, &sik).await?,
        lookup_fund_movements_ms: median_ms(client, &fund).await?,
        issue_ms: median_ms(client, issue).await?,
        client_sign_ms: median_ms(client, &client_sign).await?,
    };
    Ok((latencies, steps))
}

/// The one value of `sql` (a median in seconds), in milliseconds.
async fn median_ms(client: &tokio_postgres::Client, sql: &str) -> Result<f64, WorkflowBenchError> {
    Ok(client
        .query_one(sql, &[])
        .await
        .map(|row| row.get::<_, Option<f64>>(0).unwrap_or(0.0) * 1000.0)
        .map_err(|e| BenchError::Database("reading the step times", e))?)
}

/// The report as a table for people.
pub fn print_table(report: &WorkflowBenchReport) {
    eprintln!(
        "workflow: {:.0} requests/s end to end ({} completed, {} refused in {} s; {} clients, {} driven at once)",
        report.requests_per_s, report.completed, report.refused, report.seconds, report.clients, report.concurrency
    );
    eprintln!(
        "signature -> result: p50 {:.1} ms, p99 {:.1} ms; {:.0} events/s written",
        report.p50_ms, report.p99_ms, report.events_per_s
    );
    let s = &report.steps;
    eprintln!(
        "projection lag p99, oldest unapplied event sampled every 100 ms: status view {:.1} ms, analytics {:.1} ms",
        report.status_lag_p99_ms, report.analytics_lag_p99_ms
    );
    eprintln!(
        "projection lag per event, append to commit: status view p50 {:.1} ms, p99 {:.1} ms; analytics p99 {:.1} ms",
        report.status_event_lag_p50_ms, report.status_event_lag_p99_ms, report.analytics_event_lag_p99_ms
    );
    eprintln!(
        "  of it: recorded -> read by the projector p50 {:.1} ms, p99 {:.1} ms; read -> committed per batch p50 {:.1} ms, p99 {:.1} ms",
        report.status_event_wait_p50_ms, report.status_event_wait_p99_ms, report.status_batch_apply_p50_ms, report.status_batch_apply_p99_ms
    );
    eprintln!(
        "median per step (ms): verify {:.1} | iin {:.1} | sik {:.1} | fund movements {:.1} | issue {:.1} | client sign {:.1}",
        s.verify_ms, s.lookup_iin_ms, s.lookup_sik_ms, s.lookup_fund_movements_ms, s.issue_ms, s.client_sign_ms
    );
}
