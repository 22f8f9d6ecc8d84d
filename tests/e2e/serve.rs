//! `egov serve` against a PostgreSQL server named by DATABASE_URL.

use std::time::Duration;

use testkit::TestDb;

use crate::support::process::Served;

#[tokio::test]
async fn serve_applies_the_migrations_answers_health_and_readiness_and_stops_on_sigterm() {
    let db = TestDb::empty().await;
    let url = db.url();
    // Development mode, asked for: the registry simulator, development keys.
    let mut served = Served::start(&[("DATABASE_URL", &url), ("EGOV_MODE", "development")]);
    served.wait_ready(Duration::from_secs(60)).await;

    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = client
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");

    let applied: i64 = db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("migrations table")
        .get(0);
    assert_eq!(
        applied,
        event_store::migrations::latest_migration(),
        "serve applied every migration at start"
    );
    assert!(served.terminate(), "egov serve exits cleanly on SIGTERM");
}

#[tokio::test]
async fn readiness_answers_503_with_a_problem_document_when_the_database_goes_away() {
    let db = TestDb::empty().await;
    let url = db.url();
    // Development mode, asked for: the registry simulator, development keys.
    let mut served = Served::start(&[("DATABASE_URL", &url), ("EGOV_MODE", "development")]);
    served.wait_ready(Duration::from_secs(60)).await;

    // Make the service's database refuse connections and end the sessions it has.
    let admin = testkit::connect(&testkit::admin_config()).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            db.name()
        ))
        .await
        .expect("close the database");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .expect("end the sessions");

    let client = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..50 {
        let response = client
            .get(format!("{}/readyz", served.base))
            .send()
            .await
            .expect("readyz answers");
        if response.status() == 503 {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.expect("readyz turns 503 while the database is away");
    assert_eq!(
        answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = answer.json().await.expect("problem json");
    // `/readyz`'s own answer, or - once the database watch has called the database away - the
    // watch's, which answers every route needing the database the same way: both are 503
    // problems with texts.
    assert!(
        matches!(problem["code"].as_str(), Some("not-ready" | "unavailable")),
        "{problem}"
    );
    assert!(problem["texts"]["kk"].is_string());

    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            db.name()
        ))
        .await
        .expect("reopen the database");
    served.wait_ready(Duration::from_secs(30)).await;
    assert!(served.terminate());
}
