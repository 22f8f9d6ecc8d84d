//! The facts behind the analytics views (`projections.analytics`, `projections.analytics_steps`,
//! read through the views of schema `analytics`, migrations/V6): per request its service, channel,
//! day, outcome, deadline and survey; per step its start and end. Nothing that names a person.
//!
//! Like the status view, a batch is folded in memory and written with a few set-based statements,
//! so the projection keeps up with the workflow.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use domain::request::{EventDecodeError, LookupFailure, RequestEvent};
use domain::RecordedEvent;
use uuid::Uuid;

use crate::checkpoint::Finish;
use crate::writes::Write;
use crate::{ProjectionError, Projector};

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
    deadline: Option<DateTime<Utc>>,
}

/// The step a result is issued in runs from the last answer: its start moves with each answer.
const RESULT_STEP: &str = "result";

impl Projector for AnalyticsProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn without_payload(&self) -> &'static [&'static str] {
        crate::projector::NOT_REQUESTS
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
        let mut streams: Vec<Uuid> = events.iter().map(|e| e.stream_id.as_uuid()).collect();
        streams.sort_unstable();
        streams.dedup();
        let applied = crate::writes::applied_versions(tx, table, &streams, finish).await?;
        let mut changes: HashMap<Uuid, Change> = HashMap::new();
        let mut opened: HashMap<(Uuid, String), DateTime<Utc>> = HashMap::new();
        let mut closed: HashMap<(Uuid, String), DateTime<Utc>> = HashMap::new();
        let mut changed = 0u64;
        for recorded in events {
            let id = recorded.stream_id.as_uuid();
            let version = i64::try_from(recorded.stream_version.get()).unwrap_or(i64::MAX);
            if version <= applied.get(&id).copied().unwrap_or(0) {
                continue;
            }
            let event = match RequestEvent::decode(
                &recorded.event_type,
                recorded.schema_version,
                recorded.payload.clone(),
            ) {
                Ok(event) => event,
                Err(EventDecodeError::UnknownType(_)) => continue,
                Err(error) => {
                    return Err(ProjectionError::Undecodable {
                        stream_id: recorded.stream_id,
                        version: recorded.stream_version.get(),
                        reason: error.to_string(),
                    })
                }
            };
            let at = recorded.recorded_at;
            let change = changes.entry(id).or_default();
            if version <= change.version {
                continue;
            }
            change.version = version;
            changed += 1;
            let mut open = |step: String| {
                let moves = step == RESULT_STEP;
                let entry = opened.entry((id, step)).or_insert(at);
                if moves {
                    *entry = at;
                }
            };
            let mut close = |step: String| {
                closed.entry((id, step)).or_insert(at);
            };
            match &event {
                RequestEvent::Submitted(info) => {
                    change.submitted = Some(NewRow {
                        service: info.service.code(),
                        channel: info.channel.as_str(),
                        received_at: info.received_at,
                        day: domain::calendar::local_date(info.received_at),
                        deadline: info.deadline,
                    });
                }
                RequestEvent::Signed(_) | RequestEvent::OperatorSigned(_) => {
                    open("signature".into());
                }
                RequestEvent::SignatureVerified(_) | RequestEvent::SignatureRejected(_) => {
                    close("signature".into());
                }
                RequestEvent::LookupRequested(asked) => {
                    open(domain::catalog::Step::Lookup(asked.lookup).code());
                }
                RequestEvent::LookupSucceeded(answered) => {
                    close(domain::catalog::Step::Lookup(answered.lookup).code());
                    open(RESULT_STEP.into());
                }
                RequestEvent::LookupFailed(failed) if failed.failure == LookupFailure::NotFound => {
                    close(domain::catalog::Step::Lookup(failed.lookup).code());
                }
                RequestEvent::Refused(refused) => {
                    change.outcome = Some("refused");
                    change.refusal_reason = Some(refused.reason.code());
                    change.ended_at = Some(at);
                }
                RequestEvent::ResultIssued(_) => {
                    close(RESULT_STEP.into());
                    change.outcome = Some("completed");
                    change.ended_at = Some(at);
                }
                RequestEvent::ServiceDeadlineMissed(_) => change.deadline_missed = true,
                RequestEvent::StepDeadlineMissed(missed) => {
                    change.late_steps.push(missed.step.code());
                }
                RequestEvent::SurveySubmitted(survey) => {
                    let answer = |a| {
                        serde_json::to_value(a)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    };
                    change.survey = Some((answer(survey.quality), answer(survey.information)));
                }
                _ => {}
            }
        }
        write(tx, table, &changes, &opened, &closed, finish).await?;
        Ok(changed)
    }
}

/// Writes the folded changes: new requests, their changes, steps opened and steps closed, in one
/// pipeline.
async fn write(
    tx: &Transaction<'_>,
    table: &str,
    changes: &HashMap<Uuid, Change>,
    opened: &HashMap<(Uuid, String), DateTime<Utc>>,
    closed: &HashMap<(Uuid, String), DateTime<Utc>>,
    finish: Option<&Finish<'_>>,
) -> Result<(), ProjectionError> {
    let new: Vec<(&Uuid, &NewRow)> = changes
        .iter()
        .filter_map(|(id, c)| c.submitted.as_ref().map(|row| (id, row)))
        .collect();
    let new_ids: Vec<Uuid> = new.iter().map(|(id, _)| **id).collect();
    let service: Vec<&str> = new.iter().map(|(_, r)| r.service).collect();
    let channel: Vec<&str> = new.iter().map(|(_, r)| r.channel).collect();
    let received: Vec<DateTime<Utc>> = new.iter().map(|(_, r)| r.received_at).collect();
    let day: Vec<NaiveDate> = new.iter().map(|(_, r)| r.day).collect();
    let deadline: Vec<Option<DateTime<Utc>>> = new.iter().map(|(_, r)| r.deadline).collect();

    let ids: Vec<Uuid> = changes.keys().copied().collect();
    let column = |f: &dyn Fn(&Change) -> Option<String>| -> Vec<Option<String>> {
        ids.iter().map(|id| changes.get(id).and_then(f)).collect()
    };
    let outcome = column(&|c| c.outcome.map(str::to_owned));
    let reason = column(&|c| c.refusal_reason.map(str::to_owned));
    let quality = column(&|c| c.survey.as_ref().map(|s| s.0.clone()));
    let information = column(&|c| c.survey.as_ref().map(|s| s.1.clone()));
    let late = column(&|c| Some(c.late_steps.join(",")));
    let ended: Vec<Option<DateTime<Utc>>> = ids
        .iter()
        .map(|id| changes.get(id).and_then(|c| c.ended_at))
        .collect();
    let missed: Vec<bool> = ids
        .iter()
        .map(|id| changes.get(id).is_some_and(|c| c.deadline_missed))
        .collect();
    let version: Vec<i64> = ids
        .iter()
        .map(|id| changes.get(id).map_or(0, |c| c.version))
        .collect();

    let steps_table = format!("{table}_steps");
    let opened_ids: Vec<Uuid> = opened.keys().map(|(id, _)| *id).collect();
    let opened_steps: Vec<&str> = opened.keys().map(|(_, s)| s.as_str()).collect();
    let opened_at: Vec<DateTime<Utc>> = opened.values().copied().collect();
    let closed_ids: Vec<Uuid> = closed.keys().map(|(id, _)| *id).collect();
    let closed_steps: Vec<&str> = closed.keys().map(|(_, s)| s.as_str()).collect();
    let closed_at: Vec<DateTime<Utc>> = closed.values().copied().collect();

    let mut writes = Vec::new();
    if !new_ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "INSERT INTO {table} (stream_id, service, channel, received_at, day, deadline, version)
                 SELECT s, sv, c, r, d, dl, 0
                   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::date[],
                               $6::timestamptz[]) AS u(s, sv, c, r, d, dl)
                 ON CONFLICT (stream_id) DO NOTHING"
            ),
            params: vec![&new_ids, &service, &channel, &received, &day, &deadline],
            doing: "writing the analytics facts",
        });
    }
    if !ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "UPDATE {table} AS t SET
                     outcome = coalesce(u.outcome, t.outcome),
                     refusal_reason = coalesce(u.reason, t.refusal_reason),
                     ended_at = coalesce(u.ended, t.ended_at),
                     deadline_missed = t.deadline_missed OR u.missed,
                     late_steps = t.late_steps || coalesce(string_to_array(nullif(u.late, ''), ','), '{{}}'),
                     survey_quality = coalesce(u.quality, t.survey_quality),
                     survey_information = coalesce(u.information, t.survey_information),
                     version = u.version
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[],
                             $6::text[], $7::text[], $8::text[], $9::int8[])
                      AS u(stream_id, outcome, reason, ended, missed, late, quality, information, version)
                WHERE t.stream_id = u.stream_id AND t.version < u.version"
            ),
            params: vec![
                &ids,
                &outcome,
                &reason,
                &ended,
                &missed,
                &late,
                &quality,
                &information,
                &version,
            ],
            doing: "writing the analytics facts",
        });
    }
    if !opened_ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "INSERT INTO {steps_table} AS t (stream_id, step, started_at)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
                 ON CONFLICT (stream_id, step) DO UPDATE SET started_at = excluded.started_at
                  WHERE t.step = '{RESULT_STEP}' AND t.ended_at IS NULL
                    AND t.started_at < excluded.started_at"
            ),
            params: vec![&opened_ids, &opened_steps, &opened_at],
            doing: "writing the analytics steps",
        });
    }
    if !closed_ids.is_empty() {
        writes.push(Write {
            sql: format!(
                "UPDATE {steps_table} AS t SET ended_at = u.at
                   FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(stream_id, step, at)
                  WHERE t.stream_id = u.stream_id AND t.step = u.step AND t.ended_at IS NULL"
            ),
            params: vec![&closed_ids, &closed_steps, &closed_at],
            doing: "writing the analytics steps",
        });
    }
    crate::writes::pipelined(tx, &writes, finish).await?;
    Ok(())
}
