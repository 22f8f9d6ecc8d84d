//! "Who looked at my data" (`projections.data_access`): one row per read of a citizen's data by
//! someone else - `DataAccessed` events and the medical users' `SocialStatusChecked` - for the
//! citizen's own list at `GET /api/v1/me/data-access`.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};
use domain::data_access::DataAccessed;
use domain::social_status::SocialStatusChecked;
use domain::{Iin, RecordedEvent};
use serde::Serialize;
use uuid::Uuid;

use crate::checkpoint::Finish;
use crate::writes::Write;
use crate::{ProjectionError, Projector};

/// The projector of the data-access list.
#[derive(Debug, Default)]
pub struct DataAccessProjector;

impl DataAccessProjector {
    pub const NAME: &'static str = "data_access";
}

impl Projector for DataAccessProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Idempotent by event id: a row per event, inserted once.
    async fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
        finish: Option<&'a Finish<'a>>,
    ) -> Result<u64, ProjectionError> {
        let mut rows = Rows::default();
        for event in events {
            rows.fold(event)?;
        }
        if rows.event_id.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "INSERT INTO {table} (event_id, seq, subject_iin, at, reader, role, organisation, what, purpose)
             SELECT * FROM unnest($1::uuid[], $9::int4[], $2::text[], $3::timestamptz[], $4::text[],
                                  $5::text[], $6::text[], $7::text[], $8::text[])
             ON CONFLICT (event_id, seq) DO NOTHING"
        );
        let write = Write {
            sql,
            params: vec![
                &rows.event_id,
                &rows.subject,
                &rows.at,
                &rows.reader,
                &rows.role,
                &rows.organisation,
                &rows.what,
                &rows.purpose,
                &rows.seq,
            ],
            doing: "recording reads of citizens' data",
        };
        let inserted = crate::writes::pipelined(tx, &[write], finish)
            .await?
            .into_iter()
            .sum();
        Ok(inserted)
    }
}

impl Rows {
    /// The reads `event` records: each read of a `DataAccessed` event, or the look at a patient's
    /// status of a `SocialStatusChecked` one; nothing for other events.
    fn fold(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let row = match event.event_type.as_str() {
            domain::data_access::EVENT_TYPE => {
                let Ok(reads) =
                    DataAccessed::from_payload(event.schema_version, event.payload.clone())
                else {
                    return Err(undecodable(event));
                };
                for (seq, read) in (0i32..).zip(reads.reads) {
                    let row = (
                        read.subject,
                        read.at,
                        read.reader,
                        read.role,
                        read.organisation,
                        read.what,
                        read.purpose,
                    );
                    self.push(event.event_id, seq, row);
                }
                return Ok(());
            }
            domain::social_status::EVENT_TYPE => {
                let Ok(check) =
                    serde_json::from_value::<SocialStatusChecked>(event.payload.clone())
                else {
                    return Err(undecodable(event));
                };
                (
                    check.patient,
                    event.recorded_at,
                    check.checker,
                    "medical".to_owned(),
                    check.organisation,
                    "social-status".to_owned(),
                    check.purpose,
                )
            }
            _ => return Ok(()),
        };
        self.push(event.event_id, 0, row);
        Ok(())
    }
}

fn undecodable(event: &RecordedEvent) -> ProjectionError {
    ProjectionError::Undecodable {
        stream_id: event.stream_id,
        version: event.stream_version.get(),
        reason: format!("{} does not fit its schema", event.event_type),
    }
}

type Row = (
    Iin,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

#[derive(Default)]
struct Rows {
    event_id: Vec<Uuid>,
    seq: Vec<i32>,
    subject: Vec<String>,
    at: Vec<DateTime<Utc>>,
    reader: Vec<String>,
    role: Vec<String>,
    organisation: Vec<Option<String>>,
    what: Vec<String>,
    purpose: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, event_id: Uuid, seq: i32, row: Row) {
        let (subject, at, reader, role, organisation, what, purpose) = row;
        self.event_id.push(event_id);
        self.seq.push(seq);
        self.subject.push(subject.as_str().to_owned());
        self.at.push(at);
        self.reader.push(reader);
        self.role.push(role);
        self.organisation.push(organisation);
        self.what.push(what);
        self.purpose.push(purpose);
    }
}

/// One read of a citizen's data, as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessRow {
    pub event_id: Uuid,
    /// The read's place in its event.
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub reader: String,
    pub role: String,
    pub organisation: Option<String>,
    pub what: String,
    pub purpose: Option<String>,
}

/// The reads of `subject`'s data, newest first, after `before` (a page's last row), at most
/// `limit`.
///
/// # Errors
/// Database errors.
pub async fn reads_of(
    pool: &Pool,
    subject: &Iin,
    before: Option<(DateTime<Utc>, Uuid, i32)>,
    limit: i64,
) -> Result<Vec<AccessRow>, ProjectionError> {
    let client = pool.get().await?;
    let (at, id, seq) = before.map_or((None, None, None), |(at, id, seq)| {
        (Some(at), Some(id), Some(seq))
    });
    let rows = client
        .query(
            "SELECT event_id, at, reader, role, organisation, what, purpose, seq
               FROM projections.data_access
              WHERE subject_iin = $1
                AND ($2::timestamptz IS NULL OR (at, event_id, seq) < ($2, $3, $5))
              ORDER BY at DESC, event_id DESC, seq DESC
              LIMIT $4",
            &[&subject.as_str(), &at, &id, &limit, &seq],
        )
        .await
        .map_err(ProjectionError::database(
            "reading the reads of a citizen's data",
        ))?;
    Ok(rows
        .iter()
        .map(|row| AccessRow {
            event_id: row.get(0),
            at: row.get(1),
            reader: row.get(2),
            role: row.get(3),
            organisation: row.get(4),
            what: row.get(5),
            purpose: row.get(6),
            seq: row.get(7),
        })
        .collect())
}
