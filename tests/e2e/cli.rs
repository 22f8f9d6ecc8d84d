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

/// A calendar or message file that would not pass the shipped files' checks stops the start, and
/// the message names the variable and the fault.
#[test]
fn a_bad_calendar_or_message_file_stops_egov_naming_the_variable() {
    let dir = tempfile::tempdir().expect("dir");
    let calendar = dir.path().join("calendar.json");
    std::fs::write(
        &calendar,
        r#"{"holidays": [{"name": "x", "month": 13, "day": 1, "moves_off_weekend": true}]}"#,
    )
    .expect("write");
    let messages = dir.path().join("messages.json");
    // The shipped texts with one status left out.
    let mut shipped: serde_json::Value =
        serde_json::from_str(include_str!("../../crates/domain/data/messages.json")).expect("json");
    shipped["statuses"]
        .as_object_mut()
        .expect("statuses")
        .remove("abandoned");
    std::fs::write(&messages, shipped.to_string()).expect("write");
    for (name, path, fault) in [
        ("EGOV_CALENDAR", &calendar, "not a calendar day"),
        ("EGOV_MESSAGES", &messages, "abandoned"),
        (
            "EGOV_CALENDAR",
            &dir.path().join("missing.json"),
            "No such file",
        ),
    ] {
        let output = egov()
            .arg("migrate")
            .env(name, path)
            .output()
            .expect("run egov");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(fault), "{stderr}");
    }
}
