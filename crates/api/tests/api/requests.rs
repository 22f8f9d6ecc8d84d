//! A citizen's request in-process: filed, signed, driven by the workflow over the fakes, read back;
//! and what another citizen, a bad body or a bad signature get.

use commands::adapters::nca::{NcaError, Revocation, Verdict};
use domain::catalog::Lookup;
use domain::request::{SignatureCheck, SignatureRejection};
use domain::Iin;
use serde_json::json;

use api::token::Role;

use crate::helpers::{spawn_app, TestApp, ALICE, BOB};

fn sik_assigned(iin: &str) -> serde_json::Value {
    json!({
        "iin": iin, "outcome": "assigned", "sik": "DV6MH41VHFEX4009",
        "last_name": "ИВАНОВА", "first_name": "АЛИЯ", "patronymic": null,
        "birth_date": "1990-01-01", "branch": "ГЦВП", "registered_on": "2026-01-05",
        "issued_on": "2026-01-05",
    })
}

/// Files a SIK request for `iin`; its number, and a signature by `iin` to send for it.
async fn filed(app: &TestApp, iin: &str) -> (String, Vec<u8>) {
    let (status, created) = app.submit("sik-assignment", iin, json!({})).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_owned();
    (number, testkit::pki::self_signed_cms(b"the document", iin))
}

/// Files a SIK request for `iin` and signs it; its number.
async fn filed_and_signed(app: &TestApp, iin: &str) -> String {
    let (number, cms) = filed(app, iin).await;
    let (status, body) = app.sign(&number, iin, &cms).await;
    assert_eq!(status, 202, "{body}");
    number
}

#[tokio::test]
async fn a_request_filed_and_signed_is_completed_and_its_result_is_served_to_its_citizen_only() {
    let app = spawn_app().await;
    let alice = Iin::parse(ALICE).expect("iin");
    app.registries
        .found(Lookup::SikProcessing, &alice, sik_assigned(ALICE));
    let number = filed_and_signed(&app, ALICE).await;
    let done = app.until_status(&number, ALICE, "completed").await;
    assert_eq!(done["result_ready"], true, "{done}");
    let (status, result) = app
        .get(
            &format!("/api/v1/requests/{number}/result"),
            &app.citizen(ALICE),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["document"]["body"]["sik"], "DV6MH41VHFEX4009");
    // Bob asks for Alice's request and result: both answer as an unknown number.
    for path in [
        format!("/api/v1/requests/{number}"),
        format!("/api/v1/requests/{number}/result"),
        "/api/v1/requests/20990101000001".to_owned(),
    ] {
        let (status, body) = app.get(&path, &app.citizen(BOB)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("request-not-found")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_with_its_reason_in_three_languages() {
    let app = spawn_app().await;
    let (number, cms) = filed(&app, ALICE).await;
    app.verifier.script(
        &cms,
        vec![Ok(Verdict {
            check: SignatureCheck::Rejected {
                reason: SignatureRejection::Revoked,
                certificate: None,
            },
            revocation: Revocation::Revoked,
        })],
    );
    app.sign(&number, ALICE, &cms).await;
    let refused = app.until_status(&number, ALICE, "refused").await;
    assert_eq!(refused["refusal"]["code"], "certificate-revoked");
    let texts = &domain::Messages::shared()
        .refusal(domain::RefusalReason::CertificateRevoked)
        .texts;
    assert_eq!(refused["refusal"]["text"]["kk"], texts.kk.as_str());
}

#[tokio::test]
async fn while_revocation_cannot_be_learnt_the_request_stays_submitted() {
    let app = spawn_app().await;
    let (number, cms) = filed(&app, ALICE).await;
    app.verifier.script(
        &cms,
        vec![Err(NcaError::RevocationUnknown(
            "the responder is down".into(),
        ))],
    );
    app.sign(&number, ALICE, &cms).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.verifier.calls() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the verifier was not asked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let path = format!("/api/v1/requests/{number}?min_version=2");
    let (status, body) = app.get(&path, &app.citizen(ALICE)).await;
    assert_eq!(
        (status, body["status"]["code"].as_str()),
        (200, Some("submitted"))
    );
}

#[tokio::test]
async fn a_citizen_filing_for_another_iin_or_with_a_bad_body_gets_a_problem_not_a_request() {
    let app = spawn_app().await;
    let body = json!({"service": "sik-assignment", "iin": BOB, "form": {}});
    let (status, problem) = app
        .post("/api/v1/requests", &app.citizen(ALICE), &body)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("foreign-iin"))
    );
    let (status, problem) = app.submit("no-such-service", ALICE, json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("unknown-service"))
    );
    let malformed = app
        .http
        .post(format!("{}/api/v1/requests", app.base))
        .bearer_auth(app.citizen(ALICE))
        .header("content-type", "application/json")
        .body("{\"service\":")
        .send()
        .await
        .expect("post");
    let (status, problem) = TestApp::answer(malformed).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("malformed-json"))
    );
    let (_, created) = app.submit("sik-assignment", ALICE, json!({})).await;
    let number = created["number"].as_str().expect("number");
    let path = format!("/api/v1/requests/{number}/signature");
    let (status, problem) = app
        .post(&path, &app.citizen(ALICE), &json!({"cms": "bm90IGEgQ01T"}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-signature-encoding"))
    );
    assert_eq!(app.verifier.calls(), 0, "nothing reached the verifier");
}

/// A signing that failed after filing is made again: the applicant (only) gets the document to
/// sign back, the same bytes, for as long as the request waits for the signature.
#[tokio::test]
async fn the_document_to_sign_is_given_again_to_its_applicant_only_until_signed() {
    let app = spawn_app().await;
    let (status, created) = app.submit("sik-assignment", ALICE, json!({})).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_owned();
    let path = format!("/api/v1/requests/{number}/document");
    let (status, again) = app.get(&path, &app.citizen(ALICE)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["document_to_sign"], created["document_to_sign"]);
    assert_eq!(again["number"], number.as_str());
    // Another citizen, an operator; a number that is none, one never filed (both unknown).
    let (status, body) = app.get(&path, &app.citizen(BOB)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found"))
    );
    let operator = app.token(Role::Operator, "op-1", Some("TsON-1"));
    assert_eq!(app.get(&path, &operator).await.0, 403);
    for unknown in ["not-a-number", "20990101000001"] {
        let path = format!("/api/v1/requests/{unknown}/document");
        let (status, body) = app.get(&path, &app.citizen(ALICE)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("request-not-found")),
            "{unknown}"
        );
    }
    // Once signed there is nothing more to sign.
    let cms = testkit::pki::self_signed_cms(b"the document", ALICE);
    assert_eq!(app.sign(&number, ALICE, &cms).await.0, 202);
    let (status, body) = app.get(&path, &app.citizen(ALICE)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not-awaiting-signature"))
    );
}
