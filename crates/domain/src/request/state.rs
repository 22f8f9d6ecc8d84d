//! The state of a request, and `evolve`.

use super::events::{DocumentsScanned, RequestEvent, RequestSubmitted};
use crate::catalog::{Lookup, Step};
use crate::envelope::Channel;
use crate::identifiers::Iin;
use crate::messages::RequestStatus;
use crate::refusal::RefusalReason;

/// What a request is about: the facts of its submission, fixed from then on.
pub type RequestInfo = RequestSubmitted;

/// Where an open request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Lookups before anyone signs (the service centre's identity checks), `done` of them finished.
    Checks {
        done: usize,
        in_flight: Option<Lookup>,
    },
    /// Waiting for the signature (the citizen's, or the operator's after the scans).
    AwaitingSignature { scans: usize },
    /// Signed; the signature is being verified.
    AwaitingVerification,
    /// Verified; the service's lookups, `done` of them finished.
    Lookups {
        done: usize,
        in_flight: Option<Lookup>,
    },
}

/// A request in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub info: RequestInfo,
    pub stage: Stage,
    /// The lookups that must run before the signature, in order.
    pub checks: Vec<Lookup>,
    /// The lookups that run after the signature, in order.
    pub lookups: Vec<Lookup>,
    pub missed_steps: Vec<Step>,
    pub service_deadline_missed: bool,
    /// The paper documents scanned at the service centre, in order.
    pub scans: Vec<DocumentsScanned>,
    /// The operator whose certificate must have made the service centre's signature.
    pub operator_iin: Option<Iin>,
}

impl Open {
    /// The exact bytes the signature must be over: the citizen's document on the portal, the
    /// operator's (with the scans' digests) at a service centre.
    pub fn document_to_sign(&self) -> Vec<u8> {
        match self.info.channel {
            Channel::ServiceCentre => self.info.centre_document_to_sign(&self.scans),
            Channel::Portal | Channel::System => self.info.document_to_sign(),
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed { document_number: String },
    Refused { reason: RefusalReason },
}

/// A request that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub info: RequestInfo,
    pub outcome: Outcome,
    pub survey_submitted: bool,
}

/// The request aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Request {
    /// Nothing recorded yet.
    #[default]
    Empty,
    Open(Box<Open>),
    Closed(Box<Closed>),
}

impl Request {
    /// The status people see.
    pub fn status(&self) -> Option<RequestStatus> {
        match self {
            Request::Empty => None,
            Request::Open(open) => Some(match open.stage {
                Stage::Checks { .. } | Stage::AwaitingSignature { .. } => {
                    RequestStatus::AwaitingSignature
                }
                Stage::AwaitingVerification => RequestStatus::Submitted,
                Stage::Lookups { .. } => RequestStatus::ForwardedToProvider,
            }),
            Request::Closed(closed) => Some(match closed.outcome {
                Outcome::Completed { .. } => RequestStatus::Completed,
                Outcome::Refused { .. } => RequestStatus::Refused,
            }),
        }
    }

    /// What the request is about, once submitted.
    pub fn info(&self) -> Option<&RequestInfo> {
        match self {
            Request::Empty => None,
            Request::Open(open) => Some(&open.info),
            Request::Closed(closed) => Some(&closed.info),
        }
    }
}

/// The lookups of a service and channel: (before the signature, after it).
pub(crate) fn lookups_for(info: &RequestInfo) -> (Vec<Lookup>, Vec<Lookup>) {
    let service = info.service.service();
    match info.channel {
        Channel::ServiceCentre => {
            let mut checks = vec![Lookup::ApplicantIdentity];
            if info.representative.is_some() {
                checks.push(Lookup::PowerOfAttorney);
            }
            let after = service
                .centre_lookups
                .iter()
                .copied()
                .filter(|l| !matches!(l, Lookup::ApplicantIdentity | Lookup::PowerOfAttorney))
                .collect();
            (checks, after)
        }
        Channel::Portal | Channel::System => (Vec::new(), service.lookups.to_vec()),
    }
}

/// Applies one event. Holds no rules: an event that does not fit the state leaves it as it is.
pub fn evolve(state: Request, event: &RequestEvent) -> Request {
    match (state, event) {
        (Request::Empty, RequestEvent::Submitted(e)) => opened(e),
        (Request::Open(open), event) => evolve_open(open, event),
        (Request::Closed(mut closed), RequestEvent::SurveySubmitted(_)) => {
            closed.survey_submitted = true;
            Request::Closed(closed)
        }
        (state, _) => state,
    }
}

/// A request just filed: its checks first (at a service centre), else awaiting the signature.
fn opened(submitted: &RequestSubmitted) -> Request {
    let info = submitted.clone();
    let (checks, lookups) = lookups_for(&info);
    let stage = if checks.is_empty() {
        Stage::AwaitingSignature { scans: 0 }
    } else {
        Stage::Checks {
            done: 0,
            in_flight: None,
        }
    };
    Request::Open(Box::new(Open {
        info,
        stage,
        checks,
        lookups,
        missed_steps: Vec::new(),
        service_deadline_missed: false,
        scans: Vec::new(),
        operator_iin: None,
    }))
}

/// An open request after `event`.
fn evolve_open(mut open: Box<Open>, event: &RequestEvent) -> Request {
    match event {
        RequestEvent::Signed(_) => open.stage = Stage::AwaitingVerification,
        RequestEvent::OperatorSigned(signed) => {
            open.stage = Stage::AwaitingVerification;
            open.operator_iin.clone_from(&signed.operator_iin);
        }
        RequestEvent::SignatureVerified(_) => {
            open.stage = Stage::Lookups {
                done: 0,
                in_flight: None,
            }
        }
        RequestEvent::DocumentsScanned(scan) => {
            if let Stage::AwaitingSignature { scans } = &mut open.stage {
                *scans = scans.saturating_add(1);
                open.scans.push(scan.clone());
            }
        }
        RequestEvent::LookupRequested(e) => set_in_flight(&mut open.stage, Some(e.lookup)),
        RequestEvent::LookupFailed(_) => set_in_flight(&mut open.stage, None),
        RequestEvent::LookupSucceeded(_) => lookup_answered(&mut open),
        RequestEvent::StepDeadlineMissed(e) => open.missed_steps.push(e.step),
        RequestEvent::ServiceDeadlineMissed(_) => open.service_deadline_missed = true,
        RequestEvent::Refused(e) => return closed(open, Outcome::Refused { reason: e.reason }),
        RequestEvent::ResultIssued(e) => {
            let document_number = e.document_number.clone();
            return closed(open, Outcome::Completed { document_number });
        }
        RequestEvent::Submitted(_)
        | RequestEvent::SignatureRejected(_)
        | RequestEvent::SurveySubmitted(_) => {}
    }
    Request::Open(open)
}

/// The lookup under way of a stage that has one.
fn set_in_flight(stage: &mut Stage, lookup: Option<Lookup>) {
    if let Stage::Checks { in_flight, .. } | Stage::Lookups { in_flight, .. } = stage {
        *in_flight = lookup;
    }
}

/// A lookup answered: one more done; the last check leads to the signature.
fn lookup_answered(open: &mut Open) {
    match &mut open.stage {
        Stage::Checks { done, in_flight } => {
            *done = done.saturating_add(1);
            *in_flight = None;
            if *done >= open.checks.len() {
                open.stage = Stage::AwaitingSignature { scans: 0 };
            }
        }
        Stage::Lookups { done, in_flight } => {
            *done = done.saturating_add(1);
            *in_flight = None;
        }
        Stage::AwaitingSignature { .. } | Stage::AwaitingVerification => {}
    }
}

fn closed(open: Box<Open>, outcome: Outcome) -> Request {
    Request::Closed(Box::new(Closed {
        info: open.info,
        outcome,
        survey_submitted: false,
    }))
}
