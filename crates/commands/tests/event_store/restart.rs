//! The database dropping every connection under the store (as on a restart): in-flight appends
//! fail cleanly, the store reconnects by itself, nothing is half-written or written twice.

use std::time::{Duration, Instant};

use commands::StoreError;
use domain::StreamVersion;

use crate::support::{events, metadata, new_stream, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_cleanly_and_resume_when_the_server_drops_every_connection() {
    let (db, store) = store().await;
    let stream = new_stream();
    let killer = {
        let (admin, name) = (db.superuser().await, db.name().to_owned());
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                          WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await
                    .expect("terminate the store's connections");
            }
        })
    };

    let deadline = Instant::now() + Duration::from_millis(900);
    let mut version = StreamVersion::EMPTY;
    let (mut acknowledged, mut failures) = (0u64, 0u64);
    let mut pending = events(2);
    while Instant::now() < deadline || failures == 0 {
        // A failed append is retried with the same event ids: whether or not it had committed,
        // the retry resolves it exactly once.
        match store.append(stream, version, &pending, &metadata()).await {
            Ok(outcome) => {
                version = outcome.version();
                acknowledged += 2;
                pending = events(2);
            }
            Err(StoreError::Database { .. } | StoreError::Unavailable(_)) => failures += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "the store must recover"
        );
    }
    killer.await.expect("killer");
    let after_restart = store.append(stream, version, &events(1), &metadata()).await;
    assert!(
        after_restart.is_ok(),
        "the store reconnected by itself: {after_restart:?}"
    );

    assert!(failures > 0, "the connection drops were noticed");
    let report = store.verify_stream(stream).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        report.events,
        acknowledged + 1,
        "every acknowledged event once, nothing else"
    );
}
