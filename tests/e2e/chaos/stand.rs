//! What the campaign runs and the faults it injects into it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use egov::embedded_postgres::EmbeddedPostgres;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use registry_sim::{Background, FaultSettings, Simulator};
use serde_json::json;
use testkit::pki::{Issued, Pki, Responder};

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, serve};
use crate::support::kafka::signal;
use crate::support::portal::{Keys, AUDIENCE, ISSUER};
use crate::support::process::{postmaster, Paused, Served, Worker};
use crate::support::replication::{self, superuser_at, synchronous};

/// The operator whose reads are audited.
pub const OPERATOR: &str = "op-chaos";

/// What the campaign injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    KillServe,
    KillWorker,
    StopWorker,
    PauseDatabase,
    RestartDatabase,
    /// The primary killed, the standby promoted, a new standby rebuilt from it.
    FailOver,
    /// The OCSP responder stopped for a while.
    StopResponder,
    /// The registries answer nothing but 503 for a while.
    RegistryOutage,
    /// Half the registries' answers are 503 for a while.
    RegistryErrors,
    /// The registries answer 1.5 s late for a while.
    RegistrySlow,
}

const FAULTS: [Fault; 10] = [
    Fault::KillServe,
    Fault::KillWorker,
    Fault::StopWorker,
    Fault::PauseDatabase,
    Fault::RestartDatabase,
    Fault::FailOver,
    Fault::StopResponder,
    Fault::RegistryOutage,
    Fault::RegistryErrors,
    Fault::RegistrySlow,
];

/// The faults in an order drawn from the seed: every kind once, shuffled, then again, so that a
/// short run meets each kind.
pub struct Deck {
    rng: StdRng,
    left: Vec<Fault>,
}

impl Deck {
    pub fn new(rng: StdRng) -> Deck {
        Deck {
            rng,
            left: Vec::new(),
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    pub fn draw(&mut self) -> Fault {
        if self.left.is_empty() {
            self.left = FAULTS.to_vec();
            self.left.shuffle(&mut self.rng);
        }
        self.left.pop().expect("a full deck")
    }
}

/// How long the service took to recover from a fault.
pub struct Recovered {
    /// Until `/readyz` answered 200.
    pub ready: Duration,
    /// Until every read model held the log as it stood when the service was ready.
    pub current: Duration,
}

/// A primary and its synchronous streaming standby; the service reaches whichever takes writes
/// through a URL naming both (`target_session_attrs=read-write`).
struct Replicated {
    primary: EmbeddedPostgres,
    /// None while a new one is being built after a failover.
    standby: Option<EmbeddedPostgres>,
}

/// Everything the campaign runs, and how to reach it.
pub struct Stand {
    db: Option<Replicated>,
    /// The URL naming both servers, as the service is given it.
    pub url: String,
    env: Vec<(String, String)>,
    pub serve: Served,
    worker: Worker,
    pub base: Arc<RwLock<String>>,
    pub keys: Keys,
    pub pki: Arc<Mutex<Pki>>,
    responder: Option<Responder>,
    sim: Background,
    http: reqwest::Client,
    /// The citizen's signing certificate, until the clients take it.
    pub signer: Option<Issued>,
    _data: tempfile::TempDir,
}

impl Stand {
    pub async fn start() -> Stand {
        let data = tempfile::tempdir().expect("data dir");
        let (primary, standby) = replication::pair(data.path()).await;
        let url = replication::url(&primary, &standby);
        let keys = Keys::new();
        let mut pki = Pki::new();
        // Issued before the responder starts: it answers for what its index held then.
        let signer = pki.signer(AIDA);
        let responder = pki.responder();
        let sim = Simulator::spawn(healthy()).expect("the simulator starts");
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", url.as_str()),
            ("EGOV_MIGRATE_DATABASE_URL", url.as_str()),
            ("EGOV_JWT_PUBLIC_KEYS", &keys.setting()),
            ("EGOV_JWT_ISSUER", ISSUER),
            ("EGOV_JWT_AUDIENCE", AUDIENCE),
            ("EGOV_REGISTRY_URL", sim.url()),
            (
                "EGOV_TRUST_ANCHORS",
                &pki.anchors_file().display().to_string(),
            ),
            (
                "EGOV_DATA_DIR",
                &data.path().join("pg").display().to_string(),
            ),
            ("EGOV_WORKFLOW_LEASE", "2s"),
            ("EGOV_MODE", "development"),
            ("EGOV_WRITES_PER_SECOND", "100000"),
            ("EGOV_WRITE_BURST", "100000"),
            ("EGOV_DAILY_FILINGS", "100000"),
            ("EGOV_DAILY_FILINGS_OPERATOR", "100000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let served = serve(&env).await;
        Stand {
            db: Some(Replicated {
                primary,
                standby: Some(standby),
            }),
            url,
            base: Arc::new(RwLock::new(served.base.clone())),
            serve: served,
            worker: Worker::start(&env),
            env,
            keys,
            pki: Arc::new(Mutex::new(pki)),
            responder: Some(responder),
            sim,
            http: reqwest::Client::new(),
            signer: Some(signer),
            _data: data,
        }
    }

    fn db(&self) -> &Replicated {
        self.db.as_ref().expect("the database pair")
    }

    pub fn operator_token(&self) -> String {
        let mut claims = Keys::claims("operator", OPERATOR);
        claims["org"] = json!("TsON-chaos");
        self.keys.es256(&claims)
    }

    pub fn citizen_token(&self) -> String {
        self.keys.citizen(AIDA)
    }

    /// A superuser's connection to the primary.
    pub async fn superuser(&self) -> tokio_postgres::Client {
        superuser_at(self.db().primary.port()).await
    }

    /// Injects `fault`, heals it, and measures how long the service took to recover from the
    /// moment it was healed (the process started again, the database continued or a standby
    /// promoted, the registries answering); `away` is set while the database is paused or has no
    /// primary.
    pub async fn inject(&mut self, fault: Fault, away: &AtomicBool) -> Recovered {
        match fault {
            Fault::KillServe => {
                self.serve.child.kill().expect("kill -9 egov serve");
                let _ = self.serve.child.wait();
                self.serve = serve(&self.env).await;
                *self.base.write().expect("base") = self.serve.base.clone();
            }
            Fault::KillWorker => {
                self.worker.child.kill().expect("kill -9 egov worker");
                let _ = self.worker.child.wait();
                self.worker = Worker::start(&self.env);
            }
            Fault::StopWorker => {
                // Past its 2 s lease: another process takes its requests over, and the stopped
                // one must not write for them when it is continued.
                signal("-STOP", self.worker.child.id());
                tokio::time::sleep(Duration::from_secs(4)).await;
                signal("-CONT", self.worker.child.id());
            }
            Fault::PauseDatabase => {
                let (pid, _) = postmaster(self.db().primary.data_dir()).expect("postmaster");
                let frozen = Paused::cluster(pid);
                away.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                away.store(false, Ordering::SeqCst);
                drop(frozen);
            }
            Fault::RestartDatabase => {
                let db = self.db.as_mut().expect("the database pair");
                tokio::task::block_in_place(|| db.primary.restart_immediately())
                    .expect("PostgreSQL restarts");
            }
            Fault::FailOver => return self.fail_over(away).await,
            Fault::StopResponder => {
                drop(self.responder.take());
                tokio::time::sleep(Duration::from_secs(5)).await;
                let pki = &self.pki;
                self.responder = Some(tokio::task::block_in_place(|| {
                    pki.lock().expect("pki").responder()
                }));
            }
            Fault::RegistryOutage => self.registry_fault(true, 0.0, 0, 5).await,
            Fault::RegistryErrors => self.registry_fault(false, 0.5, 0, 6).await,
            Fault::RegistrySlow => self.registry_fault(false, 0.0, 1500, 6).await,
        }
        self.recovered(Instant::now()).await
    }

    /// How long after `healed` the service was ready again, and its read models current.
    async fn recovered(&self, healed: Instant) -> Recovered {
        Recovered {
            ready: self.ready_after(healed).await,
            current: self.current_after(healed).await,
        }
    }

    /// How long after `started` `/readyz` answers 200 again (the service is back).
    async fn ready_after(&self, started: Instant) -> Duration {
        let http = reqwest::Client::new();
        loop {
            let base = self.base.read().expect("base").clone();
            let ready = http
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success());
            if ready || started.elapsed() > Duration::from_secs(120) {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How long after `started` every read model has applied the log as far as it stands now (the
    /// last event committed). Gives up after 60 s, naming the projectors still behind.
    async fn current_after(&self, started: Instant) -> Duration {
        let db = self.superuser().await;
        let head = db
            .query_opt(
                "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1",
                &[],
            )
            .await
            .expect("the log's head");
        let Some(head) = head else {
            return started.elapsed();
        };
        let (tx_id, position): (i64, i64) = (head.get(0), head.get(1));
        let waiting = Instant::now();
        loop {
            let behind: Vec<String> = db
                .query(
                    "SELECT name FROM projections.checkpoints WHERE (tx_id, position) < ($1, $2)",
                    &[&tx_id, &position],
                )
                .await
                .expect("checkpoints")
                .iter()
                .map(|row| row.get(0))
                .collect();
            if behind.is_empty() {
                return started.elapsed();
            }
            if waiting.elapsed() > Duration::from_secs(60) {
                eprintln!("chaos: read models still behind after 60 s: {behind:?}");
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The primary lost (stopped at once, as a crash leaves it), the standby promoted a second
    /// later (what a failover manager takes to decide), and a new standby rebuilt from the new
    /// primary in the old one's place once the service is back (what it took is measured from
    /// the promotion, before the rebuild).
    async fn fail_over(&mut self, away: &AtomicBool) -> Recovered {
        let Replicated { primary, standby } = self.db.take().expect("the database pair");
        let standby = standby.expect("a standby to promote");
        let (old_dir, old_port) = (primary.data_dir().to_owned(), primary.port());
        away.store(true, Ordering::SeqCst);
        tokio::task::block_in_place(|| primary.crash()).expect("the primary stops");
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| standby.promote()).expect("the standby is promoted");
        let promoted = Instant::now();
        away.store(false, Ordering::SeqCst);
        // Alone, the new primary would hold every commit waiting for a standby that is not
        // there: synchronous replication stays off until the new standby follows.
        synchronous(standby.port(), false).await;
        self.db = Some(Replicated {
            primary: standby,
            standby: None,
        });
        let recovered = self.recovered(promoted).await;
        let db = self.db.as_mut().expect("the database pair");
        let rebuilt =
            tokio::task::block_in_place(|| db.primary.start_standby(&old_dir, Some(old_port)))
                .expect("a new standby is built");
        db.standby = Some(rebuilt);
        synchronous(db.primary.port(), true).await;
        recovered
    }

    /// Sets the simulator's faults for `seconds`, then heals them.
    async fn registry_fault(&self, outage: bool, error_rate: f64, latency_ms: u64, seconds: u64) {
        let set = |settings: FaultSettings| {
            self.http
                .put(format!("{}/admin/faults", self.sim.url()))
                .json(&settings)
                .send()
        };
        let faulty = FaultSettings {
            latency_ms,
            error_rate,
            outage,
        };
        let answer = set(faulty).await.expect("the simulator");
        assert!(answer.status().is_success(), "faults switched");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let answer = set(healthy()).await.expect("the simulator");
        assert!(answer.status().is_success(), "faults healed");
    }
}
