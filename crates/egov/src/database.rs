//! Which database a subcommand uses: `DATABASE_URL`, or the embedded PostgreSQL started here.

use anyhow::Context;
use api::Settings;
use tokio_util::sync::CancellationToken;

use crate::embedded_postgres::EmbeddedPostgres;

/// `settings` with the database to use set, and the embedded cluster when one was started (it
/// stops when dropped); `None` when a stop was asked for while the cluster was starting.
///
/// # Errors
/// When the embedded cluster cannot start.
pub async fn resolve(
    mut settings: Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<(Settings, Option<EmbeddedPostgres>)>> {
    if settings.database_url.is_some() {
        return Ok(Some((settings, None)));
    }
    tracing::info!(data_dir = %settings.data_dir.display(), "no DATABASE_URL: using the embedded PostgreSQL");
    let start = EmbeddedPostgres::start(&settings.data_dir, settings.pg_bindir.as_deref());
    tokio::select! {
        started = start => {
            let embedded = started.context("starting the embedded PostgreSQL")?;
            settings.database_url = Some(embedded.url());
            Ok(Some((settings, Some(embedded))))
        }
        () = shutdown.cancelled() => Ok(None),
    }
}
