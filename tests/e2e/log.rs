//! The verifiable log through the real binary: a citizen's receipt of a result, checked offline by
//! `egov receipt verify` with nothing but the log's public key after the service has stopped (and
//! against a newer head), and the insider who rewrites a stream with a recomputed hash chain:
//! `egov verify` alone says intact, the tree's replay check names the first differing leaf, and the
//! old receipt no longer matches the event the log now serves. And a consumer of the Kafka topic
//! checks every event it reads against the heads published on their own topic.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::pki::Algorithm;

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, Flow};
use crate::support::kafka::{kafka_env, read_messages, read_topic, topic as kafka_topic, Broker};
use crate::support::portal::Keys;
use crate::support::process::{egov, eventually, Daemon};

const WAIT: Duration = Duration::from_secs(60);

/// A completed SIK request of Aida's, and its receipt once a signed head covers it.
async fn receipt_of_a_result(flow: &mut Flow) -> (String, Value) {
    let signer = flow
        .pki
        .citizen(AIDA, Algorithm::EcP256, (-10, 300), false, true);
    flow.start_responder();
    let number = flow
        .file_signed_by("sik-assignment", AIDA, json!({}), &signer)
        .await;
    let status = flow.outcome(&number, AIDA, WAIT).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    let token = flow.keys.citizen(AIDA);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, receipt) = flow
            .get(&format!("/api/v1/requests/{number}/receipt"), &token)
            .await;
        if status == 200 {
            return (number, receipt);
        }
        assert_eq!(
            (status, receipt["code"].as_str()),
            (409, Some("not-yet-in-signed-head"))
        );
        assert!(tokio::time::Instant::now() < deadline, "no receipt");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn log_key(flow: &Flow) -> String {
    flow.http
        .get(flow.url("/api/v1/log/key"))
        .send()
        .await
        .expect("the key")
        .text()
        .await
        .expect("text")
        .trim()
        .to_owned()
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path.display().to_string()
}

/// `egov receipt verify` (no database, no network): its exit code and output.
fn verify(receipt: &str, key: &str, head: Option<&str>) -> (Option<i32>, String) {
    let mut command = egov();
    command.args(["receipt", "verify", receipt, "--key", key]);
    if let Some(head) = head {
        command.args(["--head", head]);
    }
    let output = command.output().expect("egov receipt verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn a_receipt_verifies_offline_after_the_service_stopped_and_a_newer_head_extends_it() {
    let mut flow = Flow::start(healthy(), &[("EGOV_TREE_HEAD_EVERY", "200ms")]).await;
    let (number, receipt) = receipt_of_a_result(&mut flow).await;
    assert_eq!(receipt["request"], number.as_str());
    assert_eq!(receipt["event"]["event_type"], "ResultIssued");
    let key = log_key(&flow).await;
    // Another request grows the log; the newer head comes with its proof from the receipt's size.
    flow.submit("sik-assignment", AIDA, json!({})).await;
    let size = receipt["size"].as_u64().expect("size");
    let token = flow.keys.citizen(AIDA);
    let deadline = tokio::time::Instant::now() + WAIT;
    let newer = loop {
        let (status, head) = flow
            .get(&format!("/api/v1/log/head?from={size}"), &token)
            .await;
        assert_eq!(status, 200, "{head}");
        if head["size"].as_u64() > Some(size) {
            break head;
        }
        assert!(tokio::time::Instant::now() < deadline, "the log never grew");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(flow.served.terminate(), "the service stops");

    let dir = tempfile::tempdir().expect("dir");
    let file = write(dir.path(), "receipt.json", &receipt);
    let newer_file = write(dir.path(), "newer.json", &newer);
    let key_file = dir.path().join("log.pub");
    std::fs::write(&key_file, format!("{key}\n")).expect("key file");
    let (code, text) = verify(&file, &key, None);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("request {number}")), "{text}");
    let (code, text) = verify(&file, &key_file.display().to_string(), Some(&newer_file));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("extends it"), "{text}");

    // An altered receipt, a newer head from nowhere, another key: exit 5, saying why.
    let mut altered = receipt.clone();
    altered["event"]["payload"]["document_sha256"] = "0".repeat(64).into();
    let altered = write(dir.path(), "altered.json", &altered);
    let (code, text) = verify(&altered, &key, None);
    assert_eq!(code, Some(5), "{text}");
    assert!(text.contains("is not in the signed head"), "{text}");
    let mut forged = newer.clone();
    forged["consistency"]["proof"] = json!([]);
    let forged = write(dir.path(), "forged.json", &forged);
    let (code, text) = verify(&file, &key, Some(&forged));
    assert_eq!(code, Some(5), "{text}");
    assert!(text.contains("does not extend"), "{text}");
    // A key of the same name that is not the log's: the signature does not check.
    let other = domain::tree_head::NoteSigner::from_seed("egov-events.localhost/log", [1; 32])
        .expect("another key")
        .verifier()
        .to_string();
    let (code, text) = verify(&file, &other, None);
    assert_eq!(code, Some(5), "{text}");
    assert!(text.contains("signed head"), "{text}");
}

/// Rewrites the request's stream from its second event with a recomputed hash chain, behind the
/// append-only trigger, as a superuser would.
async fn rewrite_with_a_consistent_chain(flow: &Flow, number: &str) {
    let admin = flow.db.superuser().await;
    let rows = admin
        .query(
            "SELECT e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version,
                    e.payload, e.actor, e.channel, e.correlation_id, e.causation_id, e.recorded_at
               FROM events e JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 ORDER BY e.stream_version",
            &[&number],
        )
        .await
        .expect("the stream");
    admin
        .batch_execute("BEGIN; ALTER TABLE events DISABLE TRIGGER events_append_only")
        .await
        .expect("begin");
    let mut previous = domain::GENESIS_HASH;
    for row in rows {
        let mut payload: Value = row.get(5);
        let version: i64 = row.get(2);
        if version == 2 {
            payload["rewritten"] = true.into();
        }
        let metadata = domain::EventMetadata {
            actor: domain::Actor::parse(row.get::<_, &str>(6)).expect("actor"),
            channel: row.get::<_, &str>(7).parse().expect("channel"),
            correlation_id: row.get(8),
            causation_id: row.get(9),
        };
        let event_type: &str = row.get(3);
        let canonical = domain::hash_chain::canonical_bytes(domain::hash_chain::CanonicalEvent {
            stream_id: domain::StreamId::from_uuid(row.get(1)),
            stream_version: domain::StreamVersion::new(version as u64),
            event_id: row.get(0),
            event_type,
            schema_version: row.get::<_, i32>(4) as u32,
            payload: &payload,
            metadata: &metadata,
            recorded_at: row.get(10),
        });
        let hash = domain::hash_chain::chain_hash(&previous, &canonical);
        admin
            .execute(
                "UPDATE events SET payload = $1, hash = $2 WHERE event_id = $3",
                &[
                    &payload,
                    &hash.as_bytes().as_slice(),
                    &row.get::<_, uuid::Uuid>(0),
                ],
            )
            .await
            .expect("rewrite");
        previous = hash;
    }
    admin
        .batch_execute("ALTER TABLE events ENABLE TRIGGER events_append_only; COMMIT")
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_stream_rewritten_with_a_consistent_chain_passes_verify_but_not_the_tree_or_the_receipt()
{
    let mut flow = Flow::start(healthy(), &[("EGOV_TREE_HEAD_EVERY", "200ms")]).await;
    let (number, receipt) = receipt_of_a_result(&mut flow).await;
    rewrite_with_a_consistent_chain(&flow, &number).await;

    let database = flow.db.url();
    let verified = egov()
        .arg("verify")
        .env("DATABASE_URL", &database)
        .env("EGOV_MODE", "development")
        .output()
        .expect("egov verify");
    assert!(
        verified.status.success(),
        "the chains alone see nothing: {}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // The tree replayed from the log differs from the stored one at the rewritten event's leaf.
    let replay = egov()
        .args(["replay", "--check", "--only", "log_tree"])
        .env("DATABASE_URL", &database)
        .env("EGOV_MODE", "development")
        .output()
        .expect("egov replay --check");
    let report = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(4), "{report}");
    let admin = flow.db.superuser().await;
    let victim: i64 = admin
        .query_one(
            "SELECT l.idx FROM projections.log_tree_leaves() l
               JOIN events e ON e.event_id = l.event_id
               JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 AND e.stream_version = 2",
            &[&number],
        )
        .await
        .expect("the rewritten event's leaf")
        .get(0);
    assert!(
        report.contains(&format!("\"log_tree_leaves:{victim}\"")),
        "the first differing leaf is named: {report}"
    );
    // The old receipt: the chain hash of its event changed with the rewrite (every later event of
    // the stream was re-hashed), so the event the log now serves for it is not the leaf the
    // receipt's signed head holds, and the check names that leaf.
    let auditor = flow.keys.es256(&Keys::claims("auditor", "auditor-1"));
    let (_, served) = flow
        .get(&format!("/api/v1/audit/requests/{number}/events"), &auditor)
        .await;
    let events = served["events"].as_array().expect("events");
    assert_eq!(
        events[1]["payload"]["rewritten"], true,
        "the log serves the rewritten stream"
    );
    let now = events
        .iter()
        .find(|e| e["event_id"] == receipt["event"]["event_id"])
        .expect("the receipt's event");
    assert_ne!(now["hash"], receipt["event"]["hash"]);
    let mut against_now = receipt.clone();
    against_now["event"]["payload"] = now["payload"].clone();
    against_now["event"]["hash"] = now["hash"].clone();
    let dir = tempfile::tempdir().expect("dir");
    let file = write(dir.path(), "receipt-now.json", &against_now);
    let (code, text) = verify(&file, &log_key(&flow).await, None);
    assert_eq!(code, Some(5), "{text}");
    let index = receipt["index"].as_u64().expect("index");
    assert!(text.contains(&format!("leaf {index}")), "{text}");

    // Rebuilt from the rewritten log, the tree contradicts the last signed head: no head is signed
    // over the rewritten history however the log grows.
    let rebuilt = egov()
        .args(["projections", "rebuild", "log_tree"])
        .env("DATABASE_URL", &database)
        .env("EGOV_MODE", "development")
        .output()
        .expect("egov projections rebuild");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let signed_before: i64 = admin
        .query_one("SELECT max(size) FROM tree_heads", &[])
        .await
        .expect("heads")
        .get(0);
    flow.submit("sik-assignment", AIDA, json!({})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (tree, signed_after): (i64, i64) = {
        let row = admin
            .query_one(
                "SELECT (SELECT count(*) FROM projections.log_tree_leaves()), (SELECT max(size) FROM tree_heads)",
                &[],
            )
            .await
            .expect("sizes");
        (row.get(0), row.get(1))
    };
    assert!(tree > signed_before, "the tree grew to {tree}");
    assert_eq!(
        signed_after, signed_before,
        "nothing signed over a rewritten history"
    );
}

#[tokio::test]
async fn a_kafka_consumer_checks_every_event_it_reads_against_the_published_heads() {
    let broker = Broker::start();
    let topic = kafka_topic();
    let mut env = kafka_env(&broker, &topic);
    let heads_topic = format!("{topic}.heads");
    env.push(("EGOV_KAFKA_TREE_HEADS_TOPIC".into(), heads_topic.clone()));
    env.push(("EGOV_TREE_HEAD_EVERY".into(), "200ms".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut flow = Flow::start(healthy(), &pairs).await;
    let (_, receipt) = receipt_of_a_result(&mut flow).await;
    let key = domain::tree_head::NoteVerifier::parse(&log_key(&flow).await).expect("key");
    let covered = receipt["size"].as_u64().expect("size");

    // The newest published head covering the receipt's events, its signature checked.
    let heads = read_messages(&broker.addr, &heads_topic, 1).await;
    let head = heads
        .iter()
        .map(|raw| serde_json::from_slice::<Value>(&raw.payload).expect("a head"))
        .map(|head| {
            key.verify(head["note"].as_str().expect("note"))
                .expect("signed by the log")
        })
        .max_by_key(|head| head.size)
        .expect("a head");
    assert!(head.size >= covered, "{} < {covered}", head.size);
    assert!(heads.iter().all(|raw| raw.partition == 0));

    // Every event of the topic below the head: its leaf from the message itself, its proof from
    // the API, checked against the published head.
    let events = read_topic(&broker.addr, &topic, covered as usize).await;
    let auditor = flow.keys.es256(&Keys::claims("auditor", "auditor-1"));
    let mut checked = 0;
    for published in &events {
        let leaf = domain::merkle::event_leaf(&published.event);
        let path = format!(
            "/api/v1/log/proof/inclusion?event={}&size={}",
            published.event.event_id, head.size
        );
        let (status, proof) = flow.get(&path, &auditor).await;
        if status == 400 {
            continue; // an event after the head: a later head covers it
        }
        assert_eq!(status, 200, "{proof}");
        let hashes: Vec<domain::merkle::Hash> = proof["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(decode)
            .collect();
        assert!(
            domain::merkle::verify_inclusion(
                proof["index"].as_u64().expect("index"),
                head.size,
                &leaf,
                &hashes,
                &head.root
            ),
            "event {} from Kafka is not in the published head",
            published.event.event_id
        );
        checked += 1;
    }
    assert_eq!(
        checked, head.size,
        "every event of the head came through Kafka and checked"
    );
}

fn decode(value: &Value) -> domain::merkle::Hash {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("base64"))
        .expect("base64");
    domain::merkle::Hash::try_from(bytes).expect("32 bytes")
}

/// A witness's state directory with its key made, and the key's public half.
fn witness_state(dir: &Path) -> String {
    let signer = domain::tree_head::cosignature::WitnessSigner::from_seed(
        "auditors-office.test/witness",
        [9; 32],
    )
    .expect("witness key");
    std::fs::create_dir_all(dir).expect("state dir");
    std::fs::write(dir.join("witness-key"), signer.to_private_text()).expect("key");
    signer.verifier().to_string()
}

/// One round of `egov witness` against `flow`: its exit code and its output.
fn witness_once(flow: &Flow, state: &Path, key: &str, token: &Path) -> (Option<i32>, String) {
    let output = egov()
        .args([
            "witness",
            "--once",
            "--log",
            &flow.served.base,
            "--log-key",
            key,
        ])
        .arg("--state")
        .arg(state)
        .arg("--token-file")
        .arg(token)
        .env("EGOV_DATA_DIR", state.join("unused"))
        .output()
        .expect("egov witness");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// What an insider who can rewrite the database does after changing events: the tree rebuilt from
/// them, the published heads removed so that new ones get signed.
async fn resign_from_scratch(flow: &Flow) {
    let rebuilt = egov()
        .args(["projections", "rebuild", "log_tree"])
        .env("DATABASE_URL", flow.db.url())
        .env("EGOV_MODE", "development")
        .output()
        .expect("egov projections rebuild");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    flow.db
        .superuser()
        .await
        .batch_execute(
            "BEGIN;
             ALTER TABLE tree_head_cosignatures DISABLE TRIGGER USER;
             ALTER TABLE tree_heads DISABLE TRIGGER USER;
             DELETE FROM tree_head_cosignatures; DELETE FROM tree_heads;
             ALTER TABLE tree_heads ENABLE TRIGGER USER;
             ALTER TABLE tree_head_cosignatures ENABLE TRIGGER USER;
             COMMIT;",
        )
        .await
        .expect("the heads taken back");
    let admin = flow.db.superuser().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while admin
        .query_one("SELECT count(*) FROM tree_heads", &[])
        .await
        .expect("heads")
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no head signed again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service whose heads a witness may cosign (its key in `EGOV_WITNESS_KEYS`, a head every
/// 200 ms), one request carried to its result, and what a witness of it needs: its state
/// directory, the log's key and a token file of the `witness` role.
struct WitnessSetup {
    dir: tempfile::TempDir,
    state: std::path::PathBuf,
    flow: Flow,
    number: String,
    key: String,
    witness_key: String,
    token: std::path::PathBuf,
}

impl WitnessSetup {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("witness");
        let witness_key = witness_state(&state);
        let mut flow = Flow::start(
            healthy(),
            &[
                ("EGOV_TREE_HEAD_EVERY", "200ms"),
                ("EGOV_WITNESS_KEYS", &witness_key),
            ],
        )
        .await;
        let (number, _) = receipt_of_a_result(&mut flow).await;
        let key = log_key(&flow).await;
        let token = dir.path().join("token");
        std::fs::write(
            &token,
            flow.keys.es256(&Keys::claims("witness", "auditors-office")),
        )
        .expect("token");
        Self {
            dir,
            state,
            flow,
            number,
            key,
            witness_key,
            token,
        }
    }
}

/// The evidence the witness kept (the first of its alarm).
fn evidence(state: &Path) -> Value {
    let name = std::fs::read_to_string(state.join("alarm")).expect("an alarm");
    serde_json::from_slice(&std::fs::read(state.join(name.trim())).expect("evidence"))
        .expect("json")
}

#[tokio::test]
async fn the_witness_cosigns_heads_that_extend_and_names_the_first_rewritten_leaf() {
    let WitnessSetup {
        dir: _dir,
        state,
        flow,
        number,
        key,
        token,
        witness_key,
    } = WitnessSetup::start().await;

    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(0), "{text}");
    // The log now serves its head with the witness's cosignature.
    let (status, head) = flow.get("/api/v1/log/head", &flow.keys.citizen(AIDA)).await;
    assert_eq!(status, 200, "{head}");
    let note = head["note"].as_str().expect("note");
    let signed = domain::tree_head::NoteVerifier::parse(&key)
        .expect("key")
        .verify(note)
        .expect("the log's signature");
    domain::tree_head::cosignature::WitnessVerifier::parse(&witness_key)
        .expect("witness key")
        .verify_note(&signed, note)
        .expect("cosigned by the witness");
    let accepted = std::fs::read_to_string(state.join("accepted")).expect("accepted");
    flow.submit("sik-assignment", AIDA, json!({})).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::fs::read_to_string(state.join("accepted")).expect("accepted") == accepted {
        let (code, text) = witness_once(&flow, &state, &key, &token);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no newer head accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!state.join("alarm").exists());

    // The insider rewrites the request's stream with a consistent chain and re-signs the tree.
    rewrite_with_a_consistent_chain(&flow, &number).await;
    resign_from_scratch(&flow).await;
    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(6), "{text}");
    assert!(text.contains("ALARM"), "{text}");
    let victim: i64 = flow
        .db
        .superuser()
        .await
        .query_one(
            "SELECT l.idx FROM projections.log_tree_leaves() l
               JOIN events e ON e.event_id = l.event_id
               JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 AND e.stream_version = 2",
            &[&number],
        )
        .await
        .expect("the rewritten event's leaf")
        .get(0);
    let evidence = evidence(&state);
    assert_eq!(
        evidence["first_differing_leaf"]["index"], victim,
        "{evidence}"
    );
    assert!(evidence["accepted"].is_string() && evidence["offered"]["note"].is_string());
    // And it stays alarmed: nothing is accepted after an alarm.
    let (code, _) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(6));
}

#[tokio::test]
async fn the_witness_raises_the_alarm_when_the_logs_tail_is_dropped() {
    let WitnessSetup {
        dir: _dir,
        state,
        flow,
        number,
        key,
        token,
        ..
    } = WitnessSetup::start().await;
    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(0), "{text}");

    // The request's last events go, as when an older backup is restored.
    let admin = flow.db.superuser().await;
    let first_dropped: i64 = admin
        .query_one(
            "SELECT min(l.idx) FROM projections.log_tree_leaves() l
               JOIN events e ON e.event_id = l.event_id
               JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 AND e.stream_version > 3",
            &[&number],
        )
        .await
        .expect("the first leaf dropped")
        .get(0);
    admin
        .batch_execute("BEGIN; ALTER TABLE events DISABLE TRIGGER USER")
        .await
        .expect("begin");
    admin
        .execute(
            "DELETE FROM events WHERE stream_id =
               (SELECT stream_id FROM request_numbers WHERE number = $1) AND stream_version > 3",
            &[&number],
        )
        .await
        .expect("the tail dropped");
    admin
        .batch_execute("ALTER TABLE events ENABLE TRIGGER USER; COMMIT")
        .await
        .expect("commit");
    resign_from_scratch(&flow).await;
    let sizes: (i64, i64) = {
        let row = admin
            .query_one(
                "SELECT (SELECT count(*) FROM events), (SELECT max(size) FROM tree_heads)",
                &[],
            )
            .await
            .expect("sizes");
        (row.get(0), row.get(1))
    };
    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(6), "{sizes:?} {text}");
    let evidence = evidence(&state);
    assert!(
        evidence["reason"]
            .as_str()
            .is_some_and(|r| r.contains("went back")),
        "{evidence}"
    );
    assert_eq!(
        evidence["first_differing_leaf"]["index"], first_dropped,
        "{evidence}"
    );
}

/// Runs `sql` on the server's maintenance database (databases are created and dropped from there).
async fn on_server(sql: &str) {
    testkit::connect(&testkit::admin_config())
        .await
        .batch_execute(sql)
        .await
        .expect("on the server");
}

#[tokio::test]
async fn the_witness_raises_the_alarm_when_an_older_backup_is_restored() {
    let WitnessSetup {
        dir: _dir,
        state,
        mut flow,
        number: _,
        key,
        token,
        ..
    } = WitnessSetup::start().await;
    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(0), "{text}");
    let accepted_before = std::fs::read_to_string(state.join("accepted")).expect("accepted");

    // The backup: a copy of the whole database, taken with the service stopped.
    let name = flow.db.name().to_owned();
    assert!(flow.served.terminate());
    on_server(&format!("CREATE DATABASE {name}_backup TEMPLATE {name}")).await;
    flow.restart().await;
    flow.submit("sik-assignment", AIDA, json!({})).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, text) = witness_once(&flow, &state, &key, &token);
        assert_eq!(code, Some(0), "{text}");
        if std::fs::read_to_string(state.join("accepted")).expect("accepted") != accepted_before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no newer head accepted"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let kept = std::fs::metadata(state.join("leaves"))
        .expect("leaves")
        .len()
        / 32;

    // The backup restored in the database's place: the log is back where it was.
    assert!(flow.served.terminate());
    on_server(&format!("DROP DATABASE {name} WITH (FORCE)")).await;
    on_server(&format!("ALTER DATABASE {name}_backup RENAME TO {name}")).await;
    flow.restart().await;
    let (code, text) = witness_once(&flow, &state, &key, &token);
    assert_eq!(code, Some(6), "{text}");
    let evidence = evidence(&state);
    assert!(
        evidence["reason"]
            .as_str()
            .is_some_and(|r| r.contains("went back")),
        "{evidence}"
    );
    let first = evidence["first_differing_leaf"]["index"]
        .as_u64()
        .expect("a leaf");
    assert!(
        first < kept,
        "the first leaf the restored log lacks: {first} of {kept}"
    );
}

/// The witness's own `/metrics` at `port` (empty while it does not answer).
async fn witness_metrics(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn the_running_witness_shows_its_alarm_on_its_metrics_and_exits_6() {
    let WitnessSetup {
        dir: _dir,
        state,
        flow,
        number,
        key,
        token,
        ..
    } = WitnessSetup::start().await;
    let port = testkit::port::free();
    let (state_arg, token_arg) = (state.display().to_string(), token.display().to_string());
    let metrics_addr = format!("127.0.0.1:{port}");
    let mut witness = Daemon::start(
        &[(
            "EGOV_DATA_DIR".into(),
            state.join("unused").display().to_string(),
        )],
        &[
            "witness",
            "--log",
            &flow.served.base,
            "--log-key",
            &key,
            "--state",
            &state_arg,
            "--token-file",
            &token_arg,
            "--every",
            "200ms",
            "--metrics-addr",
            &metrics_addr,
        ],
    );
    let shows = |metrics: &str, line: &str| metrics.lines().any(|l| l == line);
    eventually("the witness accepts a head", WAIT, || async {
        let metrics = witness_metrics(port).await;
        shows(&metrics, "egov_witness_alarm 0")
            && shows(&metrics, "egov_witness_heads_accepted_total 1")
    })
    .await;

    rewrite_with_a_consistent_chain(&flow, &number).await;
    resign_from_scratch(&flow).await;
    eventually("the witness raises its alarm", WAIT, || async {
        shows(&witness_metrics(port).await, "egov_witness_alarm 1")
    })
    .await;
    let kept: Vec<String> = std::fs::read_dir(&state)
        .expect("state")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(state.join("alarm").exists(), "{kept:?}");
    crate::support::kafka::signal("-TERM", witness.child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = witness.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the witness did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.code(),
        Some(6),
        "a witness that raised its alarm exits 6"
    );
}
