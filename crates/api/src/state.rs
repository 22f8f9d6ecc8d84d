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
    pub status_view: StatusView,
    pub auth: Authenticator,
    /// Moves whenever the status view's projector commits a batch.
    pub status_progress: watch::Receiver<Progress>,
    pub metrics: Metrics,
    /// Serialised status answers by stream, valid for the version they were made from.
    pub status_bodies: StatusBodies,
    /// Cancelled when the server begins to stop: long polls answer at once instead of holding.
    pub stopping: tokio_util::sync::CancellationToken,
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
