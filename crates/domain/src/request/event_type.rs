//! The types of a request's events: each name written once, as stored in the log, sent as a Kafka
//! header and shown to auditors, with the schema version this build writes.

use serde::{Deserialize, Serialize};

/// The type of a request event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    RequestSubmitted,
    RequestSigned,
    SignatureVerified,
    SignatureRejected,
    RegistryLookupRequested,
    RegistryLookupSucceeded,
    RegistryLookupFailed,
    RequestRefused,
    ResultIssued,
    StepDeadlineMissed,
    ServiceDeadlineMissed,
    SurveySubmitted,
    DocumentsScanned,
    OperatorSigned,
    RequestAbandoned,
    RefusalIssued,
    DocumentHandedOut,
    ApplicantIdentityVerified,
    PowerOfAttorneyVerified,
    PowerOfAttorneyAttested,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 20] = [
        EventType::RequestSubmitted,
        EventType::RequestSigned,
        EventType::SignatureVerified,
        EventType::SignatureRejected,
        EventType::RegistryLookupRequested,
        EventType::RegistryLookupSucceeded,
        EventType::RegistryLookupFailed,
        EventType::RequestRefused,
        EventType::ResultIssued,
        EventType::StepDeadlineMissed,
        EventType::ServiceDeadlineMissed,
        EventType::SurveySubmitted,
        EventType::DocumentsScanned,
        EventType::OperatorSigned,
        EventType::RequestAbandoned,
        EventType::RefusalIssued,
        EventType::DocumentHandedOut,
        EventType::ApplicantIdentityVerified,
        EventType::PowerOfAttorneyVerified,
        EventType::PowerOfAttorneyAttested,
    ];

    /// The stored name.
    pub const fn code(self) -> &'static str {
        match self {
            EventType::RequestSubmitted => "RequestSubmitted",
            EventType::RequestSigned => "RequestSigned",
            EventType::SignatureVerified => "SignatureVerified",
            EventType::SignatureRejected => "SignatureRejected",
            EventType::RegistryLookupRequested => "RegistryLookupRequested",
            EventType::RegistryLookupSucceeded => "RegistryLookupSucceeded",
            EventType::RegistryLookupFailed => "RegistryLookupFailed",
            EventType::RequestRefused => "RequestRefused",
            EventType::ResultIssued => "ResultIssued",
            EventType::StepDeadlineMissed => "StepDeadlineMissed",
            EventType::ServiceDeadlineMissed => "ServiceDeadlineMissed",
            EventType::SurveySubmitted => "SurveySubmitted",
            EventType::DocumentsScanned => "DocumentsScanned",
            EventType::OperatorSigned => "OperatorSigned",
            EventType::RequestAbandoned => "RequestAbandoned",
            EventType::RefusalIssued => "RefusalIssued",
            EventType::DocumentHandedOut => "DocumentHandedOut",
            EventType::ApplicantIdentityVerified => "ApplicantIdentityVerified",
            EventType::PowerOfAttorneyVerified => "PowerOfAttorneyVerified",
            EventType::PowerOfAttorneyAttested => "PowerOfAttorneyAttested",
        }
    }

    /// The schema version this build writes for the type (and reads up to); the history of each
    /// is in `request/upcast.rs`.
    pub const fn schema_version(self) -> u32 {
        match self {
            EventType::RequestSigned | EventType::OperatorSigned | EventType::RequestSubmitted => 3,
            EventType::ResultIssued
            | EventType::SignatureVerified
            | EventType::SignatureRejected => 2,
            EventType::RequestAbandoned
            | EventType::RefusalIssued
            | EventType::DocumentHandedOut
            | EventType::ApplicantIdentityVerified
            | EventType::PowerOfAttorneyVerified
            | EventType::PowerOfAttorneyAttested
            | EventType::RegistryLookupRequested
            | EventType::RegistryLookupSucceeded
            | EventType::RegistryLookupFailed
            | EventType::RequestRefused
            | EventType::StepDeadlineMissed
            | EventType::ServiceDeadlineMissed
            | EventType::SurveySubmitted
            | EventType::DocumentsScanned => 1,
        }
    }
}

crate::codes::code_enum!(EventType, UnknownEventType, "request event type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_through_its_stored_name() {
        for kind in EventType::ALL {
            assert_eq!(kind.code().parse::<EventType>(), Ok(kind));
        }
        assert!("RequestSubmited".parse::<EventType>().is_err());
    }
}
