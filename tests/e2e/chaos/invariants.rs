//! The invariants checked at the end of a campaign, each a count of violations.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use domain::catalog::Lookup;

use super::others::MEDIC;
use super::stand::{Stand, OPERATOR};
use super::Seen;
use crate::support::kafka::{delivery, read_topic};
use crate::support::process::egov;

/// Waits until every signed request has ended (a result, a signed refusal, or a recorded missed
/// deadline), up to `limit`; the numbers that have not.
async fn not_ended(db: &tokio_postgres::Client, signed: &[String], limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let rows = db
            .query(
                "SELECT n.number FROM request_numbers n
                  WHERE n.number = ANY($1)
                    AND NOT EXISTS (SELECT 1 FROM events e
                                     WHERE e.stream_id = n.stream_id
                                       AND e.event_type IN ('ResultIssued', 'RefusalIssued',
                                           'StepDeadlineMissed', 'ServiceDeadlineMissed'))",
                &[&signed],
            )
            .await
            .expect("ended");
        let left: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The invariants over the log, each a count of violations.
pub async fn violations(stand: &Stand, seen: &Seen) -> BTreeMap<&'static str, u64> {
    let db = stand.superuser().await;
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let mut found = BTreeMap::new();
    // 1. Every acknowledged filing and signature is in the log.
    let filed: i64 = db
        .query_one(
            "SELECT count(*) FROM request_numbers n
               JOIN events e ON e.stream_id = n.stream_id AND e.event_type = 'RequestSubmitted'
              WHERE n.number = ANY($1)",
            &[&seen.filed],
        )
        .await
        .expect("filed")
        .get(0);
    let signed: i64 = db
        .query_one(
            "SELECT count(DISTINCT n.number) FROM request_numbers n
               JOIN events e ON e.stream_id = n.stream_id AND e.event_type = 'RequestSigned'
              WHERE n.number = ANY($1)",
            &[&seen.signed],
        )
        .await
        .expect("signed")
        .get(0);
    let lost = count(seen.filed.len()).saturating_sub(u64::try_from(filed).unwrap_or(0))
        + count(seen.signed.len()).saturating_sub(u64::try_from(signed).unwrap_or(0));
    found.insert("1_acknowledged_not_in_log", lost);
    // 2. None stuck; no step outcome recorded twice.
    let waiting = Instant::now();
    let stuck = not_ended(&db, &seen.signed, Duration::from_secs(120)).await;
    eprintln!(
        "chaos: every signed request ended {:.1} s after the load",
        waiting.elapsed().as_secs_f64()
    );
    found.insert("2_signed_not_ended", count(stuck.len()));
    for number in stuck.iter().take(5) {
        explain(&db, number).await;
    }
    let twice: i64 = db
        .query_one(
            "SELECT count(*) FROM (
               SELECT stream_id, event_type, payload->>'lookup' FROM events
                WHERE event_type IN ('RequestSigned', 'SignatureVerified', 'SignatureRejected',
                                     'RegistryLookupSucceeded', 'RequestRefused', 'ResultIssued',
                                     'RefusalIssued')
                GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
            &[],
        )
        .await
        .expect("twice")
        .get(0);
    found.insert("2_step_outcome_twice", u64::try_from(twice).unwrap_or(0));
    found.extend(sik_effects(stand, &db).await);
    // 3. The hash chains hold and every read model, once the projectors fed from the topic have
    // caught up, equals a replay of the whole log.
    let caught_up = stand.current_after(Instant::now()).await;
    eprintln!(
        "chaos: the read models caught up {:.1} s after the last event",
        caught_up.as_secs_f64()
    );
    let url = &stand.url;
    for (name, args) in [
        ("3_verify", &["verify"][..]),
        (
            "3_replay_check",
            &["replay", "--check", "--source", "kafka"][..],
        ),
    ] {
        let output = egov()
            .args(args)
            .env("DATABASE_URL", url)
            .env("EGOV_MODE", "development")
            .output()
            .expect("egov");
        if !output.status.success() {
            eprintln!(
                "{name}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        found.insert(name, u64::from(!output.status.success()));
    }
    // 3. The auditor read the log in its order, every event once; the topic holds every event,
    // each stream's in order in one partition.
    found.extend(feed_against_log(&db, &seen.feed).await);
    found.extend(topic_against_log(stand, &db).await);
    // Only the relay writes the topic, and the broker keeps every message: nothing there is junk
    // and no offset is missing, so a parked message or hole means a projector went past one.
    let parked: i64 = db
        .query_one("SELECT count(*) FROM projections.kafka_parked", &[])
        .await
        .expect("parked")
        .get(0);
    found.insert("3_kafka_parked", u64::try_from(parked).unwrap_or(u64::MAX));
    // 4. Every answered audited read has its record.
    let recorded = recorded_reads(&db, OPERATOR).await;
    let unrecorded: u64 = seen
        .reads
        .iter()
        .map(|(number, answered)| {
            let on_record = recorded
                .get(&format!("request:{number}"))
                .copied()
                .unwrap_or(0);
            answered.saturating_sub(on_record)
        })
        .sum();
    found.insert("4_read_answered_unrecorded", unrecorded);
    // A medical user's check is an event of its own, recorded before the answer.
    let checks: i64 = db
        .query_one(
            "SELECT count(*) FROM events
              WHERE event_type = 'SocialStatusChecked' AND payload->>'checker' = $1",
            &[&MEDIC],
        )
        .await
        .expect("checks")
        .get(0);
    found.insert(
        "4_medical_check_answered_unrecorded",
        seen.medical_checks
            .saturating_sub(u64::try_from(checks).unwrap_or(0)),
    );
    // 5. Nothing hung; every 503 said when to come back.
    let hung = seen
        .answers
        .iter()
        .filter(|(kind, _)| kind.ends_with(" hung"))
        .map(|(_, n)| n)
        .sum();
    found.insert("5_hung", hung);
    found.insert("5_503_without_retry_after", seen.bare_503);
    // The counters an operator needs: a failing registry shows in `/metrics`.
    found.insert(
        "5_registry_fault_not_in_metrics",
        stand.unseen_registry_faults,
    );
    found
}

/// Invariant 2, at the registry: the SIK assignment changed it at most once per request. The
/// simulator's effects (one per idempotency key) are matched to requests through the keys each of
/// their recorded attempts was sent under; an effect under a key no attempt was sent under counts
/// as well.
async fn sik_effects(stand: &Stand, db: &tokio_postgres::Client) -> [(&'static str, u64); 2] {
    let attempts = db
        .query(
            "SELECT stream_id::text, (payload->>'attempt')::bigint FROM events
              WHERE event_type = 'RegistryLookupRequested' AND payload->>'lookup' = 'sik-processing'",
            &[],
        )
        .await
        .expect("the SIK attempts");
    let mut request_of: BTreeMap<String, String> = BTreeMap::new();
    for row in &attempts {
        let stream: String = row.get(0);
        let attempt = u32::try_from(row.get::<_, i64>(1)).expect("an attempt number");
        let id = uuid::Uuid::parse_str(&stream).expect("a stream id");
        let key = commands::workflow::registry_call_key(id, Lookup::SikProcessing, attempt);
        request_of.insert(key.to_string(), stream);
    }
    let done: serde_json::Value =
        reqwest::get(format!("{}/admin/side-effects", stand.registry_url()))
            .await
            .expect("the simulator")
            .json()
            .await
            .expect("its side effects");
    let effects = done["sik_assignments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut per_request: BTreeMap<&str, u64> = BTreeMap::new();
    let mut of_no_request = 0;
    for effect in &effects {
        match effect["key"].as_str().and_then(|key| request_of.get(key)) {
            Some(stream) => *per_request.entry(stream).or_default() += 1,
            None => of_no_request += 1,
        }
    }
    let twice = per_request.values().filter(|n| **n > 1).count();
    eprintln!(
        "chaos: {} SIK assignment effects at the registry for {} requests",
        effects.len(),
        per_request.len()
    );
    [
        (
            "2_sik_assigned_twice_for_a_request",
            u64::try_from(twice).unwrap_or(u64::MAX),
        ),
        ("2_sik_assigned_for_no_request", of_no_request),
    ]
}

/// Prints what the log and the task table hold for a request that did not end.
async fn explain(db: &tokio_postgres::Client, number: &str) {
    let events = db
        .query(
            "SELECT e.event_type, e.actor, e.recorded_at::text FROM events e
               JOIN request_numbers n ON n.stream_id = e.stream_id
              WHERE n.number = $1 ORDER BY e.stream_version",
            &[&number],
        )
        .await
        .expect("events");
    let events: Vec<String> = events
        .iter()
        .map(|r| {
            format!(
                "{} by {} at {}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2)
            )
        })
        .collect();
    let task = db
        .query(
            "SELECT row_to_json(t)::text FROM workflow.tasks t
               JOIN request_numbers n ON n.stream_id = t.stream_id WHERE n.number = $1",
            &[&number],
        )
        .await
        .expect("task");
    let task: Vec<String> = task.iter().map(|r| r.get(0)).collect();
    eprintln!("chaos: {number} did not end: events {events:?}; task {task:?}");
}

/// The reads on record for `reader`, counted by what was read (`request:NUMBER`, ...).
async fn recorded_reads(db: &tokio_postgres::Client, reader: &str) -> BTreeMap<String, u64> {
    db.query(
        "SELECT r->>1, count(*) FROM events,
                jsonb_array_elements(payload->'groups') g,
                jsonb_array_elements(g->'reads') r
          WHERE event_type = 'DataAccessed' AND g->>'reader' = $1
          GROUP BY 1",
        &[&reader],
    )
    .await
    .expect("reads")
    .iter()
    .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
    .collect()
}

/// The feed the auditor read against the log up to the last event read: events of the log the
/// feed skipped, events the feed gave that the log does not hold (a read of what a failover then
/// lost), events given twice, and whether the order differs.
async fn feed_against_log(
    db: &tokio_postgres::Client,
    feed: &[(String, (i64, i64))],
) -> [(&'static str, u64); 4] {
    let Some((_, (tx_id, position))) = feed.last() else {
        return [
            ("3_feed_skipped", 0),
            ("3_feed_unknown", 0),
            ("3_feed_twice", 0),
            ("3_feed_out_of_order", 0),
        ];
    };
    let log: Vec<String> = db
        .query(
            "SELECT event_id::text FROM events WHERE (tx_id, position) <= ($1, $2)
              ORDER BY tx_id, position",
            &[tx_id, position],
        )
        .await
        .expect("the log")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let read: Vec<&String> = feed.iter().map(|(id, _)| id).collect();
    let in_log: HashSet<&String> = log.iter().collect();
    let in_feed: HashSet<&String> = read.iter().copied().collect();
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    [
        (
            "3_feed_skipped",
            count(log.iter().filter(|id| !in_feed.contains(id)).count()),
        ),
        (
            "3_feed_unknown",
            count(read.iter().filter(|id| !in_log.contains(*id)).count()),
        ),
        ("3_feed_twice", count(read.len() - in_feed.len())),
        (
            "3_feed_out_of_order",
            u64::from(read.len() == log.len() && read.iter().zip(&log).any(|(a, b)| *a != b)),
        ),
    ]
}

/// The topic read back from its start against the whole log (see [`delivery`]); repeats (from a
/// relay killed before its checkpoint moved) are allowed and printed.
async fn topic_against_log(stand: &Stand, db: &tokio_postgres::Client) -> [(&'static str, u64); 4] {
    let log: Vec<(uuid::Uuid, uuid::Uuid, i64)> = db
        .query(
            "SELECT event_id, stream_id, stream_version FROM events ORDER BY tx_id, position",
            &[],
        )
        .await
        .expect("the log")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let read = read_topic(&stand.broker.addr, &stand.topic, log.len()).await;
    let seen = delivery(&log, &read);
    eprintln!(
        "chaos: the topic holds {} messages for {} events ({} repeats)",
        read.len(),
        log.len(),
        seen.repeats
    );
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    [
        ("3_topic_missing", count(seen.missing)),
        ("3_topic_unknown", count(seen.unknown)),
        ("3_topic_misplaced", count(seen.misplaced)),
        ("3_topic_skips", count(seen.skips)),
    ]
}
