//! The rules of signing a request: the citizen's signature (portal), the scans and the operator's
//! signature (service centre, REG 3147-3160), and what the NCA's check of the signature means
//! (REG 3136).

use super::command::{refusal_for_signature, DomainError, SignatureCheck};
use super::events::*;
use super::state::{Open, Stage};
use crate::calendar::WorkingCalendar;
use crate::envelope::Channel;
use crate::scans::ScanKind;
use chrono::{DateTime, SubsecRound, Utc};

/// Whether the request is filed at a service centre.
fn at_centre(open: &Open) -> bool {
    open.info.channel == Channel::ServiceCentre
}

/// The number of scans so far, if the request waits for a signature and its time to sign is not
/// spent (docs/domain.md 3.6: not signed by `sign_by`, it ends - whether or not the workflow has
/// recorded that yet).
fn awaiting_signature(open: &Open, now: DateTime<Utc>) -> Result<usize, DomainError> {
    match open.stage {
        Stage::AwaitingSignature { .. } if now >= open.info.sign_by => {
            Err(DomainError::SignByPassed)
        }
        Stage::AwaitingSignature { scans } => Ok(scans),
        _ => Err(DomainError::NotAwaitingSignature),
    }
}

/// The deadline promised to the citizen when the signed request is received at `now`: the
/// service's promise counted on the working-day calendar (docs/domain.md 10, G4).
fn promised_deadline(open: &Open, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    open.info
        .service
        .service()
        .deadline
        .and_then(|d| WorkingCalendar::shared().deadline(now, d.time_limit()))
        // Whole microseconds, as PostgreSQL keeps times: read models show it as decided.
        .map(|d| d.trunc_subsecs(6))
}

/// The citizen signs (portal step 2).
pub(super) fn sign(
    open: &Open,
    signature_sha256: String,
    cms: String,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let centre = at_centre(open);
    awaiting_signature(open, now)?;
    if centre {
        return Err(DomainError::WrongChannel);
    }
    Ok(vec![RequestEvent::Signed(RequestSigned {
        signature_sha256,
        cms: Some(cms),
        deadline: promised_deadline(open, now),
    })])
}

/// A paper document is scanned at the desk.
pub(super) fn scan(
    open: &Open,
    kind: ScanKind,
    sha256: String,
    size: u64,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let centre = at_centre(open);
    awaiting_signature(open, now)?;
    if !centre {
        return Err(DomainError::WrongChannel);
    }
    // The same paper scanned again is the same scan.
    if open
        .scans
        .iter()
        .any(|s| s.kind == kind.code() && s.sha256 == sha256)
    {
        return Err(DomainError::AlreadyScanned);
    }
    if open.scans.len() >= crate::scans::MAX_SCANS_PER_REQUEST {
        return Err(DomainError::TooManyScans {
            limit: crate::scans::MAX_SCANS_PER_REQUEST,
        });
    }
    Ok(vec![RequestEvent::DocumentsScanned(DocumentsScanned {
        kind: kind.code().to_owned(),
        sha256,
        size,
    })])
}

/// The operator signs, after the scans.
pub(super) fn operator_sign(
    open: &Open,
    operator_id: String,
    operator_iin: crate::identifiers::Iin,
    signature_sha256: String,
    cms: String,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let centre = at_centre(open);
    let scans = awaiting_signature(open, now)?;
    if !centre {
        return Err(DomainError::WrongChannel);
    }
    // REG 3154: the operator scans the paper documents, then signs the request.
    if scans == 0 {
        return Err(DomainError::NoScans);
    }
    // REG 3150: a power of attorney ENIS cannot confirm is the operator's to check and attest.
    if unattested_power_of_attorney(open) {
        return Err(DomainError::PowerOfAttorneyNotAttested);
    }
    Ok(vec![RequestEvent::OperatorSigned(OperatorSigned {
        operator_id,
        signature_sha256,
        operator_iin: Some(operator_iin),
        cms: Some(cms),
        deadline: promised_deadline(open, now),
    })])
}

/// Whether the request names a representative whose power of attorney is not notarised and not
/// attested yet.
fn unattested_power_of_attorney(open: &Open) -> bool {
    open.info
        .representative
        .as_ref()
        .is_some_and(|r| !r.notarised)
        && !open.power_of_attorney_attested
}

/// The operator attests a power of attorney that is not notarised: it was checked against the
/// paper presented, whose scan is the latest of its kind (REG 3150).
pub(super) fn attest(
    open: &Open,
    operator_id: String,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    awaiting_signature(open, now)?;
    if !at_centre(open) {
        return Err(DomainError::WrongChannel);
    }
    if open.power_of_attorney_attested {
        return Err(DomainError::AlreadyAttested);
    }
    let not_notarised = open
        .info
        .representative
        .as_ref()
        .is_some_and(|r| !r.notarised);
    let scan = open
        .scans
        .iter()
        .rev()
        .find(|s| s.kind == ScanKind::PowerOfAttorney.code());
    match (not_notarised, scan) {
        (true, Some(scan)) => Ok(vec![RequestEvent::PowerOfAttorneyAttested(
            PowerOfAttorneyAttested {
                operator_id,
                scan_sha256: scan.sha256.clone(),
            },
        )]),
        _ => Err(DomainError::NothingToAttest),
    }
}

/// The NCA's verdict on the signature: verified, or refused with the reason it maps to.
pub(super) fn record_check(
    open: &Open,
    check: SignatureCheck,
) -> Result<Vec<RequestEvent>, DomainError> {
    let centre = at_centre(open);
    if open.stage != Stage::AwaitingVerification {
        return Err(DomainError::NotAwaitingVerification);
    }
    let (rejection, certificate) = match check {
        // REG 3136: the IIN in the certificate must be the IIN of the request (the citizen's
        // own signature only; an operator signs with the operator's certificate).
        SignatureCheck::Verified(certificate)
            if !centre && certificate.subject_iin.as_ref() != Some(&open.info.applicant) =>
        {
            (SignatureRejection::IinMismatch, Some(certificate))
        }
        // At a service centre the signer must be the operator named in the token.
        SignatureCheck::Verified(certificate)
            if centre
                && open.operator_iin.is_some()
                && certificate.subject_iin != open.operator_iin =>
        {
            (SignatureRejection::IinMismatch, Some(certificate))
        }
        SignatureCheck::Verified(certificate) => {
            return Ok(vec![RequestEvent::SignatureVerified(SignatureVerified {
                certificate,
            })]);
        }
        SignatureCheck::Rejected {
            reason,
            certificate,
        } => (reason, certificate),
    };
    Ok(vec![
        RequestEvent::SignatureRejected(SignatureRejected {
            reason: rejection,
            certificate,
        }),
        RequestEvent::Refused(RequestRefused {
            reason: refusal_for_signature(open.info.channel, rejection),
        }),
    ])
}
