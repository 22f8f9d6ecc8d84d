//! Kafka end to end against a real broker (tansu, started per test on a free port): the relay
//! publishes every event once per run and in stream order, survives kill -9 and a broker outage,
//! and Kafka-sourced projectors in one consumer group build the same read model as PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use serde_json::{json, Value};
use testkit::pki::{Algorithm, Issued};
use testkit::TestDb;

use crate::support::citizens::{AIDA, DANA, ERLAN};
use crate::support::flow::{healthy, Flow};
use crate::support::kafka::{
    delivery, kafka_env, read_topic, signal, topic, Broker, Published, SESSION_TIMEOUT,
};
use crate::support::process::{egov, eventually, metrics_at};

/// The log as PostgreSQL holds it: (event id, stream id, version), in log order.
async fn log(db: &TestDb) -> Vec<(uuid::Uuid, uuid::Uuid, i64)> {
    db.superuser()
        .await
        .query(
            "SELECT event_id, stream_id, stream_version FROM events ORDER BY tx_id, position",
            &[],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Waits until the relay's checkpoint is at the end of the log.
async fn relayed(db: &TestDb, topic: &str, limit: Duration) {
    let name = format!("kafka-relay:{topic}");
    let client = db.superuser().await;
    let deadline = Instant::now() + limit;
    loop {
        let behind: i64 = client
            .query_one(
                "SELECT count(*) FROM events e WHERE (e.tx_id, e.position) > \
                   coalesce((SELECT (c.tx_id, c.position) FROM projections.checkpoints c WHERE c.name = $1), (0::bigint, 0::bigint))",
                &[&name],
            )
            .await
            .expect("lag")
            .get(0);
        if behind == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the relay is still {behind} events behind after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks what a consumer sees (see [`delivery`]): nothing missing, unknown, misplaced or
/// skipped. Returns the number of repeats.
fn check_delivery(log: &[(uuid::Uuid, uuid::Uuid, i64)], read: &[Published]) -> usize {
    let seen = delivery(log, read);
    assert_eq!(
        (seen.missing, seen.unknown, seen.misplaced, seen.skips),
        (0, 0, 0, 0),
        "what the topic holds against the log: {seen:?}"
    );
    seen.repeats
}

async fn citizens(flow: &mut Flow) -> Vec<(&'static str, Issued)> {
    let signers = vec![
        (AIDA, flow.pki.signer(AIDA)),
        (
            ERLAN,
            flow.pki
                .citizen(ERLAN, Algorithm::Rsa, (-10, 300), false, true),
        ),
        (DANA, flow.pki.signer(DANA)),
    ];
    flow.start_responder();
    signers
}

/// Files `count` requests through the workflow, round robin over the citizens.
async fn file(
    flow: &Flow,
    signers: &[(&'static str, Issued)],
    count: usize,
) -> Vec<(String, &'static str)> {
    let mut numbers = Vec::new();
    for n in 0..count {
        let (iin, signer) = &signers[n % signers.len()];
        let service = if *iin == ERLAN {
            "gcvp-pension-info"
        } else {
            "pension-fund-statement"
        };
        let number = flow.file_signed_by(service, iin, json!({}), signer).await;
        numbers.push((number, *iin));
    }
    numbers
}

#[tokio::test]
async fn every_event_of_full_lifecycles_reaches_the_topic_once_in_stream_order_with_its_headers() {
    let broker = Broker::start();
    let topic = topic();
    let mut env = kafka_env(&broker, &topic);
    // The status view the citizens poll below is fed from the topic, inside `egov serve`.
    env.push(("EGOV_PROJECTIONS".into(), "kafka".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut flow = Flow::start(healthy(), &pairs).await;
    let signers = citizens(&mut flow).await;
    let numbers = file(&flow, &signers, 6).await;
    for (number, iin) in &numbers {
        flow.outcome(number, iin, Duration::from_secs(60)).await;
    }
    // Twelve more streams, filed and left unsigned: the six lifecycles' streams alone all hash to
    // one of the three partitions about once in 81 runs, eighteen streams once in 10^8.
    for n in 0..12 {
        let (iin, _) = &signers[n % signers.len()];
        flow.submit("pension-fund-statement", iin, json!({})).await;
    }
    relayed(&flow.db, &topic, Duration::from_secs(60)).await;
    let log = log(&flow.db).await;
    assert!(
        log.len() >= 6 * 8,
        "a full lifecycle has its events: {}",
        log.len()
    );
    let read = read_topic(&broker.addr, &topic, log.len()).await;
    assert_eq!(
        check_delivery(&log, &read),
        0,
        "one relay run publishes each event once"
    );
    assert_eq!(read.len(), log.len());
    // The headers name the event.
    for published in &read {
        let event = &published.event;
        assert_eq!(published.headers["event-type"], event.event_type);
        assert_eq!(
            published.headers["schema-version"],
            event.schema_version.to_string()
        );
        assert_eq!(published.headers["event-id"], event.event_id.to_string());
        assert_eq!(
            published.headers["correlation-id"],
            event.metadata.correlation_id.to_string()
        );
    }
    // The topic was created with the configured partitions, and the requests spread over them.
    let partitions: HashSet<i32> = read.iter().map(|p| p.partition).collect();
    assert!(
        partitions.len() > 1,
        "eighteen requests all in one partition: {partitions:?}"
    );
    // The relay's lag is in /metrics, and /readyz shows it publishing.
    let (code, ready) = flow.get("/readyz", "").await;
    assert_eq!(code, 200);
    assert_eq!(ready["relay"]["state"], "publishing", "{ready}");
    assert_eq!(ready["relay"]["events_behind"], 0, "{ready}");
    let metrics = metrics_at(&flow.http, &flow.served.base).await;
    assert!(
        metrics.contains("egov_relay_lag_events 0"),
        "no relay lag in /metrics: {metrics}"
    );
}

/// Appends `streams` streams of `per_stream` events straight to the log (the relay does not care
/// what the events say).
async fn append_many(db: &TestDb, streams: usize, per_stream: u64) {
    let store = event_store::EventStore::new(db.database());
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..streams / 8 {
                let stream = domain::StreamId::from_uuid(uuid::Uuid::new_v4());
                let metadata = domain::EventMetadata {
                    actor: domain::Actor::system("kafka-test").expect("actor"),
                    channel: domain::Channel::System,
                    correlation_id: stream.as_uuid(),
                    causation_id: None,
                };
                for chunk in 0..per_stream / 10 {
                    let events: Vec<_> = (0..10)
                        .map(|n| {
                            event_store::NewEvent::new(
                                uuid::Uuid::new_v4(),
                                "Tested",
                                1,
                                json!({"writer": writer, "n": chunk * 10 + n}),
                            )
                            .expect("event")
                        })
                        .collect();
                    store
                        .append(
                            stream,
                            domain::StreamVersion::new(chunk * 10),
                            &events,
                            &metadata,
                        )
                        .await
                        .expect("append");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// The flow publishing to `broker`'s `topic` with no projector of its own (separate
/// `egov projections run --source kafka` processes project), and the settings those take.
async fn flow_without_projectors(broker: &Broker, topic: &str) -> (Flow, Vec<(String, String)>) {
    let mut env = kafka_env(broker, topic);
    env.push(("EGOV_PROJECTIONS".into(), "off".into()));
    // `/readyz` calls a read model behind soon, for the tests that watch it.
    env.push(("EGOV_READ_MODELS_STALE_AFTER".into(), "2s".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let flow = Flow::start(healthy(), &pairs).await;
    env.extend(flow.db.service_env().await.map(|(k, v)| (k.to_owned(), v)));
    (flow, env)
}

/// `egov relay` as a process of its own.
fn relay(env: &[(String, String)]) -> Child {
    let mut command = egov();
    command.arg("relay");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .stdin(Stdio::null())
        .spawn()
        .expect("start egov relay")
}

/// The relay's checkpoint: events it had acknowledged, and the cursor.
async fn relay_checkpoint(db: &TestDb, topic: &str) -> Option<(i64, i64, i64)> {
    db.superuser()
        .await
        .query_opt(
            "SELECT events_applied, tx_id, position FROM projections.checkpoints WHERE name = $1",
            &[&format!("kafka-relay:{topic}")],
        )
        .await
        .expect("checkpoint")
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

#[tokio::test]
async fn a_relay_killed_mid_stream_and_restarted_loses_nothing_and_repeats_only_its_unacknowledged_tail(
) {
    let broker = Broker::start();
    let topic = topic();
    let mut env = kafka_env(&broker, &topic);
    let db = TestDb::migrated().await;
    env.extend(db.service_env().await.map(|(k, v)| (k.to_owned(), v)));
    append_many(&db, 400, 100).await;
    let log = log(&db).await;
    let mut first = relay(&env);
    // Kill it once it has had some, not all, acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if relay_checkpoint(&db, &topic).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the relay acknowledged nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    let (acknowledged, tx, position) = relay_checkpoint(&db, &topic).await.expect("checkpoint");
    let total = i64::try_from(log.len()).expect("count");
    assert!(
        acknowledged < total,
        "the relay finished all {total} events before it was killed: the test needs more events"
    );
    let mut second = relay(&env);
    relayed(&db, &topic, Duration::from_secs(120)).await;
    signal("-TERM", second.id());
    assert!(
        second.wait().expect("exit").success(),
        "relay stops cleanly on SIGTERM"
    );
    let read = read_topic(&broker.addr, &topic, log.len()).await;
    let repeats = check_delivery(&log, &read);
    // Repeats come only from after the checkpoint the killed relay had stored.
    let after_checkpoint = usize::try_from(total - acknowledged).expect("count");
    assert!(
        repeats <= after_checkpoint,
        "{repeats} repeats, but only {after_checkpoint} events were unacknowledged"
    );
    let mut counts: HashMap<uuid::Uuid, usize> = HashMap::new();
    for published in &read {
        *counts.entry(published.event.event_id).or_default() += 1;
    }
    for published in &read {
        if counts[&published.event.event_id] > 1 {
            let cursor = published.event.cursor;
            assert!(
                (cursor.transaction(), cursor.position()) > (tx, position),
                "event {} at {cursor} was acknowledged before the kill, yet published twice",
                published.event.event_id
            );
        }
    }
}

#[tokio::test]
async fn with_the_broker_stopped_commands_go_on_and_the_backlog_drains_in_order_when_it_is_back() {
    let broker = Broker::start();
    let topic = topic();
    let mut env = kafka_env(&broker, &topic);
    env.push(("EGOV_KAFKA_STUCK_AFTER".into(), "2s".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut flow = Flow::start(healthy(), &pairs).await;
    let signers = citizens(&mut flow).await;
    let before = file(&flow, &signers, 3).await;
    for (number, iin) in &before {
        flow.outcome(number, iin, Duration::from_secs(60)).await;
    }
    relayed(&flow.db, &topic, Duration::from_secs(60)).await;

    broker.pause();
    // Requests are filed and carried to their results while the broker is away.
    let during = file(&flow, &signers, 6).await;
    for (number, iin) in &during {
        flow.outcome(number, iin, Duration::from_secs(60)).await;
    }
    // The relay is seen stuck; the service stays ready.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, ready) = flow.get("/readyz", "").await;
        assert_eq!(code, 200, "{ready}");
        if ready["relay"]["state"] == "stuck" {
            assert_eq!(ready["status"], "degraded");
            assert!(
                ready["relay"]["events_behind"].as_i64() > Some(0),
                "{ready}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the relay never showed as stuck: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    broker.resume();
    relayed(&flow.db, &topic, Duration::from_secs(120)).await;
    let log = log(&flow.db).await;
    let read = read_topic(&broker.addr, &topic, log.len()).await;
    check_delivery(&log, &read);
    let (_, ready) = flow.get("/readyz", "").await;
    assert_eq!(ready["relay"]["state"], "publishing", "{ready}");
}

/// `egov projections run --source kafka --only request_status` as a process of its own, logging
/// (JSON) to `log`.
fn kafka_projector(env: &[(String, String)], log: &std::path::Path) -> Child {
    let mut command = egov();
    command
        .args([
            "projections",
            "run",
            "--source",
            "kafka",
            "--only",
            "request_status",
        ])
        .env("EGOV_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,projections=info");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start egov projections run")
}

/// Polls `done` until it holds, failing with `what` after 30 s.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the projectors logging to `logs` each hold some of the 3 partitions, and all of them
/// together.
fn shared(logs: &[&std::path::Path]) -> bool {
    let held: Vec<usize> = logs
        .iter()
        .map(|log| assignments(log).last().copied().unwrap_or(0))
        .collect();
    held.iter().all(|n| *n > 0) && held.iter().sum::<usize>() == 3
}

/// The partitions each assignment in a projector's log gave it.
fn assignments(log: &std::path::Path) -> Vec<usize> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("partitions assigned"))
        })
        .map(|line| {
            line["fields"]["partitions"]
                .as_str()
                .unwrap_or_default()
                .matches('(')
                .count()
        })
        .collect()
}

/// Waits until the Kafka-sourced status view holds a row for each of `numbers` at its final
/// status.
async fn projected(db: &TestDb, numbers: &[(String, &str)], limit: Duration) {
    let client = db.superuser().await;
    let wanted: Vec<String> = numbers.iter().map(|(n, _)| n.clone()).collect();
    let deadline = Instant::now() + limit;
    loop {
        let done: i64 = client
            .query_one(
                "SELECT count(*) FROM projections.request_status \
                  WHERE number = ANY($1) AND status IN ('completed', 'refused')",
                &[&wanted],
            )
            .await
            .expect("status view")
            .get(0);
        if done == i64::try_from(wanted.len()).expect("count") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {} requests in the Kafka-sourced status view",
            wanted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read models `/readyz` calls behind.
async fn behind(flow: &Flow) -> Vec<String> {
    let (code, ready) = flow.get("/readyz", "").await;
    assert_eq!(code, 200, "{ready}");
    serde_json::from_value(ready["read_models"]["behind"].clone()).expect("a list of names")
}

#[tokio::test]
async fn kafka_sourced_projectors_share_the_partitions_and_take_over_from_one_killed_or_stopped() {
    let broker = Broker::start();
    let topic = topic();
    let (mut flow, env) = flow_without_projectors(&broker, &topic).await;
    let signers = citizens(&mut flow).await;
    let logs = tempfile::tempdir().expect("logs");
    let log = |name: &str| logs.path().join(format!("{name}.log"));
    // The first alone holds every partition (and leads the group).
    let mut one = kafka_projector(&env, &log("one"));
    wait_for(
        || assignments(&log("one")).last() == Some(&3),
        "one holds every partition",
    )
    .await;
    // A second joins: they share the partitions.
    let mut two = kafka_projector(&env, &log("two"));
    wait_for(
        || shared(&[&log("one"), &log("two")]),
        "one and two share the partitions",
    )
    .await;
    let first = file(&flow, &signers, 6).await;
    projected(&flow.db, &first, Duration::from_secs(60)).await;
    // `/readyz` tells which read models are current: the status view, fed from the topic, is;
    // the three no process projects here fall behind.
    let told = || async { behind(&flow).await == ["data_access", "analytics", "log_tree"] };
    eventually(
        "/readyz names the three read models nobody projects",
        Duration::from_secs(30),
        told,
    )
    .await;

    // The first (the group's leader) stops: the second takes its partitions over.
    signal("-TERM", one.id());
    assert!(
        one.wait().expect("exit").success(),
        "stops cleanly on SIGTERM"
    );
    wait_for(
        || assignments(&log("two")).last() == Some(&3),
        "two takes over every partition",
    )
    .await;
    let second = file(&flow, &signers, 6).await;
    projected(&flow.db, &second, Duration::from_secs(90)).await;

    // kill -9 of the second while requests flow; restarted once the group has let it go, it
    // resumes from the offsets in PostgreSQL: nothing skipped, nothing applied twice (the replay
    // check below compares every row).
    let third = file(&flow, &signers, 3).await;
    two.kill().expect("kill -9");
    let killed_at = tokio::time::Instant::now();
    two.wait().expect("reaped");
    let fourth = file(&flow, &signers, 3).await;
    // With nobody applying what the relay publishes, `/readyz` calls the status view behind.
    let stale = || async { behind(&flow).await.contains(&"request_status".to_owned()) };
    eventually(
        "/readyz calls the status view behind",
        Duration::from_secs(30),
        stale,
    )
    .await;
    // The group must have dropped the killed member before the restart joins: tansu 0.6.0 would
    // otherwise keep handing the dead member its partitions (README, Kafka). The member expires
    // when its session (6 s, EGOV_KAFKA_SESSION_TIMEOUT) has run out since it was killed; tansu
    // does not tell (its DescribeGroups keeps listing the member), so that deadline is awaited.
    tokio::time::sleep_until(killed_at + SESSION_TIMEOUT + Duration::from_secs(1)).await;
    let mut again = kafka_projector(&env, &log("again"));
    projected(&flow.db, &third, Duration::from_secs(90)).await;
    projected(&flow.db, &fourth, Duration::from_secs(90)).await;
    assert!(!behind(&flow).await.contains(&"request_status".to_owned()));
    wait_for(
        || assignments(&log("again")).last() == Some(&3),
        "the restarted projector holds every partition",
    )
    .await;
    relayed(&flow.db, &topic, Duration::from_secs(60)).await;
    signal("-TERM", again.id());
    assert!(
        again.wait().expect("exit").success(),
        "stops cleanly on SIGTERM"
    );

    // Every partition's offset stands at its end, and every read model equals the one built from
    // PostgreSQL.
    let client = flow.db.superuser().await;
    let partitions: i64 = client
        .query_one(
            "SELECT count(DISTINCT partition) FROM projections.kafka_offsets \
              WHERE projector = 'request_status' AND topic = $1",
            &[&topic],
        )
        .await
        .expect("offsets")
        .get(0);
    assert_eq!(partitions, 3, "every partition was consumed");
    let check = egov()
        .args([
            "replay",
            "--check",
            "--source",
            "kafka",
            "--only",
            "request_status",
        ])
        .envs(flow.db.service_env().await)
        .output()
        .expect("replay --check");
    assert!(
        check.status.success(),
        "the Kafka-sourced read models differ from the log: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let reports: Value = serde_json::from_slice(&check.stdout).expect("the report");
    assert_eq!(reports[0]["name"], "request_status", "{reports}");
    assert_eq!(reports[0]["rows"], 18, "{reports}");
}

/// Finding 11: a message on the topic that is not an event (a misconfigured producer, a hand)
/// stopped a Kafka-sourced projector for good - it failed on it, rejoined, got it again. Now it is
/// parked in `projections.kafka_parked` with its partition and offset, the projector goes on with
/// the messages after it, and `/readyz` and `/metrics` show it.
#[tokio::test]
async fn a_message_on_the_topic_that_is_not_an_event_is_parked_and_the_projector_goes_on() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let broker = Broker::start();
    let topic = topic();
    let (mut flow, env) = flow_without_projectors(&broker, &topic).await;
    let signers = citizens(&mut flow).await;
    let first = file(&flow, &signers, 2).await;
    relayed(&flow.db, &topic, Duration::from_secs(60)).await;

    // Junk into every partition, between the events before and after it.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    for partition in 0..3 {
        for junk in [
            &b"not json"[..],
            br#"{"event_type": "Forged"}"#,
            &[0xff; 100],
        ] {
            producer
                .send(
                    BaseRecord::<str, [u8]>::to(&topic)
                        .partition(partition)
                        .key("junk")
                        .payload(junk),
                )
                .expect("queued");
        }
    }
    producer.flush(Duration::from_secs(10)).expect("delivered");
    let second = file(&flow, &signers, 3).await;

    let logs = tempfile::tempdir().expect("logs");
    let mut projector = kafka_projector(&env, &logs.path().join("projector.log"));
    projected(&flow.db, &first, Duration::from_secs(90)).await;
    projected(&flow.db, &second, Duration::from_secs(90)).await;
    let client = flow.db.superuser().await;
    let parked: Vec<(i32, i64, String)> = client
        .query(
            "SELECT partition, \"offset\", reason FROM projections.kafka_parked \
              WHERE projector = 'request_status' AND topic = $1 ORDER BY 1, 2",
            &[&topic],
        )
        .await
        .expect("parked")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(parked.len(), 9, "{parked:?}");

    let http = reqwest::Client::new();
    let ready: Value = http
        .get(format!("{}/readyz", flow.served.base))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["kafka_parked"], 9, "{ready}");
    let metrics = metrics_at(&http, &flow.served.base).await;
    assert!(
        metrics.contains("egov_kafka_parked_messages 9"),
        "{metrics}"
    );
    signal("-TERM", projector.id());
    assert!(projector.wait().expect("exit").success());
}

/// The chaos campaign caught a Kafka-sourced projector seeking back to offset 49 of a partition
/// 254 times and being handed offset 51 each time, behind for good: it had stopped after applying
/// 48, in the middle of one of the producer's batches, and the broker (tansu) answers a fetch with
/// the batches that begin at or after the offset asked for. Seeking back further, to where that
/// batch begins, brings the rest of it; nothing is given up as a hole, since the broker has it.
#[tokio::test]
async fn a_projector_resuming_in_the_middle_of_a_brokers_batch_reads_the_rest_of_it() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let broker = Broker::start();
    let topic = topic();
    let (mut flow, env) = flow_without_projectors(&broker, &topic).await;
    let signers = citizens(&mut flow).await;
    let first = file(&flow, &signers, 2).await;
    relayed(&flow.db, &topic, Duration::from_secs(60)).await;
    let logs = tempfile::tempdir().expect("logs");
    let mut projector = kafka_projector(&env, &logs.path().join("first.log"));
    projected(&flow.db, &first, Duration::from_secs(90)).await;
    signal("-TERM", projector.id());
    assert!(projector.wait().expect("exit").success());

    // Six messages in one batch into partition 0, then one in a batch of its own after them (the
    // relay may publish between them).
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("linger.ms", "500")
        .create()
        .expect("producer");
    let send = |n: i64| {
        let payload = format!("junk {n}");
        producer
            .send_result(
                FutureRecord::<str, [u8]>::to(&topic)
                    .partition(0)
                    .key("junk")
                    .payload(payload.as_bytes()),
            )
            .expect("queued")
    };
    let queued: Vec<_> = (0..6).map(send).collect();
    let mut offsets = Vec::new();
    for delivery in queued {
        offsets.push(delivery.await.expect("answered").expect("delivered").offset);
    }
    let start = offsets[0];
    assert_eq!(offsets, (start..start + 6).collect::<Vec<_>>(), "one batch");
    let last = send(6).await.expect("answered").expect("delivered").offset;

    // As if the projector had stopped after the first two of the batch.
    let client = flow.db.superuser().await;
    client
        .execute(
            "INSERT INTO projections.kafka_offsets (projector, topic, partition, next_offset) \
             VALUES ('request_status', $1, 0, $2) \
             ON CONFLICT (projector, topic, partition) DO UPDATE SET next_offset = $2",
            &[&topic, &(start + 2)],
        )
        .await
        .expect("the stored offset");
    let second = file(&flow, &signers, 2).await;
    let mut projector = kafka_projector(&env, &logs.path().join("second.log"));
    projected(&flow.db, &second, Duration::from_secs(90)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let parked = loop {
        let parked: Vec<(i64, i64)> = client
            .query(
                "SELECT \"offset\", size FROM projections.kafka_parked \
                  WHERE projector = 'request_status' AND topic = $1 AND partition = 0 ORDER BY 1",
                &[&topic],
            )
            .await
            .expect("parked")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        if parked.len() >= 5 || Instant::now() > deadline {
            break parked;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Each message from the stored offset on is parked as what it is (not an event, 6 bytes),
    // none as a hole (0 bytes), and none before it.
    let mut expected: Vec<(i64, i64)> = (start + 2..start + 6).map(|o| (o, 6)).collect();
    expected.push((last, 6));
    assert_eq!(
        parked,
        expected,
        "{}",
        std::fs::read_to_string(logs.path().join("second.log")).unwrap_or_default()
    );
    signal("-TERM", projector.id());
    assert!(projector.wait().expect("exit").success());
}
