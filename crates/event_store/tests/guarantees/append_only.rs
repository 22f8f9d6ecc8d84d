//! Guarantee 1: the event log is append-only, enforced by the database itself.

use domain::StreamVersion;
use event_store::db::APP_ROLE;

use crate::support::{events, metadata, new_stream, store};

const CHANGES: [&str; 3] = [
    "UPDATE events SET event_type = 'Forged'",
    "DELETE FROM events",
    "TRUNCATE events",
];

#[tokio::test]
async fn events_cannot_be_updated_deleted_or_truncated_as_the_application_role() {
    let (db, store) = store().await;
    store
        .append(new_stream(), StreamVersion::EMPTY, &events(2), &metadata())
        .await
        .expect("append");
    let client = db.superuser().await;
    client
        .batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .expect("become the app role");
    for change in CHANGES {
        let error = client.batch_execute(change).await.expect_err(change);
        assert!(
            error.code().is_some(),
            "{change} must be refused by the server, got {error}"
        );
    }
    let forged_insert = client
        .batch_execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, \
             payload, actor, channel, correlation_id, recorded_at, hash) VALUES (gen_random_uuid(), 1, \
             gen_random_uuid(), 'Forged', 1, '{}', 'system:x', 'system', gen_random_uuid(), now(), \
             sha256(''))",
        )
        .await;
    assert!(
        forged_insert.is_err(),
        "the app role must write only through append_events"
    );
    client
        .batch_execute("RESET ROLE")
        .await
        .expect("reset role");
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 2, "no change may have gone through");
}

#[tokio::test]
async fn events_cannot_be_updated_deleted_or_truncated_even_by_the_owner() {
    let (db, store) = store().await;
    store
        .append(new_stream(), StreamVersion::EMPTY, &events(1), &metadata())
        .await
        .expect("append");
    let client = db.superuser().await;
    for change in CHANGES {
        let error = client.batch_execute(change).await.expect_err(change);
        assert_eq!(
            error.code().map(|c| c.code()),
            Some("EGA01"),
            "{change} must hit the append-only trigger, got {error}"
        );
    }
}
