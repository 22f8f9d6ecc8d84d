//! The forward-only migrations of `migrations/`, embedded at compile time and applied under an
//! advisory lock, so that instances starting together apply them once.
//!
//! Migrations run on a connection of their own as the login user, who owns the schema; the pooled
//! sessions of [`crate::db`] run as the application's role, which cannot change it.

use tokio_postgres::NoTls;

use crate::db::{Database, DbError};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Why the migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// Connecting for the migrations failed.
    #[error("cannot connect to PostgreSQL to apply the migrations")]
    Connect(#[source] tokio_postgres::Error),
    /// The advisory lock could not be taken.
    #[error("cannot take the migration lock")]
    Lock(#[source] tokio_postgres::Error),
    /// A migration failed, or an applied migration differs from its file (checksums).
    #[error("migrations failed")]
    Migration(#[source] refinery::Error),
}

/// The version of the newest migration embedded in this build.
pub fn latest_migration() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The key of the advisory lock that serialises migration runs ("egov" in ASCII).
const MIGRATION_LOCK: i64 = 0x6567_6f76;

/// Applies the migrations that are not yet applied, as the login user of `config`.
///
/// Returns the versions applied by this call. Refinery refuses to go on when an applied migration's
/// checksum differs from its file (a migration, once applied, is never edited) or when an applied
/// migration is missing from this build.
///
/// # Errors
/// [`MigrationError::Connect`] when the server cannot be reached, [`MigrationError::Migration`]
/// when a migration fails or was edited.
pub async fn migrate(config: &tokio_postgres::Config) -> Result<Vec<i64>, MigrationError> {
    migrate_to(config, refinery::Target::Latest).await
}

/// As [`migrate`], applying no migration after `version`: a database as an older release left
/// it, for checking what a later migration does to the data that release wrote.
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_through(
    config: &tokio_postgres::Config,
    version: u32,
) -> Result<Vec<i64>, MigrationError> {
    migrate_to(config, refinery::Target::Version(version)).await
}

async fn migrate_to(
    config: &tokio_postgres::Config,
    target: refinery::Target,
) -> Result<Vec<i64>, MigrationError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(MigrationError::Connect)?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(error.message = %error, "migration connection ended with an error");
        }
    });
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrationError::Lock)?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_target(target)
        .run_async(&mut client)
        .await;
    // The lock is a session lock: closing the connection below releases it even if this fails.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = driver.await;
    let report = report.map_err(MigrationError::Migration)?;
    let applied: Vec<i64> = report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect();
    for version in &applied {
        tracing::info!(migration = version, "migration applied");
    }
    Ok(applied)
}

/// Whether every migration this build knows is applied to the database behind `db`.
///
/// # Errors
/// [`DbError`] when the database cannot be asked.
pub async fn current(db: &Database) -> Result<bool, DbError> {
    let client = db.pool().get().await.map_err(DbError::Unavailable)?;
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM refinery_schema_history",
            &[],
        )
        .await
        .map_err(|source| DbError::Query {
            doing: "reading the applied migrations",
            source,
        })?;
    let applied: i32 = row.get(0);
    Ok(i64::from(applied) >= latest_migration())
}
