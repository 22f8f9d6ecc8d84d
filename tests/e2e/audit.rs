//! The auditors' API and CLI over a real workflow's log: a stream with its hash links, the state
//! replayed at instants and versions, tampering named through the API and the CLI, and the global
//! feed read in small pages while 16 writers append.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, Flow};
use crate::support::portal::Keys;
use crate::support::process::egov;

fn auditor(keys: &Keys) -> String {
    keys.es256(&Keys::claims("auditor", "auditor-7"))
}

/// A completed pension-fund statement; its number.
async fn completed_request(flow: &mut Flow) -> String {
    let signer = flow.pki.signer(AIDA);
    flow.start_responder();
    let number = flow
        .file_signed_by("pension-fund-statement", AIDA, json!({}), &signer)
        .await;
    let status = flow.outcome(&number, AIDA, Duration::from_secs(60)).await;
    assert_eq!(status["status"]["code"], "completed", "{status}");
    number
}

#[tokio::test]
async fn an_auditor_replays_a_request_at_any_instant_and_sees_tampering_named_by_api_and_cli() {
    let mut flow = Flow::start(healthy(), &[]).await;
    let number = completed_request(&mut flow).await;
    let token = auditor(&flow.keys);

    // The stream, with each event's metadata and its link to the previous hash.
    let (code, stream) = flow
        .get(&format!("/api/v1/audit/requests/{number}/events"), &token)
        .await;
    assert_eq!(code, 200, "{stream}");
    let events = stream["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 10);
    assert_eq!(events[0]["previous_hash"], "0".repeat(64));
    for pair in events.windows(2) {
        assert_eq!(pair[1]["previous_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["stream_version"].as_u64(),
            pair[0]["stream_version"].as_u64().map(|v| v + 1)
        );
    }
    assert_eq!(events[0]["actor"], format!("citizen:{AIDA}"));
    assert!(events[2]["actor"]
        .as_str()
        .is_some_and(|a| a.starts_with("system:workflow/")));
    assert!(events
        .iter()
        .all(|e| e["correlation_id"] == events[0]["correlation_id"]));

    // The state at each event's instant is the state after that event, replayed by the domain.
    let expected = [
        (1, "awaiting-signature"),
        (2, "submitted"),
        (3, "forwarded-to-provider"),
        (9, "forwarded-to-provider"),
        (10, "completed"),
    ];
    for (version, status) in expected {
        let at = events[version - 1]["recorded_at"].as_str().expect("time");
        let path = format!(
            "/api/v1/audit/requests/{number}/state?as_of={}",
            at.replace('+', "%2B")
        );
        let (code, state) = flow.get(&path, &token).await;
        assert_eq!(code, 200, "{state}");
        // Events of one instant are replayed together, so the version may run ahead within it.
        assert!(state["version"].as_u64() >= Some(version as u64), "{state}");
        let (code, by_version) = flow
            .get(
                &format!("/api/v1/audit/requests/{number}/state?version={version}"),
                &token,
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(by_version["version"], version as u64);
        assert_eq!(
            by_version["status"], status,
            "version {version}: {by_version}"
        );
    }
    let (_, before) = flow
        .get(
            &format!("/api/v1/audit/requests/{number}/state?as_of=2000-01-01T00:00:00Z"),
            &token,
        )
        .await;
    assert_eq!(
        (before["version"].as_u64(), before["status"].as_str()),
        (Some(0), None)
    );
    let (_, middle) = flow
        .get(
            &format!("/api/v1/audit/requests/{number}/state?version=6"),
            &token,
        )
        .await;
    assert_eq!(middle["stage"], "lookups");
    assert_eq!(middle["lookups_done"], json!(["iin"]));
    assert_eq!(middle["lookup_in_flight"], "sik");
    let (_, last) = flow
        .get(&format!("/api/v1/audit/requests/{number}/state"), &token)
        .await;
    assert_eq!(last["document_number"], format!("R{number}"));

    // Intact, then altered behind the application's back: the API and the CLI name the event.
    let (code, intact) = flow
        .get(&format!("/api/v1/audit/verify?request={number}"), &token)
        .await;
    assert_eq!(
        (code, &intact["intact"], &intact["events"]),
        (200, &json!(true), &json!(10))
    );
    let client = flow.db.superuser().await;
    client
        .batch_execute(&format!(
            "ALTER TABLE events DISABLE TRIGGER USER;
             UPDATE events SET payload = jsonb_set(payload, '{{data,last_name}}', '\"ИЗМЕНЕНО\"')
              WHERE stream_id = (SELECT stream_id FROM request_numbers WHERE number = '{number}')
                AND stream_version = 5;
             ALTER TABLE events ENABLE TRIGGER USER;"
        ))
        .await
        .expect("tamper");
    let tampered_id = &events[4]["event_id"];
    for path in [
        format!("/api/v1/audit/verify?request={number}"),
        "/api/v1/audit/verify?all=true".to_owned(),
    ] {
        let (code, report) = flow.get(&path, &token).await;
        assert_eq!(code, 200);
        assert_eq!(report["intact"], false, "{report}");
        assert_eq!(report["breaks"][0]["stream_version"], 5, "{report}");
        assert_eq!(&report["breaks"][0]["event_id"], tampered_id, "{report}");
    }
    let out = egov()
        .args(["verify", "--request", &number])
        .envs(flow.db.service_env().await)
        .output()
        .expect("egov verify");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(tampered_id.as_str().expect("id")),
        "{stderr}"
    );

    // Only auditors.
    let (code, _) = flow
        .get("/api/v1/audit/verify?all=true", &flow.keys.citizen(AIDA))
        .await;
    assert_eq!(code, 403);
    let (code, problem) = flow.get("/api/v1/audit/verify", &token).await;
    assert_eq!((code, problem["field"].as_str()), (400, Some("request")));
}

#[tokio::test]
async fn the_global_feed_read_in_small_pages_while_16_writers_append_has_every_event_once_in_order()
{
    let flow = Flow::start(healthy(), &[("EGOV_WORKFLOW", "off")]).await;
    let token = auditor(&flow.keys);
    let store = event_store::EventStore::new(flow.db.database());
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = domain::StreamId::from_uuid(uuid::Uuid::new_v4());
                let metadata = domain::EventMetadata {
                    actor: domain::Actor::system("feed-test").expect("actor"),
                    channel: domain::Channel::System,
                    correlation_id: stream.as_uuid(),
                    causation_id: None,
                };
                let mut ids = Vec::new();
                for n in 0..40u64 {
                    let id = uuid::Uuid::new_v4();
                    let event = event_store::NewEvent::new(
                        id,
                        "Tested",
                        1,
                        json!({"writer": writer, "n": n}),
                    )
                    .expect("event");
                    store
                        .append(
                            stream,
                            domain::StreamVersion::EMPTY
                                .advanced_by(n)
                                .expect("version"),
                            &[event],
                            &metadata,
                        )
                        .await
                        .expect("append");
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    // Read while they write, 7 events a page, resuming from each page's cursor.
    let mut seen: Vec<String> = Vec::new();
    let mut cursors: Vec<String> = Vec::new();
    let mut after = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let path = if after.is_empty() {
            "/api/v1/audit/events?limit=7".to_owned()
        } else {
            format!("/api/v1/audit/events?limit=7&after={after}")
        };
        let answer = flow
            .http
            .get(flow.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("feed");
        assert_eq!(answer.status(), 200);
        let next = answer
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .expect("next cursor")
            .to_owned();
        let body = answer.text().await.expect("body");
        for line in body.lines() {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            seen.push(event["event_id"].as_str().expect("id").to_owned());
            cursors.push(event["cursor"].as_str().expect("cursor").to_owned());
        }
        after = next;
        if writers.iter().all(tokio::task::JoinHandle::is_finished) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writers did not finish"
        );
    }
    let mut written = HashSet::new();
    for writer in writers {
        for id in writer.await.expect("writer") {
            written.insert(id.to_string());
        }
    }
    // Drain what remains after the writers finished.
    loop {
        let answer = flow
            .http
            .get(flow.url(&format!("/api/v1/audit/events?limit=7&after={after}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("feed");
        after = answer
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .expect("next cursor")
            .to_owned();
        let body = answer.text().await.expect("body");
        if body.is_empty() {
            break;
        }
        for line in body.lines() {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            seen.push(event["event_id"].as_str().expect("id").to_owned());
            cursors.push(event["cursor"].as_str().expect("cursor").to_owned());
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was read twice");
    // Besides the events written, the feed holds the records of its own pages (one per page that
    // held anyone's data): each page read is on record.
    let records = seen.iter().filter(|id| !written.contains(*id)).count();
    assert!(records > 0, "the pages read are on record");
    assert_eq!(seen.len() - records, written.len(), "every event read once");
    assert!(written.iter().all(|id| unique.contains(id)));
    // In the log's order: cursors increase (transaction, then position).
    let parsed: Vec<(i64, i64)> = cursors
        .iter()
        .map(|c| {
            let (t, p) = c.split_once('-').expect("T-P");
            (t.parse().expect("t"), p.parse().expect("p"))
        })
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] < w[1]), "out of order");
}

#[tokio::test]
async fn a_citizen_sees_who_read_their_request_and_why_and_another_citizen_sees_nothing() {
    let flow = Flow::start(healthy(), &[("EGOV_WORKFLOW", "off")]).await;
    let (number, _) = flow.submit("pension-fund-statement", AIDA, json!({})).await;
    let mut claims = Keys::claims("operator", "op-17");
    claims["org"] = json!("ЦОН Алмалинского района");
    let operator = flow.keys.es256(&claims);
    // Read your write: the status view as of the submission.
    let read = flow
        .http
        .get(flow.url(&format!("/api/v1/requests/{number}?min_version=1")))
        .bearer_auth(&operator)
        .header("X-Purpose", "консультация заявителя")
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), 200);
    // The citizen's own reads are not listed.
    let (code, _) = flow
        .get(
            &format!("/api/v1/requests/{number}"),
            &flow.keys.citizen(AIDA),
        )
        .await;
    assert_eq!(code, 200);
    // A medical user's check of the citizen's social status is listed too.
    let medic = flow.keys.es256(&json!({
        "sub": "doctor-41", "role": "medical", "org": "Поликлиника №5",
        "iss": crate::support::portal::ISSUER, "aud": crate::support::portal::AUDIENCE,
        "exp": chrono::Utc::now().timestamp() + 600,
    }));
    let checked = flow
        .http
        .post(flow.url("/api/v1/social-status"))
        .bearer_auth(&medic)
        .json(&json!({"iin": AIDA, "purpose": "приём"}))
        .send()
        .await
        .expect("check");
    assert_eq!(checked.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let items = loop {
        let (code, page) = flow
            .get("/api/v1/me/data-access", &flow.keys.citizen(AIDA))
            .await;
        assert_eq!(code, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 2 {
            break items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reads were not listed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(items.len(), 2, "{items:?}");
    let operator_read = items
        .iter()
        .find(|i| i["role"] == "operator")
        .expect("the operator's read");
    assert_eq!(operator_read["reader"], "op-17");
    assert_eq!(operator_read["organisation"], "ЦОН Алмалинского района");
    assert_eq!(operator_read["what"], format!("request:{number}"));
    assert_eq!(operator_read["purpose"], "консультация заявителя");
    let medical_read = items
        .iter()
        .find(|i| i["role"] == "medical")
        .expect("the medical check");
    assert_eq!(medical_read["what"], "social-status");
    assert_eq!(medical_read["organisation"], "Поликлиника №5");
    // Another citizen sees nothing of it; other roles have no such list.
    let (code, page) = flow
        .get("/api/v1/me/data-access", &flow.keys.citizen(NOBODY_ELSE))
        .await;
    assert_eq!(
        (code, page["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, _) = flow.get("/api/v1/me/data-access", &operator).await;
    assert_eq!(code, 403);
    // A purpose that is not text is refused before anything is read.
    let bad = flow
        .http
        .get(flow.url(&format!("/api/v1/requests/{number}")))
        .bearer_auth(&operator)
        .header("X-Purpose", "x".repeat(501))
        .send()
        .await
        .expect("read");
    assert_eq!(bad.status(), 400);
}

const NOBODY_ELSE: &str = "900101400003";
