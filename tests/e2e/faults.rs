//! Faults of the database as a running service meets them: each test makes the fault happen to
//! the real server (a signal to its processes, its primary lost) and asks the service over HTTP
//! what a client sees.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::{egov, eventually, metrics_at, postmaster, Paused, Served};
use crate::support::replication;

const CITIZEN: &str = "760324400005";

fn token(data_dir: &str) -> String {
    let output = egov()
        .args([
            "token", "--role", "citizen", "--sub", CITIZEN, "--ttl", "10m",
        ])
        .env("EGOV_MODE", "development")
        .env("EGOV_DATA_DIR", data_dir)
        .output()
        .expect("egov token");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A client whose own bound (10 s) keeps a hung request from hanging the test.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A pension-fund statement filed for the citizen: the answer.
async fn filing(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    http.post(format!("{base}/api/v1/requests"))
        .bearer_auth(token)
        .json(&json!({"service": "pension-fund-statement", "iin": CITIZEN, "form": {}}))
        .send()
        .await
        .expect("an answer, not a hung request")
}

/// Files a pension-fund statement; the answer's status, its `Retry-After` and how long it took.
async fn file(http: &reqwest::Client, base: &str, token: &str) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let answer = filing(http, base, token).await;
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (answer.status().as_u16(), retry_after, started.elapsed())
}

async fn status(http: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("an answer, not a hung request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn with_postgresql_paused_requests_get_503_with_retry_after_and_the_service_recovers_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("pg");
    let data = data_dir.to_string_lossy().into_owned();
    let mut served = Served::start(&[
        ("EGOV_DATA_DIR", &data),
        ("EGOV_MODE", "development"),
        ("EGOV_WORKFLOW", "off"),
    ]);
    served.wait_ready(Duration::from_secs(120)).await;
    let base = served.base.clone();
    let token = token(&data);
    let http = client();
    let (filed, _, _) = file(&http, &base, &token).await;
    assert_eq!(filed, 201);

    let (pid, _) = postmaster(&data_dir).expect("the embedded cluster runs");
    let paused = Paused::cluster(pid);
    // Sent while the database has just stopped answering: the request waits on it until the
    // service sees it away, then is answered 503 (before: it waited for the pool for 5 s, and
    // `/readyz` hung for as long as the database was paused).
    let (code, retry_after, took) = file(&http, &base, &token).await;
    assert_eq!(code, 503, "filing while the database is paused");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    eprintln!("filing with the database just paused: 503 in {took:?}");
    let readyz = Instant::now();
    assert_eq!(status(&http, &format!("{base}/readyz"), None).await, 503);
    eprintln!("/readyz while paused: 503 in {:?}", readyz.elapsed());
    let (code, retry_after, took) = file(&http, &base, &token).await;
    assert_eq!((code, retry_after.is_some()), (503, true));
    eprintln!("filing while seen away: 503 in {took:?}");
    let own = format!("{base}/api/v1/requests");
    assert_eq!(status(&http, &own, Some(&token)).await, 503);
    // The process itself still answers, and says what it sees.
    assert_eq!(status(&http, &format!("{base}/healthz"), None).await, 200);
    let metrics = metrics_at(&http, &base).await;
    assert!(metrics.contains("egov_database_up 0"), "{metrics}");
    assert!(metrics.contains("egov_database_away_total 1"), "{metrics}");
    assert!(metrics.contains("egov_read_audit_queued 0"), "{metrics}");

    drop(paused);
    eventually(
        "ready again without a restart",
        Duration::from_secs(30),
        || {
            let http = http.clone();
            let url = format!("{base}/readyz");
            async move { status(&http, &url, None).await == 200 }
        },
    )
    .await;
    let (code, _, _) = file(&http, &base, &token).await;
    assert_eq!(code, 201, "filing works again");
    assert_eq!(status(&http, &own, Some(&token)).await, 200);
    assert!(served.terminate(), "egov stops cleanly after the fault");
}

/// The number of a filing answered 201.
async fn filed(http: &reqwest::Client, base: &str, token: &str) -> String {
    let answer = filing(http, base, token).await;
    assert_eq!(answer.status(), 201, "filed");
    let body: serde_json::Value = answer.json().await.expect("JSON");
    body["number"].as_str().expect("number").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_service_finds_the_promoted_standby_and_keeps_every_acknowledged_filing(
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (primary, standby) = replication::pair(dir.path()).await;
    let url = replication::url(&primary, &standby);
    let data = dir.path().join("keys").to_string_lossy().into_owned();
    let mut served = Served::start(&[
        ("DATABASE_URL", &url),
        ("EGOV_MIGRATE_DATABASE_URL", &url),
        ("EGOV_DATA_DIR", &data),
        ("EGOV_MODE", "development"),
        ("EGOV_WORKFLOW", "off"),
    ]);
    served.wait_ready(Duration::from_secs(120)).await;
    let base = served.base.clone();
    let token = token(&data);
    let http = client();
    let mut numbers = Vec::new();
    for _ in 0..10 {
        numbers.push(filed(&http, &base, &token).await);
    }

    // A standby that lost its primary connects again within 200 ms, not PostgreSQL's 5 s: under
    // synchronous replication every commit waits that long after a restart of the primary.
    let retry: String = replication::superuser_at(standby.port())
        .await
        .query_one("SHOW wal_retrieve_retry_interval", &[])
        .await
        .expect("the standby's setting")
        .get(0);
    assert_eq!(retry, "200ms");

    // The primary is lost; until the standby is promoted nothing takes writes (the standby is
    // read-only, and the URL asks for a server that takes them): 503 with Retry-After.
    tokio::task::block_in_place(|| primary.crash()).expect("the primary stops");
    let (code, retry_after, took) = file(&http, &base, &token).await;
    assert_eq!((code, retry_after.is_some()), (503, true), "took {took:?}");
    tokio::task::block_in_place(|| standby.promote()).expect("promoted");
    let promoted = Instant::now();
    eventually(
        "ready on the promoted standby without a restart",
        Duration::from_secs(30),
        || {
            let http = http.clone();
            let url = format!("{base}/readyz");
            async move { status(&http, &url, None).await == 200 }
        },
    )
    .await;
    eprintln!("ready {:?} after the promotion", promoted.elapsed());
    numbers.push(filed(&http, &base, &token).await);
    // Every filing answered 201 is on the new primary: the old one acknowledged each only once
    // the standby had it.
    let on_new_primary: i64 = replication::superuser_at(standby.port())
        .await
        .query_one(
            "SELECT count(*) FROM request_numbers WHERE number = ANY($1)",
            &[&numbers],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(on_new_primary, 11);
    assert!(served.terminate(), "egov stops cleanly after the failover");
}
