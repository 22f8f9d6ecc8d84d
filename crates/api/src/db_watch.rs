//! Whether the database answers, as the API acts on it.
//!
//! A paused or cut-off PostgreSQL keeps its connections open: a query sent to it neither fails
//! nor answers, and a request waiting on it would hang until the server came back. So a probe
//! asks the database `SELECT 1` every [`PROBE_EVERY`] on a connection of its own (never one of the
//! pool's, which the load may hold). When no answer came within `EGOV_DB_STALL_AFTER` (or the
//! server refused the connection), the database counts as away: every request that needs it is
//! answered 503 with `Retry-After` at once, and the requests already waiting on it are answered so
//! as soon as it is seen away. The first answer after that brings the service back; nothing has
//! to be restarted by hand. `/healthz` and `/metrics` need no database and are answered as ever.
//!
//! A command cut this way may still commit when the server resumes; the client was told 503, not
//! 201, and its retry with the same `Idempotency-Key` finds the request stored.

use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::web;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use crate::problem::ApiError;

/// How often the probe asks.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// `EGOV_DB_STALL_AFTER` by default: with [`PROBE_EVERY`], a stalled database is seen away
/// within 0.9 s.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_millis(800);

/// The database's state as the last probe found it. Cheap to clone.
#[derive(Clone)]
pub struct DbWatch {
    up: watch::Receiver<bool>,
}

impl DbWatch {
    /// Starts the probe of the database at `config`, until `stop`; `changed` is told each change
    /// (the metrics). The database counts as reachable until a probe finds otherwise (the service
    /// has just migrated it).
    pub fn spawn(
        config: tokio_postgres::Config,
        stall_after: Duration,
        changed: impl Fn(bool) + Send + 'static,
        stop: CancellationToken,
    ) -> (DbWatch, JoinHandle<()>) {
        let (state, up) = watch::channel(true);
        changed(true);
        let task = tokio::spawn(probe(config, stall_after, state, changed, stop));
        (DbWatch { up }, task)
    }

    /// Whether the last probe was answered.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Resolves when the database is seen away (never, once the probe has stopped).
    pub async fn away(&self) {
        let mut up = self.up.clone();
        if up.wait_for(|up| !*up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Asks the database every [`PROBE_EVERY`] and publishes whether it answered within
/// `stall_after`; logs each change once.
async fn probe(
    config: tokio_postgres::Config,
    stall_after: Duration,
    state: watch::Sender<bool>,
    changed: impl Fn(bool),
    stop: CancellationToken,
) {
    let mut session: Option<tokio_postgres::Client> = None;
    loop {
        // Cancel safe: a probe cut by the stop leaves only its own session, dropped with the task.
        let answered = tokio::select! {
            answered = tokio::time::timeout(stall_after, ask(&config, &mut session)) => answered,
            () = stop.cancelled() => return,
        };
        let up = match answered {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::debug!(error = %error, "the database probe failed");
                false
            }
            Err(_) => false,
        };
        if !up {
            // A stalled session may answer late and out of turn: the next probe starts afresh.
            session = None;
        }
        let was = state.send_replace(up);
        if was != up {
            changed(up);
            if up {
                tracing::warn!("the database answers again: requests are served");
            } else {
                tracing::error!(
                    stall_after_ms = u64::try_from(stall_after.as_millis()).unwrap_or(u64::MAX),
                    "the database does not answer: requests that need it are answered 503 until it does"
                );
            }
        }
        // Cancel safe: both branches only wait.
        tokio::select! {
            () = tokio::time::sleep(PROBE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One probe on `session`, connecting it first if there is none.
async fn ask(
    config: &tokio_postgres::Config,
    session: &mut Option<tokio_postgres::Client>,
) -> Result<(), tokio_postgres::Error> {
    if session
        .as_ref()
        .is_none_or(tokio_postgres::Client::is_closed)
    {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes; the probe sees that itself.
            let _ = connection.await;
        });
        *session = Some(client);
    }
    match session {
        Some(client) => client.simple_query("SELECT 1").await.map(|_| ()),
        None => Ok(()),
    }
}

/// Whether answering `path` may need the database (everything but the process's own probes).
fn needs_database(path: &str) -> bool {
    !matches!(path, "/healthz" | "/metrics")
}

/// The watch `req` answers to: `None` when the request needs no database (or no watch runs).
pub fn watch_for(req: &ServiceRequest) -> Option<web::Data<DbWatch>> {
    req.app_data::<web::Data<DbWatch>>()
        .filter(|_| needs_database(req.path()))
        .cloned()
}

/// `answer`, unless the database is away: then 503 with `Retry-After`, at once, or as soon as the
/// database is seen away while the request waits on it. Used by the one middleware every request
/// goes through (`metrics::track`), with the watch of [`watch_for`].
///
/// # Errors
/// [`ApiError::Unavailable`], or what `answer` fails with.
pub async fn guarded<T>(
    watch: Option<web::Data<DbWatch>>,
    answer: impl std::future::Future<Output = Result<T, actix_web::Error>>,
) -> Result<T, actix_web::Error> {
    let Some(watch) = watch else {
        return answer.await;
    };
    if !watch.is_up() {
        return Err(ApiError::Unavailable.into());
    }
    // Cancel safe as a client hanging up is: the handler is dropped at an await, a query sent may
    // still commit (the client was told 503, not success, and retries idempotently).
    tokio::select! {
        answered = answer => answered,
        () = watch.away() => {
            tracing::warn!("a request waiting on the database was answered 503: the database is away");
            Err(ApiError::Unavailable.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_probes_need_no_database_and_everything_else_does() {
        assert!(!needs_database("/healthz"));
        assert!(!needs_database("/metrics"));
        assert!(needs_database("/readyz"));
        assert!(needs_database("/api/v1/requests"));
        assert!(needs_database("/healthz/x"));
    }

    /// Runs a probe of 127.0.0.1:`port` with a short stall bound until it sees the database away.
    async fn seen_away(port: u16) {
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(port).user("nobody");
        let stop = CancellationToken::new();
        let (watch, task) =
            DbWatch::spawn(config, Duration::from_millis(300), |_| {}, stop.clone());
        assert!(watch.is_up(), "reachable until a probe finds otherwise");
        tokio::time::timeout(Duration::from_secs(5), watch.away())
            .await
            .expect("seen away");
        assert!(!watch.is_up());
        stop.cancel();
        task.await.expect("the probe ends on stop");
    }

    #[tokio::test]
    async fn a_database_that_refuses_connections_is_seen_away() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        seen_away(port).await;
    }

    #[tokio::test]
    async fn a_database_that_takes_the_connection_and_never_answers_is_seen_away() {
        // Bound and listening, never accepted: the handshake completes, no answer ever comes,
        // as with a paused server.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        seen_away(port).await;
        drop(listener);
    }
}
