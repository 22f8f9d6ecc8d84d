//! The workflow: the process manager that carries a request from its signature to a result or a
//! refusal, and watches its time limits.
//!
//! Two loops, in every process that runs the workflow (`egov serve`, `egov worker`):
//! - the **feeder** follows the log's gap-free cursor and turns events that start work (a
//!   submission, a signature) into rows of `workflow.tasks`, moving its checkpoint in the same
//!   transaction, so no signature is ever missed;
//! - the **workers** claim due tasks (`FOR UPDATE SKIP LOCKED`, with a lease a heartbeat renews),
//!   so each request is driven by one worker at a time, and drive each: load the stream, ask
//!   [`domain::workflow::next`] what it needs, do it (verify the signature, call a registry, sign
//!   the result) and record the outcome through the domain, until the request waits for someone
//!   or for a timer (the task's `due_at`), or ends (the task is deleted).
//!
//! After a crash the stream says where the request stands; a lease that ran out hands the task to
//! another worker. A registry call is made with an idempotency key derived from the request, the
//! lookup and the attempt, and the domain refuses a second outcome for an attempt that has one.

mod driver;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use driver::{registry_call_key, WorkflowError};

use crate::adapters::nca::SignatureVerifier;
use crate::adapters::registries::Registries;
use crate::requests::Requests;
use crate::results::{ProviderKey, ResultDocuments};

/// How the workflow runs.
#[derive(Debug, Clone, Copy)]
pub struct WorkflowSettings {
    /// Requests driven at once by this process.
    pub concurrency: usize,
    /// How long a claimed task stays this worker's without a heartbeat.
    pub lease: Duration,
    /// How often idle workers look for due tasks (timers) besides being woken.
    pub poll: Duration,
    /// The first pause before retrying a registry or an OCSP responder; doubles per attempt, with
    /// full jitter, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            concurrency: 128,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// The workflow over its adapters.
pub struct Workflow {
    requests: Requests,
    verifier: Arc<dyn SignatureVerifier>,
    registries: Arc<dyn Registries>,
    provider: ProviderKey,
    documents: ResultDocuments,
    settings: WorkflowSettings,
    /// This process's name on claimed tasks.
    worker_id: String,
    /// Rung by the feeder when it queued work.
    wake: Notify,
    /// The tasks this process is driving now: the only ones its heartbeat renews. A claim this
    /// process no longer acts on (its release was lost to a failing database) then runs out
    /// after one lease and is claimed again, instead of being renewed for ever.
    driving: std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>,
    /// Tasks claimed after another claim on them ran out (its worker died, stopped, or lost its
    /// release): for `/metrics`.
    takeovers: std::sync::atomic::AtomicU64,
}

impl Workflow {
    /// The workflow over `requests`, checking signatures with `verifier` and asking `registries`
    /// (one attempt per call: the workflow records each attempt and retries itself).
    pub fn new(
        requests: Requests,
        verifier: Arc<dyn SignatureVerifier>,
        registries: Arc<dyn Registries>,
        provider: ProviderKey,
        settings: WorkflowSettings,
    ) -> Arc<Self> {
        let documents = ResultDocuments::new(requests.store().database().clone());
        let worker_id = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Arc::new(Self {
            requests,
            verifier,
            registries,
            provider,
            documents,
            settings,
            worker_id,
            wake: Notify::new(),
            driving: std::sync::Mutex::default(),
            takeovers: std::sync::atomic::AtomicU64::default(),
        })
    }

    /// This process's name on the tasks it claims (`workflow.tasks.claimed_by`).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// How many tasks this process claimed after another claim on them had run out.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs the feeder, the heartbeat and the workers until `shutdown`. In-flight requests are
    /// finished up to their next recorded step; their tasks are released for the next start.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tracing::info!(worker = %self.worker_id, concurrency = self.settings.concurrency, "workflow started");
        let feeder = tokio::spawn(self.clone().feed(shutdown.clone()));
        let heartbeat = tokio::spawn(self.clone().heartbeat(shutdown.clone()));
        self.clone().work(shutdown).await;
        let _ = feeder.await;
        let _ = heartbeat.await;
        tracing::info!(worker = %self.worker_id, "workflow stopped");
    }
}
