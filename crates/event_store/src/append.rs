//! Appending events: checked and turned into canonical bytes ([`crate::prepared`]), then written
//! by the [`crate::combiner`] with one SQL call (or inside the caller's transaction, with
//! [`EventStore::append_in`]).

use std::sync::Arc;

use chrono::Utc;
use domain::{Cursor, EventMetadata, StreamId, StreamVersion};
use uuid::Uuid;

use crate::combiner::{Failure, Written};
use crate::error::StoreError;
use crate::new_event::NewEvent;
use crate::prepared::{is_rejection, AppendedEvent, PreparedAppend};
use crate::EventStore;

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The stream appended to.
    pub stream_id: StreamId,
    /// The events in stream order, with the positions they have in the log.
    pub events: Vec<AppendedEvent>,
    /// `true` when every event id was already stored in this stream by an earlier append: nothing
    /// was appended and `events` reports the original positions (a retried command).
    pub already_stored: bool,
}

impl AppendOutcome {
    /// The stream's version after its last event of this append.
    pub fn version(&self) -> StreamVersion {
        self.events
            .last()
            .map_or(StreamVersion::EMPTY, |e| e.stream_version)
    }
}

/// How a statement of one append ended.
enum Executed {
    /// Written now, at these positions.
    Appended(Vec<AppendedEvent>),
    /// Refused as a resend: these events were stored before.
    AlreadyStored(Vec<AppendedEvent>),
}

/// How a rejected append is to be reported.
enum Rejection {
    AlreadyStored(Vec<AppendedEvent>),
    Error(StoreError),
}

impl EventStore {
    /// Appends `events` to `stream_id`, which must be at version `expected` (`StreamVersion::EMPTY`
    /// for a new stream). The events commit together or not at all.
    ///
    /// Re-appending events whose ids are all stored in this stream already appends nothing and
    /// returns the original positions with [`AppendOutcome::already_stored`] set, whatever version
    /// the stream has reached since: a retried command stays single.
    ///
    /// # Errors
    /// - [`StoreError::Conflict`] with the actual version when another writer appended first;
    /// - [`StoreError::EmptyAppend`], [`StoreError::TooManyEvents`], [`StoreError::InvalidEvent`]
    ///   for appends that cannot be stored (checked before the database is asked);
    /// - [`StoreError::EventIdReused`] when an id is stored but not as this append;
    /// - [`StoreError::Unavailable`] and [`StoreError::Database`] when the database fails; nothing
    ///   is half-written then, but whether the append committed is unknown when the connection
    ///   broke during commit, and retrying with the same event ids resolves it.
    #[tracing::instrument(level = "debug", skip_all, fields(stream_id = %stream_id, expected = %expected, events = events.len()), err(level = "debug"))]
    pub async fn append(
        &self,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_announced(stream_id, expected, events, metadata, true)
            .await
    }

    /// As [`EventStore::append`], without waking subscribers: for events no read model waits for
    /// (the records of reads), which subscribers find on their next wake or poll. Spares an
    /// announcement and a projector round per append where appends come by the thousand.
    ///
    /// # Errors
    /// As [`EventStore::append`].
    pub async fn append_unannounced(
        &self,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_announced(stream_id, expected, events, metadata, false)
            .await
    }

    async fn append_announced(
        &self,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
        announce: bool,
    ) -> Result<AppendOutcome, StoreError> {
        let prepared = Arc::new(PreparedAppend::new(
            stream_id,
            expected,
            events,
            metadata,
            Utc::now(),
        )?);
        match self.combiner.submit(prepared.clone()).await {
            Written::Appended(events) => {
                if announce {
                    self.notifier.poke();
                }
                Ok(AppendOutcome {
                    stream_id,
                    events,
                    already_stored: false,
                })
            }
            Written::Rejected => match self.resolve_rejection(&prepared).await? {
                Rejection::AlreadyStored(events) => {
                    tracing::debug!("append was already stored; reporting the original positions");
                    Ok(AppendOutcome {
                        stream_id,
                        events,
                        already_stored: true,
                    })
                }
                Rejection::Error(error) => Err(error),
            },
            Written::Failed(Failure::Pool(error)) => Err(StoreError::Unavailable(error)),
            Written::Failed(Failure::Database(error)) => Err(StoreError::Database {
                doing: "appending events",
                source: error,
            }),
        }
    }

    /// As [`EventStore::append_unannounced`], written on `client` in a statement of its own
    /// (not through the shared writers): a writer that keeps its own connection can send its
    /// next append before the last one's answer came back, and the server runs them in order.
    ///
    /// # Errors
    /// As [`EventStore::append`].
    pub async fn append_unannounced_on(
        &self,
        client: &deadpool_postgres::Client,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        let prepared = PreparedAppend::new(stream_id, expected, events, metadata, Utc::now())?;
        let (events, already_stored) = match self.execute_on(client, &prepared).await? {
            Executed::Appended(events) => (events, false),
            Executed::AlreadyStored(events) => (events, true),
        };
        Ok(AppendOutcome {
            stream_id,
            events,
            already_stored,
        })
    }

    /// Appends inside the caller's transaction, so that the events commit with the caller's other
    /// writes. Subscribers are woken when the caller reports the commit with
    /// [`EventStore::announce_commit`].
    ///
    /// # Errors
    /// As [`EventStore::append`], except that a rejected append has aborted the caller's
    /// transaction: it is always an error here ([`StoreError::Conflict`] or
    /// [`StoreError::EventIdReused`], also for a resend of stored events); roll back, then retry
    /// with [`EventStore::append`] to resolve a resend.
    pub async fn append_in(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        let prepared = PreparedAppend::new(stream_id, expected, events, metadata, Utc::now())?;
        match self.execute_on(transaction, &prepared).await? {
            Executed::Appended(events) => Ok(AppendOutcome {
                stream_id,
                events,
                already_stored: false,
            }),
            Executed::AlreadyStored(events) => Err(StoreError::EventIdReused {
                event_id: events.first().map_or(Uuid::nil(), |e| e.event_id),
            }),
        }
    }

    /// Runs `prepared` as one statement on `client` (a connection or a transaction); a refusal
    /// is told apart as a resend of stored events, or as the error it is.
    async fn execute_on(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        prepared: &PreparedAppend,
    ) -> Result<Executed, StoreError> {
        match prepared.execute(client).await {
            Ok(events) => Ok(Executed::Appended(events)),
            Err(error) if is_rejection(&error) => match self.resolve_rejection(prepared).await? {
                Rejection::AlreadyStored(events) => Ok(Executed::AlreadyStored(events)),
                Rejection::Error(error) => Err(error),
            },
            Err(error) => Err(StoreError::Database {
                doing: "appending events",
                source: error,
            }),
        }
    }

    /// Wakes subscribers after the caller committed a transaction that appended with
    /// [`EventStore::append_in`]. (Subscribers also poll, so a missed call delays, never loses.)
    pub fn announce_commit(&self) {
        self.notifier.poke();
    }

    /// Finds out why the database refused an append: a resend of stored events, a reused event id,
    /// or a version conflict (with the stream's actual version).
    async fn resolve_rejection(&self, append: &PreparedAppend) -> Result<Rejection, StoreError> {
        let rows = self
            .query(
                "SELECT event_id, stream_id, stream_version, position, tx_id \
                   FROM events WHERE event_id = ANY($1) ORDER BY stream_version",
                &[&append.event_ids],
                "looking up stored event ids",
            )
            .await?;
        if rows.is_empty() {
            return Ok(Rejection::Error(StoreError::Conflict {
                stream_id: append.stream_id,
                expected: append.expected,
                actual: self.stream_version(append.stream_id).await?,
            }));
        }
        let mut stored = Vec::with_capacity(rows.len());
        for row in &rows {
            let decode = StoreError::database("reading stored event ids");
            let event_id: Uuid = row.try_get(0).map_err(decode)?;
            let stream: Uuid = row.try_get(1).map_err(decode)?;
            let version: i64 = row.try_get(2).map_err(decode)?;
            let position: i64 = row.try_get(3).map_err(decode)?;
            let tx_id: i64 = row.try_get(4).map_err(decode)?;
            if stream != append.stream_id.as_uuid() {
                return Ok(Rejection::Error(StoreError::EventIdReused { event_id }));
            }
            stored.push(AppendedEvent {
                event_id,
                stream_version: StreamVersion::new(version.unsigned_abs()),
                cursor: Cursor::new(tx_id, position),
            });
        }
        if stored.len() != append.event_ids.len() {
            let event_id = stored.first().map_or(Uuid::nil(), |e| e.event_id);
            return Ok(Rejection::Error(StoreError::EventIdReused { event_id }));
        }
        Ok(Rejection::AlreadyStored(stored))
    }
}
