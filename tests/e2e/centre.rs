//! The service-centre channel end to end: an operator files a pension-fund statement for a
//! citizen at the desk or for a representative, the GBD FL and ENIS checks answer at once, the
//! scans are stored once by digest, the operator signs with the operator's own EDS, and the
//! citizen sees the result in their own history.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use testkit::pki::Issued;

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, Flow};
use crate::support::portal::Keys;
use crate::support::process::eventually;

/// The operator (an employee with an EDS of their own; in no citizen registry).
const OPERATOR: &str = "900101300007";
const SERIK: &str = "850715300003";
const GULNAR: &str = "551130400004";
/// In AIS GTsVP but not in GBD FL.
const GUEST: &str = "991231300003";
const CENTRE: &str = "TsON-Almaty-3";

fn operator_token(keys: &Keys) -> String {
    let mut claims = Keys::claims("operator", OPERATOR);
    claims["org"] = json!(CENTRE);
    keys.es256(&claims)
}

fn person(iin: &str, surname: &str, given: &str, patronymic: Option<&str>) -> Value {
    json!({
        "iin": iin, "surname": surname, "given_name": given, "patronymic": patronymic,
        "identity_document": {"kind": "id-card", "number": "049871234"}
    })
}

fn aida() -> Value {
    person(AIDA, "Бапахова", "Аида", Some("Галихановна"))
}

fn serik() -> Value {
    person(SERIK, "Сериков", "Болат", Some("Аскарович"))
}

const STATEMENT_FORM: &str = r#"{"period_start": "2023-01-01", "period_end": "2023-12-31"}"#;

/// A tiny PNG (the signature and a header are what matters).
fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(b"\0\0\0\rIHDR scanned identity document");
    bytes
}

struct Desk {
    flow: Flow,
    token: String,
    operator_cert: Issued,
}

/// The entry naming `what` in the list of who looked at `iin`'s data (a read model, so waited
/// for); no entry of the list is a read by `iin` themself.
async fn read_of(flow: &Flow, iin: &str, what: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let token = flow.keys.citizen(iin);
        let (code, page) = flow.get("/api/v1/me/data-access", &token).await;
        assert_eq!(code, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.iter().all(|item| item["reader"] != iin), "{page}");
        if let Some(read) = items.into_iter().find(|item| item["what"] == what) {
            return read;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never listed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Desk {
    async fn open() -> Desk {
        let mut flow = Flow::start(healthy(), &[]).await;
        let operator_cert = flow.pki.signer(OPERATOR);
        let token = operator_token(&flow.keys);
        Desk {
            flow,
            token,
            operator_cert,
        }
    }

    async fn file(&self, body: Value) -> (u16, Value) {
        let answer = self
            .flow
            .http
            .post(self.flow.url("/api/v1/centre/requests"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("file");
        let code = answer.status().as_u16();
        (code, answer.json().await.unwrap_or(Value::Null))
    }

    async fn scan(&self, number: &str, kind: &str, bytes: Vec<u8>) -> (u16, Value) {
        let answer = self
            .flow
            .http
            .put(self.flow.url(&format!(
                "/api/v1/centre/requests/{number}/documents/{kind}"
            )))
            .bearer_auth(&self.token)
            // The header claims a PNG whatever is sent: the bytes decide.
            .header("content-type", "image/png")
            .body(bytes)
            .send()
            .await
            .expect("scan");
        let code = answer.status().as_u16();
        (code, answer.json().await.unwrap_or(Value::Null))
    }

    /// The request's document as the operator prints it (the PDF), read for `purpose`.
    async fn print(&self, number: &str, purpose: &str) -> reqwest::Response {
        self.flow
            .http
            .get(self.flow.url(&format!("/api/v1/requests/{number}/result")))
            .bearer_auth(&self.token)
            .header("X-Purpose", purpose)
            .header("accept", "application/pdf")
            .send()
            .await
            .expect("pdf")
    }

    /// Records that the document was handed out, with `token`.
    async fn hand_out(&self, number: &str, token: &str) -> (u16, Value) {
        let answer = self
            .flow
            .http
            .post(
                self.flow
                    .url(&format!("/api/v1/centre/requests/{number}/handout")),
            )
            .bearer_auth(token)
            .send()
            .await
            .expect("hand out");
        let code = answer.status().as_u16();
        (code, answer.json().await.unwrap_or(Value::Null))
    }

    async fn sign(&self, number: &str, document: &str, signer: &Issued) -> u16 {
        let document = base64::engine::general_purpose::STANDARD
            .decode(document)
            .expect("base64");
        let cms = self.flow.pki.sign(signer, &document, true);
        self.flow
            .http
            .post(
                self.flow
                    .url(&format!("/api/v1/centre/requests/{number}/signature")),
            )
            .bearer_auth(&self.token)
            .json(&json!({"cms": base64::engine::general_purpose::STANDARD.encode(cms)}))
            .send()
            .await
            .expect("sign")
            .status()
            .as_u16()
    }
}

fn statement(applicant: Value) -> Value {
    json!({
        "service": "pension-fund-statement",
        "applicant": applicant,
        "form": serde_json::from_str::<Value>(STATEMENT_FORM).expect("form"),
    })
}

#[tokio::test]
async fn a_citizen_in_person_is_served_and_sees_the_result_in_their_own_history() {
    let mut desk = Desk::open().await;
    desk.flow.start_responder();
    let (code, filed) = desk.file(statement(aida())).await;
    assert_eq!(code, 201, "{filed}");
    assert_eq!(filed["stage"], "awaiting-scans", "{filed}");
    assert_eq!(filed["checks"][0]["check"], "applicant-identity");
    assert_eq!(filed["checks"][0]["outcome"], "passed");
    assert_eq!(filed["iin"], AIDA);
    let number = filed["number"].as_str().expect("number").to_owned();

    let (_, early) = desk.scan(&number, "identity-document", png()).await;
    let document = early["document_to_sign"]
        .as_str()
        .expect("document")
        .to_owned();
    // The same scan again is stored and recorded once.
    let (code, again) = desk.scan(&number, "identity-document", png()).await;
    assert_eq!(code, 201, "{again}");
    assert_eq!(again["sha256"], early["sha256"]);
    assert_eq!(again["media_type"], "image/png");
    let client = desk.flow.db.superuser().await;
    let stored: i64 = client
        .query_one("SELECT count(*) FROM scans", &[])
        .await
        .expect("scans")
        .get(0);
    assert_eq!(stored, 1, "one scan stored for two sends");
    let scans = desk
        .flow
        .events(&number)
        .await
        .iter()
        .filter(|(kind, _)| kind == "DocumentsScanned")
        .count();
    assert_eq!(scans, 1, "one scan recorded for two sends");
    // The document to sign carries the scan's digest.
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&document)
            .expect("base64"),
    )
    .expect("utf-8");
    assert!(
        text.contains(early["sha256"].as_str().expect("sha")),
        "{text}"
    );

    assert_eq!(
        desk.sign(&number, &document, &desk.operator_cert).await,
        202
    );
    let status = desk
        .flow
        .outcome(&number, AIDA, Duration::from_secs(60))
        .await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    assert_eq!(status["channel"], "service-centre");
    assert_eq!(status["service_centre"]["centre"], CENTRE, "{status}");
    assert_eq!(status["service_centre"]["operator"], OPERATOR, "{status}");
    // The operator hands over the PDF.
    let pdf = desk.print(&number, "выдача результата заявителю").await;
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.expect("pdf").starts_with(b"%PDF-"));
    // ... and the handing out is recorded (REG 3592, step 11); the same operator's retry records
    // nothing new.
    let (code, handed) = desk.hand_out(&number, &desk.token).await;
    assert_eq!(code, 200, "{handed}");
    assert_eq!(handed["document_number"], format!("R{number}"));
    let (code, _) = desk.hand_out(&number, &desk.token).await;
    assert_eq!(code, 200);
    let handouts: Vec<Value> = desk
        .flow
        .events(&number)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "DocumentHandedOut")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(handouts.len(), 1, "{handouts:?}");
    assert_eq!(handouts[0]["operator_id"], format!("{CENTRE}/{OPERATOR}"));
    // Another centre's operator, a citizen, and a request filed on the portal: refused.
    let mut elsewhere = Keys::claims("operator", OPERATOR);
    elsewhere["org"] = json!("TsON-Astana-1");
    let (code, _) = desk
        .hand_out(&number, &desk.flow.keys.es256(&elsewhere))
        .await;
    assert_eq!(code, 404, "another centre's request is unknown there");
    let (code, _) = desk.hand_out(&number, &desk.flow.keys.citizen(AIDA)).await;
    assert_eq!(code, 403);
    // The citizen finds it in their own history.
    let (code, history) = desk
        .flow
        .get("/api/v1/requests", &desk.flow.keys.citizen(AIDA))
        .await;
    assert_eq!(code, 200);
    let items = history["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|i| i["number"] == number.as_str() && i["channel"] == "service-centre"),
        "{history}"
    );
    // Every step the operator took is an event with the operator as actor.
    let actors: Vec<String> = client
        .query(
            "SELECT e.actor FROM events e JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 AND e.event_type IN ('RequestSubmitted', 'DocumentsScanned', 'OperatorSigned')",
            &[&number],
        )
        .await
        .expect("actors")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actors.len(), 3);
    assert!(
        actors
            .iter()
            .all(|a| a == &format!("operator:operator:{OPERATOR}")),
        "{actors:?}"
    );
}

#[tokio::test]
async fn representatives_checks_and_signatures_end_in_the_refusals_domain_md_names() {
    let mut desk = Desk::open().await;
    let stranger = desk.flow.pki.signer(SERIK);
    desk.flow.start_responder();

    // A representative with a valid power of attorney passes both checks.
    let mut body = statement(serik());
    body["represented_iin"] = json!(AIDA);
    body["power_of_attorney"] = json!({"number": "ENIS-2025-000208", "date": "2025-06-10"});
    let (code, filed) = desk.file(body.clone()).await;
    assert_eq!(code, 201, "{filed}");
    assert_eq!(filed["stage"], "awaiting-scans", "{filed}");
    assert_eq!(
        filed["iin"], AIDA,
        "the represented citizen owns the request"
    );
    // REG 3153: GBD FL is asked about the represented citizen and the representative, each
    // named in its own event; then ENIS about the notarised power of attorney.
    let names: Vec<&Value> = filed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["check"])
        .collect();
    assert_eq!(
        names,
        [
            &json!("applicant-identity"),
            &json!("representative-identity"),
            &json!("power-of-attorney")
        ],
        "{filed}"
    );
    assert!(filed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .all(|c| c["outcome"] == "passed"));
    // It is the represented citizen's request.
    let number = filed["number"].as_str().expect("number").to_owned();
    // Read your write: the view as of the checks' answers.
    let path = format!("/api/v1/requests/{number}?min_version={}", filed["version"]);
    let (code, _) = desk.flow.get(&path, &desk.flow.keys.citizen(AIDA)).await;
    assert_eq!(code, 200);
    // The representative may see it while the power of attorney holds; another citizen may not.
    let (code, seen) = desk.flow.get(&path, &desk.flow.keys.citizen(SERIK)).await;
    assert_eq!(code, 200, "{seen}");
    assert_eq!(seen["service_centre"]["representative_iin"], SERIK);
    let (code, _) = desk.flow.get(&path, &desk.flow.keys.citizen(GULNAR)).await;
    assert_eq!(code, 404);
    // The representative's read is a read of her data by someone else: it is in her list of who
    // looked (her own read is not).
    let what = format!("request:{number}");
    let read = read_of(&desk.flow, AIDA, &what).await;
    let reader = (read["role"].as_str(), read["reader"].as_str());
    assert_eq!(reader, (Some("citizen"), Some(SERIK)), "{read}");
    // An operator's read shows the representative too: it is in his list as well as hers.
    let answer = desk
        .flow
        .http
        .get(desk.flow.url(&path))
        .bearer_auth(&desk.token)
        .header("X-Purpose", "консультация представителя")
        .send()
        .await
        .expect("read");
    assert_eq!(answer.status(), 200);
    let read = read_of(&desk.flow, SERIK, &what).await;
    assert_eq!(read["role"], "operator", "{read}");

    // An operator signature made with someone else's certificate.
    let (_, scanned) = desk.scan(&number, "power-of-attorney", png()).await;
    let document = scanned["document_to_sign"].as_str().expect("document");
    assert_eq!(desk.sign(&number, document, &stranger).await, 202);
    let status = desk
        .flow
        .outcome(&number, AIDA, Duration::from_secs(60))
        .await;
    assert_eq!(
        status["refusal"]["code"], "operator-signature-invalid",
        "{status}"
    );

    // The representative's request carried to its result, signed by the operator.
    let (_, filed) = desk.file(body.clone()).await;
    let served = filed["number"].as_str().expect("number").to_owned();
    let (_, scanned) = desk.scan(&served, "power-of-attorney", png()).await;
    let document = scanned["document_to_sign"].as_str().expect("document");
    assert_eq!(desk.sign(&served, document, &desk.operator_cert).await, 202);
    let status = desk
        .flow
        .outcome(&served, AIDA, Duration::from_secs(60))
        .await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    assert_eq!(status["service_centre"]["representative_iin"], SERIK);

    // An unknown power of attorney, and an expired one.
    body["power_of_attorney"] = json!({"number": "ENIS-2099-999999", "date": "2025-06-10"});
    let (_, unknown) = desk.file(body).await;
    assert_eq!(unknown["stage"], "refused", "{unknown}");
    assert_eq!(unknown["refusal"]["code"], "poa-not-in-enis");
    assert!(unknown["refusal"]["text"]["ru"].as_str().is_some());
    // The refusal is a signed document the operator prints and hands out (REG 3591).
    let refused = unknown["number"].as_str().expect("number").to_owned();
    // 409 `no-document-yet` until the workflow has issued it.
    let handed_out = || async {
        let (code, handed) = desk.hand_out(&refused, &desk.token).await;
        code == 200 && handed["document_number"] == format!("O{refused}")
    };
    eventually(
        "the refusal document is handed out",
        Duration::from_secs(30),
        handed_out,
    )
    .await;
    let pdf = desk.print(&refused, "выдача отказа заявителю").await;
    assert_eq!(pdf.status(), 200);
    let mut expired = statement(aida());
    expired["represented_iin"] = json!(GULNAR);
    expired["power_of_attorney"] = json!({"number": "ENIS-2021-004410", "date": "2021-01-15"});
    let (_, expired) = desk.file(expired).await;
    assert_eq!(expired["refusal"]["code"], "poa-not-in-enis", "{expired}");

    // A represented citizen GBD FL does not know: the consumer's data is what the rules ask for
    // (REG 3153), whoever stands at the desk.
    let mut unknown_consumer = statement(serik());
    unknown_consumer["represented_iin"] = json!(GUEST);
    unknown_consumer["power_of_attorney"] =
        json!({"number": "ENIS-2025-000208", "date": "2025-06-10"});
    let (_, refused) = desk.file(unknown_consumer).await;
    assert_eq!(
        refused["refusal"]["code"], "applicant-not-in-gbd-fl",
        "{refused}"
    );
    let number = refused["number"].as_str().expect("number");
    let asked: Vec<Value> = desk
        .flow
        .events(number)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "RegistryLookupFailed")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(asked[0]["lookup"], "applicant-identity", "{asked:?}");

    // Someone GBD FL does not know, and names that are not the person's.
    let (_, guest) = desk
        .file(statement(person(GUEST, "Неизвестный", "Гость", None)))
        .await;
    assert_eq!(
        guest["refusal"]["code"], "applicant-not-in-gbd-fl",
        "{guest}"
    );
    let (_, misnamed) = desk
        .file(statement(person(
            AIDA,
            "Иванова",
            "Аида",
            Some("Галихановна"),
        )))
        .await;
    assert_eq!(
        misnamed["refusal"]["code"], "applicant-not-in-gbd-fl",
        "{misnamed}"
    );
}

#[tokio::test]
async fn scans_of_a_wrong_type_or_over_the_limit_and_bad_filings_get_problems() {
    let desk = Desk::open().await;
    let (_, filed) = desk.file(statement(aida())).await;
    let number = filed["number"].as_str().expect("number").to_owned();
    let (code, problem) = desk
        .scan(&number, "identity-document", b"GIF89a....".to_vec())
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (415, Some("unsupported-scan-type"))
    );
    let mut big = png();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let (code, problem) = desk.scan(&number, "identity-document", big).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (413, Some("payload-too-large"))
    );
    let (code, problem) = desk.scan(&number, "selfie", png()).await;
    assert_eq!((code, problem["field"].as_str()), (400, Some("kind")));
    // A refused request takes no scan, and its bytes are not kept.
    let (_, refused) = desk
        .file(statement(person(GUEST, "Неизвестный", "Гость", None)))
        .await;
    let refused = refused["number"].as_str().expect("number").to_owned();
    let mut other = png();
    other.extend_from_slice(b"another page");
    let (code, problem) = desk.scan(&refused, "identity-document", other).await;
    assert_eq!(code, 409, "{problem}");
    let kept: i64 = desk
        .flow
        .db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM scans", &[])
        .await
        .expect("scans")
        .get(0);
    assert_eq!(kept, 0, "no scan kept");
    // A signature before any scan: the request waits for its scans.
    assert_eq!(desk.sign(&number, "e30=", &desk.operator_cert).await, 409);
    // The portal's Idempotency-Key rule: a retry answers the same request.
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let answer = desk
            .flow
            .http
            .post(desk.flow.url("/api/v1/centre/requests"))
            .bearer_auth(&desk.token)
            .header("Idempotency-Key", "desk-3-ticket-117")
            .json(&statement(aida()))
            .send()
            .await
            .expect("file");
        assert_eq!(answer.status(), 201);
        let replayed = answer
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = answer.json().await.expect("json");
        numbers.push((body["number"].clone(), replayed));
    }
    assert_eq!(numbers[0].0, numbers[1].0);
    assert_eq!(numbers[1].1.as_deref(), Some("true"));
    // Half a representative, and a citizen's token.
    let mut half = statement(serik());
    half["represented_iin"] = json!(AIDA);
    let (code, problem) = desk.file(half).await;
    assert_eq!(
        (code, problem["field"].as_str()),
        (400, Some("power_of_attorney"))
    );
    let answer = desk
        .flow
        .http
        .post(desk.flow.url("/api/v1/centre/requests"))
        .bearer_auth(desk.flow.keys.citizen(AIDA))
        .json(&statement(aida()))
        .send()
        .await
        .expect("file");
    assert_eq!(answer.status(), 403);
}

/// REG 3150: a representative whose power of attorney is not notarised (so not in ENIS) is
/// served: no ENIS check, the operator scans the paper and attests it before signing; each GBD FL
/// answer names whose record it is.
#[tokio::test]
async fn a_representative_without_a_notarised_power_of_attorney_is_served_after_the_operators_attestation(
) {
    let mut desk = Desk::open().await;
    desk.flow.start_responder();
    let mut body = statement(serik());
    body["represented_iin"] = json!(AIDA);
    body["power_of_attorney"] =
        json!({"number": "PoA-17", "date": "2026-11-01", "notarised": false});
    let (code, filed) = desk.file(body).await;
    assert_eq!(code, 201, "{filed}");
    assert_eq!(filed["stage"], "awaiting-scans", "{filed}");
    let checks: Vec<&Value> = filed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["check"])
        .collect();
    assert_eq!(
        checks,
        [
            &json!("applicant-identity"),
            &json!("representative-identity")
        ],
        "no ENIS check for a power of attorney ENIS cannot have"
    );
    let number = filed["number"].as_str().expect("number").to_owned();
    let attest = |token: String| {
        let url = desk.flow.url(&format!(
            "/api/v1/centre/requests/{number}/power-of-attorney/attestation"
        ));
        let http = desk.flow.http.clone();
        async move {
            let answer = http
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("attest");
            let code = answer.status().as_u16();
            (code, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Nothing to attest before the paper is scanned; no signature before the attestation.
    let (code, problem) = attest(desk.token.clone()).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (409, Some("nothing-to-attest"))
    );
    let (_, scanned) = desk.scan(&number, "power-of-attorney", png()).await;
    let document = scanned["document_to_sign"]
        .as_str()
        .expect("document")
        .to_owned();
    let unsigned = desk
        .flow
        .http
        .post(desk.flow.url(&format!("/api/v1/centre/requests/{number}/signature")))
        .bearer_auth(&desk.token)
        .json(&json!({"cms": base64::engine::general_purpose::STANDARD.encode(
            desk.flow.pki.sign(&desk.operator_cert, &base64::engine::general_purpose::STANDARD.decode(&document).expect("b64"), true))}))
        .send()
        .await
        .expect("sign");
    assert_eq!(unsigned.status(), 409);
    let problem: Value = unsigned.json().await.expect("problem");
    assert_eq!(problem["code"], "power-of-attorney-not-attested");
    // Another centre's operator cannot attest it; this centre's can, once.
    let mut elsewhere = Keys::claims("operator", OPERATOR);
    elsewhere["org"] = json!("TsON-Astana-1");
    let (code, _) = attest(desk.flow.keys.es256(&elsewhere)).await;
    assert_eq!(code, 404);
    let (code, attested) = attest(desk.token.clone()).await;
    assert_eq!(code, 200, "{attested}");
    let (code, _) = attest(desk.token.clone()).await;
    assert_eq!(code, 200, "a retry answers as the first");
    assert_eq!(
        desk.sign(&number, &document, &desk.operator_cert).await,
        202
    );
    let status = desk
        .flow
        .outcome(&number, AIDA, Duration::from_secs(60))
        .await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    let events = desk.flow.events(&number).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert!(!kinds.contains(&"PowerOfAttorneyVerified"), "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "PowerOfAttorneyAttested")
            .count(),
        1
    );
    let people: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|(k, _)| k == "ApplicantIdentityVerified")
        .map(|(_, p)| (&p["person"], &p["iin"]))
        .collect();
    assert_eq!(
        people,
        [
            (&json!("applicant"), &json!(AIDA)),
            (&json!("representative"), &json!(SERIK))
        ]
    );
}
