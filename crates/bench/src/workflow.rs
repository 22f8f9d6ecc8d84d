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
use domain::{Actor, Cursor, Iin, ServiceCode, SignedIn};
use event_store::EventStore;
use event_store::SubscriptionOptions;
use serde::Serialize;
use testkit::pki::Pki;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::scratch::{connect, failed, BenchError};
use crate::stats::{event_lags, percentile_ms};
use projections::ReadModel;
use registry_sim::{FaultSettings, Simulator};

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

/// Runs the workflow benchmark in the (scratch) database of `config`.
///
/// # Errors
/// [`BenchError`] naming what failed.
pub async fn run(
    config: &tokio_postgres::Config,
    options: &WorkflowBenchOptions,
) -> Result<WorkflowBenchReport, BenchError> {
    let db = crate::scratch::migrated(config, 32).await?;
    let store = EventStore::new(db.clone());
    let requests = Requests::new(store.clone());
    // The outside world: a CA with its OCSP responder, the registries' simulator.
    let mut pki = Pki::new();
    let signer = Arc::new(pki.signer(APPLICANT));
    let responder = pki.responder_with(2);
    let simulator = Simulator::spawn(FaultSettings {
        latency_ms: 0,
        error_rate: 0.0,
        outage: false,
    })
    .map_err(failed)?;
    let keys = tempfile::tempdir().map_err(failed)?;
    let workflow = workflow(
        &requests,
        &pki,
        &responder.url,
        simulator.url(),
        &keys,
        options,
    )?;
    let stop = CancellationToken::new();
    let workflow_task = tokio::spawn(workflow.run(stop.clone()));
    // The projectors follow the log as in `egov serve`, over their own connections; their lag is
    // sampled while it runs.
    let mut projected = Projected::start(config, &stop).await?;
    let pki = Arc::new(pki);
    let load = Load::run(config, &requests, &db, &signer, &pki, options, &stop).await?;
    let measured_from = chrono::Utc::now()
        - chrono::Duration::from_std(load.started.elapsed().saturating_sub(WARM_UP))
            .map_err(failed)?;
    let status_event_lags = event_lags(&mut projected.status_batches, measured_from);
    let analytics_event_lags = event_lags(&mut projected.analytics_batches, measured_from);
    stop.cancel();
    let _ = workflow_task.await;
    for projector in projected.tasks {
        let _ = projector.await;
    }
    simulator.stop().await;
    drop(responder);
    let client = connect(config).await?;
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .map_err(|e| BenchError::Database("counting events", e))?
        .get(0);
    let (latencies, steps) = timings(&client).await?;
    let measured = Duration::from_secs(options.seconds).as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let report = WorkflowBenchReport {
        seconds: options.seconds,
        clients: options.clients,
        concurrency: options.concurrency,
        rate: options.rate,
        completed: load.completed,
        refused: load.refused,
        requests_per_s: load.completed as f64 / measured,
        events_per_s: events as f64 / (measured + WARM_UP.as_secs_f64()),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        steps,
        status_lag_p99_ms: percentile_ms(&load.status_lags, 0.99),
        analytics_lag_p99_ms: percentile_ms(&load.analytics_lags, 0.99),
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

/// The real workflow over the test CA's OCSP responder at `ocsp`, the registries at `registries`
/// and a development provider key in `keys`.
fn workflow(
    requests: &Requests,
    pki: &Pki,
    ocsp: &str,
    registries: &str,
    keys: &tempfile::TempDir,
    options: &WorkflowBenchOptions,
) -> Result<Arc<Workflow>, BenchError> {
    let verifier = OpensslVerifier::new(
        pki.anchors(),
        Some(ocsp.to_owned()),
        Duration::from_secs(10),
    )
    .map_err(failed)?;
    let registries = HttpRegistries::new(
        registries,
        RetryPolicy::single_attempt(Duration::from_secs(10)),
        BreakerSettings::default(),
    )
    .map_err(failed)?;
    Ok(Workflow::new(
        requests.clone(),
        Arc::new(verifier),
        Arc::new(registries),
        ProviderKey::development(keys.path())?,
        WorkflowSettings {
            concurrency: options.concurrency,
            ..WorkflowSettings::default()
        },
    ))
}

/// The unmeasured start of a run.
const WARM_UP: Duration = Duration::from_secs(2);

/// The status view and the analytics facts, projected as `egov serve` projects them, each batch
/// reported (for the lags from append to read model).
struct Projected {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    status_batches: tokio::sync::mpsc::UnboundedReceiver<projections::BatchApplied>,
    analytics_batches: tokio::sync::mpsc::UnboundedReceiver<projections::BatchApplied>,
}

impl Projected {
    async fn start(
        config: &tokio_postgres::Config,
        stop: &CancellationToken,
    ) -> Result<Projected, BenchError> {
        let store = EventStore::new(crate::scratch::migrated(config, 6).await?);
        let progress = || tokio::sync::watch::channel(projections::Progress::default()).0;
        let (status_applied, status_batches) = tokio::sync::mpsc::unbounded_channel();
        let (analytics_applied, analytics_batches) = tokio::sync::mpsc::unbounded_channel();
        let tasks = vec![
            ReadModel::RequestStatus.spawn(&store, progress(), Some(status_applied), stop),
            ReadModel::Analytics.spawn(&store, progress(), Some(analytics_applied), stop),
        ];
        Ok(Projected {
            tasks,
            status_batches,
            analytics_batches,
        })
    }
}

/// The load of a run: citizens filing and signing, each waiting for its result before filing
/// again (or at a rate), and what came of it.
struct Load {
    started: Instant,
    completed: u64,
    refused: u64,
    status_lags: Vec<Duration>,
    analytics_lags: Vec<Duration>,
}

impl Load {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        config: &tokio_postgres::Config,
        requests: &Requests,
        db: &event_store::Database,
        signer: &Arc<testkit::pki::Issued>,
        pki: &Arc<Pki>,
        options: &WorkflowBenchOptions,
        stop: &CancellationToken,
    ) -> Result<Load, BenchError> {
        // Who waits for which request: the watcher follows the log and answers at its end.
        let waiting: Waiting = Arc::default();
        let watcher = tokio::spawn(watch(
            requests.store().clone(),
            waiting.clone(),
            stop.clone(),
        ));
        eprintln!(
            "{} clients filing and signing for {} s (+2 s warm-up), the workflow driving {} at once ...",
            options.clients, options.seconds, options.concurrency
        );
        let started = Instant::now();
        let until = started + WARM_UP + Duration::from_secs(options.seconds);
        let sampler = tokio::spawn(sample_lag(db.clone(), started + WARM_UP, until));
        let analyze = tokio::spawn(analyze_soon(config.clone()));
        let tickets = options.rate.map(|rate| tickets(rate, stop));
        let clients: Vec<_> = (0..options.clients)
            .map(|_| {
                let client = Client {
                    requests: requests.clone(),
                    waiting: waiting.clone(),
                    signer: signer.clone(),
                    pki: pki.clone(),
                    tickets: tickets.clone(),
                };
                tokio::spawn(client.file_until(until))
            })
            .collect();
        let (mut completed, mut refused) = (0u64, 0u64);
        for client in clients {
            for (at, ok) in client.await.map_err(failed)?? {
                if at >= started + WARM_UP && at < until {
                    *(if ok { &mut completed } else { &mut refused }) += 1;
                }
            }
        }
        analyze.await.map_err(failed)??;
        let (status_lags, analytics_lags) = sampler.await.map_err(failed)?;
        stop.cancel();
        let _ = watcher.await;
        Ok(Load {
            started,
            completed,
            refused,
            status_lags,
            analytics_lags,
        })
    }
}

/// A second into the warm-up the tables hold rows: statistics on them, as autovacuum keeps on an
/// operating database, let the planner use their indexes (a scratch database's first plans are
/// made for empty tables, and would scan them whole).
async fn analyze_soon(config: tokio_postgres::Config) -> Result<(), BenchError> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = connect(&config).await?;
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(|e| BenchError::Database("analyzing the tables", e))
}

/// With a rate, clients take a ticket before each filing; the tickets come at that rate.
fn tickets(rate: u64, stop: &CancellationToken) -> Tickets {
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
}

/// The tickets of a paced load.
type Tickets = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<()>>>;

/// One citizen of the load.
struct Client {
    requests: Requests,
    waiting: Waiting,
    signer: Arc<testkit::pki::Issued>,
    pki: Arc<Pki>,
    tickets: Option<Tickets>,
}

impl Client {
    /// Files, signs and waits for the end, again and again until `until`; when each request
    /// ended and whether it completed.
    async fn file_until(self, until: Instant) -> Result<Vec<(Instant, bool)>, BenchError> {
        let applicant = Iin::parse(APPLICANT).map_err(failed)?;
        let actor = Actor::Citizen {
            iin: applicant.clone(),
        };
        let mut ended = Vec::new();
        while Instant::now() < until {
            if let Some(tickets) = &self.tickets {
                if tickets.lock().await.recv().await.is_none() {
                    break;
                }
            }
            let submitted = self
                .requests
                .submit(Submission::on_portal(
                    ServiceCode::PensionFundStatement,
                    applicant.clone(),
                    serde_json::json!({}),
                ))
                .await?;
            let document = submitted.info.document_to_sign();
            let cms = self.pki.sign(&self.signer, &document, true);
            let (tx, rx) = oneshot::channel();
            if let Ok(mut waiting) = self.waiting.lock() {
                waiting.insert(submitted.info.request_id, tx);
            }
            self.requests
                .sign(&submitted.info.number, &cms, &actor, SignedIn::CITIZEN)
                .await?;
            if let Ok(completed) = rx.await {
                ended.push((Instant::now(), completed));
            }
        }
        Ok(ended)
    }
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
) -> Result<(Vec<Duration>, StepTimes), BenchError> {
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
async fn median_ms(client: &tokio_postgres::Client, sql: &str) -> Result<f64, BenchError> {
    client
        .query_one(sql, &[])
        .await
        .map(|row| row.get::<_, Option<f64>>(0).unwrap_or(0.0) * 1000.0)
        .map_err(|e| BenchError::Database("reading the step times", e))
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
