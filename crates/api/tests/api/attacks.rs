//! Attacks from outside over HTTP, one test per finding of the hostile review (issue 23), each
//! named for the attack and asserting that it is refused.

use api::token::Role;
use base64::Engine as _;
use serde_json::json;

use crate::centre;
use crate::helpers::{spawn_app, TestApp, ALICE, BOB};

/// A third person, by a valid IIN.
const CAROL: &str = "760324400005";

/// Finding 1: made-up HTTP methods became metric labels that were never freed.
#[tokio::test]
async fn made_up_http_methods_are_counted_as_other_and_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    let metrics = || async {
        reqwest::get(format!("{}/metrics", app.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let flood = |from: usize| {
        let app = &app;
        async move {
            for i in from..from + 200 {
                let method =
                    reqwest::Method::from_bytes(format!("JUNK{i}").as_bytes()).expect("method");
                for path in ["/api/v1/requests", "/healthz"] {
                    let answer = app
                        .http
                        .request(method.clone(), format!("{}{path}", app.base))
                        .send()
                        .await
                        .expect("send");
                    assert!(answer.status().is_client_error(), "{}", answer.status());
                }
            }
        }
    };
    flood(0).await;
    // Once so that the metrics route's own series exist, then the figure to compare with.
    metrics().await;
    let before = metrics().await;
    flood(200).await;
    let after = metrics().await;
    assert!(!after.contains("JUNK"), "a made-up method became a label");
    assert!(after.contains("method=\"OTHER\""), "{after}");
    // Only counters moved: 200 more made-up methods added no series.
    let lines = |text: &str| text.lines().count();
    assert_eq!(lines(&after), lines(&before), "{before}\n---\n{after}");
}

/// Finding 1: junk bearer tokens of 16-128 KiB were remembered whole, one per token.
#[tokio::test]
async fn oversized_junk_bearer_tokens_are_refused_unread() {
    let app = spawn_app().await;
    for (i, size) in [16 * 1024, 64 * 1024, 100 * 1024].into_iter().enumerate() {
        let junk = format!("{i}{}", "J".repeat(size));
        let (status, body) = app.get("/api/v1/requests/x", &junk).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token-too-long"))
        );
    }
    // A good token still passes.
    let (status, _) = app.get("/api/v1/me/data-access", &app.citizen(ALICE)).await;
    assert_eq!(status, 200);
}

/// Finding 6: a citizen filed `social-status-check` with another person's IIN as `patient_iin`
/// and got that person's health-insurance status.
#[tokio::test]
async fn a_citizen_cannot_file_a_social_status_check_on_anyone() {
    let app = spawn_app().await;
    for patient in [BOB, ALICE] {
        let form = json!({"patient_iin": patient});
        let (status, body) = app.submit("social-status-check", ALICE, form).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    // Nor does a medical user file it in someone else's name.
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let body =
        json!({"service": "social-status-check", "iin": CAROL, "form": {"patient_iin": BOB}});
    let (status, _) = app.post("/api/v1/requests", &medical, &body).await;
    assert_eq!(status, 403);
}

/// Finding 6: the subject of a request (the patient) could sign the applicant's request; and
/// the check must show in the patient's list of who looked at their data.
#[tokio::test]
async fn the_patient_cannot_sign_the_medical_users_check_and_sees_it_in_their_data_access() {
    let app = spawn_app().await;
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let (status, created) = alices_check_on_bob(&app, &medical).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_owned();
    let cms = testkit::pki::self_signed_cms(b"the document", BOB);
    let (status, body) = app.sign(&number, BOB, &cms).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found"))
    );
    // The medical user sees the check they filed; another medical user does not. Both read
    // their write (`min_version`): the status view may not have the request yet.
    let path = format!("/api/v1/requests/{number}?min_version=1");
    let (status, _) = app.get(&path, &medical).await;
    assert_eq!(status, 200);
    let other = app.token(Role::Medical, CAROL, Some("clinic-7"));
    let (status, _) = app.get(&path, &other).await;
    assert_eq!(status, 404);
    // The patient's list names the check, who filed it and from where.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, page) = app.get("/api/v1/me/data-access", &app.citizen(BOB)).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let what = format!("social-status-check:{number}");
        if let Some(item) = items.iter().find(|item| item["what"] == what.as_str()) {
            assert_eq!(
                (item["role"].as_str(), item["reader"].as_str()),
                (Some("medical"), Some(ALICE))
            );
            assert_eq!(item["organisation"], "clinic-7");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the check never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Finding 4: an operator of another centre added a scan to a request filed elsewhere (201) and
/// could sign it.
#[tokio::test]
async fn an_operator_of_another_centre_cannot_scan_or_sign_a_request_filed_elsewhere() {
    let app = spawn_app().await;
    let ours = app.token(Role::Operator, centre::OPERATOR, Some("TsON-1"));
    centre::known_to_gbd_fl(&app);
    let filed = centre::file(&app, &ours).await;
    assert_eq!(filed["stage"], "awaiting-scans", "{filed}");
    let number = filed["number"].as_str().expect("number").to_owned();
    let theirs = app.token(Role::Operator, CAROL, Some("TsON-2"));
    let (status, body) = centre::put(&app, &theirs, &number, "application", centre::png()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found"))
    );
    assert!(app.scans.is_empty(), "nothing of theirs was kept");
    let nowhere = app.token(Role::Operator, CAROL, None);
    let (status, body) = centre::put(&app, &nowhere, &number, "application", centre::png()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("operator-unidentified"))
    );
    // Our own scan is taken; their signature over it is not.
    let (status, _) = centre::put(&app, &ours, &number, "application", centre::png()).await;
    assert_eq!(status, 201);
    let cms = testkit::pki::self_signed_cms(b"the document", CAROL);
    let path = format!("/api/v1/centre/requests/{number}/signature");
    let body = json!({"cms": base64::engine::general_purpose::STANDARD.encode(&cms)});
    let (status, answer) = app.post(&path, &theirs, &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("request-not-found"))
    );
    // Nor does a centre's operator scan a portal request.
    let (_, portal) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    let portal = portal["number"].as_str().expect("number");
    let (status, _) = centre::put(&app, &ours, portal, "application", centre::png()).await;
    assert_eq!(status, 404);
}

/// Finding 4: an operator token naming no centre read a citizen's request (200), without saying
/// why.
#[tokio::test]
async fn an_operator_reads_a_request_only_from_a_centre_with_a_purpose_and_the_read_is_recorded() {
    let app = spawn_app().await;
    let (_, created) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    let number = created["number"].as_str().expect("number").to_owned();
    // Read your write: held until the status view has the request.
    let path = format!("/api/v1/requests/{number}?min_version=1");
    let read = |token: String, purpose: Option<&'static str>| {
        let app = &app;
        let path = path.clone();
        async move {
            let mut request = app
                .http
                .get(format!("{}{path}", app.base))
                .bearer_auth(token);
            if let Some(purpose) = purpose {
                request = request.header("X-Purpose", purpose);
            }
            TestApp::answer(request.send().await.expect("GET")).await
        }
    };
    let nowhere = app.token(Role::Operator, CAROL, None);
    let (status, body) = read(nowhere, Some("консультация")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("operator-unidentified"))
    );
    let operator = app.token(Role::Operator, CAROL, Some("TsON-1"));
    let (status, body) = read(operator.clone(), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("purpose-required"))
    );
    let (status, body) = read(operator, Some("консультация заявителя")).await;
    assert_eq!((status, body["iin"].as_str()), (200, Some(ALICE)));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, page) = app.get("/api/v1/me/data-access", &app.citizen(ALICE)).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let what = format!("request:{number}");
        if let Some(item) = items.iter().find(|item| item["what"] == what.as_str()) {
            assert_eq!(item["organisation"], "TsON-1");
            assert_eq!(item["purpose"], "консультация заявителя");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the read was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Finding 15: one request took any number of distinct 10 MiB scans.
#[tokio::test]
async fn a_request_takes_a_bounded_number_of_scans_and_keeps_none_past_it() {
    let app = spawn_app().await;
    let operator = app.token(Role::Operator, centre::OPERATOR, Some("TsON-1"));
    centre::known_to_gbd_fl(&app);
    let filed = centre::file(&app, &operator).await;
    let number = filed["number"].as_str().expect("number").to_owned();
    let page = |i: usize| {
        let mut bytes = centre::png();
        bytes.extend_from_slice(format!("page {i}").as_bytes());
        bytes
    };
    for i in 0..domain::scans::MAX_SCANS_PER_REQUEST {
        let (status, body) = centre::put(&app, &operator, &number, "application", page(i)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = centre::put(&app, &operator, &number, "application", page(999)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("too-many-scans")),
        "{body}"
    );
    assert_eq!(app.scans.len(), domain::scans::MAX_SCANS_PER_REQUEST);
}

/// The reads of citizens' data on record now, straight from the log's table.
async fn reads_on_record(app: &TestApp) -> Vec<domain::data_access::DataRead> {
    let client = app.db().superuser().await;
    let rows = client
        .query(
            "SELECT schema_version, payload FROM events WHERE event_type = 'DataAccessed'",
            &[],
        )
        .await
        .expect("events");
    rows.iter()
        .flat_map(|row| {
            let version = u32::try_from(row.get::<_, i32>(0)).expect("version");
            domain::data_access::DataAccessed::from_payload(version, row.get(1))
                .expect("decodes")
                .reads
        })
        .collect()
}

/// Files a social-status check of Bob's, as Alice, a clinic's user, with `token`: the answer.
async fn alices_check_on_bob(app: &TestApp, token: &str) -> (u16, serde_json::Value) {
    let check =
        json!({"service": "social-status-check", "iin": ALICE, "form": {"patient_iin": BOB}});
    app.post("/api/v1/requests", token, &check).await
}

/// Asserts that `token` reads neither the status (once the view has it), the result nor the
/// receipt of the request `created` answered: 404, as for an unknown number.
async fn unseen_by(app: &TestApp, created: &serde_json::Value, token: &str) {
    let number = created["number"].as_str().expect("number");
    for path in [
        format!(
            "/api/v1/requests/{number}?min_version={}",
            created["version"]
        ),
        format!("/api/v1/requests/{number}/result"),
        format!("/api/v1/requests/{number}/receipt"),
    ] {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("request-not-found")),
            "{path}: {body}"
        );
    }
}

/// A request of Alice's, in the status view.
async fn alices_request(app: &TestApp) -> String {
    let (_, created) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    let number = created["number"].as_str().expect("number").to_owned();
    let path = format!("/api/v1/requests/{number}?min_version=1");
    assert_eq!(app.get(&path, &app.citizen(ALICE)).await.0, 200);
    number
}

/// Finding 2: long, distinct `X-Purpose` values pushed a `DataAccessed` event past the store's
/// limit and the whole batch, other readers' reads too, was dropped with one log line.
#[tokio::test]
async fn long_distinct_purposes_lose_no_ones_reads() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}");
    let greedy = app.token(Role::Operator, "op-greedy", Some("TsON-1"));
    let plain = app.token(Role::Operator, "op-plain", Some("TsON-2"));
    let mut reads = tokio::task::JoinSet::new();
    for n in 0..300 {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}{path}", app.base),
            greedy.clone(),
        );
        reads.spawn(async move {
            let purpose = format!("{n}{}", "\"".repeat(490));
            let answer = http
                .get(url)
                .bearer_auth(token)
                .header("X-Purpose", purpose);
            answer.send().await.expect("GET").status().as_u16()
        });
    }
    let answer = app
        .get_with(&path, &plain, &[("X-Purpose", "консультация")])
        .await;
    assert_eq!(answer.status(), 200);
    while let Some(status) = reads.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
    // Answered means on record: no waiting.
    let on_record = reads_on_record(&app).await;
    let by = |reader: &str| on_record.iter().filter(|r| r.reader == reader).count();
    assert_eq!((by("op-greedy"), by("op-plain")), (300, 1));
}

/// Finding 2: with the database away the read was served from the cache and its record, queued,
/// was lost; now it is refused.
#[tokio::test]
async fn with_the_database_away_an_operator_read_is_refused_not_served_unaudited() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}");
    let operator = app.token(Role::Operator, "op-1", Some("TsON-1"));
    let purpose = [("X-Purpose", "консультация")];
    assert_eq!(app.get_with(&path, &operator, &purpose).await.status(), 200);
    let before = reads_on_record(&app).await.len();
    let admin = testkit::connect(&testkit::admin_config()).await;
    let name = app.db().name().to_owned();
    let away = |allow: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}");
    admin.batch_execute(&away(false)).await.expect("close");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("end sessions");
    let answer = app.get_with(&path, &operator, &purpose).await;
    let status = answer.status().as_u16();
    let retry = answer.headers().get("retry-after").is_some();
    admin.batch_execute(&away(true)).await.expect("reopen");
    assert_eq!((status, retry), (503, true));
    assert_eq!(
        reads_on_record(&app).await.len(),
        before,
        "nothing was served unrecorded"
    );
    // Back, it answers and records again.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.get_with(&path, &operator, &purpose).await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reads_on_record(&app).await.len() > before);
}

/// Finding 2: a NUL in `sub` or `org` made the batch's event unstorable and 500 reads were
/// dropped with no log line; such a token is refused at the edge now.
#[tokio::test]
async fn a_control_character_in_a_tokens_subject_or_organisation_is_refused_at_the_edge() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}");
    for (sub, org) in [("op\u{0}1", "TsON-1"), ("op-1", "TsON\u{1}")] {
        let token = app.token(Role::Operator, sub, Some(org));
        let answer = app.get_with(&path, &token, &[("X-Purpose", "x")]).await;
        let (status, body) = TestApp::answer(answer).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token-subject"))
        );
    }
}

/// A metric's value from `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Finding 15: `min_version` on a foreign number was held 10 s while an unknown one answered at
/// once, telling anyone which numbers exist.
#[tokio::test]
async fn min_version_on_a_foreign_number_answers_as_fast_as_an_unknown_one() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let bob = app.citizen(BOB);
    for query in ["min_version=1", "min_version=9", "wait=5&min_version=9"] {
        let started = std::time::Instant::now();
        let (status, body) = app
            .get(&format!("/api/v1/requests/{number}?{query}"), &bob)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("request-not-found"))
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{query}: {:?}",
            started.elapsed()
        );
    }
    // Alice's own read-your-write still waits for the version she wrote.
    let cms = testkit::pki::self_signed_cms(b"the document", ALICE);
    let (status, signed) = app.sign(&number, ALICE, &cms).await;
    assert_eq!(status, 202);
    let version = signed["version"].as_i64().expect("version");
    let path = format!("/api/v1/requests/{number}?min_version={version}");
    let (status, body) = app.get(&path, &app.citizen(ALICE)).await;
    assert_eq!(status, 200);
    assert!(body["version"].as_i64() >= Some(version), "{body}");
}

/// Finding 8: a principal held any number of long polls; now eight, the ninth is told to retry.
#[tokio::test]
async fn long_polls_beyond_a_principals_share_get_429_and_a_freed_one_is_reused() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}");
    let alice = app.citizen(ALICE);
    let etag = app
        .get_with(&path, &alice, &[])
        .await
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    // Held three seconds each: the request does not change meanwhile.
    let hold = |token: String| {
        let (http, url, etag) = (
            app.http.clone(),
            format!("{}{path}?wait=3", app.base),
            etag.clone(),
        );
        tokio::spawn(async move {
            let answer = http
                .get(url)
                .bearer_auth(token)
                .header("If-None-Match", etag)
                .send()
                .await;
            answer.expect("GET").status().as_u16()
        })
    };
    let held: Vec<_> = (0..api::polls::PER_PRINCIPAL)
        .map(|_| hold(alice.clone()))
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(&app, "egov_long_polls").await < api::polls::PER_PRINCIPAL as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the polls were never held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let poll = format!("{path}?wait=1");
    let answer = app
        .get_with(&poll, &alice, &[("If-None-Match", &etag)])
        .await;
    assert_eq!(answer.status(), 429);
    assert!(answer.headers().get("retry-after").is_some());
    // Another principal is not held back by Alice's share; a plain read neither.
    let operator = app.token(Role::Operator, "op-1", Some("TsON-1"));
    let headers = [("X-Purpose", "x"), ("If-None-Match", etag.as_str())];
    assert_eq!(app.get_with(&poll, &operator, &headers).await.status(), 304);
    assert_eq!(app.get_with(&path, &alice, &[]).await.status(), 200);
    // Answered, the polls free their slots.
    for poll in held {
        assert_eq!(poll.await.expect("task"), 304);
    }
    let answer = app
        .get_with(&poll, &alice, &[("If-None-Match", &etag)])
        .await;
    assert_eq!(answer.status(), 304);
}

/// Finding 8: every projector commit woke every held poll and each re-read the database.
#[tokio::test]
async fn a_commit_wakes_only_the_polls_of_the_request_it_changed() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}");
    let alice = app.citizen(ALICE);
    let etag = app.get_with(&path, &alice, &[]).await.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    let polls: Vec<_> = (0..5)
        .map(|_| {
            let (http, url, token, etag) = (
                app.http.clone(),
                format!("{}{path}?wait=20", app.base),
                alice.clone(),
                etag.clone(),
            );
            tokio::spawn(async move {
                let answer = http
                    .get(url)
                    .bearer_auth(token)
                    .header("If-None-Match", etag)
                    .send()
                    .await;
                answer.expect("GET").status().as_u16()
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(&app, "egov_long_polls").await < 5.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the polls were never held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = metric(&app, "egov_status_poll_reads_total").await;
    // Bob files twenty requests: commits of the status view, none of them Alice's. Once the view
    // has the last (one read-your-write of Bob's, at most two reads), they are all applied.
    let mut last = String::new();
    for _ in 0..20 {
        let (status, created) = app.submit("pension-fund-statement", BOB, json!({})).await;
        assert_eq!(status, 201);
        last = created["number"].as_str().expect("number").to_owned();
    }
    let path = format!("/api/v1/requests/{last}?min_version=1");
    assert_eq!(app.get(&path, &app.citizen(BOB)).await.0, 200);
    let woken = metric(&app, "egov_status_poll_reads_total").await - before;
    // Before: every commit woke all five polls (a hundred reads and more). A burst the projector
    // coalesced may still wake them all once.
    assert!(woken <= 12.0, "{woken} reads by held polls");
    // Alice's request changes: every poll answers with it at once.
    let cms = testkit::pki::self_signed_cms(b"the document", ALICE);
    assert_eq!(app.sign(&number, ALICE, &cms).await.0, 202);
    for poll in polls {
        let status = tokio::time::timeout(std::time::Duration::from_secs(5), poll)
            .await
            .expect("answered when the request changed")
            .expect("task");
        assert_eq!(status, 200);
    }
}

/// The `LogRead` records of the feed on record now.
async fn log_reads(app: &TestApp) -> Vec<serde_json::Value> {
    let client = app.db().superuser().await;
    let rows = client
        .query(
            "SELECT payload FROM events WHERE event_type = 'LogRead' ORDER BY position",
            &[],
        )
        .await
        .expect("events");
    rows.iter().map(|row| row.get(0)).collect()
}

/// Finding 10: the NDJSON feed (the whole log: IINs, CMS containers, registry answers) recorded
/// no read.
#[tokio::test]
async fn every_page_of_the_audit_feed_is_on_record_and_reading_to_the_end_ends() {
    let app = spawn_app().await;
    alices_request(&app).await;
    let auditor = app.token(Role::Auditor, "au-1", Some("Счётный комитет"));
    let mut after = "0-0".to_owned();
    let mut lines = 0;
    for page in 0.. {
        assert!(page < 10, "reading the feed to its end never ended");
        let path = format!("/api/v1/audit/events?limit=3&after={after}");
        let answer = app
            .get_with(&path, &auditor, &[("X-Purpose", "плановая проверка")])
            .await;
        assert_eq!(answer.status(), 200);
        let next = answer.headers()["x-next-cursor"]
            .to_str()
            .expect("cursor")
            .to_owned();
        let body = answer.text().await.expect("body");
        if body.is_empty() {
            break;
        }
        lines += body.lines().count();
        after = next;
    }
    let records = log_reads(&app).await;
    assert!(!records.is_empty());
    let recorded: u64 = records.iter().filter_map(|r| r["events"].as_u64()).sum();
    // Every page holding anyone's data is on record; the records' own page need not be.
    assert!(
        recorded + records.len() as u64 >= lines as u64,
        "{recorded} of {lines}"
    );
    assert_eq!(records[0]["reader"], "au-1");
    assert_eq!(records[0]["purpose"], "плановая проверка");
    assert_eq!(records[0]["after"], "0-0");
}

/// Finding 10: a page of the feed was read into memory whole (up to 10,000 x 256 KiB, three times
/// over) before a byte was sent.
#[tokio::test]
async fn a_large_page_of_the_feed_is_sent_in_parts_not_held_whole() {
    let app = spawn_app().await;
    let store = event_store::EventStore::new(app.db().database());
    // 120 events of 240 KiB each: about 28 MiB of payload.
    let big = "x".repeat(240 * 1024);
    let mut last = 0i64;
    for n in 0..120 {
        let event = event_store::NewEvent::new(
            uuid::Uuid::now_v7(),
            "BulkTestRecord",
            1,
            json!({"n": n, "filler": big}),
        )
        .expect("event");
        let metadata = domain::EventMetadata {
            actor: domain::Actor::system("test").expect("actor"),
            channel: domain::Channel::System,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
        };
        let stream = domain::StreamId::from_uuid(uuid::Uuid::now_v7());
        last = store
            .append(stream, domain::StreamVersion::EMPTY, &[event], &metadata)
            .await
            .expect("append")
            .events[0]
            .cursor
            .transaction();
    }
    drop(big);
    // The global order shows an event once every older transaction of the cluster has ended, and
    // other tests' transactions may still run: wait until it shows all 120.
    let admin = app.db().superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !admin
        .query_one(
            "SELECT $1 < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            &[&last],
        )
        .await
        .expect("horizon")
        .get::<_, bool>(0)
    {
        assert!(std::time::Instant::now() < deadline, "the horizon moves on");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = |field: &str| -> u64 {
        let text = std::fs::read_to_string("/proc/self/status").expect("status");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .expect("field")
    };
    // Reset the high-water mark of this process (the app runs in it) to what it holds now.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    let before = status("VmRSS:");
    let auditor = app.token(Role::Auditor, "au-1", None);
    let answer = app
        .get_with("/api/v1/audit/events?limit=10000", &auditor, &[])
        .await;
    assert_eq!(answer.status(), 200);
    let mut body = answer.bytes_stream();
    let (mut lines, mut bytes) = (0, 0usize);
    use futures_util::StreamExt as _;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    assert!(
        lines >= 120 && bytes > 28 * 1024 * 1024,
        "{lines} lines, {bytes} bytes"
    );
    let grew_mib = status("VmHWM:").saturating_sub(before) / 1024;
    // Held whole, the page costs three times its 28 MiB; in parts, a few chunks.
    assert!(
        grew_mib < 40,
        "the process grew by {grew_mib} MiB sending the page"
    );
}

/// Finding 10: an auditor's look at a request's history went unrecorded while the status view had
/// no row for it.
#[tokio::test]
async fn an_auditors_look_at_a_request_is_recorded_though_no_read_model_has_it() {
    let app = crate::helpers::spawn_app_with(|settings| settings.read_models = Vec::new()).await;
    let (status, created) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    assert_eq!(status, 201);
    let number = created["number"].as_str().expect("number");
    let auditor = app.token(Role::Auditor, "au-1", None);
    let path = format!("/api/v1/audit/requests/{number}/events");
    let answer = app
        .get_with(&path, &auditor, &[("X-Purpose", "жалоба")])
        .await;
    assert_eq!(answer.status(), 200);
    let on_record = reads_on_record(&app).await;
    let what = format!("audit:{number}");
    let read = on_record
        .iter()
        .find(|r| r.what == what)
        .expect("the look is on record");
    assert_eq!(
        (read.subject.as_str(), read.reader.as_str()),
        (ALICE, "au-1")
    );
}

/// Finding 4 and 10, the roles: a request's whole history (its events: IINs, documents, registry
/// answers, signatures) and its replayed state are the auditor's to read. Every other role asks
/// and is refused, with nothing on record; the auditor's malformed replays are refused before
/// anything is read; the auditor's look is on record.
#[tokio::test]
async fn only_an_auditor_reads_a_requests_history_and_a_malformed_replay_reads_nothing() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let others = [
        app.citizen(ALICE),
        app.citizen(BOB),
        app.token(Role::Operator, CAROL, Some("TsON-1")),
        app.token(Role::Medical, BOB, Some("clinic-7")),
        app.token(Role::Analyst, "an-1", None),
        app.token(Role::Witness, "witness-1", None),
    ];
    for token in &others {
        for route in ["events", "state"] {
            let path = format!("/api/v1/audit/requests/{number}/{route}");
            let (status, body) = app
                .get_json_with(&path, token, &[("X-Purpose", "проверка")])
                .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("forbidden")),
                "{route}: {body}"
            );
        }
    }
    assert!(
        reads_on_record(&app).await.is_empty(),
        "a refusal is no read"
    );
    let auditor = app.token(Role::Auditor, "au-1", None);
    let state = format!("/api/v1/audit/requests/{number}/state");
    for query in [
        "as_of=junk",
        "version=-1",
        "as_of=2026-01-01T00:00:00Z&version=1",
    ] {
        let (status, body) = app.get(&format!("{state}?{query}"), &auditor).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid-parameter")),
            "{query}: {body}"
        );
    }
    let (status, _) = app
        .get("/api/v1/audit/requests/not-a-number/events", &auditor)
        .await;
    assert_eq!(status, 404);
    assert!(
        reads_on_record(&app).await.is_empty(),
        "a refusal is no read"
    );
    let path = format!("/api/v1/audit/requests/{number}/events");
    let (status, body) = app.get(&path, &auditor).await;
    assert_eq!(status, 200, "{body}");
    let on_record = reads_on_record(&app).await;
    assert!(
        !on_record.is_empty() && on_record.iter().all(|read| read.reader == "au-1"),
        "{on_record:?}"
    );
}

/// Finding 4 and 6, the result: a request's signed document (or its PDF) is refused to the roles
/// that read no results, to an operator naming no centre or no purpose, and to anyone whose
/// request it is not (404, as for an unknown number) - before the document is looked for, and
/// with nothing on record. Its own citizen passes the same checks.
#[tokio::test]
async fn a_requests_result_is_refused_to_other_roles_other_people_and_an_unnamed_operator() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let path = format!("/api/v1/requests/{number}/result");
    let purpose = ("X-Purpose", "консультация");
    let cases = [
        (
            app.token(Role::Analyst, "an-1", None),
            true,
            403,
            "forbidden",
        ),
        (
            app.token(Role::Witness, "w-1", None),
            true,
            403,
            "forbidden",
        ),
        (
            app.token(Role::Operator, CAROL, None),
            true,
            403,
            "operator-unidentified",
        ),
        (
            app.token(Role::Operator, CAROL, Some("TsON-1")),
            false,
            400,
            "purpose-required",
        ),
        (
            app.token(Role::Medical, BOB, Some("clinic-7")),
            true,
            404,
            "request-not-found",
        ),
        (app.citizen(BOB), false, 404, "request-not-found"),
    ];
    for (token, with_purpose, status, code) in &cases {
        for accept in ["application/json", "application/pdf"] {
            let mut headers = vec![("Accept", accept)];
            headers.extend(with_purpose.then_some(purpose));
            let (got, body) = app.get_json_with(&path, token, &headers).await;
            assert_eq!(
                (got, body["code"].as_str()),
                (*status, Some(*code)),
                "{accept}: {body}"
            );
        }
    }
    let (status, body) = app.get(&path, &app.citizen(ALICE)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("result-not-ready")),
        "{body}"
    );
    assert!(
        reads_on_record(&app).await.is_empty(),
        "a refusal is no read"
    );
}

/// Finding 10, the roles: the audit feed gives the whole log. Every role but the auditor's asks
/// and is refused, and the auditor's malformed pages are refused, before a page is read: none of
/// them is on record as a read of the log, and the auditor's page is.
#[tokio::test]
async fn the_audit_feed_is_refused_to_other_roles_and_malformed_pages_and_none_is_on_record() {
    let app = spawn_app().await;
    alices_request(&app).await;
    let others = [
        app.citizen(ALICE),
        app.token(Role::Medical, ALICE, Some("clinic-7")),
        app.token(Role::Operator, CAROL, Some("TsON-1")),
        app.token(Role::Analyst, "an-1", None),
    ];
    for token in &others {
        let (status, body) = app
            .get_json_with("/api/v1/audit/events", token, &[("X-Purpose", "проверка")])
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    let auditor = app.token(Role::Auditor, "au-1", None);
    for query in ["limit=0", "limit=10001", "limit=-1", "after=garbage"] {
        let (status, body) = app
            .get(&format!("/api/v1/audit/events?{query}"), &auditor)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid-parameter")),
            "{query}: {body}"
        );
    }
    assert!(log_reads(&app).await.is_empty(), "a refusal is no read");
    let answer = app
        .get_with("/api/v1/audit/events?limit=10", &auditor, &[])
        .await;
    assert_eq!(answer.status(), 200);
    answer.text().await.expect("the page");
    let records = log_reads(&app).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["reader"], "au-1");
}

/// Finding 6, the medical role's reach: a medical organisation's user reads the social-status
/// checks they filed, nothing else - not even requests of their own as a citizen, which their
/// citizen's sign-in reads. Asked through the clinic's token, such a request answers as an
/// unknown one, in the view and before the view has it.
#[tokio::test]
async fn a_medical_token_reads_only_the_checks_its_user_filed_not_their_other_requests() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    for path in [
        format!("/api/v1/requests/{number}"),
        format!("/api/v1/requests/{number}?min_version=1&wait=1"),
        format!("/api/v1/requests/{number}/result"),
    ] {
        let (status, body) = app.get(&path, &medical).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("request-not-found")),
            "{path}: {body}"
        );
    }
    let app = crate::helpers::spawn_app_with(|settings| settings.read_models = Vec::new()).await;
    let (status, created) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number");
    // Seen as hers, the read would be held for the version (ten seconds, as the view never has
    // it here); not hers, it is told at once.
    let path = format!("/api/v1/requests/{number}?min_version=1&wait=10");
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let started = std::time::Instant::now();
    let (status, body) = app.get(&path, &medical).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found")),
        "not in the view yet: {body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "held as if hers: {:?}",
        started.elapsed()
    );
}

/// Finding 6, the signing side of the same hole: through the clinic's token its user fetched the
/// document to sign of, and signed, their own pension request; through their citizen's sign-in,
/// the check they filed for the clinic. A request is signed through the sign-in it was filed
/// through; the other answers as an unknown request and leaves it waiting.
#[tokio::test]
async fn a_request_is_signed_only_through_the_sign_in_it_was_filed_through() {
    let app = spawn_app().await;
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let citizen = app.citizen(ALICE);
    let (status, own) = app.submit("pension-fund-statement", ALICE, json!({})).await;
    assert_eq!(status, 201, "{own}");
    let (status, check) = alices_check_on_bob(&app, &medical).await;
    assert_eq!(status, 201, "{check}");
    // The same user at another clinic: the check is the first clinic's record.
    let elsewhere = app.token(Role::Medical, ALICE, Some("clinic-8"));
    let wrongs = [vec![&medical], vec![&citizen, &elsewhere]];
    for ((created, right), wrongs) in [(&own, &citizen), (&check, &medical)]
        .into_iter()
        .zip(wrongs)
    {
        let number = created["number"].as_str().expect("number");
        let document = format!("/api/v1/requests/{number}/document");
        let signed = created["document_to_sign"].as_str().expect("document");
        let signed = base64::engine::general_purpose::STANDARD
            .decode(signed)
            .expect("base64");
        let cms = testkit::pki::self_signed_cms(&signed, ALICE);
        let cms = json!({"cms": base64::engine::general_purpose::STANDARD.encode(cms)});
        let signature = format!("/api/v1/requests/{number}/signature");
        for wrong in wrongs {
            let (status, body) = app.get(&document, wrong).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (404, Some("request-not-found")),
                "{number}: {body}"
            );
            let (status, body) = app.post(&signature, wrong, &cms).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (404, Some("request-not-found")),
                "{number}: {body}"
            );
        }
        // Still waiting for its signature: its own sign-in fetches the document and signs.
        let (status, body) = app.get(&document, right).await;
        assert_eq!(status, 200, "{number}: {body}");
        assert_eq!(body["document_to_sign"], created["document_to_sign"]);
        let (status, body) = app.post(&signature, right, &cms).await;
        assert_eq!(status, 202, "{number}: {body}");
    }
}

/// Finding 6, the other way round: a clinic's user filed a check through the clinic's sign-in,
/// and their citizen's sign-in read it (the patient's status, with no record of the read),
/// listed it and answered its survey. A citizen sees a check only as its patient.
#[tokio::test]
async fn a_check_is_seen_by_its_patient_not_through_its_filers_citizen_sign_in() {
    let app = spawn_app().await;
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let (status, created) = alices_check_on_bob(&app, &medical).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number");
    // The patient and the clinic's user see it (once the view has it: `min_version`).
    let path = format!(
        "/api/v1/requests/{number}?min_version={}",
        created["version"]
    );
    assert_eq!(app.get(&path, &app.citizen(BOB)).await.0, 200);
    assert_eq!(app.get(&path, &medical).await.0, 200);
    let alice = app.citizen(ALICE);
    unseen_by(&app, &created, &alice).await;
    let survey = json!({"quality": "satisfied", "information": "satisfied"});
    let path = format!("/api/v1/requests/{number}/survey");
    let (status, body) = app.post(&path, &alice, &survey).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found")),
        "{body}"
    );
    // The view has the row: the patient's list names it, the filer's citizen list does not.
    let listed = |page: &serde_json::Value| {
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["number"] == number))
    };
    let (status, page) = app.get("/api/v1/requests", &app.citizen(BOB)).await;
    assert!(status == 200 && listed(&page), "{page}");
    let (status, page) = app.get("/api/v1/requests", &alice).await;
    assert!(status == 200 && !listed(&page), "{page}");
}

/// Finding 6, across clinics: a clinic's user who files a check and then signs in through
/// another clinic (moved there, or works at both) read the first clinic's check - the patient's
/// status - through the second clinic's sign-in. A check is the record of the clinic it was filed
/// through: only that clinic's sign-in shows it to its filer.
#[tokio::test]
async fn a_check_is_seen_by_its_filer_only_through_the_clinic_it_was_filed_through() {
    let app = spawn_app().await;
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let (status, created) = alices_check_on_bob(&app, &medical).await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number");
    let path = format!(
        "/api/v1/requests/{number}?min_version={}",
        created["version"]
    );
    assert_eq!(app.get(&path, &medical).await.0, 200);
    let elsewhere = app.token(Role::Medical, ALICE, Some("clinic-8"));
    unseen_by(&app, &created, &elsewhere).await;
    // The same key through the other clinic is another client's: a check of its own, which
    // neither answers with the first check nor names it.
    let check =
        json!({"service": "social-status-check", "iin": ALICE, "form": {"patient_iin": BOB}});
    let path = "/api/v1/requests";
    let first = keyed(&app, path, &medical, "check-once", &check).await;
    assert_eq!((first.0, first.1.as_str()), (201, "false"), "{}", first.2);
    let again = keyed(&app, path, &elsewhere, "check-once", &check).await;
    assert_eq!((again.0, again.1.as_str()), (201, "false"), "{}", again.2);
    assert_ne!(again.2["number"], first.2["number"]);
    assert!(!again
        .2
        .to_string()
        .contains(first.2["number"].as_str().expect("number")));
    let retried = keyed(&app, path, &medical, "check-once", &check).await;
    assert_eq!((retried.0, retried.1.as_str()), (201, "true"));
    assert_eq!(retried.2["number"], first.2["number"]);
}

/// `POST path` with `Idempotency-Key: key`: the status, the `Idempotent-Replayed` header and the
/// body.
async fn keyed(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, String, serde_json::Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST");
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, body) = TestApp::answer(response).await;
    (status, replayed, body)
}

/// An operator filed at one centre under a key; the same operator, signed in at another centre,
/// sent the same filing under the same key and was answered with the first centre's request - its
/// number and its checks' answers - as a retry, with no read on record. A key is now its client's
/// at its centre: the other centre files a request of its own.
#[tokio::test]
async fn a_key_used_at_one_centre_never_answers_with_that_centres_request_at_another() {
    let app = spawn_app().await;
    centre::known_to_gbd_fl(&app);
    let filing = centre::filing();
    let path = "/api/v1/centre/requests";
    let here = app.token(Role::Operator, centre::OPERATOR, Some("TsON-1"));
    let there = app.token(Role::Operator, centre::OPERATOR, Some("TsON-2"));
    let first = keyed(&app, path, &here, "desk-1", &filing).await;
    assert_eq!((first.0, first.1.as_str()), (201, "false"), "{}", first.2);
    let number = first.2["number"].as_str().expect("number");
    let elsewhere = keyed(&app, path, &there, "desk-1", &filing).await;
    assert_eq!(
        (elsewhere.0, elsewhere.1.as_str()),
        (201, "false"),
        "{}",
        elsewhere.2
    );
    assert_ne!(elsewhere.2["number"].as_str(), Some(number));
    assert!(!elsewhere.2.to_string().contains(number), "{}", elsewhere.2);
    // At its own centre the key still retries.
    let retried = keyed(&app, path, &here, "desk-1", &filing).await;
    assert_eq!((retried.0, retried.1.as_str()), (201, "true"));
    assert_eq!(retried.2["number"].as_str(), Some(number));
}

/// Finding 4's rule, for the medical role: a check made with a token naming no organisation was
/// answered and recorded with none. Such a token checks nothing and files no check (403
/// `organisation-unidentified`), and nothing is on record.
#[tokio::test]
async fn a_medical_token_naming_no_organisation_checks_and_files_nothing() {
    let app = spawn_app().await;
    for organisation in [None, Some(" ")] {
        let medical = app.token(Role::Medical, ALICE, organisation);
        let asked = json!({"iin": BOB, "purpose": "приём"});
        let (status, body) = app.post("/api/v1/social-status", &medical, &asked).await;
        let (filed, filing) = alices_check_on_bob(&app, &medical).await;
        for (status, body) in [(status, body), (filed, filing)] {
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("organisation-unidentified")),
                "{organisation:?}: {body}"
            );
        }
    }
    let client = app.db().superuser().await;
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(events, 0, "nothing is on record");
    assert!(reads_on_record(&app).await.is_empty());
}

/// HTTP abuse without a token: `/readyz` and `/metrics` answer anyone (orchestrators and scrapers
/// have no token), and each probe read its figures from the database on a connection of its own.
/// While those reads were slow (here a lock holds them), a flood of probes took as many
/// connections as the pool had. Probes arriving together now share one read at a time.
#[tokio::test]
async fn a_flood_of_health_probes_shares_one_database_read_at_a_time() {
    let app = spawn_app().await;
    let mut locker = app.db().superuser().await;
    let lock = locker.transaction().await.expect("begin");
    lock.batch_execute("LOCK TABLE projections.kafka_parked IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let probes: Vec<_> = (0..40)
        .map(|i| {
            let path = if i % 2 == 0 { "readyz" } else { "metrics" };
            let probe = app.http.get(format!("{}/{path}", app.base)).send();
            tokio::spawn(async move { probe.await.map(|answer| answer.status().as_u16()) })
        })
        .collect();
    // The reads held by the lock, as the database sees them, sampled over a second and a half
    // (the most held at once is the measure, so this waits out its window rather than polling).
    let watcher = app.db().superuser().await;
    let mut most = 0;
    for _ in 0..15 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let held: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("activity")
            .get(0);
        most = most.max(held);
    }
    lock.commit().await.expect("unlock");
    for probe in probes {
        let status = probe.await.expect("join").expect("answer");
        assert_eq!(status, 200);
    }
    // One `/readyz` read and one `/metrics` read at most, and the lock did hold them.
    assert!((1..=2).contains(&most), "{most} reads held at once");
}

/// The citizen's own routes - the survey, their requests, who looked at their data - and the
/// analyst's views, tried by everyone else: the survey of Alice's request by another citizen or
/// by the patient of a check, the lists with other roles' tokens and with forged cursors, the
/// analytics with any token but an analyst's. Each is refused, and none reads anyone's data.
#[tokio::test]
async fn the_citizens_own_routes_and_the_analytics_are_refused_to_everyone_else() {
    let app = spawn_app().await;
    let number = alices_request(&app).await;
    let survey = json!({"quality": "satisfied", "information": "satisfied"});
    let path = format!("/api/v1/requests/{number}/survey");
    let (status, body) = app.post(&path, &app.citizen(BOB), &survey).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("request-not-found"))
    );
    let medical = app.token(Role::Medical, ALICE, Some("clinic-7"));
    let operator = app.token(Role::Operator, crate::centre::OPERATOR, Some("TsON-1"));
    let auditor = app.token(Role::Auditor, "auditor-1", None);
    let analyst = app.token(Role::Analyst, "analyst-1", None);
    let witness = app.token(Role::Witness, "witness-1", None);
    for token in [&medical, &operator, &auditor, &analyst, &witness] {
        let (status, body) = app.post(&path, token, &survey).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
        for list in ["/api/v1/requests", "/api/v1/me/data-access"] {
            let (status, body) = app.get(list, token).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("forbidden")),
                "{list}: {body}"
            );
        }
    }
    // The patient of a check answers nothing of it: the survey is its filer's.
    let (_, created) = alices_check_on_bob(&app, &medical).await;
    let path = format!(
        "/api/v1/requests/{}/survey",
        created["number"].as_str().expect("number")
    );
    let (status, _) = app.post(&path, &app.citizen(BOB), &survey).await;
    assert_eq!(status, 404);
    // A forged cursor is refused, not read as a place in someone else's list.
    for list in ["/api/v1/requests", "/api/v1/me/data-access"] {
        for after in ["garbage", "9999-99-99T00:00:00Z/x", &"A".repeat(5000)] {
            let (status, body) = app
                .get(&format!("{list}?after={after}"), &app.citizen(BOB))
                .await;
            assert_eq!(status, 400, "{list}?after={after}: {body}");
        }
    }
    for token in [app.citizen(ALICE), medical, operator, auditor, witness] {
        let (status, body) = app.get("/api/v1/analytics/requests", &token).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    let (status, _) = app.get("/api/v1/analytics/requests", &analyst).await;
    assert_eq!(status, 200);
    assert!(reads_on_record(&app)
        .await
        .iter()
        .all(|read| read.what.starts_with("social-status-check:")));
}
