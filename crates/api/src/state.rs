//! What the handlers share: the command handlers of the write side, the read models they answer
//! from, the projector's progress (long polls wait on it), and the server's stop signal.

use commands::centre::Centre;
use commands::read_audit::ReadAudit;
use commands::results::ResultDocuments;
use commands::social_status::SocialStatusChecks;
use commands::Requests;
use event_store::Database;
use projections::StatusView;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The application's shared state, one per server (handed to every worker).
pub struct AppState {
    /// The pool, for the read models answered straight from SQL (who read my data, analytics).
    pub db: Database,
    /// File, sign and survey requests.
    pub requests: Requests,
    /// The service centre's desk: filing for the citizen present, scans.
    pub centre: Centre,
    /// Issued result documents (`GET /requests/{number}/result`).
    pub documents: ResultDocuments,
    /// The social-status checks of medical organisations, answered at once and recorded.
    pub social_status: SocialStatusChecks,
    /// Reads of citizens' data by anyone else, recorded.
    pub read_audit: ReadAudit,
    /// The status view, cached while this process's projector keeps it current.
    pub status_view: StatusView,
    /// Pages of the audit feed being sent at once (each holds a chunk of events in memory).
    pub feeds: std::sync::Arc<tokio::sync::Semaphore>,
    /// The long polls held, each woken by a change of its own request.
    pub polls: std::sync::Arc<crate::polls::Polls>,
    /// The process's metrics (the middleware counts requests; handlers count appends).
    pub metrics: Metrics,
    /// Serialised status answers by stream, valid for the version they were made from.
    pub status_bodies: StatusBodies,
    /// Cancelled when the server begins to stop: long polls answer at once instead of holding.
    pub stopping: CancellationToken,
    /// The Kafka relay whose lag `/metrics` and `/readyz` report, when a broker is configured.
    pub relay: Option<RelayWatch>,
    /// The services outside whose state `/readyz` reports.
    pub outside: Outside,
    /// A read model that has not applied the newest event for this long is `behind` in `/readyz`.
    pub read_models_stale_after: std::time::Duration,
    /// What `/readyz` last found wrong (a change is logged once).
    pub readiness: Readiness,
    /// The database reads behind `/readyz` and `/metrics`, one at a time.
    pub health_reads: HealthReads,
    /// The public key of the log's signed tree heads (`GET /api/v1/log/key`).
    pub log_key: domain::tree_head::NoteVerifier,
    /// The witnesses whose cosignatures are kept (`EGOV_WITNESS_KEYS`).
    pub witnesses: Vec<domain::tree_head::cosignature::WitnessVerifier>,
    /// The log tree's upper nodes read so far, for the proofs served.
    pub tree_nodes: projections::log_tree::UpperNodes,
}

/// The services outside as this process meets them: the registries (each caller's circuits) and
/// the revocation responders (through the signature verifier).
#[derive(Clone)]
pub struct Outside {
    /// The registries by each caller: the workflow's, and the one of checks answered at once.
    pub registries: Vec<std::sync::Arc<dyn commands::adapters::registries::Registries>>,
    /// The signature verifier, which knows whether its revocation checks got answers.
    pub verifier: std::sync::Arc<dyn commands::adapters::nca::SignatureVerifier>,
}

impl Outside {
    /// Each registry any caller has figures for, `open` when a caller's circuit to it is open
    /// (its calls are refused at once), `closed` otherwise.
    pub fn circuits(&self) -> std::collections::BTreeMap<&'static str, &'static str> {
        let mut circuits = std::collections::BTreeMap::new();
        for figures in self.registries.iter().flat_map(|r| r.figures()) {
            let state = circuits.entry(figures.registry.name()).or_insert("closed");
            if figures.circuit_open {
                *state = "open";
            }
        }
        circuits
    }
}

/// Which relay to watch and when to call it stuck.
#[derive(Debug, Clone)]
pub struct RelayWatch {
    /// Its checkpoint's name.
    pub name: String,
    /// Events waiting and the checkpoint still for this long: stuck.
    pub stuck_after: std::time::Duration,
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

/// What `/readyz` last found wrong, so that the log tells each change once rather than at every
/// poll of an orchestrator.
#[derive(Debug, Default)]
pub struct Readiness {
    wrong: std::sync::Mutex<Vec<String>>,
}

impl Readiness {
    /// Logs `wrong` when it differs from what the last call found; true when it did.
    pub(crate) fn observe(&self, wrong: Vec<String>) -> bool {
        let mut last = self
            .wrong
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == wrong {
            return false;
        }
        if wrong.is_empty() {
            tracing::info!(was = ?*last, "ready: what was wrong outside the database is well again");
        } else {
            tracing::warn!(wrong = ?wrong, "degraded: the service works, but not all it depends on does");
        }
        *last = wrong;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn readiness_logs_each_change_once_not_each_poll() {
        let readiness = Readiness::default();
        let open = || vec!["the circuit of gbd_fl is open".to_owned()];
        assert!(!readiness.observe(Vec::new()), "ready from the start");
        assert!(readiness.observe(open()));
        assert!(!readiness.observe(open()), "a poll while it lasts");
        assert!(readiness.observe(Vec::new()), "well again");
        assert!(!readiness.observe(Vec::new()));
    }
}

/// The figures `/readyz` and `/metrics` read from the database, each read one at a time however
/// many ask: both answer without a token (orchestrators and scrapers have none), so a flood of
/// them must not take a database connection each.
#[derive(Default)]
pub struct HealthReads {
    /// `/readyz`'s body, or why the service is not ready.
    pub readiness: SharedRead<Result<serde_json::Value, String>>,
    /// `/metrics`' refresh of the figures it takes from the database.
    pub metrics: SharedRead<()>,
}

/// A read that callers arriving together share: a caller waits for the read under way, then
/// takes the next one that started after it arrived, so no answer is older than its request and
/// at most one read runs at a time.
// Hand-written: a mutex over the last read and its start. A cache crate's time-to-live would
// answer with figures older than the request, which an orchestrator must not be given.
pub struct SharedRead<T> {
    last: tokio::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T> Default for SharedRead<T> {
    fn default() -> Self {
        Self {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> SharedRead<T> {
    /// The value of a read that started after this call: one already made by another caller, or
    /// `read`. Cancel safe: a read dropped half way is not kept, and the next caller reads.
    pub async fn get<F: std::future::Future<Output = T>>(&self, read: impl FnOnce() -> F) -> T {
        let arrived = std::time::Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, value)) = last.as_ref() {
            if *started >= arrived {
                return value.clone();
            }
        }
        let started = std::time::Instant::now();
        let value = read().await;
        *last = Some((started, value.clone()));
        value
    }
}
