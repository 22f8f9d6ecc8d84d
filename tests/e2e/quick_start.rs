//! The README's quick start, as a newcomer runs it: the embedded default, a development token,
//! `egov dev-cert`, `egov sign`, and the result PDF - no PKI built by hand. And what the
//! development CA must never do: issue outside development mode, or be trusted by production.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::process::{egov, Served};

/// A citizen of the shipped registry fixture with a disability benefit on record.
const SERIK: &str = "850715300003";

/// `egov ARGS` beside the data directory `data` (development mode, as the quick start runs it).
fn run(data: &Path, args: &[&str]) -> Output {
    egov()
        .args(args)
        .env("EGOV_DATA_DIR", data)
        .output()
        .expect("run egov")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Files `service` for the token's citizen, signs with `p12` through `egov sign`, and waits for
/// the end; the request's number and its last status answer.
async fn file_and_sign(served: &Served, data: &Path, token: &str, p12: &Path) -> (String, Value) {
    let http = reqwest::Client::new();
    let filed = http
        .post(format!("{}/api/v1/requests", served.base))
        .bearer_auth(token)
        .json(&json!({"service": "disability-benefit-info", "iin": SERIK, "form": {}}))
        .send()
        .await
        .expect("file");
    assert_eq!(filed.status(), 201);
    let filed = filed.text().await.expect("body");
    let number = serde_json::from_str::<Value>(&filed).expect("json")["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let answer = data.with_file_name("filed.json");
    std::fs::write(&answer, &filed).expect("write");
    let signature = stdout_of(&run(
        data,
        &[
            "sign",
            "--p12",
            &p12.to_string_lossy(),
            "--in",
            &answer.to_string_lossy(),
        ],
    ));
    let sent = http
        .post(format!(
            "{}/api/v1/requests/{number}/signature",
            served.base
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(signature)
        .send()
        .await
        .expect("sign");
    assert_eq!(sent.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Value = http
            .get(format!("{}/api/v1/requests/{number}?wait=5", served.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if matches!(
            status["status"]["code"].as_str(),
            Some("completed" | "refused")
        ) {
            return (number, status);
        }
        assert!(Instant::now() < deadline, "{number} did not end: {status}");
    }
}

#[tokio::test]
async fn a_newcomer_carries_a_request_to_its_result_pdf_with_the_development_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("pg");
    let mut served = Served::start(&[("EGOV_DATA_DIR", &data.to_string_lossy())]);
    served.wait_ready(Duration::from_secs(120)).await;
    // The page's sign-in offers the simulator's synthetic citizens to pick from.
    let stand_ins: Value = reqwest::get(format!("{}/api/v1/dev", served.base))
        .await
        .expect("GET /api/v1/dev")
        .json()
        .await
        .expect("json");
    let offered = stand_ins["citizens"].as_array().expect("citizens");
    assert!(offered.iter().any(|c| c["iin"] == SERIK), "{stand_ins}");
    let token = stdout_of(&run(&data, &["token", "--role", "citizen", "--sub", SERIK]));
    let p12 = dir.path().join("serik.p12");
    let issued = stdout_of(&run(
        &data,
        &["dev-cert", "--iin", SERIK, "--out", &p12.to_string_lossy()],
    ));
    assert!(issued.contains(SERIK), "{issued}");
    let (number, status) = file_and_sign(&served, &data, &token, &p12).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    let pdf = reqwest::Client::new()
        .get(format!("{}/api/v1/requests/{number}/result", served.base))
        .bearer_auth(&token)
        .header("accept", "application/pdf")
        .send()
        .await
        .expect("result");
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.expect("pdf").starts_with(b"%PDF"));
    // A revoked development certificate is refused with its reason, as a revoked NCA one is.
    let revoked = dir.path().join("revoked.p12");
    stdout_of(&run(
        &data,
        &[
            "dev-cert",
            "--iin",
            SERIK,
            "--out",
            &revoked.to_string_lossy(),
        ],
    ));
    stdout_of(&run(
        &data,
        &["dev-cert", "--revoke", &revoked.to_string_lossy()],
    ));
    let (_, status) = file_and_sign(&served, &data, &token, &revoked).await;
    assert_eq!(status["status"]["code"], "refused", "{status}");
    assert_eq!(status["refusal"]["code"], "certificate-revoked", "{status}");
    assert!(served.terminate());
}

#[test]
fn the_development_ca_issues_nothing_outside_development_mode_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("pg");
    let production = egov()
        .args(["dev-cert", "--iin", SERIK])
        .env("EGOV_DATA_DIR", &data)
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .current_dir(dir.path())
        .output()
        .expect("run egov");
    assert!(!production.status.success());
    let stderr = String::from_utf8_lossy(&production.stderr);
    assert!(stderr.contains("development only"), "{stderr}");
    assert!(!dir.path().join("dev-ca").exists(), "no authority was made");
    assert!(!dir.path().join(format!("{SERIK}.p12")).exists());
    // A bad IIN, a wrong password, a file that is no PKCS#12: clear refusals, no panic.
    let bad = run(&data, &["dev-cert", "--iin", "850715300004"]);
    assert!(!bad.status.success());
    let p12 = dir.path().join("a.p12");
    stdout_of(&run(
        &data,
        &["dev-cert", "--iin", SERIK, "--out", &p12.to_string_lossy()],
    ));
    let again = run(
        &data,
        &["dev-cert", "--iin", SERIK, "--out", &p12.to_string_lossy()],
    );
    assert!(
        !again.status.success(),
        "an existing file is never replaced"
    );
    let document = dir.path().join("doc");
    std::fs::write(&document, b"{}").expect("write");
    for (file, password) in [(&p12, "wrong"), (&document, "123456")] {
        let output = run(
            &data,
            &[
                "sign",
                "--p12",
                &file.to_string_lossy(),
                "--password",
                password,
                "--in",
                &document.to_string_lossy(),
            ],
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not a PKCS#12 file"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
