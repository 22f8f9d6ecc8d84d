//! The request command handlers against the real PostgreSQL: numbers, idempotent retries,
//! ownership and the optimistic-concurrency loop.

use commands::requests::{CommandError, Requests, Submission};
use domain::request::{DomainError, RequestEvent};
use domain::{Actor, Iin, RequestStatus, ServiceCode, SignIn, SignedIn};
use event_store::EventStore;
use serde_json::json;
use testkit::TestDb;

async fn handlers() -> (TestDb, Requests) {
    let db = TestDb::migrated().await;
    let requests = Requests::new(EventStore::new(db.database()));
    (db, requests)
}

fn citizen(iin: &str) -> Actor {
    Actor::Citizen {
        iin: Iin::parse(iin).expect("valid IIN"),
    }
}

fn submission(iin: &str, key: Option<&str>) -> Submission {
    Submission {
        idempotency_key: key.map(str::to_owned),
        ..Submission::on_portal(
            ServiceCode::PensionFundStatement,
            Iin::parse(iin).expect("valid IIN"),
            json!({}),
        )
    }
}

const ALICE: &str = "900101300007";
const BOB: &str = "850715400109";

#[tokio::test]
async fn numbers_are_the_date_and_a_sequence_and_never_repeat() {
    let (_db, requests) = handlers().await;
    let mut numbers = Vec::new();
    for _ in 0..5 {
        let submitted = requests
            .submit(submission(ALICE, None))
            .await
            .expect("submit");
        assert!(!submitted.replayed);
        numbers.push(submitted.info.number.clone());
    }
    let today = domain::calendar::local_date(chrono::Utc::now());
    for (i, number) in numbers.iter().enumerate() {
        assert_eq!(number.date(), Some(today));
        assert_eq!(
            number.sequence(),
            Some(u32::try_from(i).expect("small") + 1)
        );
    }
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_same_request_even_when_concurrent() {
    let (db, requests) = handlers().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            requests.submit(submission(ALICE, Some("key-1"))).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task").expect("submit"));
    }
    let first = &answers[0].info;
    assert!(
        answers.iter().all(|a| a.info == *first),
        "every retry answers the same request"
    );
    assert_eq!(
        answers.iter().filter(|a| !a.replayed).count(),
        1,
        "exactly one filed it"
    );
    // One stream, one event, one number drawn for it.
    let client = db.superuser().await;
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(events, 1);
    // The same key from another citizen is another request.
    let bobs = requests
        .submit(submission(BOB, Some("key-1")))
        .await
        .expect("submit");
    assert_ne!(bobs.info.number, first.number);
}

#[tokio::test]
async fn the_same_key_for_a_different_request_is_refused() {
    let (_db, requests) = handlers().await;
    let first = requests
        .submit(submission(ALICE, Some("k")))
        .await
        .expect("submit");
    let mut other = submission(ALICE, Some("k"));
    other.service = ServiceCode::SikAssignment;
    match requests.submit(other).await {
        Err(CommandError::IdempotencyKeyReused { number }) => assert_eq!(number, first.info.number),
        other => panic!("expected the key to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_form_is_refused_and_costs_no_number() {
    let (_db, requests) = handlers().await;
    let mut bad = submission(ALICE, None);
    bad.form = json!({"colour": "red"});
    assert!(matches!(
        requests.submit(bad).await,
        Err(CommandError::Rejected(DomainError::InvalidForm(_)))
    ));
    let good = requests
        .submit(submission(ALICE, None))
        .await
        .expect("submit");
    assert_eq!(good.info.number.sequence(), Some(1));
}

#[tokio::test]
async fn signing_records_the_signature_once_and_only_for_the_owner() {
    let (_db, requests) = handlers().await;
    let submitted = requests
        .submit(submission(ALICE, None))
        .await
        .expect("submit");
    let number = submitted.info.number.clone();
    // Another citizen cannot even tell the request exists.
    assert!(matches!(
        requests
            .sign(&number, b"cms", &citizen(BOB), SignedIn::CITIZEN)
            .await,
        Err(CommandError::NotFound)
    ));
    // Nor the applicant through a medical organisation's sign-in, which signs only the checks.
    let clinic = SignedIn {
        sign_in: SignIn::MedicalOrganisation,
        organisation: Some("clinic-1"),
    };
    assert!(matches!(
        requests
            .sign(&number, b"cms", &citizen(ALICE), clinic)
            .await,
        Err(CommandError::NotFound)
    ));
    assert!(matches!(
        requests
            .document_to_sign(&number, &citizen(ALICE), clinic)
            .await,
        Err(CommandError::NotFound)
    ));
    let signed = requests
        .sign(&number, b"cms", &citizen(ALICE), SignedIn::CITIZEN)
        .await
        .expect("sign");
    assert_eq!(signed.version.get(), 2);
    assert!(!signed.replayed);
    // The same signature again is a retry; a different one is refused.
    let again = requests
        .sign(&number, b"cms", &citizen(ALICE), SignedIn::CITIZEN)
        .await
        .expect("resend");
    assert!(again.replayed);
    assert_eq!(again.version.get(), 2);
    assert!(matches!(
        requests
            .sign(&number, b"other", &citizen(ALICE), SignedIn::CITIZEN)
            .await,
        Err(CommandError::Rejected(DomainError::NotAwaitingSignature))
    ));
    let stream = requests.find(&number).await.expect("find").expect("known");
    let loaded = requests.load(stream).await.expect("load");
    assert_eq!(loaded.state.status(), Some(RequestStatus::Submitted));
    let events = requests
        .store()
        .read_stream(stream, domain::StreamVersion::EMPTY, 10)
        .await
        .expect("read");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].metadata.actor, citizen(ALICE));
    assert_eq!(events[1].metadata.correlation_id, stream.as_uuid());
    let RequestEvent::Signed(signed) = RequestEvent::decode(
        &events[1].event_type,
        events[1].schema_version,
        events[1].payload.clone(),
    )
    .expect("decode") else {
        panic!("a signature event")
    };
    assert_eq!(signed.signature_sha256.len(), 64);
}

#[tokio::test]
async fn an_unknown_number_is_not_found() {
    let (_db, requests) = handlers().await;
    let number = domain::RequestNumber::parse("20200101000001").expect("number");
    assert!(matches!(
        requests
            .sign(&number, b"cms", &citizen(ALICE), SignedIn::CITIZEN)
            .await,
        Err(CommandError::NotFound)
    ));
}

#[tokio::test]
async fn an_actor_past_its_daily_limit_is_refused_until_tomorrow_and_a_retry_costs_nothing() {
    let (db, requests) = handlers().await;
    let limited = |key: &str| Submission {
        daily_limit: 2,
        ..submission(ALICE, Some(key))
    };
    requests.submit(limited("one")).await.expect("first");
    requests.submit(limited("two")).await.expect("second");
    // A retried submission gets its number again and counts nothing.
    let again = requests.submit(limited("two")).await.expect("a retry");
    assert!(again.replayed);
    match requests.submit(limited("three")).await {
        Err(CommandError::DailyLimitReached { until }) => {
            let wait = until - chrono::Utc::now();
            assert!(
                wait > chrono::Duration::zero() && wait <= chrono::Duration::hours(24),
                "{until}"
            );
        }
        other => panic!("expected the daily limit, got {other:?}"),
    }
    // Another citizen's count is their own.
    requests
        .submit(Submission {
            daily_limit: 2,
            ..submission(BOB, None)
        })
        .await
        .expect("another citizen");
    let drawn: i64 = db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM request_numbers", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(drawn, 3, "the refused filing drew no number");
}
