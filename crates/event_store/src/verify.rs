//! Checking the hash chains: recomputes every event's hash from its stored fields and its
//! predecessor's hash, and names the first event of each stream that does not check out.

use domain::{ChainBreak, ChainVerifier, StreamId, StreamVersion};
use serde::Serialize;
use uuid::Uuid;

use crate::error::StoreError;
use crate::read::{decode_event, EVENT_COLUMNS};
use crate::EventStore;

/// How many rows one page of a verification reads.
const PAGE: u32 = 2_000;

/// The most broken streams a report lists; the count of events checked goes on past it.
const MAX_BREAKS: usize = 100;

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Streams checked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// The first event that does not check out in each broken stream, in stream id order (at most
    /// 100). Empty when the checked range is intact.
    pub breaks: Vec<ChainBreak>,
}

impl VerifyReport {
    /// Whether every checked chain is intact.
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }

    /// The first broken event found, if any.
    pub fn first_break(&self) -> Option<&ChainBreak> {
        self.breaks.first()
    }
}

impl EventStore {
    /// Verifies one stream's hash chain.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails or a row cannot be decoded; a broken chain is not an
    /// error but a [`VerifyReport`] with a break.
    #[tracing::instrument(skip_all, fields(stream_id = %stream_id), err)]
    pub async fn verify_stream(&self, stream_id: StreamId) -> Result<VerifyReport, StoreError> {
        let mut verifier = ChainVerifier::new();
        let mut report = VerifyReport {
            streams: 0,
            events: 0,
            breaks: Vec::new(),
        };
        let mut after = StreamVersion::EMPTY;
        loop {
            let events = self.read_stream(stream_id, after, PAGE).await?;
            let Some(last) = events.last() else { break };
            after = last.stream_version;
            report.streams = 1;
            for event in &events {
                report.events += 1;
                if let Err(broken) = verifier.push(event) {
                    report.breaks.push(broken);
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// Verifies every stream's hash chain, page by page in (stream id, version) order.
    ///
    /// # Errors
    /// As [`EventStore::verify_stream`].
    #[tracing::instrument(skip_all, err)]
    pub async fn verify_all(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport {
            streams: 0,
            events: 0,
            breaks: Vec::new(),
        };
        let mut current: Option<(StreamId, ChainVerifier, bool)> = None;
        let mut after = (Uuid::nil(), 0i64);
        loop {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events \
                  WHERE (stream_id, stream_version) > ($1, $2) \
                  ORDER BY stream_id, stream_version LIMIT $3"
            );
            let rows = self
                .query(
                    &sql,
                    &[&after.0, &after.1, &i64::from(PAGE)],
                    "reading events to verify",
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = decode_event(row)?;
                after = (
                    event.stream_id.as_uuid(),
                    i64::try_from(event.stream_version.get()).unwrap_or(i64::MAX),
                );
                let same_stream = current
                    .as_ref()
                    .is_some_and(|(id, _, _)| *id == event.stream_id);
                if !same_stream {
                    report.streams += 1;
                    current = Some((event.stream_id, ChainVerifier::new(), false));
                }
                report.events += 1;
                if let Some((_, verifier, broken)) = current.as_mut() {
                    // After a stream's first break its later events cannot check out either.
                    if !*broken {
                        if let Err(found) = verifier.push(&event) {
                            *broken = true;
                            if report.breaks.len() < MAX_BREAKS {
                                report.breaks.push(found);
                            }
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}
