//! The status view (`projections.request_status`): one row per request with what the portal's
//! step 3 shows - number, IIN, service, status with its texts in ru/kk/en, deadline, whether the
//! result is ready - and the stream version it reflects.
//!
//! The projector folds [`RequestEvent::status_after`] and a few facts per stream in memory, then
//! writes a whole batch with two set-based statements (an insert for new requests, an update for
//! the others), so a rebuild runs at the speed of reading the log.

mod view;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use domain::request::RequestEvent;
use domain::{Messages, RecordedEvent, RequestStatus, StreamId};
use uuid::Uuid;

pub use view::{HistoryCursor, StatusRow, StatusView};

use crate::checkpoint::Finish;
use crate::writes::Write;
use crate::{ProjectionError, Projector};
use event_store::SubscriptionOptions;

/// The projector of the status view.
#[derive(Debug, Default)]
pub struct RequestStatusProjector;

impl RequestStatusProjector {
    pub const NAME: &'static str = "request_status";
}

/// What a batch says about one request.
#[derive(Debug, Default)]
struct Change {
    /// Set when the batch holds the request's submission: a new row.
    submitted: Option<NewRow>,
    status: Option<RequestStatus>,
    refusal_reason: Option<&'static str>,
    result_ready: bool,
    service_deadline_missed: bool,
    /// The promised deadline, set when the signed request is received (docs/domain.md 10, G4).
    deadline: Option<DateTime<Utc>>,
    /// Steps that took longer than their limit, as `Step::code`, comma-separated.
    late_steps: Vec<String>,
    last_change: Option<DateTime<Utc>>,
    version: u64,
    /// The last day the representative's power of attorney holds, once ENIS answered.
    representative_until: Option<chrono::NaiveDate>,
}

#[derive(Debug)]
struct NewRow {
    number: String,
    service: &'static str,
    iin: String,
    subject_iin: Option<String>,
    channel: &'static str,
    received_at: DateTime<Utc>,
    operator_id: Option<String>,
    organisation: Option<String>,
    representative_iin: Option<String>,
}

impl Projector for RequestStatusProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn reading(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            without_payload: crate::projector::NOT_REQUESTS,
            ..SubscriptionOptions::default()
        }
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
        finish: Option<&'a Finish<'a>>,
    ) -> Result<u64, ProjectionError> {
        // Events at or below the version a row holds change nothing (idempotency).
        let unapplied = crate::writes::unapplied_request_events(tx, table, events, finish).await?;
        let mut changes: HashMap<StreamId, Change> = HashMap::new();
        let mut order: Vec<StreamId> = Vec::new();
        let mut changed_events = 0u64;
        for (recorded, event) in &unapplied {
            let change = changes.entry(recorded.stream_id).or_insert_with(|| {
                order.push(recorded.stream_id);
                Change::default()
            });
            let version = recorded.stream_version.get();
            if version <= change.version {
                continue;
            }
            change.fold(event);
            change.last_change = Some(recorded.recorded_at);
            change.version = version;
            changed_events += 1;
        }
        write(tx, table, &order, &changes, finish).await?;
        Ok(changed_events)
    }
}

impl Change {
    /// What `event` changes of the row.
    fn fold(&mut self, event: &RequestEvent) {
        match event {
            RequestEvent::Submitted(info) => {
                self.submitted = Some(NewRow::of(info));
                self.deadline = info.promised_at_filing;
            }
            RequestEvent::PowerOfAttorneyVerified(answered) => {
                self.representative_until = answered
                    .data
                    .get("valid_until")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok());
            }
            RequestEvent::Refused(refused) => self.refusal_reason = Some(refused.reason.code()),
            // The signed document to fetch at `.../result`: the result, or the refusal.
            RequestEvent::ResultIssued(_) | RequestEvent::RefusalIssued(_) => {
                self.result_ready = true;
            }
            RequestEvent::ServiceDeadlineMissed(_) => self.service_deadline_missed = true,
            RequestEvent::StepDeadlineMissed(missed) => self.late_steps.push(missed.step.code()),
            // An abandoned request was never signed: no deadline ran (one promised at filing
            // under the earlier rule included).
            RequestEvent::Abandoned(_) => self.deadline = None,
            RequestEvent::Signed(signed) => self.deadline = signed.deadline.or(self.deadline),
            RequestEvent::OperatorSigned(signed) => {
                self.deadline = signed.deadline.or(self.deadline);
            }
            _ => {}
        }
        if let Some(status) = event.status_after() {
            self.status = Some(status);
        }
    }
}

impl NewRow {
    fn of(info: &domain::request::RequestInfo) -> NewRow {
        NewRow {
            number: info.number.to_string(),
            service: info.service.code(),
            iin: info.applicant.as_str().to_owned(),
            subject_iin: info.subject().map(|iin| iin.as_str().to_owned()),
            channel: info.channel.as_str(),
            received_at: info.received_at,
            operator_id: info.operator_id.clone(),
            organisation: info.organisation.clone(),
            representative_iin: info
                .representative
                .as_ref()
                .map(|r| r.iin.as_str().to_owned()),
        }
    }
}

/// Writes the folded changes: new requests by one insert, the others by one update.
async fn write(
    tx: &Transaction<'_>,
    table: &str,
    order: &[StreamId],
    changes: &HashMap<StreamId, Change>,
    finish: Option<&Finish<'_>>,
) -> Result<(), ProjectionError> {
    let mut new = Columns::default();
    let mut updated = Columns::default();
    for stream_id in order {
        let Some(change) = changes.get(stream_id) else {
            continue;
        };
        let Some(last_change) = change.last_change else {
            continue;
        };
        match &change.submitted {
            Some(row) => {
                new.push_new(row);
                let status = change.status.unwrap_or(RequestStatus::AwaitingSignature);
                new.push(*stream_id, change, Some(status), last_change);
            }
            None => updated.push(*stream_id, change, change.status, last_change),
        }
    }
    let mut writes = Vec::new();
    if !new.stream_id.is_empty() {
        writes.push(new.insert(table));
    }
    if !updated.stream_id.is_empty() {
        writes.push(updated.update(table));
    }
    crate::writes::pipelined(tx, &writes, finish).await?;
    Ok(())
}

/// The columns of a batch, as arrays for `unnest`.
#[derive(Default)]
struct Columns {
    stream_id: Vec<Uuid>,
    number: Vec<String>,
    service: Vec<&'static str>,
    iin: Vec<String>,
    subject_iin: Vec<Option<String>>,
    channel: Vec<&'static str>,
    status: Vec<Option<&'static str>>,
    status_ru: Vec<Option<String>>,
    status_kk: Vec<Option<String>>,
    status_en: Vec<Option<String>>,
    refusal_reason: Vec<Option<&'static str>>,
    deadline: Vec<Option<DateTime<Utc>>>,
    result_ready: Vec<bool>,
    service_deadline_missed: Vec<bool>,
    late_steps: Vec<String>,
    received_at: Vec<DateTime<Utc>>,
    last_change: Vec<DateTime<Utc>>,
    version: Vec<i64>,
    operator_id: Vec<Option<String>>,
    organisation: Vec<Option<String>>,
    representative_iin: Vec<Option<String>>,
    representative_until: Vec<Option<chrono::NaiveDate>>,
}

impl Columns {
    /// The columns only a new row has.
    fn push_new(&mut self, row: &NewRow) {
        self.number.push(row.number.clone());
        self.service.push(row.service);
        self.iin.push(row.iin.clone());
        self.subject_iin.push(row.subject_iin.clone());
        self.channel.push(row.channel);
        self.received_at.push(row.received_at);
        self.operator_id.push(row.operator_id.clone());
        self.organisation.push(row.organisation.clone());
        self.representative_iin.push(row.representative_iin.clone());
    }

    /// The columns every changed row has, `status` with its texts.
    fn push(
        &mut self,
        stream_id: StreamId,
        change: &Change,
        status: Option<RequestStatus>,
        last_change: DateTime<Utc>,
    ) {
        let texts = status.map(|s| &Messages::shared().status(s).texts);
        self.stream_id.push(stream_id.as_uuid());
        self.status.push(status.map(RequestStatus::code));
        self.status_ru.push(texts.map(|t| t.ru.clone()));
        self.status_kk.push(texts.map(|t| t.kk.clone()));
        self.status_en.push(texts.map(|t| t.en.clone()));
        self.refusal_reason.push(change.refusal_reason);
        self.deadline.push(change.deadline);
        self.result_ready.push(change.result_ready);
        self.service_deadline_missed
            .push(change.service_deadline_missed);
        self.late_steps.push(change.late_steps.join(","));
        self.last_change.push(last_change);
        self.representative_until.push(change.representative_until);
        self.version
            .push(i64::try_from(change.version).unwrap_or(i64::MAX));
    }

    /// New requests, by one insert.
    fn insert(&self, table: &str) -> Write<'_> {
        Write {
            sql: format!(
                "INSERT INTO {table} (stream_id, number, service, iin, subject_iin, channel, status, \
                     status_ru, status_kk, status_en, refusal_reason, deadline, result_ready, \
                     received_at, last_change, version, service_deadline_missed, late_steps, \
                     operator_id, representative_iin, representative_until, organisation) \
                 SELECT s, n, sv, i, si, c, st, ru, kk, en, rr, d, r, ra, lc, v, m, \
                        coalesce(string_to_array(nullif(l, ''), ','), '{{}}'), op, ri, ru2, o \
                   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
                     $12::timestamptz[], $13::bool[], $14::timestamptz[], $15::timestamptz[], $16::int8[], \
                     $17::bool[], $18::text[], $19::text[], $20::text[], $21::date[], $22::text[]) \
                     AS u(s, n, sv, i, si, c, st, ru, kk, en, rr, d, r, ra, lc, v, m, l, op, ri, ru2, o)"
            ),
            params: vec![
                &self.stream_id,
                &self.number,
                &self.service,
                &self.iin,
                &self.subject_iin,
                &self.channel,
                &self.status,
                &self.status_ru,
                &self.status_kk,
                &self.status_en,
                &self.refusal_reason,
                &self.deadline,
                &self.result_ready,
                &self.received_at,
                &self.last_change,
                &self.version,
                &self.service_deadline_missed,
                &self.late_steps,
                &self.operator_id,
                &self.representative_iin,
                &self.representative_until,
                &self.organisation,
            ],
            doing: "inserting new requests into the status view",
        }
    }

    /// Changed requests, by one update of the rows below their new version.
    fn update(&self, table: &str) -> Write<'_> {
        Write {
            sql: format!(
                "UPDATE {table} AS t SET \
                     status = coalesce(u.status, t.status), \
                     status_ru = coalesce(u.status_ru, t.status_ru), \
                     status_kk = coalesce(u.status_kk, t.status_kk), \
                     status_en = coalesce(u.status_en, t.status_en), \
                     refusal_reason = coalesce(u.refusal_reason, t.refusal_reason), \
                     result_ready = t.result_ready OR u.result_ready, \
                     service_deadline_missed = t.service_deadline_missed OR u.missed, \
                     late_steps = t.late_steps || coalesce(string_to_array(nullif(u.late, ''), ','), '{{}}'), \
                     representative_until = coalesce(u.until, t.representative_until), \
                     deadline = CASE WHEN u.status = 'abandoned' THEN NULL \
                                     ELSE coalesce(u.deadline, t.deadline) END, \
                     last_change = u.last_change, version = u.version \
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::bool[], $8::timestamptz[], $9::int8[], $10::bool[], $11::text[], \
                     $12::date[], $13::timestamptz[]) \
                     AS u(stream_id, status, status_ru, status_kk, status_en, refusal_reason, \
                          result_ready, last_change, version, missed, late, until, deadline) \
                 WHERE t.stream_id = u.stream_id AND t.version < u.version"
            ),
            params: vec![
                &self.stream_id,
                &self.status,
                &self.status_ru,
                &self.status_kk,
                &self.status_en,
                &self.refusal_reason,
                &self.result_ready,
                &self.last_change,
                &self.version,
                &self.service_deadline_missed,
                &self.late_steps,
                &self.representative_until,
                &self.deadline,
            ],
            doing: "updating the status view",
        }
    }
}
