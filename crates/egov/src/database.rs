//! Which database a subcommand uses: `DATABASE_URL`, or the embedded PostgreSQL started here.

use anyhow::Context;
use api::Settings;
use tokio_util::sync::CancellationToken;

use crate::embedded_postgres::{EmbeddedPostgres, RUNTIME_LOGIN};

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
            // The service logs in as a runtime login, as it must in production; the migrations
            // (which create the role it joins) run as the cluster's superuser first.
            let owner = event_store::DbSettings::from_url(&embedded.url())?.config;
            event_store::migrate(&owner).await.context("migrating the embedded cluster")?;
            event_store::provision_runtime_login(&owner, RUNTIME_LOGIN)
                .await
                .context("creating the embedded cluster's runtime login")?;
            settings.migrate_database_url = Some(embedded.url());
            settings.database_url = Some(embedded.url_as(RUNTIME_LOGIN));
            Ok(Some((settings, Some(embedded))))
        }
        () = shutdown.cancelled() => Ok(None),
    }
}
