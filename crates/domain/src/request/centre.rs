//! The rules of the service-centre channel that concern a request (docs/domain.md 3.4, REG
//! 3147-3160): when a power of attorney found in ENIS lets a representative act, and what the
//! operator at the desk is told about the identity checks while the citizen waits.

use chrono::NaiveDate;
use serde::Deserialize;

use super::events::{Representative, RequestEvent};
use super::state::{Request, RequestInfo, Stage};
use crate::catalog::{Lookup, Step};
use crate::identifiers::Iin;
use crate::refusal::RefusalReason;

/// A power of attorney as ENIS answers.
#[derive(Debug, Deserialize)]
struct EnisPowerOfAttorney {
    number: String,
    date: NaiveDate,
    principal_iin: Iin,
    representative_iin: Iin,
    valid_until: NaiveDate,
    #[serde(default)]
    revoked: bool,
}

/// Whether ENIS's answer `data` is the power of attorney presented for `info`, valid on `today`:
/// the same number and date, given by the citizen the request is for to the representative at
/// the desk, not revoked and not expired.
pub fn power_of_attorney_holds(
    data: &serde_json::Value,
    info: &RequestInfo,
    today: NaiveDate,
) -> bool {
    let Some(Representative {
        iin,
        power_of_attorney_number,
        power_of_attorney_date,
        ..
    }) = &info.representative
    else {
        return false;
    };
    let Ok(found) = EnisPowerOfAttorney::deserialize(data) else {
        return false;
    };
    found.number == *power_of_attorney_number
        && found.date == *power_of_attorney_date
        && found.principal_iin == info.applicant
        && found.representative_iin == *iin
        && !found.revoked
        && found.valid_until >= today
}

/// How a check at the desk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Asked; no answer recorded yet.
    Pending,
    /// The registry confirmed what was presented.
    Passed,
    /// The registry did not confirm it (or did not answer).
    Failed,
}

impl CheckOutcome {
    /// The stable code the API shows.
    pub const fn code(self) -> &'static str {
        match self {
            CheckOutcome::Pending => "pending",
            CheckOutcome::Passed => "passed",
            CheckOutcome::Failed => "failed",
        }
    }
}

/// One identity check made while the operator waits (GBD FL, ENIS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskCheck {
    pub lookup: Lookup,
    pub outcome: CheckOutcome,
}

impl DeskCheck {
    /// The check's stable name: its lookup's (`applicant-identity`, `power-of-attorney`, ...).
    pub fn code(&self) -> String {
        Step::Lookup(self.lookup)
            .code()
            .trim_start_matches("lookup:")
            .to_owned()
    }
}

/// Where a request filed at the desk stands for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskStage {
    /// The identity checks are still running.
    Checking,
    /// The checks passed: the operator scans the papers next.
    AwaitingScans,
    /// The request ended at the checks with a refusal to read out.
    Refused,
}

impl DeskStage {
    /// The stable code the API shows.
    pub const fn code(self) -> &'static str {
        match self {
            DeskStage::Checking => "checking",
            DeskStage::AwaitingScans => "awaiting-scans",
            DeskStage::Refused => "refused",
        }
    }
}

/// What the operator at the desk is told about a request just filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desk {
    /// The checks asked, in order, each once.
    pub checks: Vec<DeskCheck>,
    pub stage: DeskStage,
    /// The refusal the operator reads out, when the checks ended the request.
    pub refusal: Option<RefusalReason>,
}

impl Desk {
    /// The desk's view of a request from its events and its state.
    pub fn of(events: &[RequestEvent], state: &Request) -> Desk {
        let mut checks: Vec<DeskCheck> = Vec::new();
        let mut refusal = None;
        let settle = |checks: &mut Vec<DeskCheck>, lookup: Lookup, outcome| {
            if let Some(check) = checks.iter_mut().rev().find(|c| c.lookup == lookup) {
                check.outcome = outcome;
            }
        };
        for event in events {
            match event {
                RequestEvent::LookupRequested(asked)
                    if !checks.iter().any(|c| c.lookup == asked.lookup) =>
                {
                    checks.push(DeskCheck {
                        lookup: asked.lookup,
                        outcome: CheckOutcome::Pending,
                    });
                }
                RequestEvent::LookupSucceeded(_)
                | RequestEvent::ApplicantIdentityVerified(_)
                | RequestEvent::PowerOfAttorneyVerified(_) => {
                    if let Some((lookup, _, _)) = event.lookup_answer() {
                        settle(&mut checks, lookup, CheckOutcome::Passed);
                    }
                }
                RequestEvent::LookupFailed(failed) => {
                    settle(&mut checks, failed.lookup, CheckOutcome::Failed);
                }
                RequestEvent::Refused(refused) => {
                    // The registry answered, but not what was presented: the check failed.
                    if let Some(last) = checks.last_mut() {
                        last.outcome = CheckOutcome::Failed;
                    }
                    refusal = Some(refused.reason);
                }
                _ => {}
            }
        }
        let stage = match state {
            Request::Open(open) => match open.stage {
                Stage::Checks { .. } => DeskStage::Checking,
                _ => DeskStage::AwaitingScans,
            },
            _ => DeskStage::Refused,
        };
        Desk {
            checks,
            stage,
            refusal,
        }
    }

    /// Whether the checks are still running.
    pub fn checking(state: &Request) -> bool {
        matches!(state, Request::Open(open) if matches!(open.stage, Stage::Checks { .. }))
    }
}
