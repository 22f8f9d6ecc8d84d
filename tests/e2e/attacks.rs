//! Attacks on the running binary that only show from outside the process: a production-like setup
//! that would quietly fall back to development stand-ins (issue 23, finding 12).

use std::process::Stdio;
use std::time::{Duration, Instant};

use testkit::TestDb;

use crate::support::process::egov;

/// Runs `egov serve` with `envs`, expecting it to refuse to start; its stderr.
fn refused_to_serve(envs: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().expect("data dir");
    let mut command = egov();
    command
        .arg("serve")
        .env("EGOV_HTTP_ADDR", "127.0.0.1:0")
        .env("EGOV_DATA_DIR", data.path().join("pg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("egov serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("egov serve started with {envs:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "egov serve succeeded with {envs:?}");
    stderr
}

/// Finding 12: `EGOV_JWT_PUBLIC_KEYS=","` silently meant development mode, and the development
/// provider key and the registry simulator were used with only a warning when `DATABASE_URL` was
/// set. With a database and no `EGOV_MODE=development`, each stand-in now stops the start,
/// naming what is missing.
#[tokio::test]
async fn a_production_setup_refuses_each_development_stand_in() {
    let db = TestDb::empty().await;
    let url = db.url();
    let [(database, runtime), (migrate, owner)] = db.service_env().await;
    let pki = testkit::pki::Pki::new();
    let anchors = pki.anchors_file().display().to_string();
    let base = [(database, runtime.as_str()), (migrate, owner.as_str())];
    // A provider key of its own, made as development makes one, given as production is given it.
    let provider = tempfile::tempdir().expect("provider dir");
    commands::results::ProviderKey::development(provider.path()).expect("a provider key");
    let key = provider
        .path()
        .join("provider-key.pem")
        .display()
        .to_string();
    let cert = provider
        .path()
        .join("provider-cert.pem")
        .display()
        .to_string();
    let registry = ("EGOV_REGISTRY_URL", "http://127.0.0.1:9");
    let provider_key = [
        ("EGOV_PROVIDER_KEY", key.as_str()),
        ("EGOV_PROVIDER_CERT", cert.as_str()),
    ];
    // And a log key of its own, made as `egov log-key` makes one.
    let log_key = provider.path().join("log-key");
    commands::results::log_key::create(&log_key, "egov-events.test/log").expect("a log key");
    let log_key = log_key.display().to_string();
    let cases: [(Vec<(&str, &str)>, &str); 6] = [
        (vec![("EGOV_JWT_PUBLIC_KEYS", ",")], "EGOV_JWT_PUBLIC_KEYS"),
        (vec![], "EGOV_REGISTRY_URL"),
        (vec![registry], "EGOV_PROVIDER_KEY"),
        (
            [&[registry], &provider_key[..]].concat(),
            "EGOV_TRUST_ANCHORS",
        ),
        (
            [
                &[registry, ("EGOV_TRUST_ANCHORS", &anchors)],
                &provider_key[..],
            ]
            .concat(),
            "EGOV_LOG_KEY",
        ),
        (
            [
                &[
                    registry,
                    ("EGOV_TRUST_ANCHORS", &anchors),
                    ("EGOV_LOG_KEY", &log_key),
                ],
                &provider_key[..],
            ]
            .concat(),
            "EGOV_JWT_PUBLIC_KEYS",
        ),
    ];
    for (extra, named) in cases {
        let envs: Vec<(&str, &str)> = base.iter().copied().chain(extra.iter().copied()).collect();
        let stderr = refused_to_serve(&envs);
        assert!(
            stderr.contains(named),
            "{envs:?} should name {named}:\n{stderr}"
        );
    }
    // Nor does it log in as the schema's owner (here a superuser): a hijacked or injected
    // statement would have the owner's rights.
    let stderr = refused_to_serve(&[("DATABASE_URL", &url), registry]);
    assert!(stderr.contains("owns the schema"), "{stderr}");
    // Production never starts the embedded cluster.
    let stderr = refused_to_serve(&[("EGOV_MODE", "production")]);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    // Nor does `egov token` sign anything in production.
    let token = egov()
        .args(["token", "--role", "citizen", "--sub", "900101300007"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("egov token");
    assert!(!token.status.success());
    assert!(String::from_utf8_lossy(&token.stderr).contains("EGOV_MODE=development"));
}

/// Finding 7: one citizen filing in a loop could spend the day's 999,999 request numbers and stop
/// filing for everyone. Now a burst past the principal's bucket gets 429 with Retry-After at
/// once, and past the daily count 429 `daily-limit-reached` until the next day - while another
/// citizen files as usual.
#[tokio::test]
async fn one_citizen_filing_in_a_loop_is_held_back_and_cannot_spend_the_days_numbers() {
    use crate::support::portal::Portal;
    use serde_json::json;
    const MALLORY: &str = "900101300007";
    const BOB: &str = "850715400109";
    let portal = Portal::start_with(&[
        ("EGOV_WRITES_PER_SECOND", "1"),
        ("EGOV_WRITE_BURST", "5"),
        ("EGOV_DAILY_FILINGS", "8"),
    ])
    .await;
    let file = |iin: &'static str| {
        let portal = &portal;
        async move {
            portal
                .http
                .post(portal.url("/api/v1/requests"))
                .bearer_auth(portal.keys.citizen(iin))
                .json(&json!({"service": "pension-fund-statement", "iin": iin, "form": {}}))
                .send()
                .await
                .expect("file")
        }
    };
    let mut filed = 0;
    let held = loop {
        let answer = file(MALLORY).await;
        if answer.status() != 201 {
            break answer;
        }
        filed += 1;
        assert!(filed < 8, "no rate limit after {filed} quick filings");
    };
    // The burst, and at most a token or two refilled meanwhile on a slow machine.
    assert!(filed >= 5, "held back after {filed}");
    assert_eq!(held.status(), 429);
    let wait: u64 = held.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let problem: serde_json::Value = held.json().await.expect("problem");
    assert_eq!(problem["code"], "too-many-requests", "{problem}");
    assert_eq!(
        file(BOB).await.status(),
        201,
        "another citizen is not held up"
    );

    // Past the day's count, whatever the pace.
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        assert!(
            Instant::now() < deadline,
            "no daily limit after {filed} filings"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let answer = file(MALLORY).await;
        match answer.status().as_u16() {
            201 => filed += 1,
            429 => {
                let problem: serde_json::Value = answer.json().await.expect("problem");
                if problem["code"] == "daily-limit-reached" {
                    break problem;
                }
            }
            other => panic!("unexpected {other}"),
        }
    };
    assert_eq!(filed, 8, "{refused}");
    assert!(refused["texts"]["ru"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let count: i64 = portal
        .db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM request_numbers", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 9, "no number was drawn for a refused filing");
}

/// The HTTP abuse of the attack suite (scripts/abuse.py, smaller than its bench run): 4 KiB junk
/// tokens in a flood, requests with hundreds of large headers, and slowloris (headers a line at a
/// time, bodies a byte at a time) - while `/healthz` and a citizen's status are asked on fresh
/// connections. Every probe is answered, no 5xx, the server lives; each junk token gets 401, each
/// header flood 431, and a trickling body 408 at `EGOV_BODY_DEADLINE`. The full figures (100,000 tokens, 10,000 connections, RSS) are the
/// bench's: `python3 scripts/abuse.py`.
#[test]
fn junk_tokens_header_floods_and_slowloris_leave_the_service_answering() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/abuse.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(["--egov", env!("CARGO_BIN_EXE_egov")])
        .args(["--flood", "5000", "--connections", "1000", "--seconds", "8"])
        .args(["--probe-timeout", "10"])
        .output()
        .expect("python3 scripts/abuse.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("answers {401: 4992}"), "{stdout}");
    // The refused tokens are the clients' mistakes: the server's log does not grow with them.
    let log_lines: u32 = stdout
        .split("log lines ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .expect("the flood's log lines");
    assert!(
        log_lines < 50,
        "{log_lines} log lines for the flood: {stdout}"
    );
    assert!(stdout.contains("answers {431: 200}"), "{stdout}");
    // Bodies sent a byte a second are cut off at the deadline (5 s in the script's server).
    assert!(stdout.contains("'bodies_answered': {408: "), "{stdout}");
    eprintln!("{stdout}");
}
