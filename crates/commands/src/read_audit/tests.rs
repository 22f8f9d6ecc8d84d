use super::*;
use domain::Iin;
use testkit::TestDb;

const CITIZENS: [&str; 2] = ["760324400005", "850715300003"];

fn operator(id: &str) -> Reader {
    Reader {
        id: id.into(),
        role: "operator".into(),
        organisation: Some("TsON-1".into()),
        iin: None,
    }
}

/// The recorder over a fresh database, its committer running.
async fn start() -> (TestDb, ReadAudit, Committing) {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let stop = CancellationToken::new();
    let (audit, task) = ReadAudit::new(store, stop.clone());
    let task = tokio::spawn(task);
    (db, audit, Committing { stop, task })
}

struct Committing {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Committing {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("committer");
    }
}

/// Every `DataAccessed` event committed, read straight from the table (not through the global
/// order, whose visibility waits for older transactions of the cluster).
async fn recorded(db: &TestDb) -> Vec<DataAccessed> {
    let client = db.superuser().await;
    let rows = client
        .query(
            "SELECT schema_version, payload FROM events WHERE event_type = $1 ORDER BY position",
            &[&EVENT_TYPE],
        )
        .await
        .expect("events");
    rows.iter()
        .map(|row| {
            let version: i32 = row.get(0);
            let version = u32::try_from(version).expect("version");
            DataAccessed::from_payload(version, row.get(1)).expect("decodes")
        })
        .collect()
}

#[tokio::test]
async fn a_read_is_on_record_when_recording_it_returns() {
    let (db, audit, committing) = start().await;
    let subject = Iin::parse(CITIZENS[0]).expect("iin");
    audit
        .record_reads(
            &operator("op-1"),
            &[&subject],
            "request:20261123000001".into(),
            Some("call".into()),
        )
        .await
        .expect("recorded");
    // No waiting: it is committed.
    let reads: Vec<DataRead> = recorded(&db)
        .await
        .into_iter()
        .flat_map(|e| e.reads)
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].subject, subject);
    assert_eq!(reads[0].reader, "op-1");
    assert_eq!(reads[0].purpose.as_deref(), Some("call"));
    committing.stop().await;
}

#[tokio::test]
async fn concurrent_reads_share_commits_and_every_one_is_on_record() {
    let (db, audit, committing) = start().await;
    let citizens: Vec<Iin> = CITIZENS
        .iter()
        .map(|c| Iin::parse(c).expect("iin"))
        .collect();
    let reads = 2_000;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..reads {
        let audit = audit.clone();
        let citizen = citizens[n % 2].clone();
        tasks.spawn(async move {
            let reader = operator(if n % 3 == 0 { "op-2" } else { "op-1" });
            // Long, distinct purposes: each read a group of its own in its event.
            let purpose = format!("{n} {}", "\"".repeat(400));
            audit
                .record_reads(&reader, &[&citizen], format!("request:{n}"), Some(purpose))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("recorded");
    }
    // The citizen reading their own data is not recorded.
    let own = Reader {
        id: CITIZENS[0].into(),
        role: "citizen".into(),
        organisation: None,
        iin: Some(citizens[0].clone()),
    };
    audit
        .record_reads(&own, &[&citizens[0]], "request:own".into(), None)
        .await
        .expect("nothing to record");
    let events = recorded(&db).await;
    let mut stored: Vec<DataRead> = events.iter().flat_map(|e| e.reads.clone()).collect();
    assert_eq!(stored.len(), reads, "every read, once, and only those");
    stored.sort_by_key(|read| {
        read.what
            .strip_prefix("request:")
            .and_then(|n| n.parse::<usize>().ok())
    });
    for (n, read) in stored.iter().enumerate() {
        assert_eq!(read.what, format!("request:{n}"));
        assert_eq!(read.subject, citizens[n % 2]);
    }
    let client = db.superuser().await;
    let appends: i64 = client
        .query_one(
            "SELECT count(DISTINCT stream_id) FROM events WHERE event_type = $1",
            &[&EVENT_TYPE],
        )
        .await
        .expect("count")
        .get(0);
    assert!(appends < 2_000, "reads shared commits: {appends} appends");
    committing.stop().await;
}

#[tokio::test]
async fn a_record_that_could_not_be_stored_is_refused_before_it_is_queued() {
    let (db, audit, committing) = start().await;
    let subject = Iin::parse(CITIZENS[0]).expect("iin");
    let refused = audit
        .record_reads(&operator("op\u{0}1"), &[&subject], "request:1".into(), None)
        .await;
    assert!(
        matches!(refused, Err(AuditError::Refused(_))),
        "{refused:?}"
    );
    let too_long = audit
        .record_reads(
            &operator("op-1"),
            &[&subject],
            "request:1".into(),
            Some("я".repeat(1_001)),
        )
        .await;
    assert!(
        matches!(too_long, Err(AuditError::Refused(_))),
        "{too_long:?}"
    );
    assert!(recorded(&db).await.is_empty());
    committing.stop().await;
}

#[tokio::test]
async fn a_cut_connection_of_the_committer_is_replaced_and_the_next_read_is_on_record() {
    let (db, audit, committing) = start().await;
    let subject = Iin::parse(CITIZENS[0]).expect("iin");
    let reader = operator("op-1");
    let citizens = [&subject];
    let read = |what: &str| audit.record_reads(&reader, &citizens, what.into(), None);
    read("request:1").await.expect("first read recorded");
    // Every session of the database ends, the committer's own connection among them.
    let admin = testkit::connect(&testkit::admin_config()).await;
    let ended: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .expect("end sessions")
        .get(0);
    assert!(ended >= 1, "the committer held a connection");
    read("request:2")
        .await
        .expect("recorded on a new connection");
    let whats: Vec<String> = recorded(&db)
        .await
        .into_iter()
        .flat_map(|e| e.reads)
        .map(|r| r.what)
        .collect();
    assert_eq!(whats, ["request:1", "request:2"]);
    committing.stop().await;
}

#[tokio::test]
async fn reads_waiting_for_the_committer_are_counted_as_queued() {
    let db = TestDb::migrated().await;
    // The committer is not running: every read waits in the queue.
    let (audit, _committer) =
        ReadAudit::new(EventStore::new(db.database()), CancellationToken::new());
    assert_eq!(audit.queued(), 0);
    let waiting: Vec<_> = (0..3)
        .map(|n| {
            let audit = audit.clone();
            tokio::spawn(async move {
                let subject = Iin::parse(CITIZENS[0]).expect("iin");
                audit
                    .record_reads(&operator("op-1"), &[&subject], format!("request:{n}"), None)
                    .await
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while audit.queued() < 3 {
        assert!(Instant::now() < deadline, "queued: {}", audit.queued());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for read in waiting {
        read.abort();
    }
}

#[tokio::test]
async fn with_the_database_away_a_read_is_refused_in_time_and_stopping_does_not_hang() {
    let (db, audit, committing) = start().await;
    let subject = Iin::parse(CITIZENS[0]).expect("iin");
    let admin = testkit::connect(&testkit::admin_config()).await;
    let away = |allow: bool| format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allow}", db.name());
    admin.batch_execute(&away(false)).await.expect("close");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .expect("end sessions");
    let started = Instant::now();
    let refused = audit
        .record_reads(&operator("op-1"), &[&subject], "request:1".into(), None)
        .await;
    assert_eq!(refused, Err(AuditError::Unavailable));
    assert!(started.elapsed() < RETRY_FOR * 3, "{:?}", started.elapsed());
    // A read under way when the stop comes is answered, and the committer ends.
    let pending = {
        let audit = audit.clone();
        let subject = subject.clone();
        tokio::spawn(async move {
            audit
                .record_reads(&operator("op-2"), &[&subject], "request:2".into(), None)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = Instant::now();
    committing.stop().await;
    assert!(
        stopping.elapsed() < RETRY_FOR * 2,
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(pending.await.expect("task"), Err(AuditError::Unavailable));
    admin.batch_execute(&away(true)).await.expect("reopen");
    assert!(
        recorded(&db).await.is_empty(),
        "nothing refused is on record"
    );
}

/// A read waits for no timer of its own: the committer ends an append that hangs (here behind a
/// lock on the events table) by the oldest record's deadline, refuses its reads, and serves the
/// next read on a fresh connection once the table is free.
#[tokio::test]
async fn an_append_that_hangs_is_given_up_in_time_and_the_next_read_is_on_record() {
    let (db, audit, committing) = start().await;
    let subject = Iin::parse(CITIZENS[0]).expect("iin");
    let mut locker = db.superuser().await;
    let lock = locker.transaction().await.expect("begin");
    lock.batch_execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let started = Instant::now();
    let refused = audit
        .record_reads(&operator("op-1"), &[&subject], "request:1".into(), None)
        .await;
    let waited = started.elapsed();
    assert_eq!(refused, Err(AuditError::Unavailable));
    assert!(
        waited >= RETRY_FOR - Duration::from_millis(100) && waited < RETRY_FOR * 2,
        "{waited:?}"
    );
    lock.rollback().await.expect("unlock");
    audit
        .record_reads(&operator("op-2"), &[&subject], "request:2".into(), None)
        .await
        .expect("on record");
    let whats: Vec<String> = recorded(&db)
        .await
        .into_iter()
        .flat_map(|event| event.reads)
        .map(|read| read.what)
        .collect();
    assert!(whats.contains(&"request:2".to_owned()), "{whats:?}");
    committing.stop().await;
}
