//! The portal API over HTTP, as a portal client drives it: every endpoint, every client mistake,
//! tokens, ownership, idempotent retries, long polls, a rebuild under readers, and Schemathesis.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::support::portal::{cms_signature, etag_of, Keys, Portal, ALICE, BOB};
use crate::support::process::{egov, eventually};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Asserts a problem answer: status, content type, code, and texts in three languages.
async fn assert_problem(answer: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(answer.status().as_u16(), status, "status for {code}");
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "content type for {code}"
    );
    let problem: Value = answer.json().await.expect("problem json");
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    for language in ["ru", "kk", "en"] {
        assert!(
            problem["texts"][language]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{language} text in {problem}"
        );
    }
    problem
}

#[tokio::test]
async fn a_citizen_files_signs_and_follows_a_request_with_long_polls() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);

    // The catalog is public.
    let services: Value = portal
        .http
        .get(portal.url("/api/v1/services"))
        .send()
        .await
        .expect("services")
        .json()
        .await
        .expect("json");
    let statement = services
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["code"] == "pension-fund-statement")
        .expect("service")
        .clone();
    assert!(statement["names"]["kk"].is_string());
    assert_eq!(statement["form"].as_array().expect("fields").len(), 2);
    assert!(statement["channels"]
        .as_array()
        .expect("channels")
        .contains(&json!("service-centre")));
    // What a client needs to show the rules: the promise in the regulations' words (REG 3537),
    // service 10's own survey question (REG 3640), and the call centre (REG 3192).
    assert_eq!(statement["deadline"]["text"]["ru"], "В течение 1 часа");
    assert!(statement["survey"]["quality"]["ru"]
        .as_str()
        .is_some_and(|q| q.contains("и результатом")));
    assert_eq!(statement["survey"]["answers"][2]["code"], "satisfied");
    assert_eq!(statement["contact"]["phone"], "1414");
    let sik = services
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["code"] == "sik-assignment")
        .expect("service");
    assert_eq!(
        sik["deadline"]["text"]["ru"],
        "В течение 1 рабочего дня с момента получения заявления"
    );
    assert!(!sik["survey"]["quality"]["ru"]
        .as_str()
        .is_some_and(|q| q.contains("и результатом")));

    // Step 1.
    let created = portal.submit(ALICE).await;
    let number = created["number"].as_str().expect("number").to_owned();
    assert_eq!(created["status"]["code"], "awaiting-signature");
    assert_eq!(created["iin"], ALICE);
    // No deadline runs before the signature (docs/domain.md 10, G4); the time to sign does.
    assert!(created.get("deadline").is_none(), "{created}");
    let sign_by: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["sign_by"].clone()).expect("sign_by");
    let received: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["received_at"].clone()).expect("received_at");
    assert_eq!(sign_by - received, chrono::Duration::hours(24));
    let document = base64::engine::general_purpose::STANDARD
        .decode(created["document_to_sign"].as_str().expect("document"))
        .expect("base64");
    let text = String::from_utf8(document.clone()).expect("utf-8");
    assert!(text.contains(&number) && text.contains(ALICE), "{text}");

    // Step 3 right after step 1: read your write.
    let path = format!("/api/v1/requests/{number}");
    let answer = portal
        .http
        .get(portal.url(&format!("{path}?min_version=1")))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("get");
    assert_eq!(answer.status(), 200);
    let etag = etag_of(&answer);
    let status: Value = answer.json().await.expect("json");
    assert_eq!(status["status"]["code"], "awaiting-signature");
    assert_eq!(status["status"]["text"]["ru"], "Ожидает подписания");
    assert_eq!(status["version"], 1);
    assert_eq!(status["result_ready"], false);
    assert_eq!(status["service"], "pension-fund-statement");

    // Unchanged: 304, at once without wait.
    let unchanged = portal
        .http
        .get(portal.url(&path))
        .bearer_auth(&alice)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(unchanged.status(), 304);

    // A long poll holds until the status changes: sign while it waits.
    let poll = {
        let http = portal.http.clone();
        let url = portal.url(&format!("{path}?wait=25"));
        let (alice, etag) = (alice.clone(), etag.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = http
                .get(url)
                .bearer_auth(alice)
                .header("if-none-match", etag)
                .send()
                .await
                .expect("poll");
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap_or(Value::Null),
                started.elapsed(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !poll.is_finished(),
        "the long poll holds while nothing changes"
    );
    let signed = portal
        .http
        .post(portal.url(&format!("{path}/signature")))
        .bearer_auth(&alice)
        .json(&json!({"cms": b64(&cms_signature(&document, ALICE))}))
        .send()
        .await
        .expect("sign");
    assert_eq!(signed.status(), 202);
    let accepted: Value = signed.json().await.expect("json");
    assert_eq!(accepted["version"], 2);
    let (code, body, waited) = poll.await.expect("poll task");
    assert_eq!(code, 200);
    assert_eq!(body["status"]["code"], "submitted");
    // «В течении 1 часа» (REG 3537), from the receipt of the signed request.
    let deadline: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["deadline"].clone()).expect("a deadline once signed");
    let signed_at = chrono::Utc::now();
    assert!(
        (deadline - signed_at - chrono::Duration::hours(1))
            .num_seconds()
            .abs()
            < 30,
        "{deadline} is an hour after the signature"
    );
    assert!(
        waited < Duration::from_secs(20),
        "woken by the change, not the timeout: {waited:?}"
    );

    // A long poll with nothing changing answers 304 when its time is up.
    let (_, now) = portal.get(&path, &alice).await;
    assert_eq!(now["version"], 2);
    let current = portal
        .http
        .get(portal.url(&path))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("get");
    let etag = etag_of(&current);
    let started = Instant::now();
    let held = portal
        .http
        .get(portal.url(&format!("{path}?wait=1")))
        .bearer_auth(&alice)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(held.status(), 304);
    assert!(started.elapsed() >= Duration::from_millis(900));

    // The same signature again is a retry; the request is no longer waiting for another one.
    let again = portal
        .http
        .post(portal.url(&format!("{path}/signature")))
        .bearer_auth(&alice)
        .json(&json!({"cms": b64(&cms_signature(&document, ALICE))}))
        .send()
        .await
        .expect("sign");
    assert_problem(again, 409, "not-awaiting-signature").await;

    // History: newest first, paged by cursor.
    let second = portal.submit(ALICE).await;
    let (code, page) = portal.get("/api/v1/requests?limit=1", &alice).await;
    assert_eq!(code, 200);
    // The newest may still be on its way into the view; the page is newest first either way.
    let first_page = page["items"].as_array().expect("items");
    assert_eq!(first_page.len(), 1);
    if first_page[0]["number"] == second["number"] {
        let next = page["next"].as_str().expect("a next page");
        let (_, page2) = portal
            .get(&format!("/api/v1/requests?limit=1&after={next}"), &alice)
            .await;
        assert_eq!(page2["items"][0]["number"], number.as_str());
        assert!(page2["next"].is_null());
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_same_request() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let send = |body: Value| {
        portal
            .http
            .post(portal.url("/api/v1/requests"))
            .bearer_auth(&alice)
            .header("idempotency-key", "0f4e-retry")
            .json(&body)
            .send()
    };
    let body = json!({"service": "pension-fund-statement", "iin": ALICE, "form": {}});
    let first = send(body.clone()).await.expect("first");
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first: Value = first.json().await.expect("json");
    let retry = send(body).await.expect("retry");
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.expect("json");
    assert_eq!(first, retry, "the retry answers exactly as the first time");
    let other = send(json!({"service": "sik-assignment", "iin": ALICE}))
        .await
        .expect("other");
    let problem = assert_problem(other, 422, "idempotency-key-reused").await;
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains(first["number"].as_str().expect("number")));
    let stored: i64 = portal
        .db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn another_citizens_request_answers_exactly_like_an_unknown_one() {
    let portal = Portal::start().await;
    let created = portal.submit(ALICE).await;
    let number = created["number"].as_str().expect("number");
    let alice = portal.keys.citizen(ALICE);
    let bob = portal.keys.citizen(BOB);
    let (code, _) = portal
        .get(&format!("/api/v1/requests/{number}?min_version=1"), &alice)
        .await;
    assert_eq!(code, 200);

    let foreign = portal
        .http
        .get(portal.url(&format!("/api/v1/requests/{number}")))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("get");
    let foreign = assert_problem(foreign, 404, "request-not-found").await;
    let unknown = portal
        .http
        .get(portal.url("/api/v1/requests/20200101999999"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("get");
    let unknown = assert_problem(unknown, 404, "request-not-found").await;
    assert_eq!(
        foreign, unknown,
        "nothing tells a foreign request from an unknown one"
    );
    let sign = portal
        .http
        .post(portal.url(&format!("/api/v1/requests/{number}/signature")))
        .bearer_auth(&bob)
        .json(&json!({"cms": b64(&cms_signature(b"x", BOB))}))
        .send()
        .await
        .expect("sign");
    assert_problem(sign, 404, "request-not-found").await;
    let (_, history) = portal.get("/api/v1/requests", &bob).await;
    assert_eq!(history["items"], json!([]));
    // Filing for someone else's IIN is refused.
    let for_alice = portal
        .http
        .post(portal.url("/api/v1/requests"))
        .bearer_auth(&bob)
        .json(&json!({"service": "pension-fund-statement", "iin": ALICE}))
        .send()
        .await
        .expect("post");
    assert_problem(for_alice, 403, "foreign-iin").await;

    // Staff roles: an operator of a centre reads any request, saying why; an analyst none; and
    // neither files for citizens.
    let mut claims = Keys::claims("operator", "op-17");
    claims["org"] = json!("ЦОН-1");
    let operator = portal.keys.es256(&claims);
    let answer = portal
        .http
        .get(portal.url(&format!("/api/v1/requests/{number}")))
        .bearer_auth(&operator)
        .header("X-Purpose", "консультация")
        .send()
        .await
        .expect("get");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["iin"], ALICE);
    let analyst = portal.keys.rs256(&Keys::claims("analyst", "an-1"));
    let denied = portal
        .http
        .get(portal.url(&format!("/api/v1/requests/{number}")))
        .bearer_auth(&analyst)
        .send()
        .await
        .expect("get");
    assert_problem(denied, 403, "forbidden").await;
    let filed = portal
        .http
        .post(portal.url("/api/v1/requests"))
        .bearer_auth(&operator)
        .json(&json!({"service": "pension-fund-statement", "iin": ALICE}))
        .send()
        .await
        .expect("post");
    assert_problem(filed, 403, "forbidden").await;
}

#[tokio::test]
async fn tokens_are_checked_for_signature_algorithm_time_issuer_and_audience() {
    let portal = Portal::start().await;
    let path = "/api/v1/requests";
    let try_token = |token: Option<String>| {
        let mut request = portal.http.get(portal.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // Both configured keys work: EC from PEM, RSA from the JWKS.
    assert_eq!(
        try_token(Some(portal.keys.citizen(ALICE)))
            .await
            .expect("es256")
            .status(),
        200
    );
    assert_eq!(
        try_token(Some(portal.keys.rs256(&Keys::claims("citizen", ALICE))))
            .await
            .expect("rs256")
            .status(),
        200
    );

    let missing = try_token(None).await.expect("none");
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_problem(missing, 401, "token-missing").await;
    assert_problem(
        try_token(Some("not.a.jwt".into())).await.expect("garbage"),
        401,
        "token-malformed",
    )
    .await;

    let now = chrono::Utc::now().timestamp();
    // Each claim that is wrong in its own way, with the code it answers.
    for (claim, value, code) in [
        ("exp", json!(now - 3600), "token-expired"),
        ("nbf", json!(now + 3600), "token-not-yet-valid"),
        ("aud", json!("another-system"), "token-audience"),
        ("iss", json!("someone-else"), "token-audience"),
        ("sub", json!("900101300008"), "token-subject"),
    ] {
        let mut claims = Keys::claims("citizen", ALICE);
        claims[claim] = value;
        let answer = try_token(Some(portal.keys.es256(&claims)))
            .await
            .expect(claim);
        assert_problem(answer, 401, code).await;
    }

    // alg: none, unsigned.
    let b64url = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64url(&json!({"alg": "none", "typ": "JWT"})),
        b64url(&Keys::claims("citizen", ALICE))
    );
    assert_problem(
        try_token(Some(unsigned)).await.expect("none"),
        401,
        "token-malformed",
    )
    .await;
    // HS256 with the public key as the HMAC secret (the RS/HS confusion attack).
    let public_pem = portal.keys.rsa.public_key_to_pem().expect("pem");
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Keys::claims("citizen", ALICE),
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .expect("hs256");
    assert_problem(
        try_token(Some(confused)).await.expect("hs"),
        401,
        "token-algorithm",
    )
    .await;
    // A key the server does not know.
    let stranger = Keys::new();
    assert_problem(
        try_token(Some(stranger.citizen(ALICE)))
            .await
            .expect("stranger"),
        401,
        "token-signature",
    )
    .await;
}

#[tokio::test]
async fn client_mistakes_get_problem_answers_and_never_a_500() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let post = |body: &str, content_type: &str| {
        portal
            .http
            .post(portal.url("/api/v1/requests"))
            .bearer_auth(&alice)
            .header("content-type", content_type.to_owned())
            .body(body.to_owned())
            .send()
    };
    assert_problem(
        post("{\"service\":", "application/json")
            .await
            .expect("post"),
        400,
        "malformed-json",
    )
    .await;
    assert_problem(
        post("{\"iin\":\"900101300007\"}", "application/json")
            .await
            .expect("post"),
        400,
        "malformed-json",
    )
    .await;
    assert_problem(
        post("{}", "text/plain").await.expect("post"),
        415,
        "unsupported-media-type",
    )
    .await;
    let huge = format!("{{\"service\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_problem(
        post(&huge, "application/json").await.expect("post"),
        413,
        "payload-too-large",
    )
    .await;
    let unknown = post(
        r#"{"service":"free-money","iin":"900101300007"}"#,
        "application/json",
    )
    .await
    .expect("post");
    assert_eq!(
        assert_problem(unknown, 422, "unknown-service").await["field"],
        "service"
    );
    // Each IIN rule has its own code.
    for (iin, code) in [
        ("90010130000", "iin-length"),
        ("90010130000X", "iin-not-digits"),
        ("900101300008", "iin-check-digit"),
    ] {
        let body = json!({"service": "pension-fund-statement", "iin": iin}).to_string();
        let problem = assert_problem(
            post(&body, "application/json").await.expect("post"),
            422,
            code,
        )
        .await;
        assert_eq!(problem["field"], "iin");
    }
    let bad_form = json!({"service": "pension-fund-statement", "iin": ALICE, "form": {"period_start": "2020-13-01", "period_end": "2020-12-31"}}).to_string();
    let problem = assert_problem(
        post(&bad_form, "application/json").await.expect("post"),
        422,
        "invalid-form",
    )
    .await;
    assert_eq!(problem["field"], "form.period_start");
    let half = json!({"service": "pension-fund-statement", "iin": ALICE, "form": {"period_start": "2020-01-01"}}).to_string();
    assert_problem(
        post(&half, "application/json").await.expect("post"),
        422,
        "invalid-form",
    )
    .await;

    let created = portal.submit(ALICE).await;
    let number = created["number"].as_str().expect("number");
    let sign = |body: Value| {
        portal
            .http
            .post(portal.url(&format!("/api/v1/requests/{number}/signature")))
            .bearer_auth(&alice)
            .json(&body)
            .send()
    };
    assert_problem(
        sign(json!({"cms": "%%%"})).await.expect("sign"),
        400,
        "invalid-signature-encoding",
    )
    .await;
    assert_problem(
        sign(json!({"cms": b64(b"hello")})).await.expect("sign"),
        400,
        "invalid-signature-encoding",
    )
    .await;
    assert_problem(
        sign(json!({"signature": "x"})).await.expect("sign"),
        400,
        "malformed-json",
    )
    .await;

    let get = |path: String| {
        portal
            .http
            .get(portal.url(&path))
            .bearer_auth(&alice)
            .send()
    };
    assert_problem(
        get(format!("/api/v1/requests/{number}?wait=31"))
            .await
            .expect("get"),
        400,
        "invalid-parameter",
    )
    .await;
    assert_problem(
        get(format!("/api/v1/requests/{number}?wait=soon"))
            .await
            .expect("get"),
        400,
        "invalid-parameter",
    )
    .await;
    assert_problem(
        get("/api/v1/requests?limit=0".into()).await.expect("get"),
        400,
        "invalid-parameter",
    )
    .await;
    assert_problem(
        get("/api/v1/requests?after=garbage".into())
            .await
            .expect("get"),
        400,
        "invalid-parameter",
    )
    .await;
    assert_problem(
        get("/api/v1/requests/not-a-number".into())
            .await
            .expect("get"),
        404,
        "request-not-found",
    )
    .await;
    assert_problem(
        get("/api/v1/nothing-here".into()).await.expect("get"),
        404,
        "not-found",
    )
    .await;
    let delete = portal
        .http
        .delete(portal.url(&format!("/api/v1/requests/{number}")))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("delete");
    assert_problem(delete, 405, "method-not-allowed").await;

    // Nothing above was a server error.
    let metrics = portal
        .http
        .get(portal.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("egov_http_requests_total") && l.contains("status=\"5")),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "egov_http_requests_total{method=\"POST\",route=\"/api/v1/requests\",status=\"422\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("egov_projector_lag_seconds{projector=\"request_status\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("egov_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rebuild_while_clients_read_never_shows_them_a_missing_or_older_request() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let mut numbers = Vec::new();
    for _ in 0..60 {
        numbers.push(
            portal.submit(ALICE).await["number"]
                .as_str()
                .expect("number")
                .to_owned(),
        );
    }
    for number in &numbers {
        let (code, _) = portal
            .get(&format!("/api/v1/requests/{number}?min_version=1"), &alice)
            .await;
        assert_eq!(code, 200);
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut readers = Vec::new();
    for r in 0..4 {
        let (http, base, token, numbers, stop, done) = (
            portal.http.clone(),
            portal.served.base.clone(),
            alice.clone(),
            numbers.clone(),
            stop.clone(),
            done.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            let mut i = r;
            while !stop.is_cancelled() {
                let number = &numbers[i % numbers.len()];
                let answer = http
                    .get(format!("{base}/api/v1/requests/{number}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("read");
                assert_eq!(answer.status(), 200, "{number} during the rebuild");
                let body: Value = answer.json().await.expect("json");
                assert_eq!(body["version"], 1);
                reads += 1;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                i += 5;
            }
            reads
        }));
    }
    let reading = || async { done.load(std::sync::atomic::Ordering::SeqCst) >= 8 };
    eventually("the readers read", Duration::from_secs(30), reading).await;
    let output = egov()
        .args(["projections", "rebuild", "request_status"])
        .envs(portal.db.service_env().await)
        .output()
        .expect("run egov projections rebuild");
    assert!(
        output.status.success(),
        "rebuild failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(
        output
            .stdout
            .rsplit(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .expect("a JSON line"),
    )
    .expect("json");
    assert_eq!(report["events"], 60);
    let swapped = done.load(std::sync::atomic::Ordering::SeqCst);
    let after_swap = || async { done.load(std::sync::atomic::Ordering::SeqCst) >= swapped + 8 };
    eventually(
        "the readers read the swapped table",
        Duration::from_secs(30),
        after_swap,
    )
    .await;
    stop.cancel();
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("reader");
    }
    assert!(reads > 20, "readers kept reading: {reads}");
    // The live projector carries on after the swap.
    let later = portal.submit(ALICE).await;
    let (code, _) = portal
        .get(
            &format!(
                "/api/v1/requests/{}?min_version=1",
                later["number"].as_str().expect("number")
            ),
            &alice,
        )
        .await;
    assert_eq!(code, 200);
    let unknown = egov()
        .args(["projections", "rebuild", "nonsense"])
        .envs(portal.db.service_env().await)
        .output()
        .expect("run");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("request_status"));
}

#[tokio::test]
async fn development_mode_trusts_tokens_from_egov_token() {
    let db = testkit::TestDb::empty().await;
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("pg");
    let data_dir = data_dir.to_str().expect("utf-8");
    let url = db.url();
    let mut served = crate::support::process::Served::start(&[
        ("DATABASE_URL", &url),
        ("EGOV_MODE", "development"),
        ("EGOV_DATA_DIR", data_dir),
    ]);
    served.wait_ready(Duration::from_secs(60)).await;
    let token = egov()
        .args(["token", "--role", "citizen", "--sub", ALICE, "--ttl", "10m"])
        .env("EGOV_DATA_DIR", data_dir)
        .output()
        .expect("egov token");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{}/api/v1/requests", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(answer.status(), 200);
    assert!(
        dir.path().join("dev-jwt-es256.pem").exists(),
        "the key is kept beside the data directory"
    );
    let bad = egov()
        .args([
            "token", "--role", "citizen", "--sub", ALICE, "--ttl", "forever",
        ])
        .env("EGOV_DATA_DIR", data_dir)
        .output()
        .expect("egov token");
    assert!(!bad.status.success());
}

/// The attack suite's contract run: Schemathesis over the whole OpenAPI document with a valid
/// token of every role (staff with a purpose, as their reads need), positive and negative cases:
/// no 5xx, no status, content type or body the document does not allow. At least 10,000
/// generated requests in all (`EGOV_SCHEMATHESIS_MAX_EXAMPLES` per operation and role).
#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_that_contradicts_the_document() {
    let portal = Portal::start().await;
    portal.submit(ALICE).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/schemathesis.sh");
    let staff = |role: &str, sub: &str, org: &str| {
        let mut claims = Keys::claims(role, sub);
        claims["org"] = serde_json::json!(org);
        portal.keys.es256(&claims)
    };
    let roles = [
        ("citizen", portal.keys.citizen(ALICE)),
        ("another citizen", portal.keys.citizen(BOB)),
        ("medical", portal.keys.medical("850715400109", "clinic-1")),
        (
            "operator",
            staff("operator", "850715400109", "TsON-Almaty-3"),
        ),
        (
            "auditor",
            portal.keys.es256(&Keys::claims("auditor", "auditor-7")),
        ),
        (
            "analyst",
            portal.keys.es256(&Keys::claims("analyst", "analyst-1")),
        ),
    ];
    let examples = std::env::var("EGOV_SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "70".into());
    let filed = portal.submit(ALICE).await;
    let number = filed["number"].as_str().expect("number").to_owned();
    let cassettes = tempfile::tempdir().expect("cassettes");
    let mut generated = 0u64;
    for (role, token) in roles {
        let cassette = cassettes.path().join(role.replace(' ', "-"));
        let output = tokio::process::Command::new("bash")
            .arg(script)
            .arg(portal.url("/api/v1/openapi.json"))
            .arg(&portal.served.base)
            .args(["--header", "X-Purpose: contract test of the attack suite"])
            .args(["--report", "vcr", "--report-dir"])
            .arg(&cassette)
            .env("EGOV_SCHEMATHESIS_TOKEN", token)
            .env("EGOV_SCHEMATHESIS_MAX_EXAMPLES", &examples)
            .output()
            .await
            .expect("run schemathesis");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis as {role} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cases = test_cases(&stdout);
        eprintln!("schemathesis as {role}: {cases} test cases, no failure");
        // Staff may read Alice's request (recorded, with a purpose); nobody else sees her data.
        let seen = answers_naming(&cassette, &[ALICE, &number]);
        if ["another citizen", "medical", "analyst"].contains(&role) {
            assert!(seen.is_empty(), "{role} was shown Alice's data: {seen:?}");
        } else if role == "citizen" {
            // The control: Alice's own answers name her, so the search does find what is there.
            assert!(!seen.is_empty(), "the cassette search finds nothing");
        }
        generated += cases;
    }
    eprintln!("schemathesis: {generated} test cases over every role, no failure");
    if examples == "70" {
        assert!(generated >= 10_000, "only {generated} test cases");
    }
}

/// The interactions of the Schemathesis cassettes under `dir` whose answers name any of `secrets`
/// (bodies as text or base64, as the cassette keeps them).
fn answers_naming(dir: &std::path::Path, secrets: &[&str]) -> Vec<String> {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("the cassette directory")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("a cassette");
        let mut in_response = false;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("request:") {
                in_response = false;
            } else if trimmed.starts_with("response:") {
                in_response = true;
            }
            if !in_response {
                continue;
            }
            let decoded = trimmed
                .split_once("base64_string: ")
                .and_then(|(_, b64)| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.trim().trim_matches('\''))
                        .ok()
                })
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            if secrets
                .iter()
                .any(|secret| trimmed.contains(secret) || decoded.contains(secret))
            {
                seen.push(trimmed.chars().take(200).collect());
            }
        }
    }
    seen
}

/// The number of test cases a Schemathesis run reports (a line "Test cases:", then "N generated,
/// N passed").
fn test_cases(stdout: &str) -> u64 {
    let mut lines = stdout
        .lines()
        .skip_while(|l| l.trim() != "Test cases:")
        .skip(1);
    lines
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_long_poll_in_flight_is_answered_when_the_server_stops_and_the_projector_stops_at_a_checkpoint(
) {
    let mut portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let created = portal.submit(ALICE).await;
    let path = format!(
        "/api/v1/requests/{}",
        created["number"].as_str().expect("number")
    );
    let current = portal
        .http
        .get(portal.url(&format!("{path}?min_version=1")))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("get");
    let etag = etag_of(&current);
    let poll = {
        let (http, url, alice) = (
            portal.http.clone(),
            portal.url(&format!("{path}?wait=30")),
            alice.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = http
                .get(url)
                .bearer_auth(alice)
                .header("if-none-match", etag)
                .send()
                .await;
            (answer.map(|a| a.status().as_u16()), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = portal.served.child.id();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let (answer, waited) = poll.await.expect("poll task");
    assert_eq!(answer.expect("the poll is answered, not cut off"), 304);
    assert!(
        waited < Duration::from_secs(10),
        "answered when the server stopped: {waited:?}"
    );
    assert!(portal.served.terminate(), "egov exits cleanly");
    // The projector stopped at its checkpoint: it stands at the one event written.
    let checkpoint: i64 = portal
        .db
        .superuser()
        .await
        .query_one(
            "SELECT events_applied FROM projections.checkpoints WHERE name = 'request_status'",
            &[],
        )
        .await
        .expect("checkpoint")
        .get(0);
    assert_eq!(checkpoint, 1);
}

/// Ends a request the way the workflow will: the signature check rejects the certificate, which
/// refuses the request (appended here through the domain and the event store).
async fn refuse_by_signature_check(portal: &Portal, number: &str) {
    use domain::request::{decide, Command, SignatureCheck, SignatureRejection};
    let store = event_store::EventStore::new(portal.db.database());
    let requests = commands::Requests::new(store.clone());
    let number = domain::RequestNumber::parse(number).expect("number");
    let stream = requests.find(&number).await.expect("find").expect("filed");
    let loaded = requests.load(stream).await.expect("load");
    let events = decide(
        &loaded.state,
        Command::RecordSignatureCheck(SignatureCheck::Rejected {
            reason: SignatureRejection::Expired,
            certificate: None,
        }),
        chrono::Utc::now(),
    )
    .expect("the check is recorded");
    let new_events: Vec<event_store::NewEvent> = events
        .iter()
        .map(|e| {
            event_store::NewEvent::new(
                uuid::Uuid::now_v7(),
                e.event_type(),
                e.schema_version(),
                e.payload(),
            )
            .expect("event")
        })
        .collect();
    let metadata = domain::EventMetadata {
        actor: domain::Actor::system("workflow-test").expect("actor"),
        channel: domain::Channel::System,
        correlation_id: stream.as_uuid(),
        causation_id: None,
    };
    store
        .append(stream, loaded.version, &new_events, &metadata)
        .await
        .expect("append");
}

#[tokio::test]
async fn the_survey_is_answered_once_by_the_applicant_after_the_request_ended() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let created = portal.submit(ALICE).await;
    let number = created["number"].as_str().expect("number").to_owned();
    let survey = |token: &str, body: Value| {
        portal
            .http
            .post(portal.url(&format!("/api/v1/requests/{number}/survey")))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    let answers = json!({"quality": "satisfied", "information": "partially-satisfied"});
    assert_problem(
        survey(&alice, answers.clone()).await.expect("post"),
        409,
        "survey-before-end",
    )
    .await;

    let document = base64::engine::general_purpose::STANDARD
        .decode(created["document_to_sign"].as_str().expect("doc"))
        .expect("b64");
    let signed = portal
        .http
        .post(portal.url(&format!("/api/v1/requests/{number}/signature")))
        .bearer_auth(&alice)
        .json(&json!({"cms": b64(&cms_signature(&document, ALICE))}))
        .send()
        .await
        .expect("sign");
    assert_eq!(signed.status(), 202);
    refuse_by_signature_check(&portal, &number).await;

    // The status view shows the refusal with its reason in three languages.
    let (code, status) = portal
        .get(&format!("/api/v1/requests/{number}?min_version=4"), &alice)
        .await;
    assert_eq!(code, 200);
    assert_eq!(status["status"]["code"], "refused");
    assert_eq!(status["version"], 4);
    assert!(status["refusal"]["code"].is_string(), "{status}");
    assert!(status["refusal"]["text"]["kk"].is_string(), "{status}");

    let bob = portal.keys.citizen(BOB);
    assert_problem(
        survey(&bob, answers.clone()).await.expect("post"),
        404,
        "request-not-found",
    )
    .await;
    assert_problem(
        survey(
            &alice,
            json!({"quality": "great", "information": "satisfied"}),
        )
        .await
        .expect("post"),
        400,
        "malformed-json",
    )
    .await;
    let first = survey(&alice, answers.clone()).await.expect("post");
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let again = survey(&alice, answers.clone()).await.expect("post");
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let other = json!({"quality": "not-satisfied", "information": "not-satisfied"});
    assert_problem(
        survey(&alice, other).await.expect("post"),
        409,
        "survey-already-submitted",
    )
    .await;
    let stored: i64 = portal
        .db
        .superuser()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'SurveySubmitted'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_result_document_is_not_served_when_its_result_is_not_recorded_yet() {
    let portal = Portal::start().await;
    let alice = portal.keys.citizen(ALICE);
    let created = portal.submit(ALICE).await;
    let number = created["number"].as_str().expect("number").to_owned();
    // The workflow stores the signed document, then appends `ResultIssued`; between the two (or
    // after a crash there) the document is not issued.
    let store = event_store::EventStore::new(portal.db.database());
    let requests = commands::Requests::new(store.clone());
    let stream = requests
        .find(&domain::RequestNumber::parse(&number).expect("number"))
        .await
        .expect("find")
        .expect("filed");
    commands::results::ResultDocuments::new(portal.db.database())
        .store(
            stream,
            &number,
            br#"{"document":"not yet issued"}"#,
            b"signature",
        )
        .await
        .expect("stored");
    // Once the status view has the request (the answer is read from it).
    let (code, _) = portal
        .get(&format!("/api/v1/requests/{number}?min_version=1"), &alice)
        .await;
    assert_eq!(code, 200);
    let answer = portal
        .http
        .get(portal.url(&format!("/api/v1/requests/{number}/result")))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("result");
    assert_problem(answer, 409, "result-not-ready").await;
}
