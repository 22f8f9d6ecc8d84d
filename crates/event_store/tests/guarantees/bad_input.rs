//! Appends that cannot be stored get typed errors and store nothing.

use domain::StreamVersion;
use event_store::{InvalidEvent, NewEvent, StoreError};
use event_store::{MAX_EVENTS_PER_APPEND, MAX_EVENT_BYTES};
use serde_json::json;
use uuid::Uuid;

use crate::support::{event, events, metadata, new_stream, store};

#[tokio::test]
async fn appends_that_cannot_be_stored_get_typed_errors_and_store_nothing() {
    let (_db, store) = store().await;
    let stream = new_stream();
    let big = NewEvent::new(
        Uuid::new_v4(),
        "Big",
        1,
        json!({"blob": "x".repeat(MAX_EVENT_BYTES)}),
    )
    .expect("valid shape");
    let twice = event(1);

    type Case = (&'static str, Vec<NewEvent>, fn(&StoreError) -> bool);
    let cases: Vec<Case> = vec![
        ("an empty append", vec![], |e| {
            matches!(e, StoreError::EmptyAppend)
        }),
        ("an oversized payload", vec![event(1), big], |e| {
            matches!(
                e,
                StoreError::InvalidEvent {
                    reason: InvalidEvent::TooLarge { .. },
                    ..
                }
            )
        }),
        ("one id twice", vec![twice.clone(), twice], |e| {
            matches!(
                e,
                StoreError::InvalidEvent {
                    reason: InvalidEvent::DuplicateInAppend,
                    ..
                }
            )
        }),
        (
            "too many events",
            events(u64::try_from(MAX_EVENTS_PER_APPEND).expect("small") + 1),
            |e| matches!(e, StoreError::TooManyEvents { .. }),
        ),
    ];
    for (what, batch, expected) in cases {
        let result = store
            .append(stream, StreamVersion::EMPTY, &batch, &metadata())
            .await;
        match result {
            Err(error) => assert!(expected(&error), "{what}: got {error:?}"),
            Ok(outcome) => panic!("{what}: was stored: {outcome:?}"),
        }
    }
    assert_eq!(
        store.stream_version(stream).await.expect("version"),
        StreamVersion::EMPTY
    );
}

#[tokio::test]
async fn payload_text_that_is_not_json_is_refused_before_the_store() {
    let id = Uuid::new_v4();
    for text in ["", "{", "{\"a\":}", "[1, 2", "nul"] {
        let error = NewEvent::from_json_text(id, "A", 1, text).expect_err(text);
        assert!(
            matches!(
                error,
                StoreError::InvalidEvent {
                    reason: InvalidEvent::InvalidJson(_),
                    ..
                }
            ),
            "{text:?}: {error:?}"
        );
    }
    let not_object = NewEvent::from_json_text(id, "A", 1, "[1]").expect_err("array");
    assert!(matches!(
        not_object,
        StoreError::InvalidEvent {
            reason: InvalidEvent::PayloadNotAnObject,
            ..
        }
    ));
}
