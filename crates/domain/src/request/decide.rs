//! `decide`: every rule of the lifecycle, and the commands and errors it speaks in.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::events::*;
use super::state::{Open, Request, Stage};
use crate::calendar::WorkingCalendar;
use crate::catalog::{FormError, Lookup, ServiceCode, Step};
use crate::envelope::Channel;
use crate::identifiers::{Iin, RequestNumber};
use crate::refusal::RefusalReason;
use crate::scans::ScanKind;

/// What a request can be told to do. Facts from outside (a verifier's verdict, a registry's answer)
/// arrive as command fields; ids are drawn by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// File a request (portal step 1, or an operator at a service centre).
    Submit {
        request_id: Uuid,
        number: RequestNumber,
        service: ServiceCode,
        applicant: Iin,
        channel: Channel,
        /// The form as the client sent it; validated against the catalog.
        form: Value,
        representative: Option<Representative>,
        operator_id: Option<String>,
        /// At a service centre: the person at the desk as their identity document names them.
        presented: Option<Box<PresentedPerson>>,
    },
    /// The citizen's signature arrived (portal step 2): its digest and the container itself
    /// (base64 of its DER), kept so that it can be verified from the event alone.
    Sign {
        signature_sha256: String,
        cms: String,
    },
    /// A paper document was scanned (service centre).
    ScanDocument {
        kind: ScanKind,
        sha256: String,
        size: u64,
    },
    /// The operator's signature arrived (service centre): the container, and the operator named in
    /// the token, whose certificate must have made it.
    OperatorSign {
        operator_id: String,
        operator_iin: Iin,
        signature_sha256: String,
        cms: String,
    },
    /// The verifier's verdict on the signature.
    RecordSignatureCheck(SignatureCheck),
    /// Ask a registry (the next lookup in order, or a retry of a failed one).
    StartLookup { lookup: Lookup, attempt: u32 },
    /// A registry's answer.
    RecordLookup {
        lookup: Lookup,
        attempt: u32,
        outcome: LookupOutcome,
    },
    /// End the request with a refusal that no check produced itself (e.g. a processing error when a
    /// step's time is spent).
    Refuse { reason: RefusalReason },
    /// The signed result document is issued.
    IssueResult {
        document_number: String,
        document_sha256: String,
        sik_branch: Option<SikBranch>,
    },
    /// A step took longer than its limit.
    MarkStepDeadlineMissed { step: Step },
    /// The promised deadline passed with the request still open.
    MarkServiceDeadlineMissed,
    /// The citizen answered the survey (DOMAIN.md 7).
    SubmitSurvey {
        quality: SurveyAnswer,
        information: SurveyAnswer,
    },
}

/// The verifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified(CertificateInfo),
    Rejected {
        reason: SignatureRejection,
        certificate: Option<CertificateInfo>,
    },
}

/// A registry's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupOutcome {
    Found(Value),
    Failed(LookupFailure),
}

/// A command that does not fit the request's state or breaks a rule. Each has a stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("the request was already submitted")]
    AlreadySubmitted,
    #[error("no request was submitted")]
    NotSubmitted,
    #[error("the request has ended")]
    RequestEnded,
    #[error("{service} is not offered through {channel}")]
    ChannelNotOffered {
        service: ServiceCode,
        channel: Channel,
    },
    #[error("a request at a service centre names its operator")]
    OperatorRequired,
    #[error("only a service centre accepts a representative")]
    RepresentativeOnlyAtServiceCentre,
    #[error("this document was scanned already")]
    AlreadyScanned,
    #[error("the person at the desk must be the applicant, or the representative when there is one, with a surname, a given name and an identity document")]
    PresentedPersonMismatch,
    #[error("the form is not valid: {0}")]
    InvalidForm(FormError),
    #[error("the request is not waiting for a signature")]
    NotAwaitingSignature,
    #[error("this step belongs to the other channel")]
    WrongChannel,
    #[error("the operator signs after the documents are scanned")]
    NoScans,
    #[error("no signature is waiting for verification")]
    NotAwaitingVerification,
    #[error("lookup {got:?} is out of order; expected {expected:?}")]
    LookupOutOfOrder {
        expected: Option<Lookup>,
        got: Lookup,
    },
    #[error("lookup {0:?} is already under way")]
    LookupInFlight(Lookup),
    #[error("no lookup {0:?} is under way")]
    NoLookupInFlight(Lookup),
    #[error("the lookups are not finished")]
    LookupsUnfinished,
    #[error("a SIK result names its branch (assigned or duplicate); no other result does")]
    SikBranchMismatch,
    #[error("step {0:?} was already marked late")]
    StepAlreadyLate(Step),
    #[error("the service deadline was already marked missed")]
    DeadlineAlreadyMissed,
    #[error("the service deadline has not passed")]
    DeadlineNotReached,
    #[error("the survey is offered once the request has ended")]
    SurveyBeforeEnd,
    #[error("the survey was already answered")]
    SurveyAlreadySubmitted,
}

impl DomainError {
    /// The stable code the API shows.
    pub const fn code(&self) -> &'static str {
        match self {
            DomainError::AlreadySubmitted => "already-submitted",
            DomainError::NotSubmitted => "not-submitted",
            DomainError::RequestEnded => "request-ended",
            DomainError::ChannelNotOffered { .. } => "channel-not-offered",
            DomainError::OperatorRequired => "operator-required",
            DomainError::PresentedPersonMismatch => "presented-person-mismatch",
            DomainError::AlreadyScanned => "already-scanned",
            DomainError::RepresentativeOnlyAtServiceCentre => {
                "representative-only-at-service-centre"
            }
            DomainError::InvalidForm(_) => "invalid-form",
            DomainError::NotAwaitingSignature => "not-awaiting-signature",
            DomainError::WrongChannel => "wrong-channel",
            DomainError::NoScans => "no-scans",
            DomainError::NotAwaitingVerification => "not-awaiting-verification",
            DomainError::LookupOutOfOrder { .. } => "lookup-out-of-order",
            DomainError::LookupInFlight(_) => "lookup-in-flight",
            DomainError::NoLookupInFlight(_) => "no-lookup-in-flight",
            DomainError::LookupsUnfinished => "lookups-unfinished",
            DomainError::SikBranchMismatch => "sik-branch-mismatch",
            DomainError::StepAlreadyLate(_) => "step-already-late",
            DomainError::DeadlineAlreadyMissed => "deadline-already-missed",
            DomainError::DeadlineNotReached => "deadline-not-reached",
            DomainError::SurveyBeforeEnd => "survey-before-end",
            DomainError::SurveyAlreadySubmitted => "survey-already-submitted",
        }
    }
}

/// The refusal a registry's "not found" ends in (DOMAIN.md 5: the first failure wins).
pub(crate) const fn refusal_for(lookup: Lookup) -> RefusalReason {
    match lookup {
        Lookup::Iin => RefusalReason::IinNotFound,
        Lookup::Sik => RefusalReason::SikNotRegistered,
        Lookup::BenefitData | Lookup::FundMovements => RefusalReason::NoData,
        Lookup::SikProcessing => RefusalReason::ProcessingError,
        Lookup::ApplicantIdentity => RefusalReason::ApplicantNotInGbdFl,
        Lookup::PowerOfAttorney => RefusalReason::PoaNotInEnis,
        Lookup::SocialStatus => RefusalReason::NotFoundInRegistry,
    }
}

/// The refusal a rejected signature ends in: the NCA checks of REG 3136 for a citizen; any
/// rejection of an operator's signature is `operator-signature-invalid` (REG 3579-3584).
pub(crate) const fn refusal_for_signature(
    channel: Channel,
    rejection: SignatureRejection,
) -> RefusalReason {
    match (channel, rejection) {
        (Channel::ServiceCentre, _) => RefusalReason::OperatorSignatureInvalid,
        (_, SignatureRejection::Expired) => RefusalReason::CertificateExpired,
        (_, SignatureRejection::Revoked) => RefusalReason::CertificateRevoked,
        (_, SignatureRejection::IinMismatch) => RefusalReason::CertificateIinMismatch,
        (
            _,
            SignatureRejection::NotTrusted
            | SignatureRejection::Malformed
            | SignatureRejection::NotASigningKey
            | SignatureRejection::RevocationUnknown,
        ) => RefusalReason::SignatureInvalid,
    }
}

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
    if let Command::Submit {
        request_id,
        number,
        service,
        applicant,
        channel,
        form,
        representative,
        operator_id,
        presented,
    } = command
    {
        return submit(
            state,
            now,
            SubmitArgs {
                request_id,
                number,
                service,
                applicant,
                channel,
                form,
                representative,
                operator_id,
                presented,
            },
        );
    }
    let open = match state {
        Request::Empty => return Err(DomainError::NotSubmitted),
        Request::Closed(closed) => {
            return match command {
                Command::SubmitSurvey {
                    quality,
                    information,
                } if !closed.survey_submitted => {
                    Ok(vec![RequestEvent::SurveySubmitted(SurveySubmitted {
                        quality,
                        information,
                    })])
                }
                Command::SubmitSurvey { .. } => Err(DomainError::SurveyAlreadySubmitted),
                _ => Err(DomainError::RequestEnded),
            }
        }
        Request::Open(open) => open,
    };
    let centre = open.info.channel == Channel::ServiceCentre;
    match command {
        Command::Submit { .. } => Err(DomainError::AlreadySubmitted),
        Command::Sign {
            signature_sha256,
            cms,
        } => {
            awaiting_signature(open)?;
            if centre {
                return Err(DomainError::WrongChannel);
            }
            Ok(vec![RequestEvent::Signed(RequestSigned {
                signature_sha256,
                cms: Some(cms),
            })])
        }
        Command::ScanDocument { kind, sha256, size } => {
            awaiting_signature(open)?;
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
            Ok(vec![RequestEvent::DocumentsScanned(DocumentsScanned {
                kind: kind.code().to_owned(),
                sha256,
                size,
            })])
        }
        Command::OperatorSign {
            operator_id,
            operator_iin,
            signature_sha256,
            cms,
        } => {
            let scans = awaiting_signature(open)?;
            if !centre {
                return Err(DomainError::WrongChannel);
            }
            // REG 3154: the operator scans the paper documents, then signs the request.
            if scans == 0 {
                return Err(DomainError::NoScans);
            }
            Ok(vec![RequestEvent::OperatorSigned(OperatorSigned {
                operator_id,
                signature_sha256,
                operator_iin: Some(operator_iin),
                cms: Some(cms),
            })])
        }
        Command::RecordSignatureCheck(check) => {
            if open.stage != Stage::AwaitingVerification {
                return Err(DomainError::NotAwaitingVerification);
            }
            let (rejection, certificate) = match check {
                // REG 3136: the IIN in the certificate must be the IIN of the request (the citizen's
                // own signature only; an operator signs with the operator's certificate).
                SignatureCheck::Verified(certificate)
                    if !centre
                        && certificate.subject_iin.as_ref() != Some(&open.info.applicant) =>
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
        Command::StartLookup { lookup, attempt } => {
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
        Command::RecordLookup {
            lookup,
            attempt,
            outcome,
        } => {
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
                // "Not found" is an answer and ends the request (DOMAIN.md 5); no answer may be retried.
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
        Command::Refuse { reason } => Ok(vec![RequestEvent::Refused(RequestRefused { reason })]),
        Command::IssueResult {
            document_number,
            document_sha256,
            sik_branch,
        } => {
            let finished = matches!(open.stage, Stage::Lookups { done, in_flight: None } if done >= open.lookups.len());
            if !finished {
                return Err(DomainError::LookupsUnfinished);
            }
            // DOMAIN.md 10, D15: a SIK is assigned, or its certificate issued again; say which.
            if (open.info.service == ServiceCode::SikAssignment) != sik_branch.is_some() {
                return Err(DomainError::SikBranchMismatch);
            }
            Ok(vec![RequestEvent::ResultIssued(ResultIssued {
                document_number,
                document_sha256,
                sik_branch,
            })])
        }
        Command::MarkStepDeadlineMissed { step } => {
            if open.missed_steps.contains(&step) {
                return Err(DomainError::StepAlreadyLate(step));
            }
            Ok(vec![RequestEvent::StepDeadlineMissed(StepDeadlineMissed {
                step,
            })])
        }
        Command::MarkServiceDeadlineMissed => {
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
        Command::SubmitSurvey { .. } => Err(DomainError::SurveyBeforeEnd),
    }
}

struct SubmitArgs {
    request_id: Uuid,
    number: RequestNumber,
    service: ServiceCode,
    applicant: Iin,
    channel: Channel,
    form: Value,
    representative: Option<Representative>,
    operator_id: Option<String>,
    presented: Option<Box<PresentedPerson>>,
}

fn submit(
    state: &Request,
    now: DateTime<Utc>,
    a: SubmitArgs,
) -> Result<Vec<RequestEvent>, DomainError> {
    if !matches!(state, Request::Empty) {
        return Err(DomainError::AlreadySubmitted);
    }
    let service = a.service.service();
    // DOMAIN.md 1.2: only the pension-fund statement has a service-centre channel.
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
    let calendar = WorkingCalendar::shared();
    let today = now.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    let form = service
        .validate_form(&a.form, today)
        .map_err(DomainError::InvalidForm)?;
    let deadline = service
        .deadline
        .and_then(|d| calendar.deadline(now, d.time_limit()));
    Ok(vec![RequestEvent::Submitted(RequestSubmitted {
        request_id: a.request_id,
        number: a.number,
        service: a.service,
        applicant: a.applicant,
        channel: a.channel,
        form,
        representative: a.representative,
        operator_id: a.operator_id,
        presented: a.presented,
        received_at: now,
        deadline,
    })])
}

/// The number of scans so far, if the request waits for a signature.
fn awaiting_signature(open: &Open) -> Result<usize, DomainError> {
    match open.stage {
        Stage::AwaitingSignature { scans } => Ok(scans),
        _ => Err(DomainError::NotAwaitingSignature),
    }
}

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
