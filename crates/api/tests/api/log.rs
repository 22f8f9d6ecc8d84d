//! The verifiable log over HTTP: the signed head checks with the published key, every event of a
//! request is proven in it, a newer head is proven consistent with an older one; and who may ask
//! what - another citizen's event answers like an unknown one, an operator or analyst is refused,
//! and malformed or out-of-range sizes are 400s, never 500s.

use std::time::Duration;

use api::token::Role;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::catalog::Lookup;
use domain::merkle::{verify_consistency, verify_inclusion, Hash};
use domain::tree_head::NoteVerifier;
use domain::Iin;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp, ALICE, BOB};

fn hash(value: &Value) -> Hash {
    let bytes = STANDARD
        .decode(value.as_str().expect("base64 text"))
        .expect("base64");
    Hash::try_from(bytes).expect("32 bytes")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("a list").iter().map(hash).collect()
}

/// Alice's completed SIK request: its number and the ids of its events.
async fn completed_request(app: &TestApp) -> (String, Vec<String>) {
    let alice = Iin::parse(ALICE).expect("iin");
    app.registries.found(
        Lookup::SikProcessing,
        &alice,
        json!({
            "iin": ALICE, "outcome": "assigned", "sik": "DV6MH41VHFEX4009",
            "last_name": "ИВАНОВА", "first_name": "АЛИЯ", "patronymic": null,
            "birth_date": "1990-01-01", "branch": "ГЦВП", "registered_on": "2026-01-05",
            "issued_on": "2026-01-05",
        }),
    );
    let (status, created) = app.submit("sik-assignment", ALICE, json!({})).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_owned();
    let cms = testkit::pki::self_signed_cms(b"the document", ALICE);
    let (status, body) = app.sign(&number, ALICE, &cms).await;
    assert_eq!(status, 202, "{body}");
    app.until_status(&number, ALICE, "completed").await;
    let auditor = app.token(Role::Auditor, "auditor-1", None);
    let (status, stream) = app
        .get(&format!("/api/v1/audit/requests/{number}/events"), &auditor)
        .await;
    assert_eq!(status, 200, "{stream}");
    let ids = stream["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").to_owned())
        .collect();
    (number, ids)
}

/// The latest signed head once it covers at least `size` events.
async fn head_of_at_least(app: &TestApp, token: &str, size: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, head) = app.get("/api/v1/log/head", token).await;
        if status == 200 && head["size"].as_u64().is_some_and(|s| s >= size) {
            return head;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no head of {size}: {status} {head}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_key(app: &TestApp) -> NoteVerifier {
    let response = app
        .http
        .get(format!("{}/api/v1/log/key", app.base))
        .send()
        .await
        .expect("GET the key");
    assert_eq!(response.status(), 200);
    NoteVerifier::parse(&response.text().await.expect("text")).expect("a signed-note key")
}

#[tokio::test]
async fn every_event_of_a_request_is_proven_in_a_signed_head_and_heads_are_consistent() {
    let app = spawn_app_with(|s| s.tree_head_every = Duration::from_millis(200)).await;
    let (_, ids) = completed_request(&app).await;
    let auditor = app.token(Role::Auditor, "auditor-1", None);
    let first = head_of_at_least(&app, &auditor, 1).await;
    let key = log_key(&app).await;
    let signed = key
        .verify(first["note"].as_str().expect("note"))
        .expect("signed by the log");
    assert_eq!(signed.size, first["size"].as_u64().expect("size"));
    assert_eq!(signed.root, hash(&first["root"]));
    // /metrics tells the latest head's size and age.
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let size_line = metrics
        .lines()
        .find(|l| l.starts_with("egov_tree_head_size "))
        .expect("the head's size");
    let shown: u64 = size_line["egov_tree_head_size ".len()..]
        .parse()
        .expect("a number");
    assert!(shown >= signed.size, "{size_line}");
    assert!(metrics.contains("egov_tree_head_age_seconds "), "{metrics}");

    // Alice's events, each proven by her and by an auditor against the latest head.
    for id in &ids {
        for token in [&auditor, &app.citizen(ALICE)] {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let proof = loop {
                let path = format!("/api/v1/log/proof/inclusion?event={id}");
                let (status, proof) = app.get(&path, token).await;
                if status == 200 {
                    break proof;
                }
                assert_eq!(status, 409, "only 'not yet signed' may wait: {proof}");
                assert_eq!(proof["code"], "not-yet-in-signed-head");
                assert!(tokio::time::Instant::now() < deadline, "{proof}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let head = key
                .verify(proof["head"]["note"].as_str().expect("note"))
                .expect("the proof's head is signed");
            assert_eq!(proof["size"].as_u64(), Some(head.size));
            assert_eq!(hash(&proof["root"]), head.root);
            assert!(verify_inclusion(
                proof["index"].as_u64().expect("index"),
                head.size,
                &hash(&proof["leaf"]),
                &hashes(&proof["proof"]),
                &head.root,
            ));
        }
    }

    // A newer head is consistent with the first one.
    app.submit("sik-assignment", BOB, json!({})).await;
    let newer = head_of_at_least(&app, &auditor, signed.size + 1).await;
    let newer = key
        .verify(newer["note"].as_str().expect("note"))
        .expect("signed");
    let path = format!(
        "/api/v1/log/proof/consistency?from={}&to={}",
        signed.size, newer.size
    );
    let (status, proof) = app.get(&path, &app.citizen(BOB)).await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(
        (hash(&proof["from_root"]), hash(&proof["to_root"])),
        (signed.root, newer.root)
    );
    assert!(verify_consistency(
        signed.size,
        newer.size,
        &hashes(&proof["proof"]),
        &signed.root,
        &newer.root
    ));
}

#[tokio::test]
async fn another_citizens_event_staff_and_bad_sizes_are_refused() {
    let app = spawn_app_with(|s| s.tree_head_every = Duration::from_millis(200)).await;
    let (number, ids) = completed_request(&app).await;
    let auditor = app.token(Role::Auditor, "auditor-1", None);
    let head = head_of_at_least(&app, &auditor, ids.len() as u64).await;
    let size = head["size"].as_u64().expect("size");
    let event = &ids[0];
    let inclusion = |query: String| format!("/api/v1/log/proof/inclusion?{query}");

    // Bob asks about Alice's event: as if it did not exist.
    let (status, body) = app
        .get(&inclusion(format!("event={event}")), &app.citizen(BOB))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("log-entry-not-found")),
        "{body}"
    );
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = app
        .get(&inclusion(format!("event={unknown}")), &auditor)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("log-entry-not-found")),
        "{body}"
    );

    // The record of the auditor's read is no request's: no citizen's own, and not a 500.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let record = loop {
        let (_, leaves) = app
            .get("/api/v1/log/leaves?start=0&limit=100", &auditor)
            .await;
        let other = leaves["leaves"]
            .as_array()
            .expect("leaves")
            .iter()
            .map(|leaf| leaf["event_id"].as_str().expect("id").to_owned())
            .find(|id| !ids.contains(id));
        if let Some(record) = other {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the read's record reaches the tree"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, body) = app
        .get(&inclusion(format!("event={record}")), &app.citizen(ALICE))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("log-entry-not-found")),
        "{body}"
    );
    // The receipt: Alice's (once a signed head covers it), never Bob's; staff as for the result.
    let receipt = format!("/api/v1/requests/{number}/receipt");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = app.get(&receipt, &app.citizen(ALICE)).await;
        if status == 200 {
            assert_eq!(body["request"], number.as_str(), "{body}");
            assert_eq!(body["event"]["event_type"], "ResultIssued", "{body}");
            break;
        }
        assert_eq!(body["code"], "not-yet-in-signed-head", "{body}");
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = app.get(&receipt, &app.citizen(BOB)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found")),
        "{body}"
    );
    let (status, _) = app
        .get(&receipt, &app.token(Role::Analyst, "an-1", None))
        .await;
    assert_eq!(status, 403);
    let operator = app.token(Role::Operator, ALICE, Some("TsON-1"));
    let (status, body) = app.get(&receipt, &operator).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("X-Purpose")),
        "{body}"
    );
    // Staff other than auditors have no business here.
    for token in [
        app.token(Role::Operator, "op-1", Some("TsON-1")),
        app.token(Role::Analyst, "an-1", None),
        app.token(Role::Medical, ALICE, Some("clinic-1")),
    ] {
        for path in [
            "/api/v1/log/head".to_owned(),
            inclusion(format!("event={event}")),
            "/api/v1/log/proof/consistency?from=1&to=1".to_owned(),
        ] {
            let (status, body) = app.get(&path, &token).await;
            assert_eq!(status, 403, "{path}: {body}");
        }
    }
    let response = app
        .http
        .get(format!("{}/api/v1/log/head", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);

    // Malformed and out-of-range parameters: 400 naming the field.
    let beyond = size + 1_000_000;
    let huge = "99999999999999999999999";
    for (path, field) in [
        (inclusion("event=not-a-uuid".into()), "event"),
        (inclusion(format!("event={event}&size=abc")), "size"),
        (inclusion(format!("event={event}&size={beyond}")), "size"),
        (inclusion(format!("event={event}&size=0")), "size"),
        (inclusion(format!("event={event}&size={huge}")), "size"),
        (
            format!("/api/v1/log/proof/consistency?from=0&to={size}"),
            "from",
        ),
        (
            format!("/api/v1/log/proof/consistency?from={size}&to=1"),
            "from",
        ),
        (
            format!("/api/v1/log/proof/consistency?from=1&to={beyond}"),
            "to",
        ),
        (
            format!("/api/v1/log/proof/consistency?from=-1&to={size}"),
            "from",
        ),
        (
            format!("/api/v1/log/proof/consistency?from=1&to={huge}"),
            "to",
        ),
    ] {
        let (status, body) = app.get(&path, &auditor).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    let (status, body) = app
        .get("/api/v1/log/proof/consistency?from=1", &auditor)
        .await;
    assert_eq!(status, 400, "a missing size: {body}");
    let response = app
        .http
        .post(format!("{}/api/v1/log/head", app.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn only_a_trusted_witnesss_valid_cosignature_of_a_signed_head_is_kept_and_served() {
    use domain::tree_head::cosignature::WitnessSigner;
    let trusted = WitnessSigner::from_seed("auditors-office.test/witness", [4; 32]).expect("w");
    let stranger = WitnessSigner::from_seed("someone.test/witness", [5; 32]).expect("w");
    let verifier = trusted.verifier();
    let app = spawn_app_with(|s| {
        s.tree_head_every = Duration::from_millis(200);
        s.witness_keys = vec![verifier];
    })
    .await;
    completed_request(&app).await;
    let auditor = app.token(Role::Auditor, "auditor-1", None);
    // Once the log is quiet, its head stays the latest. The tree reads the log at most once a
    // PACE, so quiet means no new head for a few paces.
    let mut first = head_of_at_least(&app, &auditor, 1).await;
    loop {
        tokio::time::sleep(projections::log_tree::PACE * 3).await;
        let again = head_of_at_least(&app, &auditor, 1).await;
        if again["size"] == first["size"] {
            break;
        }
        first = again;
    }
    let head = log_key(&app)
        .await
        .verify(first["note"].as_str().expect("note"))
        .expect("signed");
    let post = |token: String, body: Value| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(format!("{}/api/v1/log/cosignatures", app.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("POST");
            TestApp::answer(response).await
        }
    };
    let line = trusted.cosign(&head, 1_765_000_000);
    // Not a witness (a citizen, even an auditor); a stranger's line; the trusted witness's line
    // over another head; a head never signed; junk.
    let witness = app.token(Role::Witness, "auditors-office", None);
    for token in [app.citizen(ALICE), auditor.clone()] {
        let (status, _) = post(token, json!({"size": head.size, "line": line})).await;
        assert_eq!(status, 403);
    }
    let foreign = stranger.cosign(&head, 1_765_000_000);
    let (status, body) = post(witness.clone(), json!({"size": head.size, "line": foreign})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("line")),
        "{body}"
    );
    let mut other = head.clone();
    other.root = [0; 32];
    let wrong = trusted.cosign(&other, 1_765_000_000);
    let (status, body) = post(witness.clone(), json!({"size": head.size, "line": wrong})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(
        witness.clone(),
        json!({"size": head.size + 1000, "line": line}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        witness.clone(),
        json!({"size": head.size, "line": "x".repeat(100_000)}),
    )
    .await;
    assert_eq!(status, 400);
    // The trusted witness's cosignature: kept once, and served with the head.
    let (status, _) = post(witness.clone(), json!({"size": head.size, "line": line})).await;
    assert_eq!(status, 201);
    let (status, _) = post(witness.clone(), json!({"size": head.size, "line": line})).await;
    assert_eq!(status, 200, "the same witness and head once");
    let (_, served) = app.get("/api/v1/log/head", &auditor).await;
    assert_eq!(served["size"].as_u64(), Some(head.size), "the log is quiet");
    let note = served["note"].as_str().expect("note");
    assert_eq!(
        trusted.verifier().verify_note(&head, note),
        Ok(1_765_000_000)
    );
    // Leaves are for auditors, paged and bounded.
    let (status, leaves) = app
        .get("/api/v1/log/leaves?start=0&limit=2", &auditor)
        .await;
    assert_eq!(status, 200, "{leaves}");
    assert_eq!(leaves["leaves"].as_array().map(Vec::len), Some(2));
    for path in [
        "/api/v1/log/leaves?start=0&limit=0",
        "/api/v1/log/leaves?start=0&limit=10001",
        "/api/v1/log/leaves?start=-1",
    ] {
        let (status, _) = app.get(path, &auditor).await;
        assert_eq!(status, 400, "{path}");
    }
    let (status, _) = app
        .get("/api/v1/log/leaves?start=0", &app.citizen(ALICE))
        .await;
    assert_eq!(status, 403);
    // The witness reads heads, leaves and consistency proofs, and nothing of any citizen's.
    for path in ["/api/v1/log/head", "/api/v1/log/leaves?start=0&limit=1"] {
        let (status, body) = app.get(path, &witness).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, leaves) = app
        .get("/api/v1/log/leaves?start=0&limit=1", &witness)
        .await;
    let event = leaves["leaves"][0]["event_id"]
        .as_str()
        .expect("an event")
        .to_owned();
    for path in [
        format!("/api/v1/log/proof/inclusion?event={event}"),
        "/api/v1/audit/events".to_owned(),
        "/api/v1/audit/verify?all=true".to_owned(),
        "/api/v1/requests".to_owned(),
        "/api/v1/me/data-access".to_owned(),
        "/api/v1/analytics/requests".to_owned(),
    ] {
        let (status, body) = app.get(&path, &witness).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
}
