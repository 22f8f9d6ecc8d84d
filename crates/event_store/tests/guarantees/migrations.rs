//! Migrations: forward-only, applied once under a lock, and never edited once applied.

use event_store::migrations::{self, latest_migration, migrate};
use event_store::MigrationError;
use testkit::TestDb;

#[tokio::test]
async fn migrations_apply_once_when_instances_start_together() {
    let db = TestDb::empty().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let config = db.config().clone();
            tokio::spawn(async move { migrate(&config).await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.await.expect("task").expect("migrate"));
    }
    let expected: Vec<i64> = (1..=latest_migration()).collect();
    applied.sort_unstable();
    assert_eq!(applied, expected, "each migration applied exactly once");
    assert!(
        migrate(db.config()).await.expect("again").is_empty(),
        "a second run applies nothing"
    );
    assert!(migrations::current(&db.database())
        .await
        .expect("readiness check"));
}

#[tokio::test]
async fn migrate_refuses_to_run_when_an_applied_migration_was_edited() {
    let db = TestDb::migrated().await;
    db.superuser()
        .await
        .batch_execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1")
        .await
        .expect("simulate an edited migration file");
    let result = migrate(db.config()).await;
    assert!(
        matches!(result, Err(MigrationError::Migration(_))),
        "got {result:?}"
    );
}
