//! The state of a request, and `evolve`.

use chrono::{DateTime, Utc};

use super::events::{DocumentsScanned, GbdFlAsks, RequestEvent, RequestSubmitted};
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
    /// The deadline promised to the citizen, from the receipt of the signed request (`None`
    /// before the signature, and for services that promise none).
    pub deadline: Option<DateTime<Utc>>,
    pub service_deadline_missed: bool,
    /// The paper documents scanned at the service centre, in order.
    pub scans: Vec<DocumentsScanned>,
    /// The operator whose certificate must have made the service centre's signature.
    pub operator_iin: Option<Iin>,
    /// A power of attorney that is not notarised, attested by the operator (REG 3150).
    pub power_of_attorney_attested: bool,
}

impl Open {
    /// Whether nobody has signed the request yet: the desk's checks, or waiting for the signature.
    pub fn unsigned(&self) -> bool {
        matches!(
            self.stage,
            Stage::Checks { .. } | Stage::AwaitingSignature { .. }
        )
    }

    /// The promised deadline, when it has passed at `now` and is not marked yet. Never for an
    /// unsigned request, not even one filed under the earlier rule that promised a deadline at
    /// filing (docs/domain.md 3.6, 10 G4).
    pub fn deadline_passed(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.deadline
            .filter(|deadline| now >= *deadline)
            .filter(|_| !self.unsigned() && !self.service_deadline_missed)
    }

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
    Completed {
        document_number: String,
    },
    Refused {
        reason: RefusalReason,
    },
    /// Nobody signed in time (docs/domain.md 3.6).
    Abandoned,
}

/// A request that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub info: RequestInfo,
    pub outcome: Outcome,
    pub survey_submitted: bool,
    /// The number of the signed refusal document, once issued (a refused request only).
    pub refusal_document: Option<String>,
    /// At a service centre: the operators who handed the document out, each once.
    pub handed_out_by: Vec<String>,
}

impl Closed {
    /// The document the request ended with, once there is one: the result, or the refusal.
    pub fn document_number(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Completed { document_number } => Some(document_number),
            Outcome::Refused { .. } => self.refusal_document.as_deref(),
            Outcome::Abandoned => None,
        }
    }
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
                Outcome::Abandoned => RequestStatus::Abandoned,
            }),
        }
    }

    /// The bytes the applicant signs on the portal (step 2), while the request waits for that
    /// signature; `None` once it is signed or closed, and for a request filed at a service centre
    /// (its operator signs the centre's document).
    pub fn portal_document_to_sign(&self) -> Option<Vec<u8>> {
        match self {
            Request::Open(open)
                if open.info.channel == Channel::Portal
                    && matches!(open.stage, Stage::AwaitingSignature { .. }) =>
            {
                Some(open.info.document_to_sign())
            }
            _ => None,
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
            // REG 3153: GBD FL is asked for the consumer's data; with a representative, for the
            // person at the desk too; ENIS only for a notarised power of attorney.
            let mut checks = vec![Lookup::ApplicantIdentity];
            if let Some(representative) = &info.representative {
                if info.gbd_fl_asks == GbdFlAsks::ApplicantAndRepresentative {
                    checks.push(Lookup::RepresentativeIdentity);
                }
                if representative.notarised {
                    checks.push(Lookup::PowerOfAttorney);
                }
            }
            let after = service
                .centre_lookups
                .iter()
                .copied()
                .filter(|l| {
                    !matches!(
                        l,
                        Lookup::ApplicantIdentity
                            | Lookup::RepresentativeIdentity
                            | Lookup::PowerOfAttorney
                    )
                })
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
        (Request::Closed(mut closed), event) => {
            match event {
                RequestEvent::SurveySubmitted(_) => closed.survey_submitted = true,
                RequestEvent::RefusalIssued(issued) if closed.refusal_document.is_none() => {
                    closed.refusal_document = Some(issued.document_number.clone());
                }
                RequestEvent::DocumentHandedOut(handed) => {
                    closed.handed_out_by.push(handed.operator_id.clone());
                }
                _ => {}
            }
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
        // Only a submission recorded under the old rule promised anything before the signature.
        deadline: submitted.promised_at_filing,
        service_deadline_missed: false,
        scans: Vec::new(),
        operator_iin: None,
        power_of_attorney_attested: false,
    }))
}

/// An open request after `event`.
fn evolve_open(mut open: Box<Open>, event: &RequestEvent) -> Request {
    match event {
        // A signature of before schema version 3 promised nothing itself: the deadline promised
        // at filing then stays.
        RequestEvent::Signed(signed) => {
            open.stage = Stage::AwaitingVerification;
            open.deadline = signed.deadline.or(open.deadline);
        }
        RequestEvent::OperatorSigned(signed) => {
            open.stage = Stage::AwaitingVerification;
            open.operator_iin.clone_from(&signed.operator_iin);
            open.deadline = signed.deadline.or(open.deadline);
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
        RequestEvent::LookupSucceeded(_)
        | RequestEvent::ApplicantIdentityVerified(_)
        | RequestEvent::PowerOfAttorneyVerified(_) => lookup_answered(&mut open),
        RequestEvent::PowerOfAttorneyAttested(_) => open.power_of_attorney_attested = true,
        RequestEvent::StepDeadlineMissed(e) => open.missed_steps.push(e.step),
        RequestEvent::ServiceDeadlineMissed(_) => open.service_deadline_missed = true,
        RequestEvent::Refused(e) => return closed(open, Outcome::Refused { reason: e.reason }),
        RequestEvent::ResultIssued(e) => {
            let document_number = e.document_number.clone();
            return closed(open, Outcome::Completed { document_number });
        }
        RequestEvent::Abandoned(_) => return closed(open, Outcome::Abandoned),
        RequestEvent::Submitted(_)
        | RequestEvent::SignatureRejected(_)
        | RequestEvent::SurveySubmitted(_)
        | RequestEvent::RefusalIssued(_)
        | RequestEvent::DocumentHandedOut(_) => {}
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
        refusal_document: None,
        handed_out_by: Vec::new(),
    }))
}
