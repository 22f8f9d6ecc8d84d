//! Reading the log: the gap-free global order and single streams. This is the read API the read
//! side (projections, auditors, the relay) follows.
//!
//! Why the global read is gap-free: positions are drawn from a sequence before commit, so ordering
//! by position alone lets a reader pass an event whose transaction commits late. Every event
//! records its transaction id instead, and a reader reads only events of transactions older than
//! the oldest transaction still running (`pg_snapshot_xmin`), in (transaction id, position) order.
//! Such transactions have all ended, so nothing can appear behind the reader's cursor later: every
//! committed event is read exactly once, and a reader waits at most as long as the slowest
//! transaction still open.

use domain::{
    Actor, Channel, Cursor, EventHash, EventMetadata, RecordedEvent, StreamId, StreamVersion,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::StoreError;
use crate::EventStore;

/// The columns of an event, in the order [`decode_event`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "position, tx_id, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, actor, channel, correlation_id, causation_id, \
     recorded_at, hash";

/// A page of the global log (kept for callers that want to know where the page ends even when it
/// is empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The events, in the gap-free order.
    pub events: Vec<RecordedEvent>,
    /// Where to resume: the last event's cursor, or the cursor read after when the page is empty.
    pub next: Cursor,
}

/// Where a page of the global log ends ([`EventStore::page_end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEnd {
    /// The last event's cursor: the page is the events after the start through this one.
    pub through: Cursor,
    /// How many events the page holds.
    pub events: u64,
    /// The types of its events, each once.
    pub types: Vec<String>,
}

impl EventStore {
    /// Runs one prepared (and cached) statement on a pooled connection; `doing` names the step in
    /// the error.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        doing: &'static str,
    ) -> Result<Vec<Row>, StoreError> {
        self.run(sql, params, doing, false).await
    }

    /// As [`EventStore::query`], in a transaction of its own that does not wait for the disk
    /// ([`crate::db::query_relaxed`]): only for a write that a later append, which does wait,
    /// makes durable before anyone can see it.
    pub async fn query_relaxed(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        doing: &'static str,
    ) -> Result<Vec<Row>, StoreError> {
        self.run(sql, params, doing, true).await
    }

    async fn run(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        doing: &'static str,
        relaxed: bool,
    ) -> Result<Vec<Row>, StoreError> {
        let client = self
            .db
            .pool()
            .get()
            .await
            .map_err(StoreError::Unavailable)?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(StoreError::database(doing))?;
        if relaxed {
            crate::db::query_relaxed(&client, &statement, params).await
        } else {
            client.query(&statement, params).await
        }
        .map_err(StoreError::database(doing))
    }

    /// Reads up to `limit` events after `after` in the gap-free global order.
    ///
    /// An empty answer means no event after `after` is readable *yet*: either none was committed,
    /// or an older transaction is still open (see [`EventStore::committed_after`]).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Database`] when the database fails;
    /// [`StoreError::CorruptRow`] when a stored row cannot be decoded.
    #[tracing::instrument(level = "debug", skip_all, fields(after = %after, limit), err(level = "debug"))]
    pub async fn read_all(&self, after: Cursor, limit: u32) -> Result<Page, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
              WHERE (tx_id, position) > ($1, $2) \
                AND tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint) \
              ORDER BY tx_id, position \
              LIMIT $3"
        );
        let params: [&(dyn ToSql + Sync); 3] =
            [&after.transaction(), &after.position(), &i64::from(limit)];
        self.page(&sql, &params, after).await
    }

    /// Where a page of the global log after `after` of at most `limit` events ends, and how many
    /// events of each type it holds, without reading their payloads: `None` for an empty page.
    /// Every event up to the end belongs to a transaction older than any still open, so the page
    /// is final; [`EventStore::read_range`] then reads it in parts.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn page_end(&self, after: Cursor, limit: u32) -> Result<Option<PageEnd>, StoreError> {
        let doing = "finding where a page of the global log ends";
        let rows = self
            .query(
                "SELECT tx_id, position, event_type FROM events \
                  WHERE (tx_id, position) > ($1, $2) \
                    AND tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint) \
                  ORDER BY tx_id, position \
                  LIMIT $3",
                &[&after.transaction(), &after.position(), &i64::from(limit)],
                doing,
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        let through = Cursor::new(
            last.try_get(0).map_err(StoreError::database(doing))?,
            last.try_get(1).map_err(StoreError::database(doing))?,
        );
        let mut types: Vec<String> = Vec::new();
        for row in &rows {
            let event_type: String = row.try_get(2).map_err(StoreError::database(doing))?;
            if !types.contains(&event_type) {
                types.push(event_type);
            }
        }
        Ok(Some(PageEnd {
            through,
            events: rows.len() as u64,
            types,
        }))
    }

    /// The events after `after` through `through` (a range [`EventStore::page_end`] fixed), at most
    /// `limit` of them, in the global order.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn read_range(
        &self,
        after: Cursor,
        through: Cursor,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
              WHERE (tx_id, position) > ($1, $2) AND (tx_id, position) <= ($3, $4) \
              ORDER BY tx_id, position \
              LIMIT $5"
        );
        let params: [&(dyn ToSql + Sync); 5] = [
            &after.transaction(),
            &after.position(),
            &through.transaction(),
            &through.position(),
            &i64::from(limit),
        ];
        Ok(self.page(&sql, &params, after).await?.events)
    }

    /// One page of the global log read by `sql`, resuming after `after`.
    async fn page(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        after: Cursor,
    ) -> Result<Page, StoreError> {
        let rows = self.query(sql, params, "reading the global log").await?;
        let events = rows
            .iter()
            .map(decode_event)
            .collect::<Result<Vec<_>, _>>()?;
        let next = events.last().map_or(after, |e| e.cursor);
        Ok(Page { events, next })
    }

    /// As [`EventStore::read_all`], but events of the types in `without_payload` come with a null
    /// payload: a follower that never reads them (a projector of requests passing the
    /// read-auditing's large `DataAccessed` events) does not fetch and parse them. With
    /// `no_payloads`, every event does: a follower of the log's tree reads the leaves the appends
    /// stored ([`stored_leaves`]) instead.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn read_all_sparse(
        &self,
        after: Cursor,
        limit: u32,
        without_payload: &[&str],
        no_payloads: bool,
    ) -> Result<Page, StoreError> {
        let (payload, types) = match (no_payloads, without_payload) {
            (true, _) => ("'null'::jsonb", &[][..]),
            (false, []) => return self.read_all(after, limit).await,
            (false, types) => (
                "CASE WHEN event_type = ANY($4) THEN 'null'::jsonb ELSE payload END",
                types,
            ),
        };
        let columns = EVENT_COLUMNS.replacen("payload", payload, 1);
        let sql = format!(
            "SELECT {columns} FROM events \
              WHERE (tx_id, position) > ($1, $2) \
                AND tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint) \
              ORDER BY tx_id, position \
              LIMIT $3"
        );
        let types: Vec<&str> = types.to_vec();
        let params: [&(dyn ToSql + Sync); 4] = [
            &after.transaction(),
            &after.position(),
            &i64::from(limit),
            &types,
        ];
        // Without types to leave out, $4 is not in the statement.
        let used = if types.is_empty() { 3 } else { 4 };
        self.page(&sql, &params[..used], after).await
    }

    /// The cursor of the last committed event ([`Cursor::START`] for an empty log): a follower
    /// whose cursor reached it has read everything committed before the call.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn head(&self) -> Result<Cursor, StoreError> {
        let rows = self
            .query(
                "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1",
                &[],
                "reading the head of the log",
            )
            .await?;
        Ok(rows
            .first()
            .map_or(Cursor::START, |row| Cursor::new(row.get(0), row.get(1))))
    }

    /// Whether any committed event lies after `after`, readable yet or not. A follower whose read
    /// came back empty reads again soon when this is true, instead of waiting for the next commit
    /// to be announced: the events were either held back by an older transaction still open, or
    /// that transaction ended between the read and this check.
    ///
    /// The check does not ask whether the events are *still* held back: that answer is taken in a
    /// newer snapshot than the read's, so it says "no" for events the read could not see when the
    /// transaction that held them back ended in between - a rollback, or a transaction of another
    /// database on the server, that announces nothing - and the follower would wait a whole idle
    /// poll for them.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn committed_after(&self, after: Cursor) -> Result<bool, StoreError> {
        let doing = "checking for committed events after the cursor";
        let sql = "SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ($1, $2))";
        let rows = self
            .query(sql, &[&after.transaction(), &after.position()], doing)
            .await?;
        first_column(&rows, doing).map(|found| found.unwrap_or(false))
    }

    /// Reads up to `limit` events of one stream after version `after` (`StreamVersion::EMPTY` for
    /// the whole stream), in version order.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    #[tracing::instrument(level = "debug", skip_all, fields(stream_id = %stream_id, after = %after), err(level = "debug"))]
    pub async fn read_stream(
        &self,
        stream_id: StreamId,
        after: StreamVersion,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
              WHERE stream_id = $1 AND stream_version > $2 \
              ORDER BY stream_version LIMIT $3"
        );
        let after = i64::try_from(after.get()).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 3] = [&stream_id.as_uuid(), &after, &i64::from(limit)];
        let rows = self.query(&sql, &params, "reading a stream").await?;
        rows.iter().map(decode_event).collect()
    }

    /// The stream's current version (`StreamVersion::EMPTY` for a stream with no events).
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn stream_version(&self, stream_id: StreamId) -> Result<StreamVersion, StoreError> {
        let doing = "reading a stream's version";
        let sql = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1";
        let rows = self.query(sql, &[&stream_id.as_uuid()], doing).await?;
        let version: i64 = first_column(&rows, doing)?.unwrap_or(0);
        Ok(StreamVersion::new(version.unsigned_abs()))
    }
}

/// The leaves in the log's tree that the append stored (migrations/V19) for the events from
/// `first` through `last` in the global order, by event id: `None` for an event appended before
/// leaves were stored, whose leaf is computed from the event itself. Read in the caller's
/// transaction (`client`), so that a projector reads them with the batch it applies.
///
/// # Errors
/// The database failing, or a stored leaf that is not 32 bytes.
pub async fn stored_leaves(
    client: &impl deadpool_postgres::GenericClient,
    first: Cursor,
    last: Cursor,
) -> Result<Vec<(uuid::Uuid, Option<[u8; 32]>)>, StoreError> {
    let doing = "reading the stored leaves of events";
    let statement = client
        .prepare_cached(
            "SELECT position, event_id, leaf FROM events \
              WHERE (tx_id, position) >= ($1, $2) AND (tx_id, position) <= ($3, $4) \
              ORDER BY tx_id, position",
        )
        .await
        .map_err(StoreError::database(doing))?;
    let rows = client
        .query(
            &statement,
            &[
                &first.transaction(),
                &first.position(),
                &last.transaction(),
                &last.position(),
            ],
        )
        .await
        .map_err(StoreError::database(doing))?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get(0).map_err(StoreError::database(doing))?;
            let leaf: Option<&[u8]> = row.try_get(2).map_err(StoreError::database(doing))?;
            let leaf =
                leaf.map(<[u8; 32]>::try_from)
                    .transpose()
                    .map_err(|_| StoreError::CorruptRow {
                        position,
                        reason: "stored leaf is not 32 bytes".into(),
                    })?;
            Ok((row.try_get(1).map_err(StoreError::database(doing))?, leaf))
        })
        .collect()
}

/// The events with the ids `ids`, whole, in the global order, read in the caller's transaction
/// (`client`); ids of no event are left out.
///
/// # Errors
/// The database failing, or a stored row that cannot be decoded.
pub async fn events_by_id(
    client: &impl deadpool_postgres::GenericClient,
    ids: &[uuid::Uuid],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let doing = "reading events by id";
    let statement = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1) ORDER BY tx_id, position"
        ))
        .await
        .map_err(StoreError::database(doing))?;
    let rows = client
        .query(&statement, &[&ids])
        .await
        .map_err(StoreError::database(doing))?;
    rows.iter().map(decode_event).collect()
}

/// The first column of the first row, if there is a row.
pub fn first_column<'a, T: tokio_postgres::types::FromSql<'a>>(
    rows: &'a [Row],
    doing: &'static str,
) -> Result<Option<T>, StoreError> {
    rows.first()
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(StoreError::database(doing))
}

/// Turns a row of [`EVENT_COLUMNS`] back into an event, without panicking on anything stored.
pub(crate) fn decode_event(row: &Row) -> Result<RecordedEvent, StoreError> {
    let position: i64 = row
        .try_get(0)
        .map_err(StoreError::database("decoding an event"))?;
    let corrupt = |reason: String| StoreError::CorruptRow { position, reason };
    let get_err = |e: tokio_postgres::Error| corrupt(e.to_string());
    let tx_id: i64 = row.try_get(1).map_err(get_err)?;
    let stream_id: uuid::Uuid = row.try_get(2).map_err(get_err)?;
    let stream_version: i64 = row.try_get(3).map_err(get_err)?;
    let schema_version: i32 = row.try_get(6).map_err(get_err)?;
    let actor: &str = row.try_get(8).map_err(get_err)?;
    let channel: &str = row.try_get(9).map_err(get_err)?;
    let hash: &[u8] = row.try_get(13).map_err(get_err)?;
    Ok(RecordedEvent {
        cursor: Cursor::new(tx_id, position),
        stream_id: StreamId::from_uuid(stream_id),
        stream_version: StreamVersion::new(
            u64::try_from(stream_version).map_err(|_| corrupt("negative stream version".into()))?,
        ),
        event_id: row.try_get(4).map_err(get_err)?,
        event_type: row.try_get(5).map_err(get_err)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| corrupt("negative schema version".into()))?,
        payload: row.try_get(7).map_err(get_err)?,
        metadata: EventMetadata {
            actor: Actor::parse(actor).map_err(|e| corrupt(format!("actor: {e}")))?,
            channel: channel
                .parse::<Channel>()
                .map_err(|e| corrupt(format!("channel: {e}")))?,
            correlation_id: row.try_get(10).map_err(get_err)?,
            causation_id: row.try_get(11).map_err(get_err)?,
        },
        recorded_at: row.try_get(12).map_err(get_err)?,
        hash: EventHash::from_slice(hash).ok_or_else(|| corrupt("hash is not 32 bytes".into()))?,
    })
}
