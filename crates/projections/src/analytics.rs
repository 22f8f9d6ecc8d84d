//! The facts behind the analytics views (`projections.analytics`, `projections.analytics_steps`,
//! read through the views of schema `analytics`, migrations/V6): per request its service, channel,
//! day, outcome, deadline and survey; per step its start and end. Nothing that names a person.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use domain::request::{EventDecodeError, LookupFailure, RequestEvent};
use domain::{RecordedEvent, StreamId};
use uuid::Uuid;

use crate::{ProjectionError, Projector};

/// The projector of the analytics facts.
#[derive(Debug, Default)]
pub struct AnalyticsProjector;

impl AnalyticsProjector {
    pub const NAME: &'static str = "analytics";
}

impl Projector for AnalyticsProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Idempotent by stream version: an event at or below a request's stored version changes
    /// nothing; steps are opened once and closed once.
    async fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
    ) -> Result<u64, ProjectionError> {
        let steps_table = format!("{table}_steps");
        let steps = steps_table.as_str();
        let mut versions: HashMap<StreamId, i64> = HashMap::new();
        let database = ProjectionError::database("writing the analytics facts");
        let mut changed = 0u64;
        for recorded in events {
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
            let id: Uuid = recorded.stream_id.as_uuid();
            let version = i64::try_from(recorded.stream_version.get()).unwrap_or(i64::MAX);
            let stored = match versions.get(&recorded.stream_id) {
                Some(v) => *v,
                None => tx
                    .query_opt(
                        &format!("SELECT version FROM {table} WHERE stream_id = $1"),
                        &[&id],
                    )
                    .await
                    .map_err(database)?
                    .map_or(0, |row| row.get(0)),
            };
            if version <= stored {
                continue;
            }
            versions.insert(recorded.stream_id, version);
            let at = recorded.recorded_at;
            let open_step = |step: String| async move {
                tx.execute(
                    &format!(
                        "INSERT INTO {steps} (stream_id, step, started_at) VALUES ($1, $2, $3)
                         ON CONFLICT (stream_id, step) DO NOTHING"
                    ),
                    &[&id, &step, &at],
                )
                .await
                .map_err(database)
            };
            let close_step = |step: String| async move {
                tx.execute(
                    &format!(
                        "UPDATE {steps} SET ended_at = $3
                          WHERE stream_id = $1 AND step = $2 AND ended_at IS NULL"
                    ),
                    &[&id, &step, &at],
                )
                .await
                .map_err(database)
            };
            match &event {
                RequestEvent::Submitted(info) => {
                    let day = domain::calendar::local_date(info.received_at);
                    tx.execute(
                        &format!(
                            "INSERT INTO {table} (stream_id, service, channel, received_at, day, deadline, version)
                             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO NOTHING"
                        ),
                        &[
                            &id,
                            &info.service.code(),
                            &info.channel.as_str(),
                            &info.received_at,
                            &day,
                            &info.deadline,
                            &version,
                        ],
                    )
                    .await
                    .map_err(database)?;
                }
                RequestEvent::Signed(_) | RequestEvent::OperatorSigned(_) => {
                    open_step("signature".into()).await?;
                }
                RequestEvent::SignatureVerified(_) | RequestEvent::SignatureRejected(_) => {
                    close_step("signature".into()).await?;
                }
                RequestEvent::LookupRequested(asked) => {
                    open_step(domain::catalog::Step::Lookup(asked.lookup).code()).await?;
                }
                RequestEvent::LookupSucceeded(answered) => {
                    let step = domain::catalog::Step::Lookup(answered.lookup).code();
                    close_step(step).await?;
                    open_step("result".into()).await?;
                }
                RequestEvent::LookupFailed(failed) if failed.failure == LookupFailure::NotFound => {
                    close_step(domain::catalog::Step::Lookup(failed.lookup).code()).await?;
                }
                RequestEvent::Refused(refused) => {
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET outcome = 'refused', refusal_reason = $2, ended_at = $3
                              WHERE stream_id = $1"
                        ),
                        &[&id, &refused.reason.code(), &at],
                    )
                    .await
                    .map_err(database)?;
                }
                RequestEvent::ResultIssued(_) => {
                    close_step("result".into()).await?;
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET outcome = 'completed', ended_at = $2 WHERE stream_id = $1"
                        ),
                        &[&id, &at],
                    )
                    .await
                    .map_err(database)?;
                }
                RequestEvent::ServiceDeadlineMissed(_) => {
                    tx.execute(
                        &format!("UPDATE {table} SET deadline_missed = true WHERE stream_id = $1"),
                        &[&id],
                    )
                    .await
                    .map_err(database)?;
                }
                RequestEvent::StepDeadlineMissed(missed) => {
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET late_steps = array_append(late_steps, $2) WHERE stream_id = $1"
                        ),
                        &[&id, &missed.step.code()],
                    )
                    .await
                    .map_err(database)?;
                }
                RequestEvent::SurveySubmitted(survey) => {
                    let answer = |a| {
                        serde_json::to_value(a)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                    };
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET survey_quality = $2, survey_information = $3 WHERE stream_id = $1"
                        ),
                        &[&id, &answer(survey.quality), &answer(survey.information)],
                    )
                    .await
                    .map_err(database)?;
                }
                _ => {}
            }
            changed += 1;
        }
        for (stream, version) in &versions {
            tx.execute(
                &format!("UPDATE {table} SET version = greatest(version, $2) WHERE stream_id = $1"),
                &[&stream.as_uuid(), version],
            )
            .await
            .map_err(database)?;
        }
        Ok(changed)
    }
}
