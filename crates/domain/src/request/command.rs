//! The language of `decide`: the commands a request can be told, the outside world's facts they
//! carry, and the errors a refused command answers with (each with a stable code).

use serde_json::Value;
use uuid::Uuid;

use super::events::*;
use crate::catalog::{FormError, Lookup, ServiceCode, Step, DEFAULT_SIGN_WITHIN};
use crate::envelope::Channel;
use crate::identifiers::{Iin, RequestNumber};
use crate::refusal::RefusalReason;
use crate::scans::ScanKind;

/// A request as filed: what [`Command::Submit`] carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Filing {
    pub request_id: Uuid,
    pub number: RequestNumber,
    pub service: ServiceCode,
    pub applicant: Iin,
    pub channel: Channel,
    /// The form as the client sent it; validated against the catalog.
    pub form: Value,
    pub representative: Option<Representative>,
    pub operator_id: Option<String>,
    /// The medical organisation whose user files a social-status check, as the user's sign-in
    /// names it; `None` for every other service.
    pub organisation: Option<String>,
    /// At a service centre: the person at the desk as their identity document names them.
    pub presented: Option<Box<PresentedPerson>>,
    /// How long the request may wait for its signature before it ends as abandoned
    /// (docs/domain.md 3.6; `EGOV_SIGN_WITHIN`, [`DEFAULT_SIGN_WITHIN`] by default).
    pub sign_within: chrono::Duration,
}

impl Filing {
    /// A citizen's own request on the portal.
    #[must_use]
    pub fn on_portal(
        request_id: Uuid,
        number: RequestNumber,
        service: ServiceCode,
        applicant: Iin,
        form: Value,
    ) -> Self {
        Self {
            request_id,
            number,
            service,
            applicant,
            channel: Channel::Portal,
            form,
            representative: None,
            operator_id: None,
            organisation: None,
            presented: None,
            sign_within: DEFAULT_SIGN_WITHIN,
        }
    }
}

/// What a request can be told to do. Facts from outside (a verifier's verdict, a registry's answer)
/// arrive as command fields; ids are drawn by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// File a request (portal step 1, or an operator at a service centre).
    Submit(Filing),
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
    /// The operator attests a power of attorney that is not notarised, checked against the paper
    /// and scanned (REG 3150).
    AttestPowerOfAttorney { operator_id: String },
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
    /// Nobody signed the request by its `sign_by` time: it ends as abandoned.
    Abandon,
    /// The signed refusal document of a refused request was stored.
    IssueRefusal {
        document_number: String,
        document_sha256: String,
    },
    /// The operator hands the result or the refusal to the person at the desk.
    HandOut { operator_id: String },
    /// The citizen answered the survey (docs/domain.md 7).
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
    #[error("a social-status check, and nothing else, names the medical organisation it is filed through")]
    OrganisationRequired,
    #[error("only a service centre accepts a representative")]
    RepresentativeOnlyAtServiceCentre,
    #[error("this document was scanned already")]
    AlreadyScanned,
    #[error("a request takes at most {limit} scans")]
    TooManyScans { limit: usize },
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
    #[error("the request may still be signed")]
    SignByNotReached,
    #[error("the time to sign the request is spent")]
    SignByPassed,
    #[error("only a refused request gets a refusal document")]
    NotRefused,
    #[error("the refusal document was already issued")]
    RefusalAlreadyIssued,
    #[error("the request has no document to hand out yet")]
    NoDocumentYet,
    #[error("this operator already handed the document out")]
    AlreadyHandedOut,
    #[error("a power of attorney that is not notarised is scanned and attested before the operator signs")]
    PowerOfAttorneyNotAttested,
    #[error("only a power of attorney that is not notarised is attested, after its scan")]
    NothingToAttest,
    #[error("the power of attorney was already attested")]
    AlreadyAttested,
    #[error("the survey is offered once the request has ended")]
    SurveyBeforeEnd,
    #[error("the survey was already answered")]
    SurveyAlreadySubmitted,
    #[error("an abandoned request offers no survey")]
    SurveyNotOffered,
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
            DomainError::OrganisationRequired => "organisation-required",
            DomainError::PresentedPersonMismatch => "presented-person-mismatch",
            DomainError::AlreadyScanned => "already-scanned",
            DomainError::TooManyScans { .. } => "too-many-scans",
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
            DomainError::SignByNotReached => "sign-by-not-reached",
            DomainError::SignByPassed => "sign-by-passed",
            DomainError::NotRefused => "not-refused",
            DomainError::RefusalAlreadyIssued => "refusal-already-issued",
            DomainError::NoDocumentYet => "no-document-yet",
            DomainError::AlreadyHandedOut => "already-handed-out",
            DomainError::PowerOfAttorneyNotAttested => "power-of-attorney-not-attested",
            DomainError::NothingToAttest => "nothing-to-attest",
            DomainError::AlreadyAttested => "already-attested",
            DomainError::SurveyBeforeEnd => "survey-before-end",
            DomainError::SurveyNotOffered => "survey-not-offered",
            DomainError::SurveyAlreadySubmitted => "survey-already-submitted",
        }
    }
}

/// The refusal a registry's "not found" ends in (docs/domain.md 5: the first failure wins).
pub(crate) const fn refusal_for(lookup: Lookup) -> RefusalReason {
    match lookup {
        Lookup::Iin => RefusalReason::IinNotFound,
        Lookup::Sik => RefusalReason::SikNotRegistered,
        // REG 2756: the SIK too is refused «в связи с отсутствием запрошенных данных»; a
        // processing error is a registry that never answered (docs/domain.md 5).
        Lookup::BenefitData | Lookup::FundMovements | Lookup::SikProcessing => {
            RefusalReason::NoData
        }
        Lookup::ApplicantIdentity => RefusalReason::ApplicantNotInGbdFl,
        Lookup::RepresentativeIdentity => RefusalReason::RepresentativeNotInGbdFl,
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
