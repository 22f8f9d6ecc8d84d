//! The service catalog as data: every service of docs/domain.md 2 (the ten e-services of the regulations
//! and the social-status check of the instruction), with what a request form holds and how it is
//! validated, the registry lookups in order, the result document, the refusals that can end it, the
//! time limit of each step and the promised deadline.
//!
//! Kazakh names are our translations awaiting review (`Names::kk_reviewed` is false): the sources
//! give Russian only.

mod documents;
mod form;
mod shown;
mod table;

use serde::{Deserialize, Serialize};

use crate::calendar::TimeLimit;
use crate::envelope::Channel;
use crate::refusal::RefusalReason;

pub use documents::{DocumentField, ResultDocument};
pub use form::{FormError, Period, RequestForm};
pub use shown::{Contact, Survey};
pub use table::CATALOG;

/// The code of a service (docs/domain.md 2a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceCode {
    BirthChildcareBenefitInfo,
    GcvpPensionInfo,
    BasicPensionInfo,
    DisabilityBenefitInfo,
    SurvivorBenefitInfo,
    AgeBenefitInfo,
    SpecialStateBenefitInfo,
    StateSpecialBenefitInfo,
    SikAssignment,
    PensionFundStatement,
    SocialStatusCheck,
}

impl ServiceCode {
    /// Every service, in the order of docs/domain.md 2a.
    pub const ALL: [ServiceCode; 11] = [
        ServiceCode::BirthChildcareBenefitInfo,
        ServiceCode::GcvpPensionInfo,
        ServiceCode::BasicPensionInfo,
        ServiceCode::DisabilityBenefitInfo,
        ServiceCode::SurvivorBenefitInfo,
        ServiceCode::AgeBenefitInfo,
        ServiceCode::SpecialStateBenefitInfo,
        ServiceCode::StateSpecialBenefitInfo,
        ServiceCode::SikAssignment,
        ServiceCode::PensionFundStatement,
        ServiceCode::SocialStatusCheck,
    ];

    /// The stable text form, as in docs/domain.md and the API.
    pub const fn code(self) -> &'static str {
        match self {
            ServiceCode::BirthChildcareBenefitInfo => "birth-childcare-benefit-info",
            ServiceCode::GcvpPensionInfo => "gcvp-pension-info",
            ServiceCode::BasicPensionInfo => "basic-pension-info",
            ServiceCode::DisabilityBenefitInfo => "disability-benefit-info",
            ServiceCode::SurvivorBenefitInfo => "survivor-benefit-info",
            ServiceCode::AgeBenefitInfo => "age-benefit-info",
            ServiceCode::SpecialStateBenefitInfo => "special-state-benefit-info",
            ServiceCode::StateSpecialBenefitInfo => "state-special-benefit-info",
            ServiceCode::SikAssignment => "sik-assignment",
            ServiceCode::PensionFundStatement => "pension-fund-statement",
            ServiceCode::SocialStatusCheck => "social-status-check",
        }
    }

    /// The service's entry in the catalog.
    pub fn service(self) -> &'static Service {
        // Every code has exactly one entry (tested), so the fallback is never taken.
        CATALOG
            .iter()
            .find(|s| s.code == self)
            .unwrap_or(&CATALOG[0])
    }
}

crate::codes::code_enum!(ServiceCode, UnknownService, "service");

/// Through which sign-in a person files and signs on the portal: their own, as a citizen, or a
/// medical organisation's, whose users file only the social-status check (docs/domain.md 8) and
/// no other service. A request is signed through the sign-in it is filed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Citizen,
    MedicalOrganisation,
}

impl SignIn {
    /// Whether a request for `service` is filed and signed through this sign-in.
    pub fn files(self, service: ServiceCode) -> bool {
        (service == ServiceCode::SocialStatusCheck) == (self == SignIn::MedicalOrganisation)
    }
}

/// A person signed in to act on the portal: through which sign-in, and for a medical
/// organisation's, the organisation it names (`None` for a citizen's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn<'a> {
    pub sign_in: SignIn,
    pub organisation: Option<&'a str>,
}

impl SignedIn<'_> {
    /// A citizen signed in as themself.
    pub const CITIZEN: SignedIn<'static> = SignedIn {
        sign_in: SignIn::Citizen,
        organisation: None,
    };

    /// Whether a request for `service`, filed naming the medical organisation `filed_by` (if
    /// any), is seen and acted on through this sign-in: the sign-in it is filed through, and for
    /// an organisation's the same organisation - a check is the record of the organisation it was
    /// filed through, and one recorded without it is no organisation's.
    pub fn acts_on(self, service: ServiceCode, filed_by: Option<&str>) -> bool {
        self.sign_in.files(service)
            && match self.sign_in {
                SignIn::Citizen => true,
                SignIn::MedicalOrganisation => filed_by.is_some() && filed_by == self.organisation,
            }
    }
}

/// A name in the three languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Names {
    pub ru: &'static str,
    pub kk: &'static str,
    pub en: &'static str,
    /// Whether the Kazakh text was checked by a reviewer; the sources give Russian only.
    pub kk_reviewed: bool,
}

/// Who provides a service (docs/domain.md 1.1, 2a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// RGKP «Государственный центр по выплате пенсий» of MTSZN (services 1-10).
    Gcvp,
    /// The MTSZN state database, maintained by ЦРТР (the social-status check).
    MtsznStateDatabase,
}

/// The kind of an e-service (REG §3-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// «интерактивная», partially automated: information is shown.
    Interactive,
    /// «транзакционная», fully automated: a document is issued.
    Transactional,
}

/// A registry lookup, in the order a service makes them (docs/domain.md 2b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lookup {
    /// The IIN in AIS GTsVP.
    Iin,
    /// The SIK registered for the IIN, in AIS GTsVP.
    Sik,
    /// The service's benefit or pension data, in AIS GTsVP.
    BenefitData,
    /// The assignment of a SIK, processed in the provider's AIS (service 9).
    SikProcessing,
    /// The contributor's fund receipts and movements.
    FundMovements,
    /// The applicant - the consumer the request is for - in GBD FL (service centre; REG 3153:
    /// «данных потребителя в ГБД ФЛ»).
    ApplicantIdentity,
    /// The representative at the desk in GBD FL (service centre, representatives only).
    RepresentativeIdentity,
    /// The notarised power of attorney in ENIS (service centre, notarised ones only).
    PowerOfAttorney,
    /// The patient's social status in the MTSZN state database.
    SocialStatus,
}

impl Lookup {
    /// Whether the call changes the registry's records rather than reading them: the assignment
    /// of a SIK registers a code (or issues a duplicate certificate). Such a call must take
    /// effect at most once per request, so every attempt at it is sent under one idempotency
    /// key, and a registry that took an attempt whose answer was lost answers the next one as
    /// it answered the first.
    pub const fn changes_records(self) -> bool {
        matches!(self, Lookup::SikProcessing)
    }
}

/// A step of the workflow whose time the step tables limit (docs/domain.md 3.2-3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "step", content = "lookup")]
pub enum Step {
    /// The provider checks the EDS of the request.
    SignatureCheck,
    /// NUC checks that the certificate is current.
    CertificateCheck,
    /// A registry lookup.
    Lookup(Lookup),
    /// The provider forms, signs and sends the result.
    ResultIssue,
}

impl Step {
    /// A stable text form: `signature-check`, `certificate-check`, `result-issue`, or
    /// `lookup:<lookup>` (e.g. `lookup:fund-movements`).
    pub fn code(&self) -> String {
        match self {
            Step::SignatureCheck => "signature-check".into(),
            Step::CertificateCheck => "certificate-check".into(),
            Step::ResultIssue => "result-issue".into(),
            Step::Lookup(lookup) => {
                let name = serde_json::to_value(lookup)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("lookup:{name}")
            }
        }
    }
}

/// The longest a step may take: the upper end of its range in the step table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepLimit {
    pub step: Step,
    pub seconds: u32,
}

/// One field of a request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FormField {
    /// The field's key in the request's `form` object.
    pub key: &'static str,
    pub label: Names,
    pub kind: FieldKind,
    pub required: bool,
    /// The rule, for clients that show it.
    pub rule: &'static str,
}

/// What a form field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    /// An IIN (docs/national-rules.md 1).
    Iin,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

/// A service of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Service {
    pub code: ServiceCode,
    pub names: Names,
    pub provider: Provider,
    pub kind: ServiceKind,
    pub channels: &'static [Channel],
    /// The fields a request form holds besides the applicant's IIN, which comes from the account.
    pub form: &'static [FormField],
    /// The lookups made through the portal, in order.
    pub lookups: &'static [Lookup],
    /// The lookups made at a service centre, in order (empty where the channel does not exist).
    pub centre_lookups: &'static [Lookup],
    pub result: ResultDocument,
    /// The refusal codes of docs/domain.md 5 that can end a request for this service.
    pub refusals: &'static [RefusalReason],
    /// The step limits of the portal's step table.
    pub steps: &'static [StepLimit],
    /// The step limits of the service centre's step table.
    pub centre_steps: &'static [StepLimit],
    /// The deadline promised to the citizen, where the regulations state one.
    pub deadline: Option<Deadline>,
}

/// How long a filed request waits for its signature unless configured otherwise
/// (`EGOV_SIGN_WITHIN`): a day (docs/domain.md 3.6).
pub const DEFAULT_SIGN_WITHIN: chrono::Duration = chrono::Duration::hours(24);

/// A promised deadline, as data (turned into a [`TimeLimit`] for arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "unit", content = "amount")]
pub enum Deadline {
    WorkingDays(u32),
    Hours(u32),
    Minutes(u32),
}

impl Deadline {
    /// The limit for deadline arithmetic; the day of receipt is not counted (docs/national-rules.md 4.5).
    pub fn time_limit(self) -> TimeLimit {
        match self {
            Deadline::WorkingDays(days) => TimeLimit::WorkingDays {
                days,
                receipt_day_counts: false,
            },
            Deadline::Hours(hours) => TimeLimit::Elapsed(chrono::Duration::hours(i64::from(hours))),
            Deadline::Minutes(minutes) => {
                TimeLimit::Elapsed(chrono::Duration::minutes(i64::from(minutes)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::IinError;
    use chrono::NaiveDate;
    use serde_json::json;

    #[test]
    fn each_service_is_filed_through_exactly_one_sign_in() {
        for code in ServiceCode::ALL {
            let medical = SignIn::MedicalOrganisation.files(code);
            assert_ne!(SignIn::Citizen.files(code), medical, "{code}");
            assert_eq!(medical, code == ServiceCode::SocialStatusCheck, "{code}");
        }
    }

    #[test]
    fn the_catalog_has_every_service_of_domain_md_once() {
        for code in ServiceCode::ALL {
            let entries = CATALOG.iter().filter(|s| s.code == code).count();
            assert_eq!(entries, 1, "{code} must be in the catalog once");
            assert_eq!(code.service().code, code);
            assert_eq!(code.code().parse::<ServiceCode>(), Ok(code));
        }
        assert_eq!(CATALOG.len(), ServiceCode::ALL.len());
    }

    #[test]
    fn every_service_names_itself_in_three_languages_and_limits_its_lookups() {
        for service in &CATALOG {
            assert!(
                !service.names.ru.is_empty()
                    && !service.names.kk.is_empty()
                    && !service.names.en.is_empty()
            );
            assert!(!service.lookups.is_empty(), "{}", service.code);
            for lookup in service.lookups.iter().chain(service.centre_lookups) {
                let limited = service
                    .steps
                    .iter()
                    .chain(service.centre_steps)
                    .any(|s| s.step == Step::Lookup(*lookup));
                assert!(
                    limited,
                    "{}: lookup {lookup:?} has a time limit",
                    service.code
                );
            }
            assert_eq!(
                service.channels.contains(&Channel::ServiceCentre),
                !service.centre_lookups.is_empty(),
                "{}: a service-centre channel has its own lookups",
                service.code
            );
        }
    }

    #[test]
    fn only_the_pension_fund_statement_is_offered_at_service_centres() {
        let centre: Vec<_> = CATALOG
            .iter()
            .filter(|s| s.channels.contains(&Channel::ServiceCentre))
            .map(|s| s.code)
            .collect();
        assert_eq!(centre, vec![ServiceCode::PensionFundStatement]);
    }

    #[test]
    fn every_result_document_lists_its_fields() {
        for service in &CATALOG {
            assert!(!service.result.fields().is_empty(), "{}", service.code);
        }
        let statement = ResultDocument::FundStatement.fields();
        assert!(
            statement.iter().any(|f| f.key == "total_kzt"),
            "«Итого» is on the statement"
        );
    }

    #[test]
    fn an_unknown_service_code_is_refused_by_name() {
        assert_eq!(
            "pension".parse::<ServiceCode>(),
            Err(UnknownService("pension".into()))
        );
    }

    #[test]
    fn the_statement_period_is_optional_but_must_be_whole_ordered_and_past() {
        let statement = ServiceCode::PensionFundStatement.service();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let cases = [
            (
                json!({}),
                Ok(RequestForm::Statement { period: None }),
                "no period",
            ),
            (
                json!({"period_start": "2012-01-03", "period_end": "2012-01-12"}),
                Ok(RequestForm::Statement {
                    period: Some(Period {
                        start: NaiveDate::from_ymd_opt(2012, 1, 3).expect("date"),
                        end: NaiveDate::from_ymd_opt(2012, 1, 12).expect("date"),
                    }),
                }),
                "the regulations' example",
            ),
            (
                json!({"period_start": "2012-01-03"}),
                Err(FormError::HalfPeriod),
                "half a period",
            ),
            (
                json!({"period_start": "2012-01-13", "period_end": "2012-01-12"}),
                Err(FormError::PeriodReversed),
                "reversed",
            ),
            (
                json!({"period_start": "2026-11-01", "period_end": "2026-11-24"}),
                Err(FormError::PeriodInFuture),
                "future",
            ),
            (
                json!({"period_start": "03.01.2012", "period_end": "2012-01-12"}),
                Err(FormError::BadDate("period_start")),
                "format",
            ),
            (
                json!({"iin": "900101300007"}),
                Err(FormError::UnknownField("iin".into())),
                "unknown field",
            ),
            (json!([1]), Err(FormError::NotAnObject), "not an object"),
        ];
        for (form, expected, what) in cases {
            assert_eq!(statement.validate_form(&form, today), expected, "{what}");
        }
    }

    #[test]
    fn the_social_status_check_needs_a_valid_patient_iin() {
        let check = ServiceCode::SocialStatusCheck.service();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        assert!(matches!(
            check.validate_form(&json!({"patient_iin": "900101300007"}), today),
            Ok(RequestForm::PatientStatus { .. })
        ));
        assert_eq!(
            check.validate_form(&json!({}), today),
            Err(FormError::Missing("patient_iin"))
        );
        assert!(matches!(
            check.validate_form(&json!({"patient_iin": "900101300008"}), today),
            Err(FormError::BadIin {
                error: IinError::BadCheckDigit { .. },
                ..
            })
        ));
    }

    #[test]
    fn promised_deadlines_are_those_the_regulations_state() {
        assert_eq!(
            ServiceCode::SikAssignment.service().deadline,
            Some(Deadline::WorkingDays(1))
        );
        assert_eq!(
            ServiceCode::PensionFundStatement.service().deadline,
            Some(Deadline::Hours(1))
        );
        // docs/domain.md 10, D3: six minutes for the information services.
        assert_eq!(
            ServiceCode::GcvpPensionInfo.service().deadline,
            Some(Deadline::Minutes(6))
        );
        assert_eq!(ServiceCode::SocialStatusCheck.service().deadline, None);
    }
}
