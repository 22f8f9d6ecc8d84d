//! Guarantee 2b: an event id is an idempotency key.

use domain::StreamVersion;
use event_store::StoreError;

use crate::support::{events, metadata, new_stream, read_all_until, store};

#[tokio::test]
async fn reappending_stored_events_appends_nothing_and_reports_the_original_positions() {
    let (_db, store) = store().await;
    let stream = new_stream();
    let batch = events(3);
    let first = store
        .append(stream, StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("append");
    assert!(!first.already_stored);

    // The same command retried, even after the stream moved on.
    store
        .append(stream, StreamVersion::new(3), &events(1), &metadata())
        .await
        .expect("later append");
    let again = store
        .append(stream, StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("resend");

    assert!(again.already_stored);
    assert_eq!(
        again.events, first.events,
        "the original versions and positions"
    );
    let all = read_all_until(&store, 4).await;
    let cursor = all.last().map(|e| e.cursor).unwrap_or_default();
    assert!(
        store
            .read_all(cursor, 10)
            .await
            .expect("read")
            .events
            .is_empty(),
        "nothing after"
    );
    assert_eq!(all.len(), 4, "nothing appended twice");
}

#[tokio::test]
async fn concurrent_resends_of_one_command_store_it_once() {
    let (_db, store) = store().await;
    let stream = new_stream();
    let batch = events(2);
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (store, batch) = (store.clone(), batch.clone());
            tokio::spawn(async move {
                store
                    .append(stream, StreamVersion::EMPTY, &batch, &metadata())
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for sender in senders {
        outcomes.push(sender.await.expect("task").expect("every resend succeeds"));
    }
    assert_eq!(outcomes.iter().filter(|o| !o.already_stored).count(), 1);
    assert!(outcomes.windows(2).all(|w| w[0].events == w[1].events));
    assert_eq!(
        store.stream_version(stream).await.expect("version"),
        StreamVersion::new(2)
    );
}

#[tokio::test]
async fn an_event_id_stored_in_another_stream_is_refused_as_reused() {
    let (_db, store) = store().await;
    let batch = events(1);
    store
        .append(new_stream(), StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("append");
    let reused = store
        .append(new_stream(), StreamVersion::EMPTY, &batch, &metadata())
        .await;
    assert!(
        matches!(reused, Err(StoreError::EventIdReused { .. })),
        "got {reused:?}"
    );
}

#[tokio::test]
async fn an_append_on_a_writers_own_connection_is_idempotent_too() {
    let (_db, store) = store().await;
    let client = store.database().pool().get().await.expect("connection");
    let stream = new_stream();
    let batch = events(2);
    let first = store
        .append_unannounced_on(&client, stream, StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("append");
    assert!(!first.already_stored);
    assert_eq!(first.events.len(), 2);
    // A resend whose first answer was lost finds the events stored, at their positions.
    let again = store
        .append_unannounced_on(&client, stream, StreamVersion::EMPTY, &batch, &metadata())
        .await
        .expect("resend");
    assert!(again.already_stored);
    assert_eq!(again.events, first.events);
    // A different append at a taken version is a conflict, not a success.
    let clash = store
        .append_unannounced_on(
            &client,
            stream,
            StreamVersion::EMPTY,
            &events(1),
            &metadata(),
        )
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict { .. })),
        "{clash:?}"
    );
    assert_eq!(read_all_until(&store, 2).await.len(), 2, "nothing twice");
}
