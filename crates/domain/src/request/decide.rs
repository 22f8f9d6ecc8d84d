//! `decide`: what a command means for a request at a moment, as events to record or a
//! [`DomainError`]. It dispatches each command to the rules of its part of the lifecycle
//! (`signing`, `lookups`, `ending`); filing is decided here.

use chrono::{DateTime, Utc};

use super::command::{Command, DomainError, Filing};
use super::events::*;
use super::state::Request;
use super::{ending, lookups, signing};
use crate::envelope::Channel;

/// Decides what a command means for a request at `now`.
///
/// # Errors
/// A [`DomainError`] when the command does not fit the state or breaks a rule; nothing is recorded
/// then.
pub fn decide(
    state: &Request,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    if let Command::Submit(filing) = command {
        return submit(state, now, filing);
    }
    let open = match state {
        Request::Empty => return Err(DomainError::NotSubmitted),
        Request::Closed(closed) => return ending::closed(closed, command),
        Request::Open(open) => open,
    };
    match command {
        Command::Submit(_) => Err(DomainError::AlreadySubmitted),
        Command::Sign {
            signature_sha256,
            cms,
        } => signing::sign(open, signature_sha256, cms, now),
        Command::ScanDocument { kind, sha256, size } => {
            signing::scan(open, kind, sha256, size, now)
        }
        Command::OperatorSign {
            operator_id,
            operator_iin,
            signature_sha256,
            cms,
        } => signing::operator_sign(open, operator_id, operator_iin, signature_sha256, cms, now),
        Command::AttestPowerOfAttorney { operator_id } => signing::attest(open, operator_id, now),
        Command::RecordSignatureCheck(check) => signing::record_check(open, check),
        Command::StartLookup { lookup, attempt } => lookups::start(open, lookup, attempt),
        Command::RecordLookup {
            lookup,
            attempt,
            outcome,
        } => lookups::record(open, lookup, attempt, outcome, now),
        Command::Refuse { reason } => Ok(vec![RequestEvent::Refused(RequestRefused { reason })]),
        Command::IssueResult {
            document_number,
            document_sha256,
            sik_branch,
        } => ending::issue_result(open, document_number, document_sha256, sik_branch),
        Command::MarkStepDeadlineMissed { step } => ending::step_late(open, step),
        Command::MarkServiceDeadlineMissed => ending::service_late(open, now),
        Command::Abandon => ending::abandon(open, now),
        Command::IssueRefusal { .. } => Err(DomainError::NotRefused),
        Command::HandOut { .. } => Err(DomainError::NoDocumentYet),
        Command::SubmitSurvey { .. } => Err(DomainError::SurveyBeforeEnd),
    }
}

fn submit(
    state: &Request,
    now: DateTime<Utc>,
    a: Filing,
) -> Result<Vec<RequestEvent>, DomainError> {
    if !matches!(state, Request::Empty) {
        return Err(DomainError::AlreadySubmitted);
    }
    let service = a.service.service();
    // docs/domain.md 1.2: only the pension-fund statement has a service-centre channel.
    if !service.channels.contains(&a.channel) {
        return Err(DomainError::ChannelNotOffered {
            service: a.service,
            channel: a.channel,
        });
    }
    let centre = a.channel == Channel::ServiceCentre;
    if centre && a.operator_id.is_none() {
        return Err(DomainError::OperatorRequired);
    }
    // Whose records a check is: the organisation's it was filed through (docs/domain.md 8).
    if crate::SignIn::MedicalOrganisation.files(a.service) != a.organisation.is_some() {
        return Err(DomainError::OrganisationRequired);
    }
    // REG 3150: a representative comes to a service centre with a notarised power of attorney.
    if !centre && a.representative.is_some() {
        return Err(DomainError::RepresentativeOnlyAtServiceCentre);
    }
    // REG 3149: the operator identifies the person at the desk by their identity document.
    if let Some(presented) = &a.presented {
        let at_desk = a.representative.as_ref().map_or(&a.applicant, |r| &r.iin);
        if !centre || presented.iin != *at_desk || !presented.is_complete() {
            return Err(DomainError::PresentedPersonMismatch);
        }
    }
    let today = now.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    let form = service
        .validate_form(&a.form, today)
        .map_err(DomainError::InvalidForm)?;
    // The clocks start at the signature (docs/domain.md 10, G4); until then only the time to sign
    // runs.
    let sign_within = if a.sign_within > chrono::Duration::zero() {
        a.sign_within
    } else {
        crate::catalog::DEFAULT_SIGN_WITHIN
    };
    Ok(vec![RequestEvent::Submitted(RequestSubmitted {
        request_id: a.request_id,
        number: a.number,
        service: a.service,
        applicant: a.applicant,
        channel: a.channel,
        form,
        representative: a.representative,
        operator_id: a.operator_id,
        organisation: a.organisation,
        presented: a.presented,
        received_at: now,
        sign_by: now + sign_within,
        promised_at_filing: None,
        gbd_fl_asks: super::GbdFlAsks::ApplicantAndRepresentative,
    })])
}
