//! The workflow end to end: the real `egov` binary, the registry simulator as its own process, a
//! test CA with `openssl ocsp` as the responder, real CMS signatures; a request goes from its
//! signature to a signed result or a refusal, every step an event.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use testkit::pki::{Algorithm, Issued, Pki};

use registry_sim::FaultSettings;

use crate::support::citizens::{AIDA, DANA, ERLAN, GULNAR, NOBODY, NURLAN, SERIK};
use crate::support::flow::{healthy, Flow};
use crate::support::portal::{AUDIENCE, ISSUER};
use crate::support::process::eventually;

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn every_service_ends_with_its_signed_result_through_the_whole_workflow() {
    let mut flow = Flow::start(healthy(), &[]).await;
    let cases = [
        ("birth-childcare-benefit-info", AIDA, json!({})),
        ("gcvp-pension-info", ERLAN, json!({})),
        ("basic-pension-info", ERLAN, json!({})),
        ("disability-benefit-info", SERIK, json!({})),
        ("survivor-benefit-info", GULNAR, json!({})),
        ("age-benefit-info", GULNAR, json!({})),
        ("special-state-benefit-info", ERLAN, json!({})),
        ("state-special-benefit-info", SERIK, json!({})),
        ("sik-assignment", NURLAN, json!({})),
        ("sik-assignment", AIDA, json!({})),
        (
            "pension-fund-statement",
            AIDA,
            json!({"period_start": "2023-01-01", "period_end": "2023-12-31"}),
        ),
        ("social-status-check", ERLAN, json!({"patient_iin": SERIK})),
    ];
    let mut filed = Vec::new();
    let mut signers = Vec::new();
    for (_, iin, _) in &cases {
        signers.push(
            flow.pki
                .citizen(iin, Algorithm::Rsa, (-10, 300), false, true),
        );
    }
    flow.start_responder();
    for ((service, iin, form), signer) in cases.iter().zip(&signers) {
        let number = flow
            .file_signed_by(service, iin, form.clone(), signer)
            .await;
        filed.push((service, iin, number));
    }
    for (service, iin, number) in &filed {
        let status = flow.outcome(number, iin, WAIT).await;
        assert_eq!(status["status"]["code"], "completed", "{service}: {status}");
        assert_eq!(status["result_ready"], true, "{service}");
        let events = flow.events(number).await;
        let kinds = types(&events);
        assert_eq!(
            &kinds[..3],
            &["RequestSubmitted", "RequestSigned", "SignatureVerified"],
            "{service}"
        );
        assert_eq!(kinds.last(), Some(&"ResultIssued"), "{service}");
        let verified = &events[2].1;
        assert_eq!(verified["certificate"]["revocation"], "good", "{service}");
        assert_eq!(verified["certificate"]["subject_iin"], **iin, "{service}");
        // The result: canonical JSON signed by the provider, its digest as the event recorded it.
        let issued = &events.last().expect("issued").1;
        let result = signed_document(&flow, number, iin, issued).await;
        assert_eq!(result["document"]["request_number"], **number);
        match **service {
            "pension-fund-statement" => {
                assert_eq!(result["document"]["body"]["total_kzt"], "76900.00");
                assert_eq!(
                    result["document"]["body"]["rows"].as_array().map(Vec::len),
                    Some(3)
                );
            }
            "sik-assignment" if **iin == NURLAN => {
                assert_eq!(issued["sik_branch"], "assigned");
            }
            "sik-assignment" => {
                assert_eq!(issued["sik_branch"], "duplicate");
                assert_eq!(result["document"]["body"]["sik"], "DV6MH41VHFEX4009");
            }
            "social-status-check" => {
                assert_eq!(
                    result["document"]["body"]["line"],
                    format!("Статус ИИН {SERIK} : Лицо с инвалидностью второй группы!")
                );
            }
            _ => benefit_document(service, &result["document"]),
        }
    }
    // A benefit document as the citizen prints it: its own title, dd.mm.yyyy dates, and the
    // legal clause in Kazakh beside the Russian one (docs/domain.md 6.1, 6.3).
    let (_, iin, number) = &filed[3];
    let answer = pdf_of(&flow, number, iin).await;
    // Words as the PDF wraps them, joined again.
    let text = pdf_text(&answer.bytes().await.expect("bytes"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "государственного социального пособия по инвалидности",
        "Группа инвалидности II",
        "с 01.03.2015 г. по 01.03.2027 г.",
        "қағаз жеткізгіштегі құжатпен тең",
        "равнозначен документу на бумажном носителе",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    // The printable form: a PDF whose text carries the document's data.
    let (_, iin, number) = &filed[10];
    let answer = pdf_of(&flow, number, iin).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/pdf"[..])
    );
    let pdf = answer.bytes().await.expect("bytes");
    let text = pdf_text(&pdf);
    for expected in [
        format!("R{number}"),
        "DV6MH41VHFEX4009".to_owned(),
        "Барлығы / Итого: 76900.00 тенге".to_owned(),
        "Салымшының транзиттік шоттары".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    // Another citizen cannot fetch it; the applicant answers the survey once.
    let (code, _) = flow
        .get(
            &format!("/api/v1/requests/{number}/result"),
            &flow.keys.citizen(DANA),
        )
        .await;
    assert_eq!(code, 404);
    let survey = flow
        .http
        .post(flow.url(&format!("/api/v1/requests/{number}/survey")))
        .bearer_auth(flow.keys.citizen(iin))
        .json(&json!({"quality": "satisfied", "information": "partially-satisfied"}))
        .send()
        .await
        .expect("survey");
    assert_eq!(survey.status(), 201);
}

/// The printable form of request `number`'s document, as the citizen `iin` asks for it.
async fn pdf_of(flow: &Flow, number: &str, iin: &str) -> reqwest::Response {
    flow.http
        .get(flow.url(&format!("/api/v1/requests/{number}/result")))
        .bearer_auth(flow.token(number, iin))
        .header("accept", "application/pdf")
        .send()
        .await
        .expect("pdf")
}

/// The fields the regulations list for each benefit's document (docs/domain.md 6.1), as the
/// shipped registry fixture holds them.
fn benefit_document(service: &str, document: &Value) {
    let title = document["title_ru"].as_str().unwrap_or_default();
    assert!(
        title.starts_with("ИНФОРМАЦИЯ о назначении (отказе в назначении) "),
        "{service}: {title}"
    );
    let decisions = document["body"]["decisions"].as_array().expect("decisions");
    let lines: Vec<&str> = decisions
        .iter()
        .flat_map(|d| d["lines"].as_array().into_iter().flatten())
        .filter_map(|l| l["ru"].as_str())
        .collect();
    let has = |wanted: &str| lines.iter().any(|l| l.contains(wanted));
    assert!(has("Решением "), "{service}: {lines:?}");
    match service {
        "birth-childcare-benefit-info" => {
            assert!(has("Ежемесячное пособие по уходу за ребенком"), "{lines:?}");
            assert!(has("Дата окончания выплаты 01.11.2020"), "{lines:?}");
        }
        "gcvp-pension-info" => {
            assert_eq!(
                decisions.len(),
                2,
                "the pension and the basic pension: {lines:?}"
            );
            assert!(
                has("Назначена пенсионная выплата в размере 143500.00 тенге"),
                "{lines:?}"
            );
            assert!(has(
                "Назначена базовая пенсионная выплата в размере 39120.00 тенге"
            ));
        }
        "disability-benefit-info" => assert!(has("Группа инвалидности II"), "{lines:?}"),
        "survivor-benefit-info" => {
            assert!(
                has("Отказано в назначении пособия Отсутствует право"),
                "{lines:?}"
            );
        }
        "special-state-benefit-info" => {
            assert!(has("На период с 01.04.2021 по 31.03.2031"), "{lines:?}");
        }
        "age-benefit-info" => assert!(has("пособие по возрасту"), "{lines:?}"),
        "state-special-benefit-info" => {
            assert!(has("государственное специальное пособие"), "{lines:?}");
        }
        _ => assert!(has("базовая пенсионная выплата"), "{service}: {lines:?}"),
    }
    assert!(document["legal_clause"]["kk"].is_string());
}

/// The signed document of request `number` (its result or its refusal) as the citizen `iin`
/// fetches it: named and digested as the event that `issued` it recorded, and signed by the
/// provider over its exact bytes.
async fn signed_document(flow: &Flow, number: &str, iin: &str, issued: &Value) -> Value {
    let answer = flow
        .http
        .get(flow.url(&format!("/api/v1/requests/{number}/result")))
        .bearer_auth(flow.token(number, iin))
        .send()
        .await
        .expect("document");
    assert_eq!(answer.status(), 200, "{number}");
    let document: Value = answer.json().await.expect("json");
    assert_eq!(document["sha256"], issued["document_sha256"], "{number}");
    assert_eq!(
        document["document_number"], issued["document_number"],
        "{number}"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let bytes = b64
        .decode(document["document_base64"].as_str().expect("bytes"))
        .expect("base64");
    let signature = b64
        .decode(document["signature"].as_str().expect("signature"))
        .expect("base64");
    verify_provider_signature(flow, &bytes, &signature);
    document
}

fn verify_provider_signature(flow: &Flow, document: &[u8], signature: &[u8]) {
    use openssl::cms::{CMSOptions, CmsContentInfo};
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::X509;
    // The development provider key lives beside the data directory.
    let pem = std::fs::read(flow.data.path().join("provider-cert.pem")).expect("provider cert");
    let cert = X509::from_pem(&pem).expect("pem");
    let mut store = X509StoreBuilder::new().expect("store");
    store.add_cert(cert).expect("anchor");
    let store = store.build();
    let mut cms = CmsContentInfo::from_der(signature).expect("cms");
    cms.verify(
        Some(&Stack::new().expect("stack")),
        Some(&store),
        Some(document),
        None,
        CMSOptions::BINARY,
    )
    .expect("the provider's signature verifies over the document's bytes");
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn every_refusal_of_the_signature_and_the_registries_ends_the_request_with_its_reason() {
    let mut flow = Flow::start(healthy(), &[]).await;
    let good = |flow: &mut Flow, iin: &str| {
        flow.pki
            .citizen(iin, Algorithm::Rsa, (-10, 300), false, true)
    };
    let expired = flow
        .pki
        .citizen(AIDA, Algorithm::Rsa, (-30, -1), false, true);
    let not_yet = flow
        .pki
        .citizen(AIDA, Algorithm::EcP256, (2, 300), false, true);
    let revoked = flow
        .pki
        .citizen(AIDA, Algorithm::Rsa, (-10, 300), true, true);
    let bob = good(&mut flow, SERIK);
    let auth_key = flow
        .pki
        .citizen(AIDA, Algorithm::Rsa, (-10, 300), false, false);
    let (_, stranger) = Pki::stranger(AIDA);
    let nobody = good(&mut flow, NOBODY);
    let dana = good(&mut flow, DANA);
    let aida = good(&mut flow, AIDA);
    let erlan = good(&mut flow, ERLAN);
    flow.start_responder();
    let fund = "pension-fund-statement";
    let cases: Vec<(&str, &str, Value, &Issued, &str)> = vec![
        (fund, AIDA, json!({}), &expired, "certificate-expired"),
        (fund, AIDA, json!({}), &not_yet, "certificate-expired"),
        (fund, AIDA, json!({}), &revoked, "certificate-revoked"),
        (fund, AIDA, json!({}), &bob, "certificate-iin-mismatch"),
        (fund, AIDA, json!({}), &auth_key, "signature-invalid"),
        (fund, AIDA, json!({}), &stranger, "signature-invalid"),
        (fund, NOBODY, json!({}), &nobody, "iin-not-found"),
        (fund, DANA, json!({}), &dana, "sik-not-registered"),
        ("disability-benefit-info", AIDA, json!({}), &aida, "no-data"),
        // REG 2756: no data for the person in the provider's AIS.
        ("sik-assignment", NOBODY, json!({}), &nobody, "no-data"),
        (
            "social-status-check",
            ERLAN,
            json!({"patient_iin": DANA}),
            &erlan,
            "not-found-in-registry",
        ),
    ];
    let mut filed = Vec::new();
    for (service, iin, form, signer, reason) in &cases {
        let (number, document) = flow.submit(service, iin, form.clone()).await;
        // The stranger's CMS carries no chain to our CA.
        let cms = if std::ptr::eq(*signer, &stranger) {
            testkit::pki::sign_with(signer, &[], &document, true)
        } else {
            flow.pki.sign(signer, &document, true)
        };
        flow.sign(&number, iin, &cms).await;
        filed.push((number, *iin, *reason, *service));
    }
    for (number, iin, reason, service) in &filed {
        let status = flow.outcome(number, iin, WAIT).await;
        assert_eq!(
            status["status"]["code"], "refused",
            "{service} {reason}: {status}"
        );
        assert_eq!(status["refusal"]["code"], *reason, "{service}: {status}");
        assert!(
            status["refusal"]["text"]["ru"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{status}"
        );
        // The regulation's own wording is kept beside the code (docs/domain.md 5(a)); the
        // project's own reason has none.
        let lines = status["refusal"]["source"]["lines"].as_str();
        if *reason == "not-found-in-registry" {
            assert_eq!(lines, None, "{status}");
        } else {
            assert!(lines.is_some_and(|l| l.starts_with("REG ")), "{status}");
        }
        // REG 284-286: the refusal is an answer signed by the provider, like a result, fetched
        // where a result is (`.../result`), in JSON or as the printable PDF.
        let citizen = flow.token(number, iin);
        let path = format!("/api/v1/requests/{number}");
        let ready = || async { flow.get(&path, &citizen).await.1["result_ready"] == true };
        eventually("the refusal document is issued", WAIT, ready).await;
        let events = flow.events(number).await;
        let kinds = types(&events);
        assert_eq!(
            &kinds[kinds.len() - 2..],
            ["RequestRefused", "RefusalIssued"],
            "{service} {reason}"
        );
        assert!(!kinds.contains(&"ResultIssued"), "{service} {reason}");
        let issued = &events.last().expect("issued").1;
        let refusal = signed_document(&flow, number, iin, issued).await;
        assert_eq!(refusal["document_number"], format!("O{number}"));
        assert_eq!(refusal["document"]["kind"], "refusal");
        assert_eq!(refusal["document"]["body"]["reason"], *reason);
        assert_eq!(refusal["document"]["recipient"]["iin"], *iin);
    }
    // Its PDF, in both languages, for the citizen to open or save and the centre to print.
    let pdf = pdf_of(&flow, &filed[0].0, AIDA).await;
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.expect("bytes").starts_with(b"%PDF-"));
    // The certificate's facts are recorded with each rejection.
    let revoked_events = flow.events(&filed[2].0).await;
    let rejected = revoked_events
        .iter()
        .find(|(t, _)| t == "SignatureRejected")
        .expect("rejected");
    assert_eq!(rejected.1["reason"], "revoked");
    assert_eq!(rejected.1["certificate"]["revocation"], "revoked");
    assert!(rejected.1["certificate"]["serial"].is_string());
}

#[tokio::test]
async fn with_the_ocsp_responder_down_no_signature_is_taken_as_good_and_it_completes_once_it_answers(
) {
    let mut flow = Flow::start(healthy(), &[]).await;
    let signer = flow.pki.signer(AIDA);
    let number = flow
        .file_signed_by("birth-childcare-benefit-info", AIDA, json!({}), &signer)
        .await;
    // The responder is down (its port resets every connection): the request stays "submitted",
    // nothing verified, nothing refused, however often the workflow asks.
    let down = DeadResponder::start(flow.pki.port).await;
    let asked = || async { down.connections() >= 3 };
    eventually("the workflow asked the responder", WAIT, asked).await;
    let events = flow.events(&number).await;
    assert_eq!(types(&events), ["RequestSubmitted", "RequestSigned"]);
    let (_, status) = flow
        .get(
            &format!("/api/v1/requests/{number}"),
            &flow.keys.citizen(AIDA),
        )
        .await;
    assert_eq!(status["status"]["code"], "submitted");
    // The operator sees why in `/readyz`: still in service (200), degraded, revocation failing.
    let (code, ready) = flow.get("/readyz", "").await;
    assert_eq!(
        (code, &ready["status"], &ready["revocation"]),
        (200, &json!("degraded"), &json!("failing")),
        "{ready}"
    );
    // It comes back within the step's limit: the check goes on and the request completes.
    down.stop().await;
    flow.start_responder();
    let status = flow.outcome(&number, AIDA, WAIT).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    let (_, ready) = flow.get("/readyz", "").await;
    assert_eq!(ready["revocation"], "answering", "{ready}");
}

/// A pension-fund statement filed and signed by Aida while every registry is down.
async fn filed_during_an_outage() -> (Flow, String) {
    let faults = FaultSettings {
        outage: true,
        ..healthy()
    };
    let mut flow = Flow::start(faults, &[]).await;
    let signer = flow.pki.signer(AIDA);
    flow.start_responder();
    let number = flow
        .file_signed_by("pension-fund-statement", AIDA, json!({}), &signer)
        .await;
    (flow, number)
}

#[tokio::test]
async fn a_registry_outage_that_heals_within_the_step_limit_ends_in_the_result() {
    let (flow, number) = filed_during_an_outage().await;
    // The workflow has met the outage (and recorded it) before the registry heals.
    let met = || async {
        flow.events(&number)
            .await
            .iter()
            .any(|(t, _)| t == "RegistryLookupFailed")
    };
    eventually("an attempt failed on the outage", WAIT, met).await;
    let healed = flow
        .http
        .put(format!("{}/admin/faults", flow.sim.url()))
        .json(&json!({"outage": false}))
        .send()
        .await
        .expect("heal");
    assert_eq!(healed.status(), 200);
    let status = flow.outcome(&number, AIDA, WAIT).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    let events = flow.events(&number).await;
    let failed: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "RegistryLookupFailed")
        .map(|(_, p)| p)
        .collect();
    assert!(
        !failed.is_empty(),
        "the outage left its attempts in the log"
    );
    assert!(failed
        .iter()
        .all(|p| p["failure"] == "unavailable" && p["lookup"] == "iin"));
    // Each attempt was asked once and answered once, numbered in order.
    let asked: Vec<u64> = events
        .iter()
        .filter(|(t, p)| t == "RegistryLookupRequested" && p["lookup"] == "iin")
        .filter_map(|(_, p)| p["attempt"].as_u64())
        .collect();
    assert_eq!(asked, (1..=asked.len() as u64).collect::<Vec<_>>());
    assert_eq!(asked.len(), failed.len() + 1);
    // `/metrics` counts each failed attempt (or the lookup its open circuit refused), and shows
    // the circuit closed again.
    let metrics = crate::support::process::metrics_at(&flow.http, &flow.served.base).await;
    let figure = |name: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!("{name}{{"))
                    && l.contains("registry=\"ais-gcvp\"")
                    && l.contains("caller=\"workflow\"")
            })
            .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert_eq!(
        figure("egov_registry_failures_total") + figure("egov_registry_refused_by_circuit_total"),
        failed.len() as f64,
        "{metrics}"
    );
    assert_eq!(figure("egov_registry_circuit_open"), 0.0, "{metrics}");
    let (_, ready) = flow.get("/readyz", "").await;
    assert_eq!(ready["registries"]["ais-gcvp"], "closed", "{ready}");
}

/// docs/domain.md 10, D2: a lookup past its step's limit is marked late and asked again within the
/// promised deadline (an hour for the statement), not refused at once.
#[tokio::test]
async fn a_registry_outage_longer_than_the_step_limit_is_marked_late_and_retried_in_the_deadline() {
    let (flow, number) = filed_during_an_outage().await;
    // While the registry is out its circuit opens, and `/readyz` says so (still 200: filing and
    // reading go on).
    let open = || async {
        let (code, ready) = flow.get("/readyz", "").await;
        code == 200 && ready["registries"]["ais-gcvp"] == "open" && ready["status"] == "degraded"
    };
    eventually("/readyz shows the registry's circuit open", WAIT, open).await;
    // The IIN lookup may take 15 seconds (docs/domain.md 3.4); then it is late, not refused.
    let citizen = flow.keys.citizen(AIDA);
    let path = format!("/api/v1/requests/{number}");
    let late = || async {
        let (_, status) = flow.get(&path, &citizen).await;
        status["late_steps"] == json!(["lookup:iin"])
            && status["status"]["code"] == "forwarded-to-provider"
    };
    eventually(
        "the IIN lookup is marked late and the request stays open",
        WAIT,
        late,
    )
    .await;
    let healed = flow
        .http
        .put(format!("{}/admin/faults", flow.sim.url()))
        .json(&json!({"outage": false}))
        .send()
        .await
        .expect("heal");
    assert_eq!(healed.status(), 200);
    let status = flow.outcome(&number, AIDA, WAIT * 2).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    assert_eq!(status["late_steps"], json!(["lookup:iin"]), "{status}");
    assert_eq!(status["deadline_missed"], false, "{status}");
    let events = flow.events(&number).await;
    let kinds = types(&events);
    let marked = kinds
        .iter()
        .position(|k| *k == "StepDeadlineMissed")
        .expect("marked late");
    assert!(
        kinds[marked..].contains(&"RegistryLookupRequested"),
        "asked again after the step was late: {kinds:?}"
    );
    assert!(!kinds.contains(&"RequestRefused"), "{kinds:?}");
}

#[tokio::test]
async fn after_kill_9_mid_workflow_a_restarted_service_finishes_every_request_recording_each_step_once(
) {
    let mut flow = Flow::start(
        FaultSettings {
            latency_ms: 700,
            ..healthy()
        },
        &[],
    )
    .await;
    let signer = flow
        .pki
        .citizen(AIDA, Algorithm::Rsa, (-10, 300), false, true);
    flow.start_responder();
    let mut numbers = Vec::new();
    for _ in 0..6 {
        numbers.push(
            flow.file_signed_by("pension-fund-statement", AIDA, json!({}), &signer)
                .await,
        );
    }
    // Wait until lookups are under way, then kill the service without a chance to clean up.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut asked = 0;
        for number in &numbers {
            asked += flow
                .events(number)
                .await
                .iter()
                .filter(|(t, _)| t == "RegistryLookupRequested")
                .count();
        }
        if asked >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no lookup started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flow.served.child.kill().expect("kill -9");
    let _ = flow.served.child.wait();
    flow.restart().await;
    for number in &numbers {
        let status = flow.outcome(number, AIDA, WAIT).await;
        assert_eq!(status["status"]["code"], "completed", "{number}: {status}");
        let events = flow.events(number).await;
        // Each lookup answered once; each attempt asked once and answered at most once.
        for lookup in ["iin", "sik", "fund-movements"] {
            let succeeded = events
                .iter()
                .filter(|(t, p)| t == "RegistryLookupSucceeded" && p["lookup"] == lookup)
                .count();
            assert_eq!(succeeded, 1, "{number} {lookup}: {:?}", types(&events));
            let mut asked: Vec<u64> = events
                .iter()
                .filter(|(t, p)| t == "RegistryLookupRequested" && p["lookup"] == lookup)
                .filter_map(|(_, p)| p["attempt"].as_u64())
                .collect();
            let total = asked.len();
            asked.dedup();
            assert_eq!(asked.len(), total, "{number}: an attempt asked twice");
        }
        let kinds = types(&events);
        for once in ["SignatureVerified", "ResultIssued", "RequestSigned"] {
            assert_eq!(
                kinds.iter().filter(|k| **k == once).count(),
                1,
                "{number}: {kinds:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_medical_user_sees_the_status_line_at_once_and_the_check_is_recorded() {
    let flow = Flow::start(healthy(), &[]).await;
    let medic = flow.keys.es256(&json!({
        "sub": "doctor-41", "role": "medical", "org": "Городская поликлиника №5",
        "iss": ISSUER, "aud": AUDIENCE,
        "exp": chrono::Utc::now().timestamp() + 600,
    }));
    let check = |token: String, body: Value| {
        let http = flow.http.clone();
        let url = flow.url("/api/v1/social-status");
        async move {
            let answer = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("check");
            let code = answer.status().as_u16();
            (code, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (code, answer) = check(
        medic.clone(),
        json!({"iin": AIDA, "purpose": "приём пациента"}),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        answer["line"],
        format!("Статус ИИН {AIDA} : Многодетная мать!")
    );
    assert!(answer["explanation"]
        .as_str()
        .is_some_and(|e| e.contains("ОСМС") || e.contains("медицинского")));
    let (code, answer) = check(medic.clone(), json!({"iin": DANA})).await;
    assert_eq!(
        (code, answer["code"].as_str()),
        (404, Some("not-found-in-registry"))
    );
    let (code, answer) = check(medic.clone(), json!({"iin": "760324400006"})).await;
    assert_eq!(
        (code, answer["code"].as_str()),
        (422, Some("iin-check-digit"))
    );
    let (code, _) = check(flow.keys.citizen(AIDA), json!({"iin": AIDA})).await;
    assert_eq!(code, 403);
    // Each check is a fact: who looked up whom, from which organisation, why.
    let client = flow.db.superuser().await;
    let rows = client
        .query(
            "SELECT payload, actor FROM events WHERE event_type = 'SocialStatusChecked' ORDER BY position",
            &[],
        )
        .await
        .expect("events");
    assert_eq!(
        rows.len(),
        2,
        "the refused (403) and invalid (422) checks asked nobody"
    );
    let first: Value = rows[0].get(0);
    assert_eq!(first["patient"], AIDA);
    assert_eq!(first["checker"], "doctor-41");
    assert_eq!(first["organisation"], "Городская поликлиника №5");
    assert_eq!(first["purpose"], "приём пациента");
    assert_eq!(first["result"]["outcome"], "found");
    let second: Value = rows[1].get(0);
    assert_eq!(second["result"]["outcome"], "not-found");
    let actor: String = rows[0].get(1);
    assert!(actor.contains("doctor-41"), "{actor}");
}

#[tokio::test]
async fn two_egov_workers_beside_a_serve_without_workflow_share_the_requests_each_driven_once() {
    let mut flow = Flow::start(
        FaultSettings {
            latency_ms: 50,
            ..healthy()
        },
        &[("EGOV_WORKFLOW", "off")],
    )
    .await;
    let signer = flow.pki.signer(AIDA);
    flow.start_responder();
    let mut numbers = Vec::new();
    for _ in 0..8 {
        numbers.push(
            flow.file_signed_by("pension-fund-statement", AIDA, json!({}), &signer)
                .await,
        );
    }
    // Nothing moves without a worker: the server has projected the signature (version 2), and the
    // log holds nothing more.
    for number in &numbers {
        let path = format!("/api/v1/requests/{number}?min_version=2");
        let (code, _) = flow.get(&path, &flow.keys.citizen(AIDA)).await;
        assert_eq!(code, 200);
    }
    assert_eq!(
        types(&flow.events(&numbers[0]).await),
        ["RequestSubmitted", "RequestSigned"]
    );
    // Each worker drives two requests at a time, so that both have a share.
    let mut env = flow.env.clone();
    env.push(("EGOV_WORKFLOW_CONCURRENCY".into(), "2".into()));
    let workers: Vec<crate::support::process::Daemon> = (0..2)
        .map(|_| crate::support::process::Daemon::worker(&env))
        .collect();
    for number in &numbers {
        let status = flow.outcome(number, AIDA, WAIT).await;
        assert_eq!(status["status"]["code"], "completed", "{status}");
        let events = flow.events(number).await;
        let kinds = types(&events);
        assert_eq!(kinds.len(), 10, "each step once: {kinds:?}");
    }
    // Both workers took part: each records its steps under its own name.
    let client = flow.db.superuser().await;
    let actors: i64 = client
        .query_one(
            "SELECT count(DISTINCT actor) FROM events WHERE actor LIKE 'system:workflow/%'",
            &[],
        )
        .await
        .expect("actors")
        .get(0);
    assert_eq!(actors, 2, "both workers drove requests");
    let left: i64 = client
        .query_one("SELECT count(*) FROM workflow.tasks", &[])
        .await
        .expect("tasks")
        .get(0);
    assert_eq!(left, 0, "every task done and removed");
    drop(workers);
}

/// An OCSP responder that is down: it accepts each connection and resets it at once, counting
/// them, so that a test sees the workflow ask without an answer ever coming.
struct DeadResponder {
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DeadResponder {
    async fn start(port: u16) -> DeadResponder {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the responder's port is free until the responder starts");
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Reset, not closed: no TIME_WAIT is left on the port the responder binds next.
                // (Deprecated for lingering that blocks on drop; a zero linger resets at once.)
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
            }
        });
        DeadResponder { connections, task }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Frees the port.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// docs/domain.md 3.6 (and 10, G4): a request nobody signs is never marked late - its deadline
/// never started - and ends as abandoned once its time to sign (`EGOV_SIGN_WITHIN`) is spent,
/// with its own status text; a signature after that is refused.
#[tokio::test]
async fn an_unsigned_request_ends_abandoned_after_its_time_to_sign_and_is_never_late() {
    let mut flow = Flow::start(healthy(), &[("EGOV_SIGN_WITHIN", "10s")]).await;
    let (number, document) = flow
        .submit("disability-benefit-info", SERIK, json!({}))
        .await;
    let status = flow.outcome(&number, SERIK, WAIT).await;
    assert_eq!(status["status"]["code"], "abandoned", "{status}");
    assert_eq!(
        status["status"]["text"]["ru"],
        "Запрос не был подписан в установленный срок и закрыт"
    );
    assert_eq!(status["deadline"], Value::Null, "{status}");
    assert_eq!(status["deadline_missed"], false, "{status}");
    assert_eq!(status["result_ready"], false, "{status}");
    let events = flow.events(&number).await;
    assert_eq!(types(&events), ["RequestSubmitted", "RequestAbandoned"]);
    // Too late to sign now: the request has ended.
    let signer = flow.pki.signer(SERIK);
    let cms = flow.pki.sign(&signer, &document, true);
    let late = flow
        .http
        .post(flow.url(&format!("/api/v1/requests/{number}/signature")))
        .bearer_auth(flow.keys.citizen(SERIK))
        .json(&json!({"cms": base64::engine::general_purpose::STANDARD.encode(&cms)}))
        .send()
        .await
        .expect("sign");
    assert_eq!(late.status(), 409);
    let problem: Value = late.json().await.expect("problem");
    assert_eq!(problem["code"], "request-ended", "{problem}");
}

/// docs/national-rules.md 4 and issue "data that must change without a rebuild": the working-day
/// calendar and the texts come from files given at start (`EGOV_CALENDAR`, `EGOV_MESSAGES`). A
/// decree that gives the next ten days off moves the SIK's "1 working day" past them; a reviewed
/// text replaces the shipped one.
#[tokio::test]
async fn the_calendar_and_the_texts_are_read_from_files_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut calendar: Value =
        serde_json::from_str(include_str!("../../crates/domain/data/kz-calendar.json"))
            .expect("calendar");
    let today = domain::calendar::local_date(chrono::Utc::now());
    let decree: Vec<Value> = (0..10)
        .map(|n| {
            let day = today + chrono::Days::new(n);
            json!({"date": day.to_string(), "reason": "a test decree"})
        })
        .collect();
    calendar["days_off"]
        .as_array_mut()
        .expect("days off")
        .extend(decree);
    let mut messages: Value =
        serde_json::from_str(include_str!("../../crates/domain/data/messages.json"))
            .expect("messages");
    messages["statuses"]["completed"]["ru"] = json!("Результат готов: откройте или сохраните");
    let calendar_file = dir.path().join("calendar.json");
    let messages_file = dir.path().join("messages.json");
    std::fs::write(&calendar_file, calendar.to_string()).expect("write");
    std::fs::write(&messages_file, messages.to_string()).expect("write");
    let env = [
        ("EGOV_CALENDAR", calendar_file.to_str().expect("path")),
        ("EGOV_MESSAGES", messages_file.to_str().expect("path")),
    ];
    let mut flow = Flow::start(healthy(), &env).await;
    let signer = flow.pki.signer(NURLAN);
    flow.start_responder();
    let number = flow
        .file_signed_by("sik-assignment", NURLAN, json!({}), &signer)
        .await;
    let status = flow.outcome(&number, NURLAN, WAIT).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    assert_eq!(
        status["status"]["text"]["ru"],
        "Результат готов: откройте или сохраните"
    );
    let deadline: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(status["deadline"].clone()).expect("deadline");
    assert!(
        domain::calendar::local_date(deadline) > today + chrono::Days::new(10),
        "one working day after ten days off: {deadline}"
    );
}
