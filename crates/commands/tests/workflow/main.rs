//! The workflow's decisions, fast and in-process: the real workflow over a fresh database, with
//! the in-memory fakes of the NCA's verifier and the registries, so that each test sets exactly
//! what the outside world answers - a timeout, an outage, an open circuit, a revocation status
//! that cannot be learnt, a worker that dies holding a request. The end-to-end tests drive the
//! same workflow through the real binary, OCSP responder and registry simulator.

use std::sync::Arc;
use std::time::Duration;

use commands::adapters::nca::fake::FakeVerifier;
use commands::adapters::nca::{NcaError, Revocation, Verdict};
use commands::adapters::registries::fake::{FakeRegistries, Reply};
use commands::adapters::registries::{Registry, RegistryAnswer, RegistryError};
use commands::requests::{Loaded, Requests, Submission};
use commands::results::ProviderKey;
use commands::workflow::{Workflow, WorkflowSettings};
use domain::catalog::Lookup;
use domain::request::{
    LookupFailure, Outcome, Request, RequestEvent, SignatureCheck, SignatureRejection,
};
use domain::{Actor, Iin, RefusalReason, ServiceCode, SignedIn, StreamId};
use event_store::EventStore;
use serde_json::json;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

const ALICE: &str = "900101300007";
/// What a signature is, to the fakes: any bytes.
const SIGNATURE: &[u8] = b"alice's signature";

/// The outside world as a test scripts it.
struct World {
    verifier: Arc<FakeVerifier>,
    registries: Arc<FakeRegistries>,
}

impl World {
    fn new() -> World {
        World {
            verifier: Arc::new(FakeVerifier::new()),
            registries: Arc::new(FakeRegistries::new()),
        }
    }
}

/// Quick retries and a short lease, so that a test takes a second, not a minute.
fn settings(lease: Duration) -> WorkflowSettings {
    WorkflowSettings {
        concurrency: 4,
        lease,
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
    }
}

fn workflow(
    store: &EventStore,
    world: &World,
    keys: &tempfile::TempDir,
    lease: Duration,
) -> Arc<Workflow> {
    Workflow::new(
        Requests::new(store.clone()),
        world.verifier.clone(),
        world.registries.clone(),
        ProviderKey::development(keys.path()).expect("a development key"),
        settings(lease),
    )
}

fn alice() -> Iin {
    Iin::parse(ALICE).expect("valid IIN")
}

/// The SIK registry's answer that a code was assigned.
fn sik_assigned() -> serde_json::Value {
    json!({
        "iin": ALICE, "outcome": "assigned", "sik": "DV6MH41VHFEX4009",
        "last_name": "ИВАНОВА", "first_name": "АЛИЯ", "patronymic": null,
        "birth_date": "1990-01-01", "branch": "ГЦВП", "registered_on": "2026-01-05",
        "issued_on": "2026-01-05",
    })
}

/// Alice files for a SIK and signs: the stream the workflow will drive.
async fn filed(store: &EventStore) -> StreamId {
    let requests = Requests::new(store.clone());
    let actor = Actor::Citizen { iin: alice() };
    let submitted = requests
        .submit(Submission::on_portal(
            ServiceCode::SikAssignment,
            alice(),
            json!({}),
        ))
        .await
        .expect("submit");
    requests
        .sign(&submitted.info.number, SIGNATURE, &actor, SignedIn::CITIZEN)
        .await
        .expect("sign");
    StreamId::from_uuid(submitted.info.request_id)
}

/// Waits until the request has ended (or 20 s pass); its loaded stream.
async fn ended(store: &EventStore, stream: StreamId) -> Loaded {
    let requests = Requests::new(store.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let loaded = requests.load(stream).await.expect("load");
        if matches!(loaded.state, Request::Closed(_)) {
            return loaded;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request did not end: {:?}",
            loaded.events
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the workflow until the request ends; the ended stream.
/// A fresh database, its store, and the fakes (answering nothing until scripted).
async fn setup() -> (TestDb, EventStore, World) {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    (db, store, World::new())
}

async fn drive(store: &EventStore, world: &World, stream: StreamId) -> Loaded {
    let keys = tempfile::tempdir().expect("key dir");
    let stop = CancellationToken::new();
    let running =
        tokio::spawn(workflow(store, world, &keys, Duration::from_secs(30)).run(stop.clone()));
    let loaded = ended(store, stream).await;
    stop.cancel();
    running.await.expect("the workflow stops");
    loaded
}

fn outcome(loaded: &Loaded) -> &Outcome {
    match &loaded.state {
        Request::Closed(closed) => &closed.outcome,
        other => panic!("not ended: {other:?}"),
    }
}

fn assert_completed(loaded: &Loaded) {
    assert!(
        matches!(outcome(loaded), Outcome::Completed { .. }),
        "{loaded:?}"
    );
}

fn failures(loaded: &Loaded) -> Vec<LookupFailure> {
    loaded
        .events
        .iter()
        .filter_map(|e| match e {
            RequestEvent::LookupFailed(failed) => Some(failed.failure),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_request_ends_with_its_result_when_the_signature_verifies_and_the_registry_answers() {
    let (_db, store, world) = setup().await;
    world
        .registries
        .found(Lookup::SikProcessing, &alice(), sik_assigned());
    let stream = filed(&store).await;
    let loaded = drive(&store, &world, stream).await;
    assert_completed(&loaded);
    assert_eq!(world.verifier.calls(), 1);
    let calls = world.registries.calls();
    assert_eq!(calls.len(), 1, "one lookup, one call");
    assert_eq!(calls[0].iin, alice());
}

#[tokio::test]
async fn a_lookup_that_times_out_is_recorded_and_retried_until_the_registry_answers() {
    let (_db, store, world) = setup().await;
    let timed_out = Reply::Answer(Err(RegistryError::TimedOut {
        registry: Registry::Gcvp.name(),
        attempts: 1,
    }));
    world.registries.script(
        Lookup::SikProcessing,
        &alice(),
        vec![
            timed_out.clone(),
            timed_out,
            Reply::Answer(Ok(RegistryAnswer::Found(sik_assigned()))),
        ],
    );
    let stream = filed(&store).await;
    let loaded = drive(&store, &world, stream).await;
    assert_completed(&loaded);
    assert_eq!(failures(&loaded), [LookupFailure::TimedOut; 2]);
    let calls = world.registries.calls();
    assert_eq!(calls.len(), 3);
    // The assignment changes the registry's records: every attempt goes under the request's one
    // key, so a registry that acted on an attempt whose answer was lost answers the next alike.
    assert!(
        calls
            .iter()
            .all(|c| c.idempotency_key == calls[0].idempotency_key),
        "every attempt at the assignment has the request's one idempotency key"
    );
}

#[tokio::test]
async fn an_open_circuit_is_no_answer_the_lookup_is_retried_not_refused() {
    let (_db, store, world) = setup().await;
    let open = Reply::Answer(Err(RegistryError::CircuitOpen {
        registry: Registry::Gcvp.name(),
    }));
    world.registries.script(
        Lookup::SikProcessing,
        &alice(),
        vec![
            open,
            FakeRegistries::unavailable(Lookup::SikProcessing),
            Reply::Answer(Ok(RegistryAnswer::Found(sik_assigned()))),
        ],
    );
    let stream = filed(&store).await;
    let loaded = drive(&store, &world, stream).await;
    assert_completed(&loaded);
    assert_eq!(failures(&loaded), [LookupFailure::Unavailable; 2]);
}

#[tokio::test]
async fn a_registry_without_the_record_ends_the_request_with_the_lookups_refusal() {
    let (_db, store, world) = setup().await;
    let stream = filed(&store).await;
    let loaded = drive(&store, &world, stream).await;
    assert_eq!(
        outcome(&loaded),
        &Outcome::Refused {
            reason: RefusalReason::NoData
        }
    );
    assert_eq!(failures(&loaded), [LookupFailure::NotFound]);
}

#[tokio::test]
async fn an_unknown_revocation_status_is_asked_again_and_never_taken_as_good() {
    let (_db, store, world) = setup().await;
    world
        .registries
        .found(Lookup::SikProcessing, &alice(), sik_assigned());
    let unknown = Err(NcaError::RevocationUnknown("the responder is down".into()));
    world.verifier.script(
        SIGNATURE,
        vec![
            unknown.clone(),
            unknown,
            Err(NcaError::RevocationUnknown("still".into())),
        ],
    );
    let stream = filed(&store).await;
    let keys = tempfile::tempdir().expect("key dir");
    let stop = CancellationToken::new();
    let running =
        tokio::spawn(workflow(&store, &world, &keys, Duration::from_secs(30)).run(stop.clone()));
    // Asked again and again; nothing is recorded while no verdict comes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while world.verifier.calls() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the verifier was not asked again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let loaded = Requests::new(store.clone())
        .load(stream)
        .await
        .expect("load");
    assert_eq!(
        loaded.events.len(),
        2,
        "submitted and signed only: {:?}",
        loaded.events
    );
    // The responder answers: the request goes on to its result.
    let good = Verdict {
        check: SignatureCheck::Verified(domain::request::CertificateInfo {
            serial: "1".into(),
            issuer: "CN=Test CA".into(),
            not_before: chrono::Utc::now() - chrono::Duration::days(1),
            not_after: chrono::Utc::now() + chrono::Duration::days(1),
            subject_iin: Some(alice()),
            revocation: Some(Revocation::Good),
        }),
        revocation: Revocation::Good,
    };
    world.verifier.script(SIGNATURE, vec![Ok(good)]);
    let loaded = ended(&store, stream).await;
    stop.cancel();
    running.await.expect("the workflow stops");
    assert_completed(&loaded);
}

#[tokio::test]
async fn a_revoked_certificate_ends_the_request_with_its_refusal_and_no_lookup() {
    let (_db, store, world) = setup().await;
    world.verifier.script(
        SIGNATURE,
        vec![Ok(Verdict {
            check: SignatureCheck::Rejected {
                reason: SignatureRejection::Revoked,
                certificate: None,
            },
            revocation: Revocation::Revoked,
        })],
    );
    let stream = filed(&store).await;
    let loaded = drive(&store, &world, stream).await;
    assert_eq!(
        outcome(&loaded),
        &Outcome::Refused {
            reason: RefusalReason::CertificateRevoked
        }
    );
    assert!(world.registries.calls().is_empty(), "no registry is asked");
}

#[tokio::test]
async fn a_request_held_by_a_worker_that_died_is_taken_over_once_its_lease_runs_out() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let stream = filed(&store).await;
    let keys = tempfile::tempdir().expect("key dir");
    // The first worker, in a runtime of its own, claims the request and hangs in its check.
    let doomed = World::new();
    doomed.verifier.hang(SIGNATURE);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the first worker");
    let first = {
        let _inside = runtime.enter();
        // Its own pool: the connections die with its runtime, as with its process.
        let store = EventStore::new(
            event_store::Database::connect(db.database().settings().clone()).expect("pool"),
        );
        workflow(&store, &doomed, &keys, Duration::from_secs(1))
    };
    runtime.spawn(first.run(CancellationToken::new()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while doomed.verifier.calls() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker never took the request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // It dies, holding the request: no release, no heartbeat.
    runtime.shutdown_background();
    // A second worker takes the request over when the lease runs out, and carries it to the end.
    let world = World::new();
    world
        .registries
        .found(Lookup::SikProcessing, &alice(), sik_assigned());
    let loaded = drive(&store, &world, stream).await;
    assert_completed(&loaded);
    let verified = loaded
        .events
        .iter()
        .filter(|e| matches!(e, RequestEvent::SignatureVerified(_)))
        .count();
    assert_eq!(
        verified, 1,
        "the check is recorded once: {:?}",
        loaded.events
    );
    assert_eq!(world.verifier.calls(), 1);
}

/// Found by the fault campaign: a release lost to a restarting database left a task claimed by a
/// live worker that no longer drove it, and its heartbeat renewed every claim in its name, so the
/// request stayed claimed, and unfinished, for as long as the worker lived.
#[tokio::test]
async fn a_claim_its_worker_no_longer_drives_runs_out_and_the_request_is_carried_on() {
    let (db, store, world) = setup().await;
    world
        .registries
        .found(Lookup::SikProcessing, &alice(), sik_assigned());
    let stream = filed(&store).await;
    let keys = tempfile::tempdir().expect("key dir");
    let workflow = workflow(&store, &world, &keys, Duration::from_secs(1));
    // The task is this worker's already, as after a lost release: the claim stands, and nothing
    // in the process drives it.
    db.superuser()
        .await
        .execute(
            "INSERT INTO workflow.tasks (stream_id, due_at, claimed_by, claimed_until)
             VALUES ($1, now(), $2, now() + interval '1 second')",
            &[&stream.as_uuid(), &workflow.worker_id()],
        )
        .await
        .expect("a stale claim");
    let stop = CancellationToken::new();
    assert_eq!(workflow.takeovers(), 0);
    let running = tokio::spawn(workflow.clone().run(stop.clone()));
    let loaded = ended(&store, stream).await;
    assert_completed(&loaded);
    // Claimed again once the stale claim ran out: a takeover, which `/metrics` shows.
    assert_eq!(workflow.takeovers(), 1);
    stop.cancel();
    running.await.expect("the workflow stops");
}

/// Migration V16 (docs/domain.md 3.6, 10.1 C1-C2): requests recorded before the new rules may
/// have no task, so nothing would ever abandon an unsigned one or issue a refused one's document.
/// The migration gives every request that has not ended with a document or as abandoned a task,
/// and none to a finished one.
#[tokio::test]
async fn the_upgrade_gives_every_unfinished_request_a_task_and_none_to_a_finished_one() {
    let (db, store, world) = setup().await;
    world
        .registries
        .found(Lookup::SikProcessing, &alice(), sik_assigned());
    let finished = filed(&store).await;
    assert_completed(&drive(&store, &world, finished).await);
    let unsigned = Requests::new(store.clone())
        .submit(Submission::on_portal(
            ServiceCode::SikAssignment,
            alice(),
            json!({}),
        ))
        .await
        .expect("submit");
    let unsigned = StreamId::from_uuid(unsigned.info.request_id);
    // As before the rules: no task for either.
    let client = db.superuser().await;
    client
        .batch_execute("DELETE FROM workflow.tasks")
        .await
        .expect("no tasks");
    client
        .batch_execute(include_str!(
            "../../../../migrations/V16__tasks_for_the_new_rules.sql"
        ))
        .await
        .expect("the migration's statement runs again");
    let tasks: Vec<uuid::Uuid> = client
        .query("SELECT stream_id FROM workflow.tasks", &[])
        .await
        .expect("tasks")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tasks, [unsigned.as_uuid()], "finished: {finished:?}");
}
