//! `egov-bench read`: the read side's figures. In a scratch database it writes `requests` requests
//! of five events each (submitted, signed, signature verified, a lookup asked and answered), then
//! (1) rebuilds the status view from the first event (`egov projections rebuild request_status`),
//! and (2) serves the API in this process and runs `wrk` at `connections` connections against
//! `GET /api/v1/requests/{number}` (`keys` numbers spread over the view, asked at random, with a
//! citizen's token) and, in the
//! same run, against `/healthz` as the reference. The last line is one JSON object.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use domain::request::CertificateInfo;
use domain::request::{
    decide, evolve, Command as DomainCommand, Filing, LookupOutcome, Request, SignatureCheck,
};
use domain::{
    Actor, Channel, EventMetadata, Iin, RequestNumber, ServiceCode, StreamId, StreamVersion,
};
use event_store::{EventStore, NewEvent};
use serde::Serialize;
use uuid::Uuid;

use api::token::{Claims, DevKey, Role};
use api::{Adapters, App, Settings};
use commands::adapters::nca::fake::FakeVerifier;
use commands::adapters::registries::fake::FakeRegistries;
use commands::adapters::scans::fake::InMemoryScans;
use commands::results::ProviderKey;
use projections::ReadModel;
use tokio_util::sync::CancellationToken;

use crate::scratch::{self, connect, failed, io, BenchError};

/// What the read benchmark is asked to do.
#[derive(Debug, Clone)]
pub struct ReadBenchOptions {
    pub requests: u64,
    /// How many distinct requests the load asks for (spread over all of them).
    pub keys: usize,
    pub seconds: u64,
    pub connections: u32,
    /// Rounds of (a citizen's run, an operator's run) that `read_audit_ratio` compares.
    pub rounds: usize,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct ReadBenchReport {
    pub requests: u64,
    pub events: u64,
    pub fill_events_per_s: f64,
    pub rebuild_events: u64,
    pub rebuild_seconds: f64,
    pub rebuild_events_per_s: f64,
    pub rebuild_swap_ms: f64,
    pub connections: u32,
    pub seconds: u64,
    pub status_requests_per_s: f64,
    pub status_p50_ms: f64,
    pub status_p99_ms: f64,
    pub status_non_2xx: u64,
    pub healthz_requests_per_s: f64,
    pub healthz_p99_ms: f64,
    pub status_ratio: f64,
    /// The same reads by an operator, each recorded (read-auditing on): the mean over the rounds,
    /// and the worst round's p99.
    pub operator_requests_per_s: f64,
    pub operator_p99_ms: f64,
    /// Operator reads not answered 2xx (refused because their record could not be made): a
    /// fast refusal would flatter the rate, so it is counted.
    pub operator_non_2xx: u64,
    /// Reads on record in the log after the runs, against the operator's 2xx answers: every
    /// answered read is recorded (at least as many records as answers).
    pub operator_reads_recorded: u64,
    pub operator_reads_answered: u64,
    /// The appends (commits) that carried those records: reads per commit is the group size.
    pub operator_record_appends: u64,
    /// The citizen's (not audited) rate in the runs alternating with the operator's.
    pub audit_citizen_requests_per_s: f64,
    /// Operator (audited) over citizen (not audited) rate, over all rounds.
    pub read_audit_ratio: f64,
    /// The same, round by round.
    pub read_audit_round_ratios: Vec<f64>,
    /// Events copied through the NDJSON audit feed by one client, and the rate.
    pub feed_events: u64,
    pub feed_events_per_s: f64,
}

const CITIZEN: &str = "900101300007";

/// Runs the read benchmark in the (scratch) database of `config`.
///
/// # Errors
/// [`BenchError`] naming what failed.
pub async fn run(
    config: &tokio_postgres::Config,
    options: &ReadBenchOptions,
) -> Result<ReadBenchReport, BenchError> {
    let db = crate::scratch::migrated(config, 24).await?;
    let store = EventStore::new(db.clone());

    eprintln!("writing {} requests of 5 events ...", options.requests);
    let started = Instant::now();
    let numbers = fill(&store, options.requests).await?;
    let events = options.requests * 5;
    let fill_rate = events as f64 / started.elapsed().as_secs_f64();

    eprintln!("(1) rebuilding request_status over {events} events ...");
    let rebuild = ReadModel::RequestStatus.rebuild(&store).await?;

    settle(config).await?;
    eprintln!(
        "(2) wrk, {} connections, {} s each: status view, then /healthz ...",
        options.connections, options.seconds
    );
    let dir = tempfile::tempdir().map_err(io("making a scratch directory"))?;
    let (server, base, stop) = serve(config, dir.path()).await?;
    let tokens = Tokens::of(&server)?;
    let (lua, operator_lua) = scripts(dir.path(), &numbers, options.keys, &tokens)?;
    // A short unmeasured pass first for each: clients poll the same requests all day, so the
    // steady state (connections open, recent rows in the cache) is what is measured.
    let warm_up = ReadBenchOptions {
        seconds: 2,
        ..options.clone()
    };
    wrk(&base, "/", Some(&lua), &warm_up).await?;
    let status = wrk(&base, "/", Some(&lua), options).await?;
    wrk(&base, "/healthz", None, &warm_up).await?;
    let healthz = wrk(&base, "/healthz", None, options).await?;
    let audit = audit_rounds(&base, &lua, &operator_lua, options).await?;
    let (recorded, record_appends) = operator_reads_recorded(config).await?;
    // (4) The audit feed: one client copies the whole log in pages of 10,000 events.
    eprintln!("(4) one client reading the NDJSON audit feed from the start ...");
    let (feed_events, feed_seconds) = read_feed(&base, &tokens.auditor).await?;

    stop.stop().await;
    Ok(ReadBenchReport {
        requests: options.requests,
        events,
        fill_events_per_s: fill_rate,
        rebuild_events: rebuild.events,
        rebuild_seconds: rebuild.seconds,
        rebuild_events_per_s: rebuild.events_per_second,
        rebuild_swap_ms: rebuild.swap_ms,
        connections: options.connections,
        seconds: options.seconds,
        status_requests_per_s: status.requests_per_s,
        status_p50_ms: status.p50_ms,
        status_p99_ms: status.p99_ms,
        status_non_2xx: status.non_2xx,
        healthz_requests_per_s: healthz.requests_per_s,
        healthz_p99_ms: healthz.p99_ms,
        status_ratio: status.requests_per_s / healthz.requests_per_s.max(f64::MIN_POSITIVE),
        operator_requests_per_s: audit.operator_total / options.rounds as f64,
        operator_p99_ms: audit.operator_p99_ms,
        operator_non_2xx: audit.operator_non_2xx,
        operator_reads_recorded: recorded,
        operator_record_appends: record_appends,
        operator_reads_answered: audit.operator_answered,
        audit_citizen_requests_per_s: audit.citizen_total / options.rounds as f64,
        read_audit_ratio: audit.operator_total / audit.citizen_total.max(f64::MIN_POSITIVE),
        read_audit_round_ratios: audit
            .rounds
            .iter()
            .map(|(citizen, operator)| operator / citizen.max(f64::MIN_POSITIVE))
            .collect(),
        feed_events,
        feed_events_per_s: feed_events as f64 / feed_seconds.max(f64::MIN_POSITIVE),
    })
}

/// The operator's reads on record in the log (warm-up runs included), and the appends that
/// carried them.
async fn operator_reads_recorded(
    config: &tokio_postgres::Config,
) -> Result<(u64, u64), BenchError> {
    let client = connect(config).await?;
    let row = client
        .query_one(
            "SELECT coalesce(sum(jsonb_array_length(g->'reads')), 0)::int8,
                    count(DISTINCT stream_id)
               FROM events, jsonb_array_elements(payload->'groups') g
              WHERE event_type = 'DataAccessed' AND g->>'reader' = 'operator-1'",
            &[],
        )
        .await
        .map_err(|e| BenchError::Database("counting the reads on record", e))?;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Ok((count(0), count(1)))
}

/// Settles the database as an operating one would be: vacuumed and checkpointed (autovacuum and
/// a checkpoint of the fill's WAL would otherwise run during the measured runs and take a core).
async fn settle(config: &tokio_postgres::Config) -> Result<(), BenchError> {
    let admin = connect(config).await?;
    for statement in [
        "VACUUM (ANALYZE) events",
        "VACUUM (ANALYZE) projections.request_status",
        "CHECKPOINT",
    ] {
        admin
            .batch_execute(statement)
            .await
            .map_err(|e| BenchError::Database("vacuuming the scratch database", e))?;
    }
    Ok(())
}

/// The tokens of the benchmark's readers.
struct Tokens {
    citizen: String,
    operator: String,
    auditor: String,
}

impl Tokens {
    /// Tokens the app of `server` trusts: in development mode, signed with the development key
    /// kept beside its data directory.
    fn of(server: &Settings) -> Result<Tokens, BenchError> {
        let key = DevKey::load_or_create(&server.dev_key_path())?;
        let now = Utc::now().timestamp();
        let sign = |role: Role, sub: &str, org: Option<&str>| {
            key.sign(&Claims {
                sub: sub.into(),
                role,
                iss: server.jwt_issuer.clone(),
                aud: server.jwt_audience.clone(),
                exp: now + 3600,
                nbf: Some(now),
                iat: Some(now),
                org: org.map(str::to_owned),
            })
        };
        Ok(Tokens {
            citizen: sign(Role::Citizen, CITIZEN, None)?,
            operator: sign(Role::Operator, "operator-1", Some("bench"))?,
            auditor: sign(Role::Auditor, "auditor-1", Some("bench"))?,
        })
    }
}

/// wrk scripts in `dir` that read `keys` of `numbers` at random, as the citizen and as the
/// operator; their paths.
fn scripts(
    dir: &std::path::Path,
    numbers: &[RequestNumber],
    keys: usize,
    tokens: &Tokens,
) -> Result<(std::path::PathBuf, std::path::PathBuf), BenchError> {
    let list = numbers
        .iter()
        .step_by((numbers.len() / keys.max(1)).max(1))
        .map(RequestNumber::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("numbers.txt"), list).map_err(io("writing the numbers"))?;
    let script = |token: &str| {
        format!(
            r#"local numbers = {{}}
for line in io.lines("{numbers}") do numbers[#numbers + 1] = line end
math.randomseed(7)
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["X-Purpose"] = "benchmark"
request = function()
  return wrk.format("GET", "/api/v1/requests/" .. numbers[math.random(#numbers)])
end
"#,
            numbers = dir.join("numbers.txt").display()
        )
    };
    let (citizen, operator) = (dir.join("status.lua"), dir.join("operator.lua"));
    std::fs::write(&citizen, script(&tokens.citizen)).map_err(io("writing the wrk script"))?;
    std::fs::write(&operator, script(&tokens.operator)).map_err(io("writing the wrk script"))?;
    Ok((citizen, operator))
}

/// The read-auditing rounds: the operator's runs (every read recorded) alternating with the
/// citizen's.
struct AuditRounds {
    /// (citizen, operator) requests per second of each round.
    rounds: Vec<(f64, f64)>,
    citizen_total: f64,
    operator_total: f64,
    operator_p99_ms: f64,
    operator_non_2xx: u64,
    operator_answered: u64,
}

/// (3) An operator reading the same requests: every read is recorded (read-auditing on). The
/// operator's runs alternate with the citizen's, so that a drift of the machine over the run
/// (other work, the autovacuum of the fill) weighs on both sides alike.
async fn audit_rounds(
    base: &str,
    lua: &std::path::Path,
    operator_lua: &std::path::Path,
    options: &ReadBenchOptions,
) -> Result<AuditRounds, BenchError> {
    eprintln!(
        "(3) wrk as an operator (every read recorded), alternating with the citizen, {} rounds ...",
        options.rounds
    );
    let warm_up = ReadBenchOptions {
        seconds: 2,
        ..options.clone()
    };
    wrk(base, "/", Some(operator_lua), &warm_up).await?;
    let mut rounds = Vec::with_capacity(options.rounds);
    let mut operator_p99_ms = 0f64;
    let (mut operator_non_2xx, mut operator_answered) = (0, 0);
    for _ in 0..options.rounds {
        let citizen = wrk(base, "/", Some(lua), options).await?;
        let operator = wrk(base, "/", Some(operator_lua), options).await?;
        operator_p99_ms = operator_p99_ms.max(operator.p99_ms);
        operator_non_2xx += operator.non_2xx;
        operator_answered += operator.requests.saturating_sub(operator.non_2xx);
        rounds.push((citizen.requests_per_s, operator.requests_per_s));
    }
    Ok(AuditRounds {
        citizen_total: rounds.iter().map(|r| r.0).sum(),
        operator_total: rounds.iter().map(|r| r.1).sum(),
        rounds,
        operator_p99_ms,
        operator_non_2xx,
        operator_answered,
    })
}

/// The app serving over the scratch database: the status view's read model only (the others
/// would catch up over the fill during the measured runs), no workflow, development keys in
/// `dir`; its settings, base URL and the handle that stops it.
async fn serve(
    config: &tokio_postgres::Config,
    dir: &std::path::Path,
) -> Result<(Settings, String, Served), BenchError> {
    let mut settings = Settings::from_lookup(|_| None).map_err(failed)?;
    settings.database_url = Some(scratch::conninfo(config));
    settings.db_pool_size = 24;
    settings.http_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    settings.data_dir = dir.join("pg");
    settings.workflow = false;
    settings.read_models = vec![ReadModel::RequestStatus];
    // No registry, verifier or scan is asked by the read benchmark: stand-ins in their place.
    let provider = ProviderKey::development(&settings.dev_provider_dir()).map_err(failed)?;
    let adapters = Adapters {
        verifier: Arc::new(FakeVerifier::new()),
        registries: Arc::new(FakeRegistries::new()),
        checks: Arc::new(FakeRegistries::new()),
        scans: Arc::new(InMemoryScans::new()),
        provider,
        log: Arc::new(api::adapters::log_signer(&settings).map_err(failed)?),
        dev_ca: None,
    };
    let app = App::build_with(&settings, adapters).await.map_err(failed)?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run(stop.clone()));
    Ok((settings, base, Served { stop, task }))
}

/// The app serving in the background.
struct Served {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Reads the whole log through `GET /api/v1/audit/events` in pages of 10,000; (events, seconds).
async fn read_feed(base: &str, token: &str) -> Result<(u64, f64), BenchError> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut after = String::new();
    let mut events = 0u64;
    loop {
        let mut url = format!("{base}/api/v1/audit/events?limit=10000");
        if !after.is_empty() {
            url.push_str("&after=");
            url.push_str(&after);
        }
        let answer = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(failed)?;
        if !answer.status().is_success() {
            return Err(failed(format!("the feed answered {}", answer.status())));
        }
        after = answer
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = answer.bytes().await.map_err(failed)?;
        let lines = body.iter().filter(|b| **b == b'\n').count() as u64;
        if lines == 0 {
            break;
        }
        events += lines;
    }
    Ok((events, started.elapsed().as_secs_f64()))
}

/// Writes `count` requests of five events each with 16 concurrent writers; returns their numbers.
async fn fill(store: &EventStore, count: u64) -> Result<Vec<RequestNumber>, BenchError> {
    const WRITERS: u64 = 16;
    let today = domain::calendar::local_date(Utc::now());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            let mut i = w;
            while i < count {
                let sequence = u32::try_from(i + 1).map_err(failed)?;
                let number = RequestNumber::new(today, sequence).map_err(failed)?;
                append_request(&store, number.clone()).await?;
                numbers.push(number);
                i += WRITERS;
            }
            Ok::<_, BenchError>(numbers)
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.extend(task.await.map_err(BenchError::Writer)??);
    }
    Ok(numbers)
}

/// One request's first five events, decided by the domain, appended at once.
async fn append_request(store: &EventStore, number: RequestNumber) -> Result<(), BenchError> {
    let id = Uuid::now_v7();
    let applicant = Iin::parse(CITIZEN).map_err(failed)?;
    let now = Utc::now();
    let service = ServiceCode::PensionFundStatement;
    let lookup = service.service().lookups[0];
    let commands = [
        DomainCommand::Submit(Filing::on_portal(
            id,
            number,
            service,
            applicant.clone(),
            serde_json::json!({}),
        )),
        DomainCommand::Sign {
            signature_sha256: "0".repeat(64),
            cms: String::new(),
        },
        DomainCommand::RecordSignatureCheck(SignatureCheck::Verified(CertificateInfo {
            serial: "01".into(),
            issuer: "CN=bench".into(),
            not_before: now,
            not_after: now,
            subject_iin: Some(applicant.clone()),
            revocation: Some(domain::request::RevocationStatus::Good),
        })),
        DomainCommand::StartLookup { lookup, attempt: 1 },
        DomainCommand::RecordLookup {
            lookup,
            attempt: 1,
            outcome: LookupOutcome::Found(serde_json::json!({"found": true})),
        },
    ];
    let mut state = Request::default();
    let mut events = Vec::new();
    for command in commands {
        for event in decide(&state, command, now).map_err(failed)? {
            state = evolve(state, &event);
            events.push(NewEvent::new(
                Uuid::now_v7(),
                event.event_type(),
                event.schema_version(),
                event.payload(),
            )?);
        }
    }
    let metadata = EventMetadata {
        actor: Actor::Citizen { iin: applicant },
        channel: Channel::Portal,
        correlation_id: id,
        causation_id: None,
    };
    store
        .append(
            StreamId::from_uuid(id),
            StreamVersion::EMPTY,
            &events,
            &metadata,
        )
        .await?;
    Ok(())
}

struct WrkRun {
    /// Requests answered in the run, whatever their status.
    requests: u64,
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

async fn wrk(
    base: &str,
    path: &str,
    script: Option<&std::path::Path>,
    options: &ReadBenchOptions,
) -> Result<WrkRun, BenchError> {
    let mut command = Command::new("wrk");
    command
        .arg("-t2")
        .arg(format!("-c{}", options.connections))
        .arg(format!("-d{}s", options.seconds))
        .arg("--latency");
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    command.arg(format!("{base}{path}"));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(BenchError::Writer)?
        .map_err(|e| {
            BenchError::Wrk(format!(
                "cannot run wrk ({e}); scripts/setup.sh installs it"
            ))
        })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(BenchError::Wrk(format!(
            "failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    eprintln!("{text}");
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let requests_per_s = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| BenchError::Wrk("no Requests/sec in its output".into()))?;
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(WrkRun {
        requests,
        requests_per_s,
        p50_ms: field("50%").map_or(f64::NAN, millis),
        p99_ms: field("99%").map_or(f64::NAN, millis),
        non_2xx,
    })
}

/// wrk's latency, e.g. `1.23ms`, `850.00us`, `1.02s`, in milliseconds.
fn millis(raw: &str) -> f64 {
    let (number, factor) = if let Some(n) = raw.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = raw.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = raw.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (raw, f64::NAN)
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::millis;

    #[test]
    fn wrk_latencies_read_in_milliseconds() {
        assert!((millis("850.00us") - 0.85).abs() < 1e-9);
        assert!((millis("1.50ms") - 1.5).abs() < 1e-9);
        assert!((millis("2.00s") - 2000.0).abs() < 1e-9);
        assert!(millis("fast").is_nan());
    }
}
