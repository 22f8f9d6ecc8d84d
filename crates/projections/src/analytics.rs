//! The facts behind the analytics views (`projections.analytics`, `projections.analytics_steps`,
//! read through the views of schema `analytics`, migrations/V6): per request its service, channel,
//! day, outcome, deadline and survey; per step its start and end. Nothing that names a person.
//!
//! Like the status view, a batch is folded in memory and written with a few set-based statements,
//! so the projection keeps up with the workflow.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use domain::request::{LookupFailure, RequestEvent};
use domain::RecordedEvent;
use uuid::Uuid;

use crate::checkpoint::Finish;
use crate::writes::Write;
use crate::{ProjectionError, Projector};
use event_store::SubscriptionOptions;

/// The projector of the analytics facts.
#[derive(Debug, Default)]
pub struct AnalyticsProjector;

impl AnalyticsProjector {
    pub const NAME: &'static str = "analytics";
}

/// What a batch says about one request.
#[derive(Debug, Default)]
struct Change {
    submitted: Option<NewRow>,
    outcome: Option<&'static str>,
    refusal_reason: Option<&'static str>,
    ended_at: Option<DateTime<Utc>>,
    deadline_missed: bool,
    /// The promised deadline, set when the signed request is received.
    deadline: Option<DateTime<Utc>>,
    late_steps: Vec<String>,
    survey: Option<(String, String)>,
    version: i64,
}

#[derive(Debug)]
struct NewRow {
    service: &'static str,
    channel: &'static str,
    received_at: DateTime<Utc>,
    day: NaiveDate,
}

/// The step a result is issued in runs from the last answer: its start moves with each answer.
const RESULT_STEP: &str = "result";

impl Projector for AnalyticsProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn reading(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            without_payload: crate::projector::NOT_REQUESTS,
            ..SubscriptionOptions::default()
        }
    }

    /// Idempotent by stream version: an event at or below a request's stored version changes
    /// nothing; a step is opened once (the result step moves to the last answer) and closed once.
    async fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
        finish: Option<&'a Finish<'a>>,
    ) -> Result<u64, ProjectionError> {
        let unapplied = crate::writes::unapplied_request_events(tx, table, events, finish).await?;
        let mut batch = Batch::default();
        for (recorded, event) in &unapplied {
            batch.fold(recorded, event);
        }
        write(tx, table, &batch, finish).await?;
        Ok(batch.changed)
    }
}

/// What a batch says: per request, and the steps it opened and closed.
#[derive(Default)]
struct Batch {
    changes: HashMap<Uuid, Change>,
    opened: HashMap<(Uuid, String), DateTime<Utc>>,
    closed: HashMap<(Uuid, String), DateTime<Utc>>,
    /// Events that changed something.
    changed: u64,
}

impl Batch {
    /// What `event` (recorded as `recorded`) changes.
    fn fold(&mut self, recorded: &RecordedEvent, event: &RequestEvent) {
        let id = recorded.stream_id.as_uuid();
        let version = i64::try_from(recorded.stream_version.get()).unwrap_or(i64::MAX);
        let at = recorded.recorded_at;
        let change = self.changes.entry(id).or_default();
        if version <= change.version {
            return;
        }
        change.version = version;
        self.changed += 1;
        let step = |lookup| domain::catalog::Step::Lookup(lookup).code();
        match event {
            RequestEvent::Submitted(info) => {
                change.submitted = Some(NewRow {
                    service: info.service.code(),
                    channel: info.channel.as_str(),
                    received_at: info.received_at,
                    day: domain::calendar::local_date(info.received_at),
                });
                change.deadline = info.promised_at_filing;
            }
            RequestEvent::Signed(signed) => {
                change.deadline = signed.deadline.or(change.deadline);
                self.open(id, "signature".into(), at);
            }
            RequestEvent::OperatorSigned(signed) => {
                change.deadline = signed.deadline.or(change.deadline);
                self.open(id, "signature".into(), at);
            }
            RequestEvent::SignatureVerified(_) | RequestEvent::SignatureRejected(_) => {
                self.close(id, "signature".into(), at);
            }
            RequestEvent::LookupRequested(asked) => self.open(id, step(asked.lookup), at),
            RequestEvent::LookupSucceeded(_)
            | RequestEvent::ApplicantIdentityVerified(_)
            | RequestEvent::PowerOfAttorneyVerified(_) => {
                if let Some((lookup, _, _)) = event.lookup_answer() {
                    self.close(id, step(lookup), at);
                    self.open(id, RESULT_STEP.into(), at);
                }
            }
            RequestEvent::LookupFailed(failed) if failed.failure == LookupFailure::NotFound => {
                self.close(id, step(failed.lookup), at);
            }
            RequestEvent::ResultIssued(_) => {
                self.close(id, RESULT_STEP.into(), at);
                let change = self.changes.entry(id).or_default();
                change.outcome = Some("completed");
                change.ended_at = Some(at);
            }
            other => change.fold(other, at),
        }
    }

    /// A step began at `at` (the result step moves to the last answer).
    fn open(&mut self, id: Uuid, step: String, at: DateTime<Utc>) {
        let moves = step == RESULT_STEP;
        let entry = self.opened.entry((id, step)).or_insert(at);
        if moves {
            *entry = at;
        }
    }

    /// A step ended at `at` (once).
    fn close(&mut self, id: Uuid, step: String, at: DateTime<Utc>) {
        self.closed.entry((id, step)).or_insert(at);
    }
}

impl Change {
    /// What `event`, recorded at `at`, changes of the request's own facts.
    fn fold(&mut self, event: &RequestEvent, at: DateTime<Utc>) {
        match event {
            RequestEvent::Refused(refused) => {
                self.outcome = Some("refused");
                self.refusal_reason = Some(refused.reason.code());
                self.ended_at = Some(at);
            }
            // Never signed: no deadline ran (one promised at filing under the earlier rule
            // included), so it counts in no deadline figure.
            RequestEvent::Abandoned(_) => {
                self.outcome = Some("abandoned");
                self.ended_at = Some(at);
                self.deadline = None;
            }
            RequestEvent::ServiceDeadlineMissed(_) => self.deadline_missed = true,
            RequestEvent::StepDeadlineMissed(missed) => {
                self.late_steps.push(missed.step.code());
            }
            RequestEvent::SurveySubmitted(survey) => {
                let answer = |a| {
                    serde_json::to_value(a)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                };
                self.survey = Some((answer(survey.quality), answer(survey.information)));
            }
            _ => {}
        }
    }
}

/// Writes the folded changes: new requests, their changes, steps opened and steps closed, in one
/// pipeline.
async fn write(
    tx: &Transaction<'_>,
    table: &str,
    batch: &Batch,
    finish: Option<&Finish<'_>>,
) -> Result<(), ProjectionError> {
    let requests = RequestColumns::of(&batch.changes);
    let steps_table = format!("{table}_steps");
    let opened = StepColumns::of(&batch.opened);
    let closed = StepColumns::of(&batch.closed);
    let mut writes = Vec::new();
    if !requests.new_ids.is_empty() {
        writes.push(requests.insert(table));
    }
    if !requests.ids.is_empty() {
        writes.push(requests.update(table));
    }
    if !opened.ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "INSERT INTO {steps_table} AS t (stream_id, step, started_at)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
                 ON CONFLICT (stream_id, step) DO UPDATE SET started_at = excluded.started_at
                  WHERE t.step = '{RESULT_STEP}' AND t.ended_at IS NULL
                    AND t.started_at < excluded.started_at"
            ),
            params: vec![&opened.ids, &opened.steps, &opened.at],
            doing: "writing the analytics steps",
        });
    }
    if !closed.ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "UPDATE {steps_table} AS t SET ended_at = u.at
                   FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(stream_id, step, at)
                  WHERE t.stream_id = u.stream_id AND t.step = u.step AND t.ended_at IS NULL"
            ),
            params: vec![&closed.ids, &closed.steps, &closed.at],
            doing: "writing the analytics steps",
        });
    }
    crate::writes::pipelined(tx, &writes, finish).await?;
    Ok(())
}

/// The requests of a batch as arrays for `unnest`: the new ones, and every changed one.
struct RequestColumns {
    new_ids: Vec<Uuid>,
    service: Vec<&'static str>,
    channel: Vec<&'static str>,
    received: Vec<DateTime<Utc>>,
    day: Vec<NaiveDate>,
    deadline: Vec<Option<DateTime<Utc>>>,
    ids: Vec<Uuid>,
    outcome: Vec<Option<&'static str>>,
    reason: Vec<Option<&'static str>>,
    ended: Vec<Option<DateTime<Utc>>>,
    missed: Vec<bool>,
    late: Vec<String>,
    quality: Vec<Option<String>>,
    information: Vec<Option<String>>,
    version: Vec<i64>,
}

impl RequestColumns {
    fn of(changes: &HashMap<Uuid, Change>) -> RequestColumns {
        let new: Vec<(&Uuid, &NewRow)> = changes
            .iter()
            .filter_map(|(id, c)| c.submitted.as_ref().map(|row| (id, row)))
            .collect();
        RequestColumns {
            new_ids: new.iter().map(|(id, _)| **id).collect(),
            service: new.iter().map(|(_, r)| r.service).collect(),
            channel: new.iter().map(|(_, r)| r.channel).collect(),
            received: new.iter().map(|(_, r)| r.received_at).collect(),
            day: new.iter().map(|(_, r)| r.day).collect(),
            deadline: changes.values().map(|c| c.deadline).collect(),
            ids: changes.keys().copied().collect(),
            outcome: changes.values().map(|c| c.outcome).collect(),
            reason: changes.values().map(|c| c.refusal_reason).collect(),
            ended: changes.values().map(|c| c.ended_at).collect(),
            missed: changes.values().map(|c| c.deadline_missed).collect(),
            late: changes.values().map(|c| c.late_steps.join(",")).collect(),
            quality: changes
                .values()
                .map(|c| c.survey.as_ref().map(|s| s.0.clone()))
                .collect(),
            information: changes
                .values()
                .map(|c| c.survey.as_ref().map(|s| s.1.clone()))
                .collect(),
            version: changes.values().map(|c| c.version).collect(),
        }
    }

    /// New requests, by one insert (their facts follow by the update).
    fn insert(&self, table: &str) -> Write<'_> {
        Write {
            sql: format!(
                "INSERT INTO {table} (stream_id, service, channel, received_at, day, version)
                 SELECT s, sv, c, r, d, 0
                   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::date[])
                        AS u(s, sv, c, r, d)
                 ON CONFLICT (stream_id) DO NOTHING"
            ),
            params: vec![
                &self.new_ids,
                &self.service,
                &self.channel,
                &self.received,
                &self.day,
            ],
            doing: "writing the analytics facts",
        }
    }

    /// Every changed request, by one update of the rows below its new version.
    fn update(&self, table: &str) -> Write<'_> {
        Write {
            sql: format!(
                "UPDATE {table} AS t SET
                     outcome = coalesce(u.outcome, t.outcome),
                     refusal_reason = coalesce(u.reason, t.refusal_reason),
                     ended_at = coalesce(u.ended, t.ended_at),
                     deadline_missed = t.deadline_missed OR u.missed,
                     deadline = CASE WHEN u.outcome = 'abandoned' THEN NULL
                                     ELSE coalesce(u.deadline, t.deadline) END,
                     late_steps = t.late_steps || coalesce(string_to_array(nullif(u.late, ''), ','), '{{}}'),
                     survey_quality = coalesce(u.quality, t.survey_quality),
                     survey_information = coalesce(u.information, t.survey_information),
                     version = u.version
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[],
                             $6::text[], $7::text[], $8::text[], $9::int8[], $10::timestamptz[])
                      AS u(stream_id, outcome, reason, ended, missed, late, quality, information,
                           version, deadline)
                WHERE t.stream_id = u.stream_id AND t.version < u.version"
            ),
            params: vec![
                &self.ids,
                &self.outcome,
                &self.reason,
                &self.ended,
                &self.missed,
                &self.late,
                &self.quality,
                &self.information,
                &self.version,
                &self.deadline,
            ],
            doing: "writing the analytics facts",
        }
    }
}

/// Steps opened or closed in a batch, as arrays for `unnest`.
struct StepColumns<'a> {
    ids: Vec<Uuid>,
    steps: Vec<&'a str>,
    at: Vec<DateTime<Utc>>,
}

impl<'a> StepColumns<'a> {
    fn of(steps: &'a HashMap<(Uuid, String), DateTime<Utc>>) -> StepColumns<'a> {
        StepColumns {
            ids: steps.keys().map(|(id, _)| *id).collect(),
            steps: steps.keys().map(|(_, s)| s.as_str()).collect(),
            at: steps.values().copied().collect(),
        }
    }
}
