//! Why a request can be refused: the e-service refusals of docs/domain.md 5(a), each with a stable code.
//!
//! A benefit refusal reported *inside* a result document (docs/domain.md 5(b), «Отказано в назначении
//! пособия …») is not one of these: that request succeeded, and its result says so.

use serde::{Deserialize, Serialize};

/// A refusal reason (docs/domain.md 5; `iin-invalid` and `not-found-in-registry` are proposals for
/// the social-status check, `representative-not-in-gbd-fl` one for the service centre).
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
    RepresentativeNotInGbdFl,
    PoaNotInEnis,
    OperatorSignatureInvalid,
    ClientNcalayerMissing,
    ClientRootCertMissing,
    IinInvalid,
    NotFoundInRegistry,
}

impl RefusalReason {
    /// Every reason, in the order of docs/domain.md 5.
    pub const ALL: [RefusalReason; 17] = [
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
        RefusalReason::RepresentativeNotInGbdFl,
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
            RefusalReason::RepresentativeNotInGbdFl => "representative-not-in-gbd-fl",
            RefusalReason::PoaNotInEnis => "poa-not-in-enis",
            RefusalReason::OperatorSignatureInvalid => "operator-signature-invalid",
            RefusalReason::ClientNcalayerMissing => "client-ncalayer-missing",
            RefusalReason::ClientRootCertMissing => "client-root-cert-missing",
            RefusalReason::IinInvalid => "iin-invalid",
            RefusalReason::NotFoundInRegistry => "not-found-in-registry",
        }
    }

    /// The regulation's own wording of the refusal and the lines it is quoted from (docs/domain.md
    /// 5(a)), kept beside the code so that a citizen, an operator and an auditor can see which rule
    /// refused. `None` for the project's own reasons, which no source words.
    pub const fn source(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            RefusalReason::AuthFailed => (
                "формирование сообщения об отказе в запрашиваемой электронной государственной услуге в связи с имеющимися нарушениями в данных потребителя",
                "REG 128, 2740, 3130",
            ),
            RefusalReason::SignatureInvalid => (
                "формирование сообщения об отказе в запрашиваемой электронной государственной услуге в связи с не подтверждением подлинности ЭЦП потребителя",
                "REG 136, 284, 2748, 3140",
            ),
            RefusalReason::CertificateExpired => (
                "проверка срока действия регистрационного свидетельства ЭЦП",
                "REG 134, 3136",
            ),
            RefusalReason::CertificateRevoked => (
                "отсутствия в списке отозванных (аннулированных) регистрационных свидетельств",
                "REG 3136",
            ),
            RefusalReason::CertificateIinMismatch => (
                "соответствия идентификационных данных (между ИИН указанного в запросе, и ИИН указанного в регистрационном свидетельстве ЭЦП)",
                "REG 3136",
            ),
            RefusalReason::IinNotFound => ("4 - если ИИН не найден", "REG 298, 3562"),
            RefusalReason::SikNotRegistered => {
                ("4 - если СИК не зарегистрирован", "REG 298, 3562")
            }
            RefusalReason::NoData => (
                "формирование сообщения об отказе в запрашиваемой электронной государственной услуге в связи с отсутствием запрошенных данных",
                "REG 144, 298, 2756, 3144, 3156-3158",
            ),
            RefusalReason::ProcessingError => (
                "4 - если в результате обработки произошла ошибка",
                "REG 2976-2978",
            ),
            RefusalReason::ApplicantNotInGbdFl => (
                "формирование сообщения о невозможности получения данных в связи с отсутствием данных потребителя в ГБД ФЛ",
                "REG 3153",
            ),
            RefusalReason::PoaNotInEnis => (
                "формирование сообщения о невозможности получения данных в связи с отсутствием данных доверенности в ЕНИС",
                "REG 3153",
            ),
            RefusalReason::OperatorSignatureInvalid => {
                ("выполняет проверку ЭЦП; 8 - если есть нарушения", "REG 3579-3584")
            }
            RefusalReason::ClientNcalayerMissing => {
                ("Не установлено и не запущено приложение NCALayer", "INS 25")
            }
            RefusalReason::ClientRootCertMissing => (
                "Установите корневые регистрационные свидетельства НУЦ РК",
                "INS 26",
            ),
            RefusalReason::IinInvalid
            | RefusalReason::NotFoundInRegistry
            | RefusalReason::RepresentativeNotInGbdFl => return None,
        })
    }
}

crate::codes::code_enum!(RefusalReason, UnknownRefusal, "refusal reason");

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/domain.md 5(a): every reason the regulations word keeps their wording and lines; the
    /// project's own two have none.
    #[test]
    fn every_regulated_refusal_keeps_the_regulations_wording_beside_its_code() {
        for reason in RefusalReason::ALL {
            let own = matches!(
                reason,
                RefusalReason::IinInvalid
                    | RefusalReason::NotFoundInRegistry
                    | RefusalReason::RepresentativeNotInGbdFl
            );
            match reason.source() {
                Some((wording, lines)) => {
                    assert!(!own, "{reason}");
                    assert!(!wording.is_empty());
                    assert!(
                        lines.starts_with("REG ") || lines.starts_with("INS "),
                        "{lines}"
                    );
                }
                None => assert!(own, "{reason} has its source"),
            }
        }
        assert_eq!(
            RefusalReason::NoData.source().map(|s| s.1),
            Some("REG 144, 298, 2756, 3144, 3156-3158")
        );
    }

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
