//! Guarantee 2: optimistic concurrency, and all-or-nothing appends.

use domain::StreamVersion;
use event_store::StoreError;
use uuid::Uuid;

use crate::support::{event, events, metadata, new_stream, store};

#[tokio::test]
async fn append_reports_a_conflict_with_the_actual_version_when_the_expected_one_is_stale() {
    let (_db, store) = store().await;
    let stream = new_stream();
    store
        .append(stream, StreamVersion::EMPTY, &events(3), &metadata())
        .await
        .expect("first append");
    let stale = store
        .append(stream, StreamVersion::new(1), &events(1), &metadata())
        .await;
    match stale {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(expected, StreamVersion::new(1));
            assert_eq!(actual, StreamVersion::new(3));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.stream_version(stream).await.expect("version"),
        StreamVersion::new(3)
    );
}

#[tokio::test]
async fn exactly_one_of_many_racing_writers_wins_when_all_expect_the_same_version() {
    let (_db, store) = store().await;
    let stream = new_stream();
    store
        .append(stream, StreamVersion::EMPTY, &events(1), &metadata())
        .await
        .expect("seed");
    let racers: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(stream, StreamVersion::new(1), &events(2), &metadata())
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("task") {
            Ok(outcome) => {
                won += 1;
                assert_eq!(outcome.version(), StreamVersion::new(3));
            }
            Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, StreamVersion::new(3)),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one writer wins");
    let stored = store
        .read_stream(stream, StreamVersion::EMPTY, 100)
        .await
        .expect("read");
    let versions: Vec<u64> = stored.iter().map(|e| e.stream_version.get()).collect();
    assert_eq!(versions, vec![1, 2, 3], "no lost and no duplicated event");
}

#[tokio::test]
async fn an_append_stores_none_of_its_events_when_one_of_them_is_refused() {
    let (_db, store) = store().await;
    let elsewhere = event(9);
    store
        .append(
            new_stream(),
            StreamVersion::EMPTY,
            std::slice::from_ref(&elsewhere),
            &metadata(),
        )
        .await
        .expect("event in another stream");
    let stream = new_stream();
    // The third event reuses an id stored elsewhere: the database refuses it after the first two
    // rows were inserted, and the whole append must vanish.
    let batch = vec![event(1), event(2), elsewhere.clone(), event(4)];
    let refused = store
        .append(stream, StreamVersion::EMPTY, &batch, &metadata())
        .await;
    assert!(
        matches!(refused, Err(StoreError::EventIdReused { event_id }) if event_id == elsewhere.event_id()),
        "got {refused:?}"
    );
    assert_eq!(
        store.stream_version(stream).await.expect("version"),
        StreamVersion::EMPTY
    );
    assert!(store
        .read_stream(stream, StreamVersion::EMPTY, 10)
        .await
        .expect("read")
        .is_empty());
    let _ = Uuid::nil();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_written_together_each_report_their_own_versions_and_positions() {
    let (_db, store) = store().await;
    // Many appends at once queue up behind the busy lanes and are written several per call; each
    // must still get the versions and positions of its own events, and a stale one its conflict.
    let shared = new_stream();
    let tasks: Vec<_> = (0..96u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = if i % 8 == 0 { shared } else { new_stream() };
                let batch = events(1 + i % 3);
                let outcome = store
                    .append(stream, StreamVersion::EMPTY, &batch, &metadata())
                    .await;
                (stream, batch, outcome)
            })
        })
        .collect();
    let mut appended = Vec::new();
    let mut shared_winners = 0;
    for task in tasks {
        let (stream, batch, outcome) = task.await.expect("task");
        match outcome {
            Ok(outcome) => {
                assert!(!outcome.already_stored);
                let ids: Vec<_> = outcome.events.iter().map(|e| e.event_id).collect();
                let expected_ids: Vec<_> = batch.iter().map(|e| e.event_id()).collect();
                assert_eq!(ids, expected_ids, "the answer names this append's events");
                let versions: Vec<u64> = outcome
                    .events
                    .iter()
                    .map(|e| e.stream_version.get())
                    .collect();
                assert_eq!(versions, (1..=batch.len() as u64).collect::<Vec<_>>());
                shared_winners += usize::from(stream == shared);
                appended.extend(outcome.events);
            }
            Err(StoreError::Conflict { .. }) => {
                assert_eq!(stream, shared, "only the shared stream conflicts")
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(
        shared_winners, 1,
        "exactly one append to the shared stream wins"
    );
    let stored = crate::support::read_all_until(&store, appended.len()).await;
    assert_eq!(stored.len(), appended.len());
    for event in &stored {
        let reported = appended
            .iter()
            .find(|a| a.event_id == event.event_id)
            .expect("reported");
        assert_eq!(
            reported.cursor, event.cursor,
            "the reported position is the stored one"
        );
        assert_eq!(reported.stream_version, event.stream_version);
    }
    assert!(store.verify_all().await.expect("verify").is_intact());
}

#[tokio::test]
async fn a_second_append_to_a_stream_in_one_batch_call_is_checked_and_chained_after_the_first() {
    // `append_batch` itself: appends to one stream in one call see the ones before them (their
    // versions and their last hash), and a stale one among them is refused alone.
    let (_db, store) = store().await;
    let client = store.database().pool().get().await.expect("client");
    let stream = new_stream().as_uuid();
    let other = new_stream().as_uuid();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let canonical: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 8]).collect();
    let payloads: Vec<serde_json::Value> = (0..5).map(|i| serde_json::json!({ "n": i })).collect();
    let row = client
        .query_one(
            "SELECT out_tx_id, out_accepted, out_positions FROM append_batch(
                 $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                // stream: 2 events at 0, 1 event at 0 (stale), 1 event at 2; other: 1 event at 0.
                &vec![2i32, 1, 1, 1],
                &vec![stream, stream, stream, other],
                &vec![0i64, 0, 2, 0],
                &vec!["system:test"; 4],
                &vec!["system"; 4],
                &vec![Uuid::nil(); 4],
                &vec![None::<Uuid>; 4],
                &vec![chrono::Utc::now(); 4],
                &ids,
                &vec!["Tested"; 5],
                &vec![1i32; 5],
                &payloads,
                &canonical,
            ],
        )
        .await
        .expect("append_batch");
    let accepted: Vec<bool> = row.get(1);
    let positions: Vec<Option<i64>> = row.get(2);
    assert_eq!(accepted, vec![true, false, true, true]);
    assert_eq!(positions.len(), 5);
    assert!(
        positions[2].is_none(),
        "the stale append's event has no position"
    );
    let stored: Vec<(i64, i64, Vec<u8>)> = client
        .query(
            "SELECT stream_version, position, hash FROM events WHERE stream_id = $1 ORDER BY stream_version",
            &[&stream],
        )
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let versions: Vec<i64> = stored.iter().map(|s| s.0).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let stored_positions: Vec<Option<i64>> = stored.iter().map(|s| Some(s.1)).collect();
    assert_eq!(
        stored_positions,
        vec![positions[0], positions[1], positions[3]]
    );
    // Version 3 (the fourth event of the call) chains onto version 2's hash.
    let chained: Vec<u8> = client
        .query_one(
            "SELECT sha256($1::bytea || $2::bytea)",
            &[&stored[1].2, &canonical[3]],
        )
        .await
        .expect("sha256")
        .get(0);
    assert_eq!(stored[2].2, chained);
    // Each also stores its leaf in the log's tree over the same bytes and its own chain hash.
    let leaves: Vec<Vec<u8>> = client
        .query(
            "SELECT leaf FROM events WHERE stream_id = $1 ORDER BY stream_version",
            &[&stream],
        )
        .await
        .expect("read leaves")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (row, event) in [0, 1, 3].into_iter().enumerate() {
        let bytes = [canonical[event].as_slice(), stored[row].2.as_slice()].concat();
        assert_eq!(
            leaves[row],
            domain::merkle::leaf_hash(&bytes),
            "event {event}"
        );
    }
}
