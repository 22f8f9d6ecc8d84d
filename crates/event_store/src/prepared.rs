//! An append checked and turned into the parameters of the database's append functions: the shape
//! in which [`crate::append`] hands appends to [`crate::combiner`], and in which the database's
//! answer comes back.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use domain::hash_chain::CanonicalEvent;
use domain::{canonical_bytes, Cursor, EventMetadata, StreamId, StreamVersion};
use serde_json::value::RawValue;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::error::{InvalidEvent, StoreError};
use crate::new_event::NewEvent;

/// The most events one append takes; a command produces a handful.
pub const MAX_EVENTS_PER_APPEND: usize = 1_000;

/// The most bytes one event may take in its canonical form (payload and envelope).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The SQLSTATE `append_events` raises when the expected version is not the stream's version.
const WRONG_EXPECTED_VERSION: &str = "EGV01";

/// Where one appended event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedEvent {
    /// The event's id.
    pub event_id: Uuid,
    /// Its version in the stream.
    pub stream_version: StreamVersion,
    /// Its place in the global order.
    pub cursor: Cursor,
}

/// An append checked and turned into the parameters of `append_events`.
///
/// It owns its data, so that the [`crate::combiner`] can carry it to the task that writes it.
pub(crate) struct PreparedAppend {
    pub(crate) stream_id: StreamId,
    pub(crate) expected: StreamVersion,
    pub(crate) event_ids: Vec<Uuid>,
    pub(crate) event_types: Vec<String>,
    pub(crate) schema_versions: Vec<i32>,
    /// Serialised once here; sent as they are (cheaper than cloning each `Value` for the writer).
    pub(crate) payloads: Vec<Box<RawValue>>,
    pub(crate) canonical: Vec<Vec<u8>>,
    pub(crate) actor: String,
    pub(crate) metadata: EventMetadata,
    pub(crate) recorded_at: DateTime<Utc>,
}

impl PreparedAppend {
    pub(crate) fn new(
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        if events.len() > MAX_EVENTS_PER_APPEND {
            return Err(StoreError::TooManyEvents {
                count: events.len(),
                limit: MAX_EVENTS_PER_APPEND,
            });
        }
        // The store keeps microseconds; the hash must cover exactly what is kept.
        let recorded_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let mut prepared = PreparedAppend {
            stream_id,
            expected,
            event_ids: Vec::with_capacity(events.len()),
            event_types: Vec::with_capacity(events.len()),
            schema_versions: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            canonical: Vec::with_capacity(events.len()),
            actor: metadata.actor.to_string(),
            metadata: metadata.clone(),
            recorded_at,
        };
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        for (offset, event) in (1u64..).zip(events) {
            let invalid = |reason| StoreError::InvalidEvent {
                event_id: event.event_id,
                reason,
            };
            if !seen.insert(event.event_id) {
                return Err(invalid(InvalidEvent::DuplicateInAppend));
            }
            let schema_version = i32::try_from(event.schema_version)
                .map_err(|_| invalid(InvalidEvent::BadSchemaVersion))?;
            let stream_version = expected.advanced_by(offset).ok_or(StoreError::Conflict {
                stream_id,
                expected,
                actual: expected,
            })?;
            let bytes = canonical_bytes(CanonicalEvent {
                stream_id,
                stream_version,
                event_id: event.event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: &event.payload,
                metadata,
                recorded_at,
            });
            if bytes.len() > MAX_EVENT_BYTES {
                return Err(invalid(InvalidEvent::TooLarge {
                    size: bytes.len(),
                    limit: MAX_EVENT_BYTES,
                }));
            }
            prepared.event_ids.push(event.event_id);
            prepared.event_types.push(event.event_type.clone());
            prepared.schema_versions.push(schema_version);
            let payload = serde_json::value::to_raw_value(&event.payload)
                .map_err(|e| invalid(InvalidEvent::InvalidJson(e.to_string())))?;
            prepared.payloads.push(payload);
            prepared.canonical.push(bytes);
        }
        Ok(prepared)
    }

    /// The payloads as jsonb parameters.
    pub(crate) fn payload_params(&self) -> Vec<Json<&RawValue>> {
        self.payloads.iter().map(|p| Json(p.as_ref())).collect()
    }

    /// Runs the append as one call of `append_events`.
    pub(crate) async fn execute(
        &self,
        client: &impl GenericClient,
    ) -> Result<Vec<AppendedEvent>, tokio_postgres::Error> {
        let statement = client
            .prepare_cached(
                "SELECT out_version, out_position, out_tx_id \
                   FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .await?;
        let expected = i64::try_from(self.expected.get()).unwrap_or(i64::MAX);
        let canonical: Vec<&[u8]> = self.canonical.iter().map(Vec::as_slice).collect();
        let payloads = self.payload_params();
        let rows = client
            .query(
                &statement,
                &[
                    &self.stream_id.as_uuid(),
                    &expected,
                    &self.event_ids,
                    &self.event_types,
                    &self.schema_versions,
                    &payloads,
                    &canonical,
                    &self.actor,
                    &self.metadata.channel.as_str(),
                    &self.metadata.correlation_id,
                    &self.metadata.causation_id,
                    &self.recorded_at,
                ],
            )
            .await?;
        let mut appended = Vec::with_capacity(rows.len());
        for row in rows {
            let version: i64 = row.try_get(0)?;
            let position: i64 = row.try_get(1)?;
            let tx_id: i64 = row.try_get(2)?;
            // The versions are expected+1..=expected+n, in the order of the events.
            let index = version
                .checked_sub(expected + 1)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.event_ids.get(i).copied());
            if let Some(event_id) = index {
                appended.push(AppendedEvent {
                    event_id,
                    stream_version: StreamVersion::new(version.unsigned_abs()),
                    cursor: Cursor::new(tx_id, position),
                });
            }
        }
        appended.sort_by_key(|e| e.stream_version);
        Ok(appended)
    }
}

/// Whether the database refused the append for a version clash or a stored event id, rather than
/// failing.
pub(crate) fn is_rejection(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::UNIQUE_VIOLATION || code.code() == WRONG_EXPECTED_VERSION
    })
}
