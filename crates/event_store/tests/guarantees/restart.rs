//! The database dropping every connection under the store (as on a restart): in-flight appends
//! fail cleanly, the store reconnects by itself, nothing is half-written or written twice.

use std::time::{Duration, Instant};

use domain::StreamVersion;
use event_store::{EventStore, StoreError};
use testkit::TestDb;

use crate::support::{events, metadata, new_stream, store};

async fn drop_every_connection(db: &TestDb) {
    db.superuser()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
              WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name()],
        )
        .await
        .expect("terminate the store's connections");
}

/// Appends, retrying failed attempts with the same event ids, until it succeeds or `limit` passes.
async fn append_until_accepted(
    store: &EventStore,
    stream: domain::StreamId,
    version: StreamVersion,
    n: u64,
) -> (event_store::AppendOutcome, u32) {
    let batch = events(n);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 0;
    loop {
        match store.append(stream, version, &batch, &metadata()).await {
            Ok(outcome) => return (outcome, failures),
            Err(StoreError::Database { .. } | StoreError::Unavailable(_)) => failures += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the store must reconnect by itself"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_append_in_flight_when_the_server_drops_connections_fails_and_leaves_nothing_behind() {
    let (db, store) = store().await;
    let stream = new_stream();
    let mut client = store.database().pool().get().await.expect("connection");
    let transaction = client.transaction().await.expect("begin");
    store
        .append_in(
            &transaction,
            stream,
            StreamVersion::EMPTY,
            &events(2),
            &metadata(),
        )
        .await
        .expect("append inside the transaction");

    drop_every_connection(&db).await;
    assert!(
        transaction.commit().await.is_err(),
        "the in-flight append fails"
    );
    drop(client);

    let (outcome, _) = append_until_accepted(&store, stream, StreamVersion::EMPTY, 3).await;
    assert_eq!(
        outcome.version(),
        StreamVersion::new(3),
        "nothing of the failed append remains"
    );
    let report = store.verify_stream(stream).await.expect("verify");
    assert!(report.is_intact() && report.events == 3, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_resume_and_stay_exactly_once_while_the_server_keeps_dropping_connections() {
    let (db, store) = store().await;
    let stream = new_stream();
    let killing_until = Instant::now() + Duration::from_millis(800);
    let killer = {
        let db_name = db.name().to_owned();
        let admin = db.superuser().await;
        tokio::spawn(async move {
            while Instant::now() < killing_until {
                tokio::time::sleep(Duration::from_millis(60)).await;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                          WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&db_name],
                    )
                    .await
                    .expect("terminate the store's connections");
            }
        })
    };

    let mut version = StreamVersion::EMPTY;
    let mut appended = 0u64;
    while Instant::now() < killing_until {
        // A failed attempt may or may not have committed; retrying with the same event ids
        // resolves it exactly once either way.
        let (outcome, _) = append_until_accepted(&store, stream, version, 2).await;
        version = outcome.version();
        appended += 2;
    }
    killer.await.expect("killer");
    let (outcome, _) = append_until_accepted(&store, stream, version, 1).await;
    assert_eq!(outcome.version().get(), appended + 1);

    let report = store.verify_stream(stream).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        report.events,
        appended + 1,
        "every accepted event once, nothing else"
    );
}
