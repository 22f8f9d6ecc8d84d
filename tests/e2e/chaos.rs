//! The fault campaign, short form: citizens file and sign (pension-fund statements, and SIK
//! assignments, which change the registry), an operator reads (audited), a medical
//! user checks statuses, an auditor pages the log's feed, while faults come at moments drawn from
//! a seed - `kill -9` of `egov serve`, the worker, the relay or a projector (each started again), a
//! worker stopped past its lease, PostgreSQL paused, restarted with `-m immediate`, or its primary
//! lost and the synchronous standby promoted, the OCSP responder stopped, the registries out,
//! failing half their answers or slow, the Kafka broker stopped. At the end every invariant is
//! checked and counted; each must be 0.
//!
//! The topology (`chaos/stand.rs`): a PostgreSQL primary of the campaign's own with a streaming
//! standby under synchronous replication, reached through a URL naming both; `egov serve` with the
//! workflow and its relay, one `egov worker`, one `egov relay`, two `egov projections run --source
//! kafka` feeding every read model from the topic, a tansu broker, the registry simulator, a test
//! CA with `openssl ocsp`. `EGOV_CHAOS_SECONDS` (90), `EGOV_CHAOS_SEED` (2), `EGOV_CHAOS_EVERY` (4 s
//! between faults on average), `EGOV_CHAOS_CLIENTS` (4), `EGOV_CHAOS_RATE` (15 filings a second in
//! all) and `EGOV_CHAOS_BROKER_STOP` (4 s) set a run. The faults come as a deck shuffled by the
//! seed, and a run goes on until every kind has come up once. `scripts/chaos.sh` runs a longer
//! campaign. The last line printed is the report as JSON.

mod invariants;
mod others;
mod stand;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use testkit::pki::{Issued, Pki};

use crate::support::citizens::AIDA;
use others::Others;
use stand::{Bases, Deck, Stand};

/// A request not answered within this long counts as hung.
const HUNG: Duration = Duration::from_secs(5);

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the clients saw: what was acknowledged, and every answer by kind.
#[derive(Default)]
pub struct Seen {
    /// Requests answered 201, and those whose signature was answered 202.
    pub filed: Vec<String>,
    pub signed: Vec<String>,
    /// Operator reads answered 200, by request number.
    pub reads: BTreeMap<String, u64>,
    /// Answers by call and kind (`file 201`, `sign 503`, `read unreachable`, `file hung`).
    pub answers: BTreeMap<String, u64>,
    /// 503s without Retry-After.
    pub bare_503: u64,
    /// The slowest answer while the database was paused or without a primary.
    pub slowest_while_away: Duration,
    /// Social-status checks answered 200 to the medical user.
    pub medical_checks: u64,
    /// The events the auditor read from the feed, in the order read, with their cursors.
    pub feed: Vec<(String, (i64, i64))>,
}

impl Seen {
    fn count(&mut self, kind: String) {
        *self.answers.entry(kind).or_default() += 1;
    }
}

/// One client's calls: the answer's status and body, or the kind of failure.
async fn call(
    seen: &Mutex<Seen>,
    away: &AtomicBool,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Option<(u16, Value)> {
    let answer = send(seen, away, what, request).await?;
    let code = answer.status().as_u16();
    Some((code, answer.json().await.unwrap_or(Value::Null)))
}

/// Sends a call and counts its answer by kind: the answer, or `None` when there was none.
async fn send(
    seen: &Mutex<Seen>,
    away: &AtomicBool,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Option<reqwest::Response> {
    let while_away = away.load(Ordering::SeqCst);
    let started = Instant::now();
    let answer = request.timeout(HUNG).send().await;
    let took = started.elapsed();
    // Sent or answered while the database was away.
    let while_away = while_away || away.load(Ordering::SeqCst);
    let mut seen = seen.lock().expect("seen");
    if while_away {
        seen.slowest_while_away = seen.slowest_while_away.max(took);
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
}

/// A citizen filing and signing again and again, and an operator reading what was filed, at the
/// `which`th `egov serve`.
async fn client(
    stand: Arc<ClientSide>,
    which: usize,
    seen: Arc<Mutex<Seen>>,
    away: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut pace = tokio::time::interval(stand.pace);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round = 0_u64;
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        round += 1;
        // Every fourth filing asks for a SIK: a call that changes the registry's records.
        let service = if round % 4 == 0 {
            "sik-assignment"
        } else {
            "pension-fund-statement"
        };
        let base = stand.bases.get(which);
        let filing = http
            .post(format!("{base}/api/v1/requests"))
            .bearer_auth(&stand.citizen)
            .json(&json!({"service": service, "iin": AIDA, "form": {}}));
        let Some((201, body)) = call(&seen, &away, "file", filing).await else {
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
            let base = stand.bases.get(which);
            let signing = http
                .post(format!("{base}/api/v1/requests/{number}/signature"))
                .bearer_auth(&stand.citizen)
                .json(&json!({ "cms": cms }));
            match call(&seen, &away, "sign", signing).await {
                Some((202, _)) => {
                    seen.lock().expect("seen").signed.push(number.clone());
                    break;
                }
                Some((409, _)) => break,
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        // The status view is fed from the topic: a request filed a moment ago may not be in it
        // yet (404), so the operator looks again a few times.
        for _ in 0..6 {
            let base = stand.bases.get(which);
            let reading = http
                .get(format!("{base}/api/v1/requests/{number}"))
                .bearer_auth(&stand.operator)
                .header("X-Purpose", "chaos campaign");
            match call(&seen, &away, "read", reading).await {
                Some((200, _)) => {
                    *seen.lock().expect("seen").reads.entry(number).or_default() += 1;
                    break;
                }
                Some((404, _)) => tokio::time::sleep(Duration::from_millis(500)).await,
                _ => break,
            }
        }
    }
}

/// What the clients need of the stand (shared across their tasks).
struct ClientSide {
    bases: Arc<Bases>,
    citizen: String,
    operator: String,
    pki: Arc<Mutex<Pki>>,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_fault_campaign_loses_nothing_acknowledged_and_recovers_by_itself() {
    let seconds: u64 = setting("EGOV_CHAOS_SECONDS", 90);
    let seed: u64 = setting("EGOV_CHAOS_SEED", 2);
    let every: u64 = setting("EGOV_CHAOS_EVERY", 4);
    let clients: u32 = setting("EGOV_CHAOS_CLIENTS", 4);
    // Filings a second, all clients together: about half of what the workflow of a debug build
    // carries here (a faster pace builds a backlog that the end of the run waits for).
    let rate: u32 = setting("EGOV_CHAOS_RATE", 15);
    let mut stand = Stand::start().await;
    let side = Arc::new(ClientSide {
        bases: stand.bases.clone(),
        citizen: stand.citizen_token(),
        operator: stand.operator_token(),
        pki: stand.pki.clone(),
        signer: stand.signer.take().expect("the signer"),
        pace: Duration::from_secs(1) * clients / rate.max(1),
    });
    let seen = Arc::new(Mutex::new(Seen::default()));
    let away = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // The clients take turns at the two `egov serve`.
    let mut tasks: Vec<_> = (0..usize::try_from(clients).unwrap_or(1))
        .map(|which| {
            tokio::spawn(client(
                side.clone(),
                which,
                seen.clone(),
                away.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let others = Arc::new(Others {
        bases: stand.bases.clone(),
        seen: seen.clone(),
        away: away.clone(),
        stop: stop.clone(),
    });
    tasks.push(tokio::spawn(
        others.clone().medic(others::medic_token(&stand.keys)),
    ));
    tasks.push(tokio::spawn(
        others.clone().auditor(others::auditor_token(&stand.keys)),
    ));
    let mut deck = Deck::new(StdRng::seed_from_u64(seed));
    let mut injected: BTreeMap<String, u64> = BTreeMap::new();
    let mut recovery: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut caught_up: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // `egov serve`'s resident memory after each fault, in MiB.
    let mut rss: Vec<f64> = Vec::new();
    let started = Instant::now();
    // As long as asked, and until every kind of fault has come up once.
    while started.elapsed() < Duration::from_secs(seconds) || injected.len() < stand::KINDS {
        tokio::time::sleep(Duration::from_millis(
            deck.rng().gen_range(every * 500..=every * 1500),
        ))
        .await;
        let fault = deck.draw();
        eprintln!(
            "chaos: {:?} at {:.1} s",
            fault,
            started.elapsed().as_secs_f64()
        );
        let back = stand.inject(fault, &away).await;
        recovery
            .entry(format!("{fault:?}"))
            .or_default()
            .push(back.ready.as_secs_f64());
        caught_up
            .entry(format!("{fault:?}"))
            .or_default()
            .push(back.current.as_secs_f64());
        *injected.entry(format!("{fault:?}")).or_default() += 1;
        rss.extend(stand.serves.iter().filter_map(|s| rss_mib(s.child.id())));
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
    let found = invariants::violations(&stand, &seen).await;
    eprintln!("chaos: checked at {:.1} s", started.elapsed().as_secs_f64());
    let report = json!({
        "seed": seed,
        "seconds": seconds,
        "faults": injected,
        "recovery_to_ready_seconds": percentiles(&mut recovery),
        "recovery_to_read_models_current_seconds": percentiles(&mut caught_up),
        "serve_rss_mib": {"min": rss.iter().copied().fold(f64::INFINITY, f64::min), "max": rss.iter().copied().fold(0.0, f64::max)},
        "answers": seen.answers,
        "filed": seen.filed.len(),
        "signed": seen.signed.len(),
        "operator_reads": seen.reads.values().sum::<u64>(),
        "medical_checks": seen.medical_checks,
        "feed_events_read": seen.feed.len(),
        "slowest_answer_while_db_away_ms": seen.slowest_while_away.as_millis(),
        "violations": found,
    });
    eprintln!("{}", readable(&report));
    println!("{report}");
    assert!(
        !seen.signed.is_empty(),
        "the load signed requests: {report}"
    );
    assert!(found.values().all(|n| *n == 0), "violations: {report}");
}

/// The median and the 99th percentile of each kind's times.
/// The report as a person reads it: each fault kind with its count and recovery, the answers by
/// kind, then each invariant with its violations (the JSON line after it has the same).
fn readable(report: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let seconds = |kind: &str, which: &str, p: &str| report[which][kind][p].as_f64().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "{:<16} {:>5}  {:>20}  {:>20}",
        "fault", "count", "ready p50 / p99 s", "current p50 / p99 s"
    );
    for (kind, count) in report["faults"].as_object().into_iter().flatten() {
        let (ready, current) = (
            "recovery_to_ready_seconds",
            "recovery_to_read_models_current_seconds",
        );
        let _ = writeln!(
            out,
            "{kind:<16} {count:>5}  {:>9.2} / {:>8.2}  {:>9.2} / {:>8.2}",
            seconds(kind, ready, "p50"),
            seconds(kind, ready, "p99"),
            seconds(kind, current, "p50"),
            seconds(kind, current, "p99"),
        );
    }
    for (answer, count) in report["answers"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "answer {answer:<24} {count:>8}");
    }
    for (check, count) in report["violations"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "invariant {check:<40} {count:>4}");
    }
    out
}

fn percentiles(times: &mut BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Value> {
    times
        .iter_mut()
        .map(|(kind, times)| {
            (
                kind.clone(),
                json!({"p50": percentile(times, 0.5), "p99": percentile(times, 0.99)}),
            )
        })
        .collect()
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
