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
}
