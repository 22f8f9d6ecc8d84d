//! The `egov` subcommands other than serve.

use testkit::TestDb;

use crate::support::process::egov;

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
    let store = event_store::EventStore::new(db.database());
    let stream = domain::StreamId::from_uuid(uuid::Uuid::new_v4());
    let event = event_store::NewEvent::new(
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
