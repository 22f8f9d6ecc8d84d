//! The events of a request's stream: past-tense facts, each a payload struct with a schema version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Lookup, RequestForm, ServiceCode, Step};
use crate::envelope::Channel;
use crate::identifiers::{Iin, RequestNumber};
use crate::messages::RequestStatus;
use crate::refusal::RefusalReason;

/// The certificate a signature was made with, as the verifier read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub serial: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The IIN of the subject's serialNumber, when it has one.
    pub subject_iin: Option<Iin>,
    /// What OCSP said about the certificate when it was checked (schema version 2; `None` in
    /// events recorded before it was kept). Required in version 2 payloads.
    #[serde(deserialize_with = "Option::deserialize")]
    pub revocation: Option<RevocationStatus>,
}

/// The revocation status of a certificate as the responder gave it (KZ.md 2.6: no silent "good").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationStatus {
    Good,
    Revoked,
    /// Not asked: the certificate was refused before revocation mattered.
    NotChecked,
}

/// Why a signature was rejected (the NCA checks, KZ.md 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureRejection {
    Expired,
    Revoked,
    NotTrusted,
    Malformed,
    /// The IIN of the certificate differs from the IIN of the request.
    IinMismatch,
    /// The certificate is not for signing: its key usage, policy or extended key usage say
    /// authentication (KZ.md 2.2).
    NotASigningKey,
    /// The revocation status could not be learnt within the check's time limit (the OCSP
    /// responder did not answer); no "good" is assumed (KZ.md 2.6).
    RevocationUnknown,
}

/// How a registry lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LookupFailure {
    /// An answer: the registry has no such record. It ends the request.
    NotFound,
    /// No answer; may be retried.
    Unavailable,
    /// No answer in time; may be retried.
    TimedOut,
}

/// An answer to a survey question (DOMAIN.md 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SurveyAnswer {
    NotSatisfied,
    PartiallySatisfied,
    Satisfied,
}

/// The person at a service centre's desk, as their identity document names them (REG 3149).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentedPerson {
    pub iin: Iin,
    pub surname: String,
    pub given_name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    /// The kind of identity document, e.g. `id-card`, `passport`.
    pub document_kind: String,
    pub document_number: String,
}

impl PresentedPerson {
    /// Whether the names and the document are given.
    pub fn is_complete(&self) -> bool {
        [
            &self.surname,
            &self.given_name,
            &self.document_kind,
            &self.document_number,
        ]
        .iter()
        .all(|s| !s.trim().is_empty())
    }

    /// Whether GBD FL's record `data` (`last_name`, `first_name`, `patronymic`) names this person,
    /// letter case aside.
    pub fn named_in(&self, data: &serde_json::Value) -> bool {
        let same = |ours: Option<&str>, field: &str| {
            let theirs = data
                .get(field)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            ours.unwrap_or("").trim().to_lowercase() == theirs.trim().to_lowercase()
        };
        same(Some(&self.surname), "last_name")
            && same(Some(&self.given_name), "first_name")
            && same(self.patronymic.as_deref(), "patronymic")
    }
}

/// A representative acting under a notarised power of attorney (service centre only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    pub iin: Iin,
    pub power_of_attorney_number: String,
    pub power_of_attorney_date: chrono::NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSubmitted {
    pub request_id: Uuid,
    pub number: RequestNumber,
    pub service: ServiceCode,
    /// The citizen the request is for (the owner of the request).
    pub applicant: Iin,
    pub channel: Channel,
    pub form: RequestForm,
    pub representative: Option<Representative>,
    /// The service centre's operator who filed it, for the centre channel.
    pub operator_id: Option<String>,
    /// At a service centre: the person at the desk, as identified (absent on the portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented: Option<Box<PresentedPerson>>,
    pub received_at: DateTime<Utc>,
    /// The promised deadline, where the service has one.
    pub deadline: Option<DateTime<Utc>>,
}

impl RequestSubmitted {
    /// The exact bytes the citizen signs in portal step 2 (`document_to_sign`): the canonical JSON
    /// of what the request asks for. Built only from the submission, so the verifier can rebuild
    /// them from the stored event at any later time.
    pub fn document_to_sign(&self) -> Vec<u8> {
        let document = serde_json::json!({
            "document": "egov-events/request/v1",
            "request_id": self.request_id,
            "number": self.number,
            "service": self.service,
            "applicant": self.applicant,
            "channel": self.channel,
            "form": self.form,
            "representative": self.representative,
            "received_at": self.received_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        });
        crate::hash_chain::canonical_json(&document)
    }

    /// The exact bytes the service-centre operator signs: the request's own document and the
    /// digests of the scanned paper documents, in the order they were scanned.
    pub fn centre_document_to_sign(&self, scans: &[DocumentsScanned]) -> Vec<u8> {
        let request: serde_json::Value =
            serde_json::from_slice(&self.document_to_sign()).unwrap_or(serde_json::Value::Null);
        let document = serde_json::json!({
            "document": "egov-events/centre-request/v1",
            "request": request,
            "operator_id": self.operator_id,
            "presented": self.presented,
            "scans": scans,
        });
        crate::hash_chain::canonical_json(&document)
    }

    /// The citizen the request is about besides the applicant: the patient of a social-status
    /// check. They may see the request too.
    pub fn subject(&self) -> Option<&Iin> {
        match &self.form {
            RequestForm::PatientStatus { patient } => Some(patient),
            RequestForm::Empty | RequestForm::Statement { .. } => None,
        }
    }
}

/// Schema version 2: `cms` was added, so the workflow (and an auditor) can verify the signature
/// from the event alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSigned {
    /// SHA-256 (hex) of the signature container as received.
    pub signature_sha256: String,
    /// The CMS SignedData as received, base64 of its DER. `None` in version 1 events, which did
    /// not keep it. Required in version 2 payloads.
    #[serde(deserialize_with = "Option::deserialize")]
    pub cms: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureVerified {
    pub certificate: CertificateInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRejected {
    pub reason: SignatureRejection,
    pub certificate: Option<CertificateInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryLookupRequested {
    pub lookup: Lookup,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryLookupSucceeded {
    pub lookup: Lookup,
    pub attempt: u32,
    /// What the registry answered, as it answered.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryLookupFailed {
    pub lookup: Lookup,
    pub attempt: u32,
    pub failure: LookupFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRefused {
    pub reason: RefusalReason,
}

/// Whether a SIK was newly assigned or its certificate issued again (DOMAIN.md 10, D15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SikBranch {
    Assigned,
    Duplicate,
}

/// Schema version 2: `sik_branch` was added (D15). Version 1 payloads are upcast on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultIssued {
    /// The document's unique number.
    pub document_number: String,
    /// SHA-256 (hex) of the signed document.
    pub document_sha256: String,
    /// For `sik-assignment` only: which branch was taken. Required in version 2 payloads (no serde
    /// default), so that a version 1 payload cannot be read without its upcaster.
    #[serde(deserialize_with = "Option::deserialize")]
    pub sik_branch: Option<SikBranch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDeadlineMissed {
    pub step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDeadlineMissed {
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveySubmitted {
    /// «Удовлетворены ли Вы качеством процесса оказания …?»
    pub quality: SurveyAnswer,
    /// «Удовлетворены ли Вы качеством информации о порядке оказания …?»
    pub information: SurveyAnswer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentsScanned {
    /// What the paper is (identity document, power of attorney, ...).
    pub kind: String,
    /// SHA-256 (hex) of the scan; the bytes are stored apart, never in the event.
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSigned {
    pub operator_id: String,
    /// SHA-256 (hex) of the signature container as received.
    pub signature_sha256: String,
    /// Schema version 2: the IIN of the operator named in the token, whose certificate must have
    /// made the signature. `None` in version 1 events.
    #[serde(deserialize_with = "Option::deserialize")]
    pub operator_iin: Option<Iin>,
    /// Schema version 2: the CMS SignedData as received (base64 of its DER), so that the
    /// signature can be verified from the event alone. `None` in version 1 events.
    #[serde(deserialize_with = "Option::deserialize")]
    pub cms: Option<String>,
}

/// Every event of a request stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEvent {
    Submitted(RequestSubmitted),
    Signed(RequestSigned),
    SignatureVerified(SignatureVerified),
    SignatureRejected(SignatureRejected),
    LookupRequested(RegistryLookupRequested),
    LookupSucceeded(RegistryLookupSucceeded),
    LookupFailed(RegistryLookupFailed),
    Refused(RequestRefused),
    ResultIssued(ResultIssued),
    StepDeadlineMissed(StepDeadlineMissed),
    ServiceDeadlineMissed(ServiceDeadlineMissed),
    SurveySubmitted(SurveySubmitted),
    DocumentsScanned(DocumentsScanned),
    OperatorSigned(OperatorSigned),
}

/// A stored event that is not a request event this build can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} has schema version {found}; this build reads up to {known}")]
    NewerSchema {
        event_type: &'static str,
        found: u32,
        known: u32,
    },
    #[error("{event_type}: {message}")]
    BadPayload {
        event_type: &'static str,
        message: String,
    },
}

/// The schema version this build writes for an event type (and reads up to).
pub const fn current_schema_version(event_type: &str) -> u32 {
    // Compared byte-wise: `match` on &str is not allowed in a const fn.
    if const_eq(event_type, "ResultIssued")
        || const_eq(event_type, "RequestSigned")
        || const_eq(event_type, "SignatureVerified")
        || const_eq(event_type, "SignatureRejected")
        || const_eq(event_type, "OperatorSigned")
    {
        2
    } else {
        1
    }
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Turns a payload of an older schema version into the current one, one version at a time.
///
/// Version history:
/// - `ResultIssued` 1 -> 2: `sik_branch` added; results issued before it name no branch.
/// - `RequestSigned` 1 -> 2: `cms` added; signatures recorded before it kept only their digest.
/// - `OperatorSigned` 1 -> 2: `operator_iin` and `cms` added (the operator's signature is verified
///   like a citizen's, against the operator's IIN).
/// - `SignatureVerified`, `SignatureRejected` 1 -> 2: `certificate.revocation` added; checks
///   recorded before it did not keep the OCSP answer.
fn upcast(event_type: &str, mut version: u32, mut payload: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    while version < current_schema_version(event_type) {
        if let (1, Value::Object(map)) = (version, &mut payload) {
            match event_type {
                "ResultIssued" => {
                    map.entry("sik_branch").or_insert(Value::Null);
                }
                "RequestSigned" => {
                    map.entry("cms").or_insert(Value::Null);
                }
                "OperatorSigned" => {
                    map.entry("operator_iin").or_insert(Value::Null);
                    map.entry("cms").or_insert(Value::Null);
                }
                "SignatureVerified" | "SignatureRejected" => {
                    if let Some(Value::Object(certificate)) = map.get_mut("certificate") {
                        certificate.entry("revocation").or_insert(Value::Null);
                    }
                }
                _ => {}
            }
        }
        version += 1;
    }
    payload
}

impl RequestEvent {
    /// The status a request has right after this event, when the event changes it; `None` for
    /// events that leave the status as it was. Read models fold this instead of the whole state;
    /// a test checks that it agrees with [`crate::request::Request::status`].
    pub fn status_after(&self) -> Option<RequestStatus> {
        match self {
            RequestEvent::Submitted(_) => Some(RequestStatus::AwaitingSignature),
            RequestEvent::Signed(_) | RequestEvent::OperatorSigned(_) => {
                Some(RequestStatus::Submitted)
            }
            RequestEvent::SignatureVerified(_) => Some(RequestStatus::ForwardedToProvider),
            RequestEvent::Refused(_) => Some(RequestStatus::Refused),
            RequestEvent::ResultIssued(_) => Some(RequestStatus::Completed),
            RequestEvent::SignatureRejected(_)
            | RequestEvent::LookupRequested(_)
            | RequestEvent::LookupSucceeded(_)
            | RequestEvent::LookupFailed(_)
            | RequestEvent::StepDeadlineMissed(_)
            | RequestEvent::ServiceDeadlineMissed(_)
            | RequestEvent::SurveySubmitted(_)
            | RequestEvent::DocumentsScanned(_) => None,
        }
    }

    /// The schema version this event's payload is written with.
    pub const fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type())
    }

    /// The event's stored type name.
    pub const fn event_type(&self) -> &'static str {
        match self {
            RequestEvent::Submitted(_) => "RequestSubmitted",
            RequestEvent::Signed(_) => "RequestSigned",
            RequestEvent::SignatureVerified(_) => "SignatureVerified",
            RequestEvent::SignatureRejected(_) => "SignatureRejected",
            RequestEvent::LookupRequested(_) => "RegistryLookupRequested",
            RequestEvent::LookupSucceeded(_) => "RegistryLookupSucceeded",
            RequestEvent::LookupFailed(_) => "RegistryLookupFailed",
            RequestEvent::Refused(_) => "RequestRefused",
            RequestEvent::ResultIssued(_) => "ResultIssued",
            RequestEvent::StepDeadlineMissed(_) => "StepDeadlineMissed",
            RequestEvent::ServiceDeadlineMissed(_) => "ServiceDeadlineMissed",
            RequestEvent::SurveySubmitted(_) => "SurveySubmitted",
            RequestEvent::DocumentsScanned(_) => "DocumentsScanned",
            RequestEvent::OperatorSigned(_) => "OperatorSigned",
        }
    }

    /// The payload as stored.
    pub fn payload(&self) -> serde_json::Value {
        let value = match self {
            RequestEvent::Submitted(p) => serde_json::to_value(p),
            RequestEvent::Signed(p) => serde_json::to_value(p),
            RequestEvent::SignatureVerified(p) => serde_json::to_value(p),
            RequestEvent::SignatureRejected(p) => serde_json::to_value(p),
            RequestEvent::LookupRequested(p) => serde_json::to_value(p),
            RequestEvent::LookupSucceeded(p) => serde_json::to_value(p),
            RequestEvent::LookupFailed(p) => serde_json::to_value(p),
            RequestEvent::Refused(p) => serde_json::to_value(p),
            RequestEvent::ResultIssued(p) => serde_json::to_value(p),
            RequestEvent::StepDeadlineMissed(p) => serde_json::to_value(p),
            RequestEvent::ServiceDeadlineMissed(p) => serde_json::to_value(p),
            RequestEvent::SurveySubmitted(p) => serde_json::to_value(p),
            RequestEvent::DocumentsScanned(p) => serde_json::to_value(p),
            RequestEvent::OperatorSigned(p) => serde_json::to_value(p),
        };
        // Serialising these plain structs (strings, numbers, enums, dates) cannot fail.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Reads a stored event back.
    ///
    /// # Errors
    /// [`EventDecodeError`] for an unknown type, a schema newer than this build, or a payload that
    /// does not fit.
    pub fn decode(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, EventDecodeError> {
        fn read<T: serde::de::DeserializeOwned>(
            event_type: &'static str,
            schema_version: u32,
            payload: serde_json::Value,
        ) -> Result<T, EventDecodeError> {
            let known = current_schema_version(event_type);
            if schema_version > known {
                return Err(EventDecodeError::NewerSchema {
                    event_type,
                    found: schema_version,
                    known,
                });
            }
            let payload = upcast(event_type, schema_version, payload);
            serde_json::from_value(payload).map_err(|e| EventDecodeError::BadPayload {
                event_type,
                message: e.to_string(),
            })
        }
        let v = schema_version;
        Ok(match event_type {
            "RequestSubmitted" => RequestEvent::Submitted(read("RequestSubmitted", v, payload)?),
            "RequestSigned" => RequestEvent::Signed(read("RequestSigned", v, payload)?),
            "SignatureVerified" => {
                RequestEvent::SignatureVerified(read("SignatureVerified", v, payload)?)
            }
            "SignatureRejected" => {
                RequestEvent::SignatureRejected(read("SignatureRejected", v, payload)?)
            }
            "RegistryLookupRequested" => {
                RequestEvent::LookupRequested(read("RegistryLookupRequested", v, payload)?)
            }
            "RegistryLookupSucceeded" => {
                RequestEvent::LookupSucceeded(read("RegistryLookupSucceeded", v, payload)?)
            }
            "RegistryLookupFailed" => {
                RequestEvent::LookupFailed(read("RegistryLookupFailed", v, payload)?)
            }
            "RequestRefused" => RequestEvent::Refused(read("RequestRefused", v, payload)?),
            "ResultIssued" => RequestEvent::ResultIssued(read("ResultIssued", v, payload)?),
            "StepDeadlineMissed" => {
                RequestEvent::StepDeadlineMissed(read("StepDeadlineMissed", v, payload)?)
            }
            "ServiceDeadlineMissed" => {
                RequestEvent::ServiceDeadlineMissed(read("ServiceDeadlineMissed", v, payload)?)
            }
            "SurveySubmitted" => {
                RequestEvent::SurveySubmitted(read("SurveySubmitted", v, payload)?)
            }
            "DocumentsScanned" => {
                RequestEvent::DocumentsScanned(read("DocumentsScanned", v, payload)?)
            }
            "OperatorSigned" => RequestEvent::OperatorSigned(read("OperatorSigned", v, payload)?),
            other => return Err(EventDecodeError::UnknownType(other.to_owned())),
        })
    }
}
