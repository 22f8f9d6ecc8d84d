//! Which process projects: the one holding a session advisory lock per read model, on a connection
//! of its own. Projecting is safe from any number of processes (each batch takes the projector's
//! transaction lock and checks the checkpoint), but only the leader sees every change of the read
//! model, which is what lets it keep an exact cache of it.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use crate::retry::{sleep_unless, Backoff};
use crate::ProjectionError;

/// Leadership of one read model, held while the connection lives.
pub(crate) struct Leadership {
    _client: tokio_postgres::Client,
    connection: JoinHandle<()>,
}

impl Leadership {
    /// Waits until this process holds the lock of `name`, trying again while the database cannot
    /// be reached (`None` on shutdown first). A try costs one connection attempt, so it is made at
    /// least every second: a restarted database is found at once (a doubling wait found it up to
    /// 3 s late).
    pub(crate) async fn take(
        config: &tokio_postgres::Config,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Option<Leadership> {
        let mut waits = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            match Self::acquire(config, name, shutdown).await {
                Ok(leadership) => return leadership,
                Err(error) => {
                    tracing::warn!(leader = name, error = %error, "cannot take the leadership; retrying");
                    if sleep_unless(shutdown, waits.after(Duration::ZERO)).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits until this process holds the lock of `name` (`None` on shutdown first).
    async fn acquire(
        config: &tokio_postgres::Config,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<Leadership>, ProjectionError> {
        let doing = "taking a projector's leadership";
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(ProjectionError::database(doing))?;
        let connection = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(error = %error, "projector leadership connection lost");
            }
        });
        let mut waiting_logged = false;
        loop {
            let row = client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended('egov-projector-leader:' || $1, 0))",
                    &[&name],
                )
                .await
                .map_err(ProjectionError::database(doing))?;
            if row.get::<_, bool>(0) {
                tracing::info!(projector = name, "this process projects the read model");
                return Ok(Some(Leadership {
                    _client: client,
                    connection,
                }));
            }
            if !waiting_logged {
                tracing::info!(
                    projector = name,
                    "another process projects the read model; standing by"
                );
                waiting_logged = true;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Resolves when the connection, and so the lock, is lost.
    pub(crate) async fn lost(&mut self) {
        let _ = (&mut self.connection).await;
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Closing the connection releases the lock.
        self.connection.abort();
    }
}
