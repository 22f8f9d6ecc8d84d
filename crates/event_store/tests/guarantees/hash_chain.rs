//! Guarantee 4: every stream is a SHA-256 hash chain, and verify names the first altered event.

use domain::{ChainBreakKind, StreamId, StreamVersion};
use event_store::{EventStore, NewEvent};
use serde_json::json;
use uuid::Uuid;

use crate::support::{events, metadata, new_stream, store};

async fn with_trigger_disabled(db: &testkit::TestDb, statement: &str) {
    let client = db.superuser().await;
    client
        .batch_execute(&format!(
            "BEGIN; ALTER TABLE events DISABLE TRIGGER events_append_only; {statement}; \
             ALTER TABLE events ENABLE TRIGGER events_append_only; COMMIT;"
        ))
        .await
        .expect("tamper as superuser");
}

/// Changes the event of `stream` after `after` behind the append-only trigger (`set` is the
/// `SET` clause); the event as it was.
async fn tamper(
    db: &testkit::TestDb,
    store: &EventStore,
    stream: StreamId,
    after: StreamVersion,
    set: &str,
) -> domain::RecordedEvent {
    let victim = store.read_stream(stream, after, 1).await.expect("read")[0].clone();
    let statement = format!(
        "UPDATE events SET {set} WHERE event_id = '{}'",
        victim.event_id
    );
    with_trigger_disabled(db, &statement).await;
    victim
}

async fn two_streams(store: &EventStore) -> (StreamId, StreamId) {
    let (a, b) = (new_stream(), new_stream());
    store
        .append(a, StreamVersion::EMPTY, &events(3), &metadata())
        .await
        .expect("append a");
    store
        .append(a, StreamVersion::new(3), &events(2), &metadata())
        .await
        .expect("append a again");
    store
        .append(b, StreamVersion::EMPTY, &events(2), &metadata())
        .await
        .expect("append b");
    (a, b)
}

#[tokio::test]
async fn verify_finds_untouched_streams_intact() {
    let (_db, store) = store().await;
    let (a, _) = two_streams(&store).await;
    let one = store.verify_stream(a).await.expect("verify a");
    assert!(one.is_intact(), "{one:?}");
    assert_eq!(one.events, 5);
    let all = store.verify_all().await.expect("verify all");
    assert!(all.is_intact(), "{all:?}");
    assert_eq!((all.streams, all.events), (2, 7));
}

#[tokio::test]
async fn verify_names_the_altered_event_when_a_payload_is_changed_behind_the_triggers() {
    let (db, store) = store().await;
    let (a, b) = two_streams(&store).await;
    let victim = tamper(
        &db,
        &store,
        a,
        StreamVersion::new(3),
        r#"payload = '{"n": 99}'"#,
    )
    .await;

    let report = store.verify_stream(a).await.expect("verify a");
    let broken = report.first_break().expect("a break is found");
    assert_eq!(broken.event_id, victim.event_id);
    assert_eq!(broken.stream_version, StreamVersion::new(4));
    assert!(matches!(broken.kind, ChainBreakKind::HashMismatch { .. }));

    assert!(store.verify_stream(b).await.expect("verify b").is_intact());
    let all = store.verify_all().await.expect("verify all");
    assert_eq!(all.breaks.len(), 1, "only stream a is broken: {all:?}");
    assert_eq!(all.breaks[0].event_id, victim.event_id);
}

#[tokio::test]
async fn verify_names_the_altered_event_when_its_metadata_is_changed() {
    let (db, store) = store().await;
    let (a, _) = two_streams(&store).await;
    let set = "actor = 'operator:mallory'";
    let victim = tamper(&db, &store, a, StreamVersion::EMPTY, set).await;
    let report = store.verify_stream(a).await.expect("verify");
    assert_eq!(
        report.first_break().map(|b| b.event_id),
        Some(victim.event_id)
    );
}

#[tokio::test]
async fn verify_names_the_gap_when_an_event_is_deleted_behind_the_triggers() {
    let (db, store) = store().await;
    let (a, _) = two_streams(&store).await;
    with_trigger_disabled(
        &db,
        &format!("DELETE FROM events WHERE stream_id = '{a}' AND stream_version = 2"),
    )
    .await;
    let report = store.verify_stream(a).await.expect("verify");
    let broken = report.first_break().expect("a break is found");
    assert_eq!(broken.stream_version, StreamVersion::new(3));
    assert_eq!(
        broken.kind,
        ChainBreakKind::VersionGap {
            expected: StreamVersion::new(2)
        }
    );
}

#[tokio::test]
async fn the_chain_survives_payloads_that_jsonb_rewrites() {
    let (_db, store) = store().await;
    // jsonb reorders keys, drops white space, rewrites numbers and escapes; the canonical bytes
    // must come out the same from the stored row as from the event that was appended.
    let payloads = [
        json!({"z": 1, "a": 2, "aa": {"b": [1, 2.5, -0.0, 1e-7, 1.7976931348623157e308]}}),
        json!({"text": "Қазақстан \"quoted\" \\ \t \u{1F600} \u{7f}", "empty": "", "nul": null}),
        json!({"big": 18446744073709551615u64, "neg": -9223372036854775808i64, "f": 0.30000000000000004}),
        json!({"я": 1, "a": 2, "ә": 3, "": 4}),
        json!({"extremes": [9.999999999999999e299, 1.7976931348623157e308, 5e-324, -2.2250738585072014e-308]}),
        json!({ "random": random_floats() }),
    ];
    let batch: Vec<NewEvent> = payloads
        .iter()
        .map(|p| NewEvent::new(Uuid::new_v4(), "Tested", 1, p.clone()).expect("valid"))
        .collect();
    let stream = new_stream();
    store
        .append(stream, StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("append");
    let report = store.verify_stream(stream).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 6);
}

/// Floats from random bit patterns, across every magnitude a double has.
fn random_floats() -> Vec<f64> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    std::iter::repeat_with(|| f64::from_bits(rng.gen()))
        .filter(|f| f.is_finite())
        .take(500)
        .collect()
}

#[tokio::test]
async fn each_append_stores_the_events_leaf_of_the_logs_tree() {
    // Both functions that append (append_batch through the shared writers, append_events in the
    // caller's transaction) store SHA-256(0x00 || canonical bytes || chain hash), the leaf anyone
    // holding the event computes (domain::merkle::event_leaf).
    let (_db, store) = store().await;
    let (a, b) = two_streams(&store).await;
    let mut client = store.database().pool().get().await.expect("client");
    let transaction = client.transaction().await.expect("begin");
    store
        .append_in(
            &transaction,
            b,
            StreamVersion::new(2),
            &events(3),
            &metadata(),
        )
        .await
        .expect("append in a transaction");
    transaction.commit().await.expect("commit");

    let mut checked = 0;
    for stream in [a, b] {
        for event in store
            .read_stream(stream, StreamVersion::EMPTY, 100)
            .await
            .expect("read")
        {
            let leaf = event_store::stored_leaves(&client, event.cursor, event.cursor)
                .await
                .expect("stored leaf");
            assert_eq!(
                leaf,
                vec![(event.event_id, Some(domain::merkle::event_leaf(&event)))],
                "{stream} v{}",
                event.stream_version
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}
