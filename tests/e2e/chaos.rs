//! The fault campaign, short form: citizens file and sign, an operator reads (audited), while
//! faults come at moments drawn from a seed - `kill -9` of `egov serve` or of an `egov worker`
//! (each started again), a worker stopped past its lease, PostgreSQL paused, PostgreSQL restarted
//! with `-m immediate`. At the end every invariant is checked and counted; each must be 0.
//!
//! The topology: a PostgreSQL cluster of the campaign's own (so that it can be paused and
//! crashed), `egov serve` with the workflow, one `egov worker`, the registry simulator, a test CA
//! with `openssl ocsp`. `EGOV_CHAOS_SECONDS` (60), `EGOV_CHAOS_SEED` (2: every kind of fault in 60 s) and
//! `EGOV_CHAOS_EVERY` (8 s between faults on average), `EGOV_CHAOS_CLIENTS` (4) and
//! `EGOV_CHAOS_RATE` (15 filings a second in all) set a run; `scripts/chaos.sh` runs a longer one. The
//! last line it prints is the report as JSON.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use egov::embedded_postgres::EmbeddedPostgres;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use registry_sim::{Background, Simulator};
use serde_json::{json, Value};
use testkit::pki::{Issued, Pki, Responder};

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, serve};
use crate::support::kafka::signal;
use crate::support::portal::{Keys, AUDIENCE, ISSUER};
use crate::support::process::{egov, postmaster, Paused, Served, Worker};

const OPERATOR: &str = "op-chaos";
/// A request not answered within this long counts as hung.
const HUNG: Duration = Duration::from_secs(5);

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the campaign injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillServe,
    KillWorker,
    StopWorker,
    PauseDatabase,
    RestartDatabase,
}

const FAULTS: [Fault; 5] = [
    Fault::KillServe,
    Fault::KillWorker,
    Fault::StopWorker,
    Fault::PauseDatabase,
    Fault::RestartDatabase,
];

/// Everything the campaign runs, and how to reach it.
struct Stand {
    cluster: EmbeddedPostgres,
    env: Vec<(String, String)>,
    serve: Served,
    worker: Worker,
    base: Arc<RwLock<String>>,
    keys: Keys,
    /// The CA and the citizen's signing certificate, until the clients take them.
    pki: Option<(Pki, Issued)>,
    _responder: Responder,
    _sim: Background,
    _data: tempfile::TempDir,
}

impl Stand {
    async fn start() -> Stand {
        let data = tempfile::tempdir().expect("data dir");
        let cluster = EmbeddedPostgres::start(&data.path().join("cluster"), None)
            .await
            .expect("the campaign's PostgreSQL starts");
        let keys = Keys::new();
        let mut pki = Pki::new();
        let signer = pki.signer(AIDA);
        let responder = pki.responder();
        let sim = Simulator::spawn(healthy()).expect("the simulator starts");
        let url = cluster.url();
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", url.as_str()),
            ("EGOV_MIGRATE_DATABASE_URL", url.as_str()),
            ("EGOV_JWT_PUBLIC_KEYS", &keys.setting()),
            ("EGOV_JWT_ISSUER", ISSUER),
            ("EGOV_JWT_AUDIENCE", AUDIENCE),
            ("EGOV_REGISTRY_URL", sim.url()),
            (
                "EGOV_TRUST_ANCHORS",
                &pki.anchors_file().display().to_string(),
            ),
            (
                "EGOV_DATA_DIR",
                &data.path().join("pg").display().to_string(),
            ),
            ("EGOV_WORKFLOW_LEASE", "2s"),
            ("EGOV_MODE", "development"),
            ("EGOV_WRITES_PER_SECOND", "100000"),
            ("EGOV_WRITE_BURST", "100000"),
            ("EGOV_DAILY_FILINGS", "100000"),
            ("EGOV_DAILY_FILINGS_OPERATOR", "100000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let serve = serve(&env).await;
        let worker = Worker::start(&env);
        Stand {
            base: Arc::new(RwLock::new(serve.base.clone())),
            cluster,
            env,
            serve,
            worker,
            keys,
            pki: Some((pki, signer)),
            _responder: responder,
            _sim: sim,
            _data: data,
        }
    }

    fn operator_token(&self) -> String {
        let mut claims = Keys::claims("operator", OPERATOR);
        claims["org"] = json!("TsON-chaos");
        self.keys.es256(&claims)
    }

    async fn superuser(&self) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.cluster.port())
            .user("postgres")
            .dbname(egov::embedded_postgres::DATABASE);
        testkit::connect(&config).await
    }

    /// Injects `fault` and heals it; `paused` is set while the database is paused.
    async fn inject(&mut self, fault: Fault, paused: &AtomicBool) {
        match fault {
            Fault::KillServe => {
                self.serve.child.kill().expect("kill -9 egov serve");
                let _ = self.serve.child.wait();
                self.serve = serve(&self.env).await;
                *self.base.write().expect("base") = self.serve.base.clone();
            }
            Fault::KillWorker => {
                self.worker.child.kill().expect("kill -9 egov worker");
                let _ = self.worker.child.wait();
                self.worker = Worker::start(&self.env);
            }
            Fault::StopWorker => {
                // Past its 2 s lease: another process takes its requests over, and the stopped
                // one must not write for them when it is continued.
                signal("-STOP", self.worker.child.id());
                tokio::time::sleep(Duration::from_secs(4)).await;
                signal("-CONT", self.worker.child.id());
            }
            Fault::PauseDatabase => {
                let data = self.cluster_dir();
                let (pid, _) = postmaster(&data).expect("postmaster");
                let frozen = Paused::cluster(pid);
                paused.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                paused.store(false, Ordering::SeqCst);
                drop(frozen);
            }
            Fault::RestartDatabase => {
                tokio::task::block_in_place(|| self.cluster.restart_immediately())
                    .expect("PostgreSQL restarts");
            }
        }
    }

    fn cluster_dir(&self) -> std::path::PathBuf {
        self._data
            .path()
            .join("cluster")
            .canonicalize()
            .expect("cluster dir")
    }
}

/// What the clients saw: what was acknowledged, and every answer by kind.
#[derive(Default)]
struct Seen {
    /// Requests answered 201, and those whose signature was answered 202.
    filed: Vec<String>,
    signed: Vec<String>,
    /// Operator reads answered 200, by request number.
    reads: BTreeMap<String, u64>,
    /// Answers by call and kind (`file 201`, `sign 503`, `read unreachable`, `file hung`).
    answers: BTreeMap<String, u64>,
    /// 503s without Retry-After.
    bare_503: u64,
    /// The slowest answer while the database was paused.
    slowest_while_paused: Duration,
}

impl Seen {
    fn count(&mut self, kind: String) {
        *self.answers.entry(kind).or_default() += 1;
    }
}

/// One client's calls: the answer's status and body, or the kind of failure.
async fn call(
    seen: &Mutex<Seen>,
    paused: &AtomicBool,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Option<(u16, Value)> {
    let during_pause = paused.load(Ordering::SeqCst);
    let started = Instant::now();
    let answer = request.timeout(HUNG).send().await;
    let took = started.elapsed();
    // Sent or answered while the database was paused.
    let during_pause = during_pause || paused.load(Ordering::SeqCst);
    let answer = {
        let mut seen = seen.lock().expect("seen");
        if during_pause {
            seen.slowest_while_paused = seen.slowest_while_paused.max(took);
        }
        match answer {
            Ok(answer) => {
                let code = answer.status().as_u16();
                if code == 503 && answer.headers().get("retry-after").is_none() {
                    seen.bare_503 += 1;
                }
                seen.count(format!("{what} {code}"));
                Some(answer)
            }
            Err(error) if error.is_timeout() => {
                seen.count(format!("{what} hung"));
                None
            }
            Err(_) => {
                seen.count(format!("{what} unreachable"));
                None
            }
        }
    }?;
    let code = answer.status().as_u16();
    Some((code, answer.json().await.unwrap_or(Value::Null)))
}

/// A citizen filing and signing again and again, and an operator reading what was filed.
async fn client(
    stand: Arc<ClientSide>,
    seen: Arc<Mutex<Seen>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut pace = tokio::time::interval(stand.pace);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        let base = stand.base.read().expect("base").clone();
        let filing = http
            .post(format!("{base}/api/v1/requests"))
            .bearer_auth(&stand.citizen)
            .json(&json!({"service": "pension-fund-statement", "iin": AIDA, "form": {}}));
        let Some((201, body)) = call(&seen, &paused, "file", filing).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let number = body["number"].as_str().expect("number").to_owned();
        seen.lock().expect("seen").filed.push(number.clone());
        let document = base64::engine::general_purpose::STANDARD
            .decode(body["document_to_sign"].as_str().expect("document"))
            .expect("base64");
        let cms = base64::engine::general_purpose::STANDARD.encode(stand.sign(&document));
        // A client retries its signature until it is taken (the same signature: idempotent).
        for _ in 0..20 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let base = stand.base.read().expect("base").clone();
            let signing = http
                .post(format!("{base}/api/v1/requests/{number}/signature"))
                .bearer_auth(&stand.citizen)
                .json(&json!({ "cms": cms }));
            match call(&seen, &paused, "sign", signing).await {
                Some((202, _)) => {
                    seen.lock().expect("seen").signed.push(number.clone());
                    break;
                }
                Some((409, _)) => break,
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        let base = stand.base.read().expect("base").clone();
        let reading = http
            .get(format!("{base}/api/v1/requests/{number}"))
            .bearer_auth(&stand.operator)
            .header("X-Purpose", "chaos campaign");
        if let Some((200, _)) = call(&seen, &paused, "read", reading).await {
            *seen.lock().expect("seen").reads.entry(number).or_default() += 1;
        }
    }
}

/// What the clients need of the stand (shared across their tasks).
struct ClientSide {
    base: Arc<RwLock<String>>,
    citizen: String,
    operator: String,
    pki: Mutex<Pki>,
    signer: Issued,
    /// How often one client files.
    pace: Duration,
}

impl ClientSide {
    fn sign(&self, document: &[u8]) -> Vec<u8> {
        self.pki
            .lock()
            .expect("pki")
            .sign(&self.signer, document, true)
    }
}

/// Waits until every signed request has ended (a result, a refusal, or a recorded missed
/// deadline), up to `limit`; the numbers that have not.
async fn not_ended(db: &tokio_postgres::Client, signed: &[String], limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let rows = db
            .query(
                "SELECT n.number FROM request_numbers n
                  WHERE n.number = ANY($1)
                    AND NOT EXISTS (SELECT 1 FROM events e
                                     WHERE e.stream_id = n.stream_id
                                       AND e.event_type IN ('ResultIssued', 'RequestRefused',
                                           'StepDeadlineMissed', 'ServiceDeadlineMissed'))",
                &[&signed],
            )
            .await
            .expect("ended");
        let left: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The invariants over the log, each a count of violations.
async fn violations(stand: &Stand, seen: &Seen) -> BTreeMap<&'static str, u64> {
    let db = stand.superuser().await;
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let mut found = BTreeMap::new();
    // 1. Every acknowledged filing and signature is in the log.
    let filed: i64 = db
        .query_one(
            "SELECT count(*) FROM request_numbers n
               JOIN events e ON e.stream_id = n.stream_id AND e.event_type = 'RequestSubmitted'
              WHERE n.number = ANY($1)",
            &[&seen.filed],
        )
        .await
        .expect("filed")
        .get(0);
    let signed: i64 = db
        .query_one(
            "SELECT count(DISTINCT n.number) FROM request_numbers n
               JOIN events e ON e.stream_id = n.stream_id AND e.event_type = 'RequestSigned'
              WHERE n.number = ANY($1)",
            &[&seen.signed],
        )
        .await
        .expect("signed")
        .get(0);
    let lost = count(seen.filed.len()).saturating_sub(u64::try_from(filed).unwrap_or(0))
        + count(seen.signed.len()).saturating_sub(u64::try_from(signed).unwrap_or(0));
    found.insert("1_acknowledged_not_in_log", lost);
    // 2. None stuck; no step outcome recorded twice.
    let waiting = Instant::now();
    let stuck = not_ended(&db, &seen.signed, Duration::from_secs(120)).await;
    eprintln!(
        "chaos: every signed request ended {:.1} s after the load",
        waiting.elapsed().as_secs_f64()
    );
    found.insert("2_signed_not_ended", count(stuck.len()));
    for number in stuck.iter().take(5) {
        explain(&db, number).await;
    }
    let twice: i64 = db
        .query_one(
            "SELECT count(*) FROM (
               SELECT stream_id, event_type, payload->>'lookup' FROM events
                WHERE event_type IN ('RequestSigned', 'SignatureVerified', 'SignatureRejected',
                                     'RegistryLookupSucceeded', 'RequestRefused', 'ResultIssued')
                GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
            &[],
        )
        .await
        .expect("twice")
        .get(0);
    found.insert("2_step_outcome_twice", u64::try_from(twice).unwrap_or(0));
    // 3. The hash chains hold and every read model equals a replay of the log.
    let url = stand.cluster.url();
    for (name, args) in [
        ("3_verify", &["verify"][..]),
        ("3_replay_check", &["replay", "--check"][..]),
    ] {
        let output = egov()
            .args(args)
            .env("DATABASE_URL", &url)
            .env("EGOV_MODE", "development")
            .output()
            .expect("egov");
        if !output.status.success() {
            eprintln!(
                "{name}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        found.insert(name, u64::from(!output.status.success()));
    }
    // 4. Every answered audited read has its record.
    let rows = db
        .query(
            "SELECT r->>1, count(*) FROM events,
                    jsonb_array_elements(payload->'groups') g,
                    jsonb_array_elements(g->'reads') r
              WHERE event_type = 'DataAccessed' AND g->>'reader' = $1
              GROUP BY 1",
            &[&OPERATOR],
        )
        .await
        .expect("reads");
    let recorded: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let unrecorded: u64 = seen
        .reads
        .iter()
        .map(|(number, answered)| {
            let on_record = recorded
                .get(&format!("request:{number}"))
                .copied()
                .unwrap_or(0);
            answered.saturating_sub(u64::try_from(on_record).unwrap_or(0))
        })
        .sum();
    found.insert("4_read_answered_unrecorded", unrecorded);
    // 5. Nothing hung; every 503 said when to come back.
    let hung = seen
        .answers
        .iter()
        .filter(|(kind, _)| kind.ends_with(" hung"))
        .map(|(_, n)| n)
        .sum();
    found.insert("5_hung", hung);
    found.insert("5_503_without_retry_after", seen.bare_503);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_fault_campaign_loses_nothing_acknowledged_and_recovers_by_itself() {
    let seconds: u64 = setting("EGOV_CHAOS_SECONDS", 60);
    let seed: u64 = setting("EGOV_CHAOS_SEED", 2);
    let every: u64 = setting("EGOV_CHAOS_EVERY", 8);
    let clients: u32 = setting("EGOV_CHAOS_CLIENTS", 4);
    // Filings a second, all clients together: about half of what the workflow of a debug build
    // carries here (a faster pace builds a backlog that the end of the run waits for).
    let rate: u32 = setting("EGOV_CHAOS_RATE", 15);
    let mut stand = Stand::start().await;
    let (pki, signer) = stand.pki.take().expect("pki");
    let side = Arc::new(ClientSide {
        base: stand.base.clone(),
        citizen: stand.keys.citizen(AIDA),
        operator: stand.operator_token(),
        pki: Mutex::new(pki),
        signer,
        pace: Duration::from_secs(1) * clients / rate.max(1),
    });
    let seen = Arc::new(Mutex::new(Seen::default()));
    let paused = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(client(
                side.clone(),
                seen.clone(),
                paused.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut injected: BTreeMap<String, u64> = BTreeMap::new();
    let mut recovery: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // `egov serve`'s resident memory after each fault, in MiB.
    let mut rss: Vec<f64> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(
            rng.gen_range(every * 500..=every * 1500),
        ))
        .await;
        let fault = FAULTS[rng.gen_range(0..FAULTS.len())];
        eprintln!(
            "chaos: {:?} at {:.1} s",
            fault,
            started.elapsed().as_secs_f64()
        );
        stand.inject(fault, &paused).await;
        // From the fault healed (the process started again, the database continued) to ready.
        let back = ready_after(&stand).await;
        recovery
            .entry(format!("{fault:?}"))
            .or_default()
            .push(back.as_secs_f64());
        *injected.entry(format!("{fault:?}")).or_default() += 1;
        rss.extend(rss_mib(stand.serve.child.id()));
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("client");
    }
    eprintln!(
        "chaos: load ended at {:.1} s; checking",
        started.elapsed().as_secs_f64()
    );
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let found = violations(&stand, &seen).await;
    eprintln!("chaos: checked at {:.1} s", started.elapsed().as_secs_f64());
    let report = json!({
        "seed": seed,
        "seconds": seconds,
        "faults": injected,
        "recovery_to_ready_seconds": recovery
            .iter_mut()
            .map(|(kind, times)| (kind.clone(), json!({"p50": percentile(times, 0.5), "p99": percentile(times, 0.99)})))
            .collect::<BTreeMap<_, _>>(),
        "serve_rss_mib": {"min": rss.iter().copied().fold(f64::INFINITY, f64::min), "max": rss.iter().copied().fold(0.0, f64::max)},
        "answers": seen.answers,
        "filed": seen.filed.len(),
        "signed": seen.signed.len(),
        "operator_reads": seen.reads.values().sum::<u64>(),
        "slowest_answer_while_db_paused_ms": seen.slowest_while_paused.as_millis(),
        "violations": found,
    });
    println!("{report}");
    assert!(
        !seen.signed.is_empty(),
        "the load signed requests: {report}"
    );
    assert!(found.values().all(|n| *n == 0), "violations: {report}");
}

/// How long after now `/readyz` answers 200 again (the service is back).
async fn ready_after(stand: &Stand) -> Duration {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        let base = stand.base.read().expect("base").clone();
        let ready = http
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success());
        if ready || started.elapsed() > Duration::from_secs(120) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints what the log and the task table hold for a request that did not end.
async fn explain(db: &tokio_postgres::Client, number: &str) {
    let events = db
        .query(
            "SELECT e.event_type, e.actor, e.recorded_at::text FROM events e
               JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 ORDER BY e.stream_version",
            &[&number],
        )
        .await
        .expect("events");
    let events: Vec<String> = events
        .iter()
        .map(|r| {
            format!(
                "{} by {} at {}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2)
            )
        })
        .collect();
    let task = db
        .query(
            "SELECT row_to_json(t)::text FROM workflow.tasks t
               JOIN request_numbers n ON n.stream_id = t.stream_id WHERE n.number = $1",
            &[&number],
        )
        .await
        .expect("task");
    let task: Vec<String> = task.iter().map(|r| r.get(0)).collect();
    eprintln!("chaos: {number} did not end: events {events:?}; task {task:?}");
}

/// The `p` quantile of `values` (nearest rank); 0 for none.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The resident memory of process `pid` in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
