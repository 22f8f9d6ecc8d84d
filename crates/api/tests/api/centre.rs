//! Scans at a service centre's desk in-process, kept in the in-memory store: a scan of the wrong
//! kind, of no known format or empty is refused and nothing is kept; a PNG is kept once.

use api::token::Role;
use domain::catalog::Lookup;
use domain::Iin;
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

/// The operator's IIN (the token's subject names the operator by IIN).
pub const OPERATOR: &str = "850715400109";
pub const CITIZEN: &str = "760324400005";

pub fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(b"a scanned page");
    bytes
}

pub async fn put(
    app: &TestApp,
    token: &str,
    number: &str,
    kind: &str,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .put(format!(
            "{}/api/v1/centre/requests/{number}/documents/{kind}",
            app.base
        ))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("PUT");
    TestApp::answer(response).await
}

/// A filing at the desk for the citizen, as their identity document names them.
pub fn filing() -> serde_json::Value {
    json!({
        "service": "pension-fund-statement",
        "applicant": {
            "iin": CITIZEN, "surname": "БАПАХОВА", "given_name": "АИДА",
            "identity_document": {"kind": "id-card", "number": "041234567"},
        },
    })
}

/// GBD FL knows the citizen as the document at the desk names them: a filing waits for its scans.
pub fn known_to_gbd_fl(app: &TestApp) {
    app.registries.found(
        Lookup::ApplicantIdentity,
        &Iin::parse(CITIZEN).expect("iin"),
        json!({"iin": CITIZEN, "last_name": "БАПАХОВА", "first_name": "АИДА", "patronymic": null}),
    );
}

/// Files [`filing`] at the desk; the answer.
pub async fn file(app: &TestApp, operator: &str) -> serde_json::Value {
    let (status, filed) = app
        .post("/api/v1/centre/requests", operator, &filing())
        .await;
    assert_eq!(status, 201, "{filed}");
    filed
}

#[tokio::test]
async fn scans_of_a_wrong_kind_or_format_are_refused_and_a_good_one_is_kept_once() {
    let app = spawn_app().await;
    let operator = app.token(Role::Operator, OPERATOR, Some("TsON-1"));
    known_to_gbd_fl(&app);
    let filed = file(&app, &operator).await;
    assert_eq!(filed["stage"], "awaiting-scans", "{filed}");
    assert_eq!(
        filed["checks"],
        json!([{"check": "applicant-identity", "outcome": "passed"}])
    );
    let number = filed["number"].as_str().expect("number").to_owned();

    let (status, problem) = put(&app, &operator, &number, "passport", png()).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("kind")));
    let (status, problem) = put(&app, &operator, &number, "application", b"GIF89a".to_vec()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (415, Some("unsupported-scan-type"))
    );
    let (status, _) = put(&app, &operator, &number, "application", Vec::new()).await;
    assert_eq!(status, 400);
    let (status, problem) = put(&app, &app.citizen(CITIZEN), &number, "application", png()).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    assert!(app.scans.is_empty(), "nothing refused was kept");

    let (status, scanned) = put(&app, &operator, &number, "application", png()).await;
    assert_eq!(status, 201, "{scanned}");
    assert_eq!(scanned["media_type"], "image/png");
    let (status, again) = put(&app, &operator, &number, "application", png()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["version"], scanned["version"],
        "a resend records nothing"
    );
    assert_eq!(app.scans.len(), 1, "kept once");
    // The operator signs the centre's document; the citizen is given nothing to sign.
    let path = format!("/api/v1/requests/{number}/document");
    let (status, problem) = app.get(&path, &app.citizen(CITIZEN)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("not-awaiting-signature"))
    );
}

#[tokio::test]
async fn a_request_refused_at_the_desk_keeps_no_scan() {
    let app = spawn_app().await;
    let operator = app.token(Role::Operator, OPERATOR, Some("TsON-1"));
    // GBD FL has no such person (the fakes answer "not found"): refused at the desk, with the
    // refusal to read out, and a scan for it is refused without keeping its bytes.
    let filed = file(&app, &operator).await;
    assert_eq!(filed["stage"], "refused", "{filed}");
    assert_eq!(
        filed["refusal"]["code"], "applicant-not-in-gbd-fl",
        "{filed}"
    );
    let number = filed["number"].as_str().expect("number");
    let (status, problem) = put(&app, &operator, number, "application", png()).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        app.scans.is_empty(),
        "no scan is kept for a refused request"
    );
}
