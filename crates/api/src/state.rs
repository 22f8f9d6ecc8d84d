//! What every handler shares: the command handlers, the status view, the authenticator, the
//! projector's progress (long polls wait on it) and the metrics.

use commands::{Database, Requests};
use projections::{Progress, StatusView};
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::metrics::Metrics;

/// The application's shared state.
pub struct AppState {
    pub db: Database,
    pub requests: Requests,
    /// Issued result documents (`GET /requests/{number}/result`).
    pub documents: commands::results::ResultDocuments,
    /// The social-status checks of medical organisations.
    pub social_status: commands::social_status::SocialStatusChecks,
    /// Reads of citizens' data by others, recorded.
    pub read_audit: crate::read_audit::ReadAudit,
    /// Scans of service centres' paper documents.
    pub scans: commands::scans::PgScans,
    /// The registries, for checks answered at once (the social status).
    pub registries: std::sync::Arc<commands::registries::HttpRegistries>,
    pub status_view: StatusView,
    pub auth: Authenticator,
    /// Moves whenever the status view's projector commits a batch.
    pub status_progress: watch::Receiver<Progress>,
    pub metrics: Metrics,
    /// Serialised status answers by stream, valid for the version they were made from.
    pub status_bodies: StatusBodies,
    /// Cancelled when the server begins to stop: long polls answer at once instead of holding.
    pub stopping: tokio_util::sync::CancellationToken,
    /// The requests being handled: a stopping server lets them finish first (`crate::drain`).
    pub in_flight: crate::drain::InFlight,
    /// The Kafka relay whose lag `/metrics` and `/readyz` report, when a broker is configured.
    pub relay: Option<RelayWatch>,
}

/// Which relay to watch and when to call it stuck.
#[derive(Debug, Clone)]
pub struct RelayWatch {
    /// Its checkpoint's name.
    pub name: String,
    /// Events waiting and the checkpoint still for this long: stuck.
    pub stuck_after: std::time::Duration,
}

impl AppState {
    /// The state over one database: command handlers, the cached status view fed by `progress`,
    /// and the registries at `registry_url`.
    ///
    /// # Errors
    /// When the registries' HTTP client cannot be built.
    pub fn new(
        db: Database,
        auth: Authenticator,
        progress: watch::Receiver<Progress>,
        registry_url: &str,
        read_audit: crate::read_audit::ReadAudit,
        stopping: tokio_util::sync::CancellationToken,
    ) -> Result<Self, reqwest::Error> {
        let store = commands::EventStore::new(db.clone());
        Ok(Self {
            requests: Requests::new(store.clone()),
            documents: commands::results::ResultDocuments::new(db.clone()),
            social_status: commands::social_status::SocialStatusChecks::new(store),
            read_audit,
            scans: commands::scans::PgScans::new(db.clone()),
            registries: std::sync::Arc::new(commands::registries::HttpRegistries::new(
                registry_url,
                commands::registries::RetryPolicy::default(),
                commands::registries::BreakerSettings::default(),
            )?),
            status_view: StatusView::cached(db.pool().clone(), progress.clone()),
            db,
            auth,
            status_progress: progress,
            metrics: Metrics::default(),
            status_bodies: status_bodies(),
            stopping,
            in_flight: crate::drain::InFlight::default(),
            relay: None,
        })
    }

    /// Watches `relay` (see [`AppState::relay`]).
    #[must_use]
    pub fn with_relay(mut self, relay: Option<RelayWatch>) -> Self {
        self.relay = relay;
        self
    }
}

/// A serialised `GET /requests/{number}` answer and the row version it shows.
pub struct StatusBody {
    pub version: i64,
    pub etag: String,
    pub json: actix_web::web::Bytes,
}

/// Answers to "refresh status" are read far more often than requests change; each is serialised
/// once per version of its row.
pub type StatusBodies = quick_cache::sync::Cache<uuid::Uuid, std::sync::Arc<StatusBody>>;

/// An empty cache of status answers.
pub fn status_bodies() -> StatusBodies {
    quick_cache::sync::Cache::new(100_000)
}
