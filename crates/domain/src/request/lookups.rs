//! The rules of a request's registry lookups: asked in the catalog's order, one at a time, each
//! answered once; "not found" ends the request with its refusal (docs/domain.md 5), no answer may
//! be asked again; and the service centre's checks of the person at the desk (GBD FL) and of the
//! power of attorney (ENIS).

use chrono::{DateTime, Utc};

use super::command::{refusal_for, DomainError, LookupOutcome};
use super::events::*;
use super::state::{Open, Stage};
use crate::catalog::Lookup;
use crate::refusal::RefusalReason;

/// The lookup list of the current stage, how many are done and which one is under way.
fn lookup_progress(
    open: &Open,
    asked: Lookup,
) -> Result<(&[Lookup], usize, Option<Lookup>), DomainError> {
    match open.stage {
        Stage::Checks { done, in_flight } => Ok((&open.checks, done, in_flight)),
        Stage::Lookups { done, in_flight } => Ok((&open.lookups, done, in_flight)),
        Stage::AwaitingSignature { .. } | Stage::AwaitingVerification => {
            Err(DomainError::LookupOutOfOrder {
                expected: None,
                got: asked,
            })
        }
    }
}

/// A lookup is asked (attempt `attempt`).
pub(super) fn start(
    open: &Open,
    lookup: Lookup,
    attempt: u32,
) -> Result<Vec<RequestEvent>, DomainError> {
    let (list, done, in_flight) = lookup_progress(open, lookup)?;
    if let Some(current) = in_flight {
        return Err(DomainError::LookupInFlight(current));
    }
    let expected = list.get(done).copied();
    if expected != Some(lookup) {
        return Err(DomainError::LookupOutOfOrder {
            expected,
            got: lookup,
        });
    }
    Ok(vec![RequestEvent::LookupRequested(
        RegistryLookupRequested { lookup, attempt },
    )])
}

/// Why a request ends although its registry answered: the person GBD FL found is not named as
/// the identity document names them, or the power of attorney ENIS found is not the one
/// presented or no longer holds.
fn refusal_on_found(
    open: &Open,
    lookup: Lookup,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> Option<RefusalReason> {
    let misnamed = || {
        open.info
            .presented
            .as_ref()
            .is_some_and(|p| !p.named_in(data))
    };
    // Under the earlier rule the applicant's check was the check of the person at the desk.
    let represented = open.info.representative.is_some()
        && open.info.gbd_fl_asks == GbdFlAsks::ApplicantAndRepresentative;
    match lookup {
        // The citizen at the desk must be the one their identity document names; a represented
        // citizen is not at the desk, and GBD FL knowing them is the check (REG 3153).
        Lookup::ApplicantIdentity if !represented && misnamed() => {
            Some(RefusalReason::ApplicantNotInGbdFl)
        }
        Lookup::RepresentativeIdentity if misnamed() => {
            Some(RefusalReason::RepresentativeNotInGbdFl)
        }
        Lookup::PowerOfAttorney
            if !super::centre::power_of_attorney_holds(
                data,
                &open.info,
                crate::calendar::local_date(now),
            ) =>
        {
            Some(RefusalReason::PoaNotInEnis)
        }
        _ => None,
    }
}

/// The event of a found record: the service centre's checks have their own types (docs/domain.md
/// 3.5), saying whose record GBD FL gave and whether it confirmed what was presented.
fn answered(
    open: &Open,
    lookup: Lookup,
    attempt: u32,
    data: serde_json::Value,
    confirmed: bool,
) -> RequestEvent {
    let person = match lookup {
        Lookup::ApplicantIdentity if open.info.gbd_fl_asks == GbdFlAsks::PersonAtDesk => {
            IdentityOf::PersonAtDesk
        }
        Lookup::ApplicantIdentity => IdentityOf::Applicant,
        Lookup::RepresentativeIdentity => IdentityOf::Representative,
        Lookup::PowerOfAttorney => {
            return RequestEvent::PowerOfAttorneyVerified(PowerOfAttorneyVerified {
                attempt,
                confirmed: Some(confirmed),
                data,
            })
        }
        _ => {
            return RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
                lookup,
                attempt,
                data,
            })
        }
    };
    RequestEvent::ApplicantIdentityVerified(ApplicantIdentityVerified {
        person,
        iin: Some(open.info.asked_about(lookup).clone()),
        attempt,
        confirmed: Some(confirmed),
        data,
    })
}

/// A registry's answer to the lookup under way, or its failure to answer.
pub(super) fn record(
    open: &Open,
    lookup: Lookup,
    attempt: u32,
    outcome: LookupOutcome,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let (_, _, in_flight) = lookup_progress(open, lookup)?;
    if in_flight != Some(lookup) {
        return Err(DomainError::NoLookupInFlight(lookup));
    }
    Ok(match outcome {
        LookupOutcome::Found(data) => {
            let refusal = refusal_on_found(open, lookup, &data, now);
            let mut events = vec![answered(open, lookup, attempt, data, refusal.is_none())];
            events.extend(refusal.map(|reason| RequestEvent::Refused(RequestRefused { reason })));
            events
        }
        // "Not found" is an answer and ends the request (docs/domain.md 5); no answer may be retried.
        LookupOutcome::Failed(LookupFailure::NotFound) => vec![
            RequestEvent::LookupFailed(RegistryLookupFailed {
                lookup,
                attempt,
                failure: LookupFailure::NotFound,
            }),
            RequestEvent::Refused(RequestRefused {
                reason: refusal_for(lookup),
            }),
        ],
        LookupOutcome::Failed(failure) => {
            vec![RequestEvent::LookupFailed(RegistryLookupFailed {
                lookup,
                attempt,
                failure,
            })]
        }
    })
}
