//! The rules of a request's end and of its time: the result issued once the lookups are done,
//! steps and the service deadline marked late, and the survey answered once after the end
//! (docs/domain.md 7).

use chrono::{DateTime, Utc};

use super::command::{Command, DomainError};
use super::events::*;
use super::state::{Closed, Open, Stage};
use crate::catalog::{ServiceCode, Step};

/// The result is issued.
pub(super) fn issue_result(
    open: &Open,
    document_number: String,
    document_sha256: String,
    sik_branch: Option<SikBranch>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let finished = matches!(open.stage, Stage::Lookups { done, in_flight: None } if done >= open.lookups.len());
    if !finished {
        return Err(DomainError::LookupsUnfinished);
    }
    // docs/domain.md 10, D15: a SIK is assigned, or its certificate issued again; say which.
    if (open.info.service == ServiceCode::SikAssignment) != sik_branch.is_some() {
        return Err(DomainError::SikBranchMismatch);
    }
    Ok(vec![RequestEvent::ResultIssued(ResultIssued {
        document_number,
        document_sha256,
        sik_branch,
    })])
}

/// A step took longer than its limit.
pub(super) fn step_late(open: &Open, step: Step) -> Result<Vec<RequestEvent>, DomainError> {
    if open.missed_steps.contains(&step) {
        return Err(DomainError::StepAlreadyLate(step));
    }
    Ok(vec![RequestEvent::StepDeadlineMissed(StepDeadlineMissed {
        step,
    })])
}

/// The promised deadline passed while the request was open.
pub(super) fn service_late(
    open: &Open,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    if open.service_deadline_missed {
        return Err(DomainError::DeadlineAlreadyMissed);
    }
    match open.info.deadline {
        Some(deadline) if now >= deadline => Ok(vec![RequestEvent::ServiceDeadlineMissed(
            ServiceDeadlineMissed { deadline },
        )]),
        _ => Err(DomainError::DeadlineNotReached),
    }
}

/// What an ended request takes: the survey, once.
pub(super) fn closed(closed: &Closed, command: Command) -> Result<Vec<RequestEvent>, DomainError> {
    match command {
        Command::SubmitSurvey {
            quality,
            information,
        } if !closed.survey_submitted => Ok(vec![RequestEvent::SurveySubmitted(SurveySubmitted {
            quality,
            information,
        })]),
        Command::SubmitSurvey { .. } => Err(DomainError::SurveyAlreadySubmitted),
        _ => Err(DomainError::RequestEnded),
    }
}
