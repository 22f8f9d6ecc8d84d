//! Guarantee 2: optimistic concurrency, and all-or-nothing appends.

use commands::StoreError;
use domain::StreamVersion;
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
