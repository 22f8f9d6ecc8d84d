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
        // GBD FL found the person: the names must be those of the identity document.
        LookupOutcome::Found(data)
            if lookup == Lookup::ApplicantIdentity
                && open
                    .info
                    .presented
                    .as_ref()
                    .is_some_and(|p| !p.named_in(&data)) =>
        {
            vec![
                RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
                    lookup,
                    attempt,
                    data,
                }),
                RequestEvent::Refused(RequestRefused {
                    reason: RefusalReason::ApplicantNotInGbdFl,
                }),
            ]
        }
        // ENIS found a power of attorney: it must be the one presented, and still hold.
        LookupOutcome::Found(data)
            if lookup == Lookup::PowerOfAttorney
                && !super::centre::power_of_attorney_holds(
                    &data,
                    &open.info,
                    crate::calendar::local_date(now),
                ) =>
        {
            vec![
                RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
                    lookup,
                    attempt,
                    data,
                }),
                RequestEvent::Refused(RequestRefused {
                    reason: RefusalReason::PoaNotInEnis,
                }),
            ]
        }
        LookupOutcome::Found(data) => {
            vec![RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
                lookup,
                attempt,
                data,
            })]
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
