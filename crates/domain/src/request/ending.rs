//! The rules of a request's end and of its time: the result issued once the lookups are done,
//! steps and the service deadline marked late, and the survey answered once after the end
//! (docs/domain.md 7).

use chrono::{DateTime, Utc};

use super::command::{Command, DomainError};
use super::events::*;
use super::state::{Closed, Open, Outcome, Stage};
use crate::catalog::{ServiceCode, Step};
use crate::envelope::Channel;

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
    match open.deadline_passed(now) {
        Some(deadline) => Ok(vec![RequestEvent::ServiceDeadlineMissed(
            ServiceDeadlineMissed { deadline },
        )]),
        None => Err(DomainError::DeadlineNotReached),
    }
}

/// Nobody signed by the `sign_by` time: the request ends as abandoned (docs/domain.md 3.6). Only
/// an unsigned request can be abandoned; a signed one runs to its result or refusal.
pub(super) fn abandon(open: &Open, now: DateTime<Utc>) -> Result<Vec<RequestEvent>, DomainError> {
    if !open.unsigned() {
        return Err(DomainError::NotAwaitingSignature);
    }
    let sign_by = open.info.sign_by;
    if now < sign_by {
        return Err(DomainError::SignByNotReached);
    }
    Ok(vec![RequestEvent::Abandoned(RequestAbandoned { sign_by })])
}

/// What an ended request takes: the survey, once; a refused one its signed refusal document, once
/// (REG 284-286); and at a service centre, the handing out of its document (REG 3592).
pub(super) fn closed(closed: &Closed, command: Command) -> Result<Vec<RequestEvent>, DomainError> {
    match command {
        Command::IssueRefusal {
            document_number,
            document_sha256,
        } => match (&closed.outcome, &closed.refusal_document) {
            (Outcome::Refused { .. }, None) => {
                Ok(vec![RequestEvent::RefusalIssued(RefusalIssued {
                    document_number,
                    document_sha256,
                })])
            }
            (Outcome::Refused { .. }, Some(_)) => Err(DomainError::RefusalAlreadyIssued),
            _ => Err(DomainError::NotRefused),
        },
        Command::HandOut { operator_id } => {
            if closed.info.channel != Channel::ServiceCentre {
                return Err(DomainError::WrongChannel);
            }
            let document_number = closed
                .document_number()
                .ok_or(DomainError::NoDocumentYet)?
                .to_owned();
            // Another operator may hand it out again (a lost paper); one operator once.
            if closed.handed_out_by.contains(&operator_id) {
                return Err(DomainError::AlreadyHandedOut);
            }
            Ok(vec![RequestEvent::DocumentHandedOut(DocumentHandedOut {
                operator_id,
                document_number,
            })])
        }
        // docs/domain.md 7: the survey follows a result or a refusal; an abandoned request had
        // neither, and no service to rate.
        Command::SubmitSurvey { .. } if closed.outcome == Outcome::Abandoned => {
            Err(DomainError::SurveyNotOffered)
        }
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
