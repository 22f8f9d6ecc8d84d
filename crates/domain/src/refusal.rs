//! Why a request can be refused: the e-service refusals of docs/domain.md 5(a), each with a stable code.
//!
//! A benefit refusal reported *inside* a result document (docs/domain.md 5(b), «Отказано в назначении
//! пособия …») is not one of these: that request succeeded, and its result says so.

use serde::{Deserialize, Serialize};

/// A refusal reason (docs/domain.md 5; the last two are proposals for the social-status check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReason {
    AuthFailed,
    SignatureInvalid,
    CertificateExpired,
    CertificateRevoked,
    CertificateIinMismatch,
    IinNotFound,
    SikNotRegistered,
    NoData,
    ProcessingError,
    ApplicantNotInGbdFl,
    PoaNotInEnis,
    OperatorSignatureInvalid,
    ClientNcalayerMissing,
    ClientRootCertMissing,
    IinInvalid,
    NotFoundInRegistry,
}

impl RefusalReason {
    /// Every reason, in the order of docs/domain.md 5.
    pub const ALL: [RefusalReason; 16] = [
        RefusalReason::AuthFailed,
        RefusalReason::SignatureInvalid,
        RefusalReason::CertificateExpired,
        RefusalReason::CertificateRevoked,
        RefusalReason::CertificateIinMismatch,
        RefusalReason::IinNotFound,
        RefusalReason::SikNotRegistered,
        RefusalReason::NoData,
        RefusalReason::ProcessingError,
        RefusalReason::ApplicantNotInGbdFl,
        RefusalReason::PoaNotInEnis,
        RefusalReason::OperatorSignatureInvalid,
        RefusalReason::ClientNcalayerMissing,
        RefusalReason::ClientRootCertMissing,
        RefusalReason::IinInvalid,
        RefusalReason::NotFoundInRegistry,
    ];

    /// The stable code, as stored, shown in problem documents and counted by analytics.
    pub const fn code(self) -> &'static str {
        match self {
            RefusalReason::AuthFailed => "auth-failed",
            RefusalReason::SignatureInvalid => "signature-invalid",
            RefusalReason::CertificateExpired => "certificate-expired",
            RefusalReason::CertificateRevoked => "certificate-revoked",
            RefusalReason::CertificateIinMismatch => "certificate-iin-mismatch",
            RefusalReason::IinNotFound => "iin-not-found",
            RefusalReason::SikNotRegistered => "sik-not-registered",
            RefusalReason::NoData => "no-data",
            RefusalReason::ProcessingError => "processing-error",
            RefusalReason::ApplicantNotInGbdFl => "applicant-not-in-gbd-fl",
            RefusalReason::PoaNotInEnis => "poa-not-in-enis",
            RefusalReason::OperatorSignatureInvalid => "operator-signature-invalid",
            RefusalReason::ClientNcalayerMissing => "client-ncalayer-missing",
            RefusalReason::ClientRootCertMissing => "client-root-cert-missing",
            RefusalReason::IinInvalid => "iin-invalid",
            RefusalReason::NotFoundInRegistry => "not-found-in-registry",
        }
    }
}

crate::codes::code_enum!(RefusalReason, UnknownRefusal, "refusal reason");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_code_round_trips_and_is_unique() {
        let mut codes: Vec<&str> = RefusalReason::ALL.iter().map(|r| r.code()).collect();
        for reason in RefusalReason::ALL {
            assert_eq!(reason.code().parse::<RefusalReason>(), Ok(reason));
            assert_eq!(
                serde_json::to_string(&reason).expect("json"),
                format!("\"{}\"", reason.code())
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RefusalReason::ALL.len());
    }
}
