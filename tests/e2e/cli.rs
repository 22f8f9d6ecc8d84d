//! The `egov` subcommands other than serve.

use testkit::TestDb;

use crate::support::egov;

#[tokio::test]
async fn migrate_applies_every_migration_once_and_then_reports_nothing_to_do() {
    let db = TestDb::empty().await;
    let first = egov()
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run egov migrate");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = egov()
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run egov migrate again");
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
}

#[tokio::test]
async fn verify_exits_with_3_and_names_the_event_when_the_log_was_altered() {
    let db = TestDb::migrated().await;
    let store = commands::EventStore::new(db.database());
    let stream = domain::StreamId::from_uuid(uuid::Uuid::new_v4());
    let event = commands::NewEvent::new(
        uuid::Uuid::new_v4(),
        "Tested",
        1,
        serde_json::json!({"n": 1}),
    )
    .expect("event");
    let metadata = domain::EventMetadata {
        actor: domain::Actor::parse("system:test").expect("actor"),
        channel: domain::Channel::System,
        correlation_id: uuid::Uuid::new_v4(),
        causation_id: None,
    };
    store
        .append(
            stream,
            domain::StreamVersion::EMPTY,
            std::slice::from_ref(&event),
            &metadata,
        )
        .await
        .expect("append");
    let intact = egov()
        .arg("verify")
        .env("DATABASE_URL", db.url())
        .output()
        .expect("verify");
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );

    db.superuser()
        .await
        .batch_execute(
            "BEGIN; ALTER TABLE events DISABLE TRIGGER events_append_only; \
             UPDATE events SET payload = '{\"n\": 2}'; \
             ALTER TABLE events ENABLE TRIGGER events_append_only; COMMIT;",
        )
        .await
        .expect("tamper");
    let broken = egov()
        .arg("verify")
        .env("DATABASE_URL", db.url())
        .output()
        .expect("verify");
    assert_eq!(broken.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&broken.stdout).contains(&event.event_id().to_string()));
}

#[test]
fn a_bad_setting_stops_egov_with_a_message_naming_the_variable() {
    let output = egov()
        .arg("migrate")
        .env("EGOV_HTTP_ADDR", "localhost")
        .output()
        .expect("run egov");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("EGOV_HTTP_ADDR"));
}

#[tokio::test]
async fn bench_workflow_carries_requests_to_their_results_and_prints_its_figures_as_json() {
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| testkit::DEFAULT_TEST_DATABASE_URL.to_owned());
    let out = egov()
        .args([
            "bench",
            "workflow",
            "--seconds",
            "1",
            "--clients",
            "8",
            "--concurrency",
            "8",
        ])
        .env("DATABASE_URL", admin)
        .output()
        .expect("run egov bench workflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(last).expect("JSON");
    assert!(
        report["completed"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert_eq!(report["refused"], 0, "{report}");
    for key in ["requests_per_s", "p50_ms", "p99_ms"] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert!(report["steps"]["verify_ms"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
}
