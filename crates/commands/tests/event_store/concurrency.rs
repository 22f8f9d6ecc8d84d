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
