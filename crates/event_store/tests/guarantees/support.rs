//! Builders shared by the guarantee tests.

use domain::{Actor, Channel, EventMetadata, StreamId};
use event_store::{EventStore, NewEvent};
use serde_json::json;
use testkit::TestDb;
use uuid::Uuid;

/// A migrated database and a store over it.
pub async fn store() -> (TestDb, EventStore) {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    (db, store)
}

pub fn new_stream() -> StreamId {
    StreamId::from_uuid(Uuid::new_v4())
}

/// An event with a small payload naming `n`.
pub fn event(n: u64) -> NewEvent {
    NewEvent::new(Uuid::new_v4(), "Tested", 1, json!({ "n": n })).expect("valid event")
}

pub fn events(count: u64) -> Vec<NewEvent> {
    (1..=count).map(event).collect()
}

pub fn metadata() -> EventMetadata {
    EventMetadata {
        actor: Actor::parse("system:test").expect("valid actor"),
        channel: Channel::System,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
    }
}

/// Reads the global log from the start until `count` events have arrived (or 30 s pass).
///
/// The gap-free read trails the oldest transaction open on the *server*, and other tests run their
/// transactions on the same server, so an event just committed may take a moment to be readable.
pub async fn read_all_until(store: &EventStore, count: usize) -> Vec<domain::RecordedEvent> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut cursor = domain::Cursor::START;
    let mut read = Vec::new();
    while read.len() < count && std::time::Instant::now() < deadline {
        let page = store.read_all(cursor, 1_000).await.expect("read the log");
        cursor = page.next;
        if page.events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        read.extend(page.events);
    }
    read
}
