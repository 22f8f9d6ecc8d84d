//! Every read model of the registry, rebuilt and replay-checked against the real PostgreSQL: the
//! replay agrees with what the projectors stored, a rebuild swaps in the same rows (and the
//! analysts' views keep reading the analytics tables), and a changed row is named by its table and
//! key.

use std::time::Duration;

use commands::read_audit::{ReadAudit, Reader};
use commands::requests::{Requests, Submission};
use domain::{Actor, Iin, ServiceCode, SignedIn};
use event_store::EventStore;
use projections::{Progress, ReadModel, Through};
use serde_json::json;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

const CITIZENS: [&str; 2] = ["900101300007", "850715400109"];

/// Two requests filed and signed, and an operator's reads of both citizens recorded.
async fn history(store: &EventStore) {
    let requests = Requests::new(store.clone());
    let mut citizens = Vec::new();
    for raw in CITIZENS {
        let iin = Iin::parse(raw).expect("valid IIN");
        let actor = Actor::Citizen { iin: iin.clone() };
        let submitted = requests
            .submit(Submission::on_portal(
                ServiceCode::PensionFundStatement,
                iin.clone(),
                json!({}),
            ))
            .await
            .expect("submit");
        requests
            .sign(
                &submitted.info.number,
                b"a signature",
                &actor,
                SignedIn::CITIZEN,
            )
            .await
            .expect("sign");
        citizens.push(iin);
    }
    let stop = CancellationToken::new();
    let (audit, flush) = ReadAudit::new(store.clone(), stop.clone());
    let flushing = tokio::spawn(flush);
    let reader = Reader {
        id: "op-1".into(),
        role: "operator".into(),
        organisation: Some("TsON-1".into()),
        iin: None,
    };
    let refs: Vec<&Iin> = citizens.iter().collect();
    audit
        .record_reads(&reader, &refs, "request:any".into(), Some("a call".into()))
        .await
        .expect("on record");
    stop.cancel();
    flushing.await.expect("read-auditing stopped");
}

/// Runs every read model until it has applied the whole log.
async fn project(store: &EventStore) {
    let stop = CancellationToken::new();
    let tasks: Vec<_> = ReadModel::ALL
        .iter()
        .map(|model| {
            let progress = tokio::sync::watch::channel(Progress::default()).0;
            model.spawn(store, progress, None, &stop)
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for model in ReadModel::ALL {
        loop {
            let lag = model.lag(store.database().pool()).await.expect("lag");
            if lag.events_behind == 0 && lag.updated_at.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{model} never caught up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.cancel();
    for task in tasks {
        task.await.expect("projector task");
    }
}

async fn all_consistent(store: &EventStore, when: &str) {
    for model in ReadModel::ALL {
        let report = model
            .check(store, Through::Checkpoint)
            .await
            .expect("check");
        assert!(report.is_consistent(), "{when}: {report:?}");
        assert!(report.rows > 0, "{when}: {model} has rows");
    }
}

#[tokio::test]
async fn every_read_model_is_rebuilt_and_replay_checked_and_a_changed_row_is_named() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    history(&store).await;
    project(&store).await;
    all_consistent(&store, "as projected").await;

    let events = store
        .read_all(domain::Cursor::START, 1_000)
        .await
        .expect("log")
        .events
        .len() as u64;
    for model in ReadModel::ALL {
        let report = model.rebuild(&store).await.expect("rebuild");
        assert_eq!(report.events, events, "{model} rebuilt from every event");
    }
    all_consistent(&store, "rebuilt").await;
    let admin = db.superuser().await;
    let requests: i64 = admin
        .query_one(
            "SELECT coalesce(sum(requests), 0)::bigint FROM analytics.requests_daily",
            &[],
        )
        .await
        .expect("the analysts' view reads the rebuilt facts")
        .get(0);
    assert_eq!(requests, 2);

    // A changed step of the analytics facts and a changed read are named by table and key.
    admin
        .batch_execute(
            "UPDATE projections.analytics_steps SET started_at = started_at - interval '1 day';
             UPDATE projections.data_access SET purpose = 'changed' WHERE seq = 0",
        )
        .await
        .expect("tamper");
    let analytics = ReadModel::Analytics
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    assert_eq!(analytics.differing, 2, "{analytics:?}");
    assert!(
        analytics
            .differences
            .iter()
            .all(|d| d.key.starts_with("analytics_steps:") && d.key.ends_with("/signature")),
        "{analytics:?}"
    );
    let reads = ReadModel::DataAccess
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    assert_eq!(reads.differing, 1, "{reads:?}");
    assert!(reads.differences[0].key.ends_with("/0"), "{reads:?}");
    let status = ReadModel::RequestStatus
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    assert!(status.is_consistent(), "{status:?}");
}
