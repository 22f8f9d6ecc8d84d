//! The projection machinery and the status view against the real PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use commands::requests::{Requests, Submission};
use domain::{Actor, Channel, Cursor, Iin, RequestStatus, ServiceCode, SignedIn};
use event_store::EventStore;
use projections::{
    checkpoint, run, Progress, Projector, ReadModel, RequestStatusProjector, StatusView,
};
use serde_json::json;
use testkit::TestDb;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const ALICE: &str = "900101300007";

fn submission(iin: &str) -> Submission {
    let applicant = Iin::parse(iin).expect("valid IIN");
    Submission::on_portal(ServiceCode::PensionFundStatement, applicant, json!({}))
}

struct Running {
    progress: watch::Receiver<Progress>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(store: &EventStore) -> Running {
    let (sender, progress) = watch::channel(Progress::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(
        store.clone(),
        Arc::new(RequestStatusProjector),
        sender,
        stop.clone(),
    ));
    Running {
        progress,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("projector task");
    }
}

/// Waits until the view shows `number` at `version` (or 30 s pass).
async fn until_version(view: &StatusView, number: &str, version: i64) -> projections::StatusRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(row) = view.by_number_fresh(number).await.expect("read view") {
            if row.version >= version {
                return row;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{number} never reached version {version}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_view_follows_the_log_live_with_texts_in_three_languages() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let running = start(&store);

    let submitted = requests.submit(submission(ALICE)).await.expect("submit");
    let number = submitted.info.number.to_string();
    let row = until_version(&view, &number, 1).await;
    assert_eq!(row.status, RequestStatus::AwaitingSignature);
    assert_eq!(row.iin.as_str(), ALICE);
    assert_eq!(row.service, ServiceCode::PensionFundStatement);
    assert_eq!(row.deadline, None, "no deadline runs before the signature");
    assert!(!row.result_ready);

    let actor = Actor::Citizen {
        iin: Iin::parse(ALICE).expect("iin"),
    };
    requests
        .sign(&submitted.info.number, b"cms", &actor, SignedIn::CITIZEN)
        .await
        .expect("sign");
    let row = until_version(&view, &number, 2).await;
    assert_eq!(row.status, RequestStatus::Submitted);
    let loaded = requests
        .load(domain::StreamId::from_uuid(submitted.info.request_id))
        .await
        .expect("load");
    let signed_deadline = loaded.events.iter().find_map(|e| match e {
        domain::request::RequestEvent::Signed(s) => s.deadline,
        _ => None,
    });
    assert!(
        signed_deadline.is_some(),
        "the hour runs from the signature"
    );
    assert_eq!(row.deadline, signed_deadline);
    let expected = domain::Messages::shared().status(RequestStatus::Submitted);
    assert_eq!(row.status_text, expected.texts);
    assert!(!row.status_text.kk.is_empty() && !row.status_text.en.is_empty());
    assert!(running.progress.borrow().batches >= 2);
    running.stop().await;
}

#[tokio::test]
async fn a_projector_catches_up_after_downtime_and_its_lag_says_how_far_behind_it_was() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let mut numbers = Vec::new();
    for _ in 0..30 {
        numbers.push(
            requests
                .submit(submission(ALICE))
                .await
                .expect("submit")
                .info
                .number
                .to_string(),
        );
    }
    let lag = checkpoint::lag(db.database().pool(), RequestStatusProjector::NAME)
        .await
        .expect("lag");
    assert_eq!(lag.events_behind, 30);
    assert!(lag.seconds_behind >= 0.0);
    assert_eq!(lag.cursor, Cursor::START);

    let running = start(&store);
    for number in &numbers {
        until_version(&view, number, 1).await;
    }
    running.stop().await;
    let lag = checkpoint::lag(db.database().pool(), RequestStatusProjector::NAME)
        .await
        .expect("lag");
    assert_eq!(lag.events_behind, 0);
    assert!(lag.seconds_behind.abs() < f64::EPSILON);
    let history = view
        .history(&Iin::parse(ALICE).expect("iin"), None, 100)
        .await
        .expect("history");
    assert_eq!(history.len(), 30);
    assert!(
        history
            .windows(2)
            .all(|w| (w[0].received_at, w[0].stream_id) > (w[1].received_at, w[1].stream_id)),
        "newest first"
    );
}

#[tokio::test]
async fn applying_a_batch_again_changes_nothing() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let submitted = requests.submit(submission(ALICE)).await.expect("submit");
    let actor = Actor::Citizen {
        iin: Iin::parse(ALICE).expect("iin"),
    };
    requests
        .sign(&submitted.info.number, b"cms", &actor, SignedIn::CITIZEN)
        .await
        .expect("sign");
    let events = store
        .read_stream(
            domain::StreamId::from_uuid(submitted.info.request_id),
            domain::StreamVersion::EMPTY,
            10,
        )
        .await
        .expect("read");
    let projector = RequestStatusProjector;
    let mut client = db.database().pool().get().await.expect("client");
    let table = projector.table();
    for round in 0..3 {
        let tx = client.transaction().await.expect("tx");
        // The whole stream, then only its first event: neither moves the row back.
        let batch = if round == 2 {
            &events[..1]
        } else {
            &events[..]
        };
        let applied = projector
            .apply(&tx, &table, batch, None)
            .await
            .expect("apply");
        assert_eq!(applied, if round == 0 { 2 } else { 0 }, "round {round}");
        tx.commit().await.expect("commit");
    }
    let view = StatusView::new(db.database().pool().clone());
    let row = view
        .by_number_fresh(submitted.info.number.as_str())
        .await
        .expect("read")
        .expect("row");
    assert_eq!((row.status, row.version), (RequestStatus::Submitted, 2));
}

#[tokio::test]
async fn a_rebuild_swaps_in_the_same_rows_while_readers_always_find_them() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let actor = Actor::Citizen {
        iin: Iin::parse(ALICE).expect("iin"),
    };
    let mut numbers = Vec::new();
    for i in 0..200 {
        let submitted = requests.submit(submission(ALICE)).await.expect("submit");
        if i % 2 == 0 {
            requests
                .sign(&submitted.info.number, b"cms", &actor, SignedIn::CITIZEN)
                .await
                .expect("sign");
        }
        numbers.push(submitted.info.number.to_string());
    }
    let running = start(&store);
    for number in &numbers {
        until_version(&view, number, 1).await;
    }
    let before = view
        .history(&Iin::parse(ALICE).expect("iin"), None, 1000)
        .await
        .expect("history");
    assert_eq!(before.len(), 200);

    // Readers hammer the view during the rebuild; every read must find its row.
    let stop_readers = CancellationToken::new();
    let mut readers = Vec::new();
    for r in 0..4 {
        let view = view.clone();
        let numbers = numbers.clone();
        let stop = stop_readers.clone();
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            let mut i = r;
            while !stop.is_cancelled() {
                let number = &numbers[i % numbers.len()];
                let row = view
                    .by_number_fresh(number)
                    .await
                    .expect("read during rebuild");
                assert!(row.is_some(), "{number} missing during the rebuild");
                reads += 1;
                i += 7;
            }
            reads
        }));
    }
    // Writes go on during the rebuild too; the live projector and the rebuild must agree.
    let late = requests.submit(submission(ALICE)).await.expect("submit");
    let report = ReadModel::RequestStatus
        .rebuild(&store)
        .await
        .expect("rebuild");
    let later = requests.submit(submission(ALICE)).await.expect("submit");
    until_version(&view, later.info.number.as_str(), 1).await;
    until_version(&view, late.info.number.as_str(), 1).await;
    stop_readers.cancel();
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("reader");
    }
    assert!(reads > 0);
    // The rebuild read at least what was written before the readers started; what it could not
    // read yet (held back behind other tests' open transactions) the live projector applies after
    // the swap, from the checkpoint the rebuild set.
    assert!(report.events >= 300, "{report:?}");
    let after = view
        .history(&Iin::parse(ALICE).expect("iin"), None, 1000)
        .await
        .expect("history");
    assert_eq!(after.len(), 202);
    let after_old: Vec<_> = after
        .into_iter()
        .filter(|r| numbers.contains(&r.number.to_string()))
        .collect();
    assert_eq!(after_old, before, "the rebuilt rows equal the live ones");
    running.stop().await;
}

#[tokio::test]
async fn the_cached_view_drops_a_row_as_soon_as_the_projector_applies_a_change() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let running = start(&store);
    let cached = StatusView::cached(db.database().pool().clone(), running.progress.clone());
    let fresh = StatusView::new(db.database().pool().clone());
    let actor = Actor::Citizen {
        iin: Iin::parse(ALICE).expect("iin"),
    };
    let mut numbers = Vec::new();
    for _ in 0..20 {
        let submitted = requests.submit(submission(ALICE)).await.expect("submit");
        numbers.push(submitted.info.number);
    }
    for number in &numbers {
        until_version(&fresh, number.as_str(), 1).await;
    }
    for number in &numbers {
        // Read twice: the second read is served from the cache once this process leads.
        cached
            .by_number(number.as_str())
            .await
            .expect("read")
            .expect("row");
        let entry = cached
            .by_number(number.as_str())
            .await
            .expect("read")
            .expect("row");
        assert_eq!(entry.0.version, 1);
    }
    for number in &numbers {
        requests
            .sign(number, b"cms", &actor, SignedIn::CITIZEN)
            .await
            .expect("sign");
    }
    // Every cached read reflects the signature within moments (the rows expire only after 60 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for number in &numbers {
        loop {
            let entry = cached
                .by_number(number.as_str())
                .await
                .expect("read")
                .expect("row");
            if entry.0.version == 2 {
                assert_eq!(entry.0.status, RequestStatus::Submitted);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{number} stayed stale in the cache"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // A rebuild swaps the table under the cache: what it serves afterwards is still current.
    ReadModel::RequestStatus
        .rebuild(&store)
        .await
        .expect("rebuild");
    requests
        .sign(&numbers[0], b"cms", &actor, SignedIn::CITIZEN)
        .await
        .expect("resend is a retry");
    for number in &numbers {
        let entry = cached
            .by_number(number.as_str())
            .await
            .expect("read")
            .expect("row");
        let row = fresh
            .by_number_fresh(number.as_str())
            .await
            .expect("read")
            .expect("row");
        assert_eq!(entry.0, row);
    }
    running.stop().await;
}

#[tokio::test]
async fn the_views_receivers_are_not_woken_when_a_batch_changes_no_request() {
    // Read-auditing appends a batch of reads every few milliseconds; the status projector passes
    // them, and its caches and long polls must not be made to look again for nothing.
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let mut running = start(&store);
    let submitted = requests.submit(submission(ALICE)).await.expect("submit");
    until_version(&view, submitted.info.number.as_str(), 1).await;
    let batches = running.progress.borrow_and_update().batches;

    let reads = domain::data_access::DataAccessed {
        reads: vec![domain::data_access::DataRead {
            subject: Iin::parse(ALICE).expect("iin"),
            reader: "operator-1".into(),
            role: "operator".into(),
            organisation: Some("centre-1".into()),
            what: format!("request:{}", submitted.info.number),
            purpose: None,
            at: chrono::Utc::now(),
        }],
    };
    let event = event_store::NewEvent::new(
        uuid::Uuid::now_v7(),
        domain::data_access::EVENT_TYPE,
        domain::data_access::SCHEMA_VERSION,
        reads.to_payload().expect("payload"),
    )
    .expect("event");
    let appended = store
        .append(
            domain::StreamId::from_uuid(uuid::Uuid::now_v7()),
            domain::StreamVersion::EMPTY,
            &[event],
            &domain::EventMetadata {
                actor: Actor::system("read-audit").expect("actor"),
                channel: Channel::System,
                correlation_id: uuid::Uuid::now_v7(),
                causation_id: None,
            },
        )
        .await
        .expect("append");
    let cursor = appended.events[0].cursor;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running.progress.borrow().cursor < cursor {
        assert!(
            std::time::Instant::now() < deadline,
            "the projector did not pass the reads"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(running.progress.borrow().batches, batches);
    assert!(!running.progress.has_changed().expect("sender alive"));
    running.stop().await;
}

#[tokio::test]
async fn rows_and_checkpoint_are_committed_together_and_no_transaction_is_left_open_when_batches_are_applied(
) {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let running = start(&store);
    let mut numbers = Vec::new();
    for _ in 0..5 {
        let submitted = requests.submit(submission(ALICE)).await.expect("submit");
        let number = submitted.info.number.to_string();
        until_version(&view, &number, 1).await;
        numbers.push(number);
    }
    // The checkpoint stored is where the projector says it is: it moved in the batch's own
    // commit, which was sent with the checkpoint's statement.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let head = store.head().await.expect("head");
    while running.progress.borrow().cursor < head {
        assert!(tokio::time::Instant::now() < deadline, "never caught up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = checkpoint::load(
        &db.database().pool().get().await.expect("client"),
        RequestStatusProjector::NAME,
    )
    .await
    .expect("checkpoint");
    assert_eq!(stored, head);
    let admin = db.superuser().await;
    // Every connection the projector gave back to the pool is out of its transaction. (Right
    // after a batch the projector keeps a transaction begun for the next one, for a moment.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = $1 AND state LIKE 'idle in transaction%'",
                &[&db.name()],
            )
            .await
            .expect("activity")
            .get(0);
        if open == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a connection was left inside a transaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.stop().await;
    let lag = checkpoint::lag(db.database().pool(), RequestStatusProjector::NAME)
        .await
        .expect("lag");
    assert_eq!(lag.events_behind, 0);
    for number in &numbers {
        assert!(view.by_number_fresh(number).await.expect("read").is_some());
    }
}

#[tokio::test]
async fn a_checkpoint_is_not_advanced_when_it_does_not_stand_where_the_batch_started() {
    let db = TestDb::migrated().await;
    let client = db.superuser().await;
    client
        .batch_execute("SET ROLE egov_app")
        .await
        .expect("the application's role");
    let advance = "SELECT projections.advance_checkpoint($1, $2, $3, $4, $5, $6)";
    let stands = || async {
        let row = client
            .query_one(
                "SELECT tx_id, position, events_applied FROM projections.checkpoints WHERE name = 'p'",
                &[],
            )
            .await
            .expect("checkpoint");
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        )
    };
    // The first batch, from the start of the log: there is no checkpoint yet.
    client
        .execute(advance, &[&"p", &0i64, &0i64, &10i64, &3i64, &3i64])
        .await
        .expect("the first batch");
    // The next, from where the first ended.
    client
        .execute(advance, &[&"p", &10i64, &3i64, &12i64, &1i64, &2i64])
        .await
        .expect("the next batch");
    assert_eq!(stands().await, (12, 1, 5));
    // From anywhere else (a rebuild moved it meanwhile), or from the start again: refused, and the
    // checkpoint stays.
    for (tx, position) in [(10i64, 3i64), (0, 0), (13, 1)] {
        let error = client
            .execute(advance, &[&"p", &tx, &position, &20i64, &1i64, &1i64])
            .await
            .expect_err("the checkpoint moved");
        assert_eq!(
            error.code().map(tokio_postgres::error::SqlState::code),
            Some("EGC01"),
            "{error}"
        );
    }
    assert_eq!(stands().await, (12, 1, 5));
}

#[tokio::test]
async fn a_live_batch_is_rolled_back_and_the_projector_follows_on_when_its_checkpoint_moved_meanwhile(
) {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let requests = Requests::new(store.clone());
    let view = StatusView::new(db.database().pool().clone());
    let running = start(&store);
    let first = requests.submit(submission(ALICE)).await.expect("submit");
    until_version(&view, first.info.number.as_str(), 1).await;

    // As a rebuild does: under the projector's lock, the read model is taken past the next
    // request (here without its row) and the checkpoint moved there.
    let mut rebuild = db.superuser().await;
    let tx = rebuild.transaction().await.expect("begin");
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('egov-projection:request_status', 0))",
        &[],
    )
    .await
    .expect("the projector's lock");
    let skipped = requests.submit(submission(ALICE)).await.expect("submit");
    tx.execute(
        "UPDATE projections.checkpoints SET (tx_id, position) = \
           (SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1) \
          WHERE name = 'request_status'",
        &[],
    )
    .await
    .expect("checkpoint moved");
    // The projector reads the request meanwhile and waits for the lock with its batch.
    let watcher = db.superuser().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                  WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()",
                &[],
            )
            .await
            .expect("locks")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the projector never waited for its lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.commit().await.expect("commit");

    let last = requests.submit(submission(ALICE)).await.expect("submit");
    until_version(&view, last.info.number.as_str(), 1).await;
    assert_eq!(
        view.by_number_fresh(skipped.info.number.as_str())
            .await
            .expect("read"),
        None,
        "the batch written from the old checkpoint was rolled back"
    );
    running.stop().await;
}
