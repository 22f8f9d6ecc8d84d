//! What the campaign runs and the faults it injects into it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use egov::embedded_postgres::EmbeddedPostgres;
use projections::ReadModel;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use registry_sim::{Background, FaultSettings, Simulator};
use serde_json::json;
use testkit::pki::{Issued, Pki, Responder};

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, serve};
use crate::support::kafka::signal;
use crate::support::kafka::{high_watermarks, kafka_env, topic, Broker, SESSION_TIMEOUT};
use crate::support::portal::{Keys, AUDIENCE, ISSUER};
use crate::support::process::{postmaster, Daemon, Paused, Served};
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
    /// `kill -9` of `egov relay` (started again).
    KillRelay,
    /// `kill -9` of one of the projectors fed from Kafka (started again once its session in the
    /// group has run out).
    KillProjector,
    /// The Kafka broker stopped (SIGSTOP) for `EGOV_CHAOS_BROKER_STOP` seconds (4: within the
    /// consumers' 6 s session; a longer stop meets a limit of tansu, docs/reliability.md).
    StopBroker,
}

/// How many kinds of fault there are.
pub const KINDS: usize = FAULTS.len();

const FAULTS: [Fault; 13] = [
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
    Fault::KillRelay,
    Fault::KillProjector,
    Fault::StopBroker,
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

/// Where the `egov serve` processes listen, as they are restarted.
pub struct Bases(RwLock<Vec<String>>);

impl Bases {
    /// The `n`th's base URL (counted round the list).
    pub fn get(&self, n: usize) -> String {
        let bases = self.0.read().expect("bases");
        bases[n % bases.len()].clone()
    }

    fn all(&self) -> Vec<String> {
        self.0.read().expect("bases").clone()
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
    /// Two `egov serve`: the first with the workflow, the second without (`EGOV_WORKFLOW=off`).
    pub serves: Vec<Served>,
    /// The one of them the next `KillServe` kills.
    next_serve: usize,
    worker: Daemon,
    /// `egov relay` (`egov serve` runs one too; one at a time publishes).
    relay: Daemon,
    /// Two `egov projections run --source kafka`, sharing the topic's partitions.
    projectors: Vec<Daemon>,
    /// The one of them the next `KillProjector` kills.
    next_projector: usize,
    pub broker: Broker,
    /// Registry faults that `/metrics` did not show as failed attempts.
    pub unseen_registry_faults: u64,
    /// How long `StopBroker` stops it.
    broker_stop: Duration,
    pub topic: String,
    pub bases: Arc<Bases>,
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
    /// The registry simulator's base URL.
    pub fn registry_url(&self) -> &str {
        self.sim.url()
    }

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
        let broker = tokio::task::block_in_place(Broker::start);
        let topic = topic();
        let mut env: Vec<(String, String)> = [
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
        // The read models are fed from the topic, by projectors of their own.
        env.extend(kafka_env(&broker, &topic));
        env.push(("EGOV_PROJECTIONS".into(), "off".into()));
        let serves = vec![serve(&env).await, serve(&without_workflow(&env)).await];
        Stand {
            db: Some(Replicated {
                primary,
                standby: Some(standby),
            }),
            url,
            bases: Arc::new(Bases(RwLock::new(
                serves.iter().map(|s| s.base.clone()).collect(),
            ))),
            serves,
            next_serve: 0,
            worker: Daemon::worker(&env),
            relay: Daemon::start(&env, &["relay"]),
            projectors: (0..2).map(|_| projector(&env)).collect(),
            next_projector: 0,
            broker,
            unseen_registry_faults: 0,
            broker_stop: Duration::from_secs(super::setting("EGOV_CHAOS_BROKER_STOP", 4)),
            topic,
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
                let which = self.next_serve % self.serves.len();
                self.next_serve += 1;
                kill(&mut self.serves[which].child);
                let env = if which == 0 {
                    self.env.clone()
                } else {
                    without_workflow(&self.env)
                };
                self.serves[which] = serve(&env).await;
                self.bases.0.write().expect("bases")[which] = self.serves[which].base.clone();
            }
            Fault::KillWorker => {
                kill(&mut self.worker.child);
                self.worker = Daemon::worker(&self.env);
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
            Fault::KillRelay => {
                kill(&mut self.relay.child);
                self.relay = Daemon::start(&self.env, &["relay"]);
            }
            Fault::KillProjector => {
                let which = self.next_projector % self.projectors.len();
                self.next_projector += 1;
                kill(&mut self.projectors[which].child);
                // tansu 0.6.0 keeps a killed member in the group when another joins before its
                // session has run out (README, Kafka): the restart waits for that.
                tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(1)).await;
                self.projectors[which] = projector(&self.env);
            }
            Fault::StopBroker => {
                self.broker.pause();
                tokio::time::sleep(self.broker_stop).await;
                self.broker.resume();
            }
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

    /// How long after `started` `/readyz` of every `egov serve` answers 200 again (the service
    /// is back).
    async fn ready_after(&self, started: Instant) -> Duration {
        let http = reqwest::Client::new();
        loop {
            let mut ready = true;
            for base in self.bases.all() {
                ready &= http
                    .get(format!("{base}/readyz"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|answer| answer.status().is_success());
            }
            if ready || started.elapsed() > Duration::from_secs(120) {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How long after `started` every read model has applied the log as far as it stands now (the
    /// last event committed): every checkpoint of the log's readers (the relay, the workflow's
    /// feeder) has passed it, and the projectors fed from the topic have applied each partition up
    /// to where the relay had published by then. Gives up after 60 s, naming what is behind.
    pub async fn current_after(&self, started: Instant) -> Duration {
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
        let head: (i64, i64) = (head.get(0), head.get(1));
        let waiting = Instant::now();
        let mut ends = None;
        let mut last = Vec::new();
        loop {
            let behind = self.behind(&db, head, &mut ends).await;
            if behind.is_empty() {
                if waiting.elapsed() > Duration::from_secs(3) {
                    eprintln!(
                        "chaos: the last behind, {:.1} s: {last:?}",
                        waiting.elapsed().as_secs_f64()
                    );
                }
                return started.elapsed();
            }
            last = behind.clone();
            if waiting.elapsed() > Duration::from_secs(60) {
                eprintln!("chaos: read models still behind after 60 s: {behind:?}");
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What has not yet applied the log up to `head`: checkpoints by name, then the topic's
    /// projectors by read model and partition (`ends`: the partitions' ends, read once the relay
    /// has passed `head`).
    async fn behind(
        &self,
        db: &tokio_postgres::Client,
        (tx_id, position): (i64, i64),
        ends: &mut Option<Vec<i64>>,
    ) -> Vec<String> {
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
        if !behind.is_empty() {
            return behind;
        }
        if ends.is_none() {
            *ends = Some(high_watermarks(&self.broker.addr, &self.topic).await);
        }
        let applied: HashMap<(String, i32), i64> = db
            .query(
                "SELECT projector, partition, next_offset FROM projections.kafka_offsets
                  WHERE topic = $1",
                &[&self.topic],
            )
            .await
            .expect("offsets")
            .iter()
            .map(|row| ((row.get(0), row.get(1)), row.get(2)))
            .collect();
        let mut behind = Vec::new();
        // The log's tree follows the log, not the topic: its checkpoint is checked above.
        for model in ReadModel::ALL.into_iter().filter(|m| m.follows_topic()) {
            for (partition, end) in (0..).zip(ends.iter().flatten()) {
                let next = applied
                    .get(&(model.name().to_owned(), partition))
                    .copied()
                    .unwrap_or(0);
                if next < *end {
                    behind.push(format!("{}/{partition}", model.name()));
                }
            }
        }
        behind
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
    async fn registry_fault(
        &mut self,
        outage: bool,
        error_rate: f64,
        latency_ms: u64,
        seconds: u64,
    ) {
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
        let before = self.registry_failures().await;
        let answer = set(faulty).await.expect("the simulator");
        assert!(answer.status().is_success(), "faults switched");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        // The operator sees a failing registry in `/metrics` (a slow one fails no attempt).
        if outage || error_rate > 0.0 {
            let after = self.registry_failures().await;
            self.unseen_registry_faults += u64::from(after <= before);
        }
        let answer = set(healthy()).await.expect("the simulator");
        assert!(answer.status().is_success(), "faults healed");
    }

    /// The registry attempts that failed, as the first `egov serve`'s `/metrics` counts them
    /// (its workflow and its social-status checks, which the medical user calls).
    async fn registry_failures(&self) -> f64 {
        let Ok(answer) = self
            .http
            .get(format!("{}/metrics", self.bases.get(0)))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        else {
            return 0.0;
        };
        let text = answer.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("egov_registry_failures_total{"))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }
}

/// `kill -9` of `child`, waited for.
fn kill(child: &mut std::process::Child) {
    child.kill().expect("kill -9");
    let _ = child.wait();
}

/// `egov projections run --source kafka`: every read model, from the topic.
fn projector(env: &[(String, String)]) -> Daemon {
    Daemon::start(env, &["projections", "run", "--source", "kafka"])
}

/// `env` with the workflow off: an `egov serve` that only answers.
fn without_workflow(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.push(("EGOV_WORKFLOW".into(), "off".into()));
    env
}
