//! Guarantee 5: every event carries its metadata, and it reads back as it was written.

use chrono::Utc;
use domain::{Actor, Channel, EventMetadata, StreamVersion};
use event_store::NewEvent;
use serde_json::json;
use uuid::Uuid;

use crate::support::{new_stream, read_all_until, store};

#[tokio::test]
async fn every_event_reads_back_with_actor_channel_ids_time_and_schema_version() {
    let (_db, store) = store().await;
    let stream = new_stream();
    let metadata = EventMetadata {
        actor: Actor::parse("operator:op-17").expect("actor"),
        channel: Channel::ServiceCentre,
        correlation_id: Uuid::new_v4(),
        causation_id: Some(Uuid::new_v4()),
    };
    let event = NewEvent::new(
        Uuid::new_v4(),
        "RequestSubmitted",
        3,
        json!({"service": "x"}),
    )
    .expect("event");
    let before = Utc::now();
    let outcome = store
        .append(
            stream,
            StreamVersion::EMPTY,
            std::slice::from_ref(&event),
            &metadata,
        )
        .await
        .expect("append");
    let after = Utc::now();

    let read = store
        .read_stream(stream, StreamVersion::EMPTY, 10)
        .await
        .expect("read");
    assert_eq!(read.len(), 1);
    let stored = &read[0];
    assert_eq!(stored.metadata, metadata);
    assert_eq!(stored.event_id, event.event_id());
    assert_eq!(stored.event_type, "RequestSubmitted");
    assert_eq!(stored.schema_version, 3);
    assert_eq!(stored.payload, json!({"service": "x"}));
    assert_eq!(stored.stream_version, StreamVersion::new(1));
    assert_eq!(stored.cursor, outcome.events[0].cursor);
    let slack = chrono::Duration::microseconds(1);
    assert!(
        stored.recorded_at >= before - slack && stored.recorded_at <= after,
        "recorded time"
    );

    let global = read_all_until(&store, 1).await;
    assert_eq!(global, read, "the global read carries the same envelope");
}
