//! The service catalog as data: every service of DOMAIN.md 2 (the ten e-services of the regulations
//! and the social-status check of the instruction), with what a request form holds and how it is
//! validated, the registry lookups in order, the result document, the refusals that can end it, the
//! time limit of each step and the promised deadline.
//!
//! Kazakh names are our translations awaiting review (`Names::kk_reviewed` is false): the sources
//! give Russian only.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::TimeLimit;
use crate::envelope::Channel;
use crate::identifiers::{Iin, IinError};
use crate::refusal::RefusalReason;

/// The code of a service (DOMAIN.md 2a).
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
    /// Every service, in the order of DOMAIN.md 2a.
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

    /// The stable text form, as in DOMAIN.md and the API.
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

/// A name in the three languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Names {
    pub ru: &'static str,
    pub kk: &'static str,
    pub en: &'static str,
    /// Whether the Kazakh text was checked by a reviewer; the sources give Russian only.
    pub kk_reviewed: bool,
}

/// Who provides a service (DOMAIN.md 1.1, 2a).
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

/// A registry lookup, in the order a service makes them (DOMAIN.md 2b).
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
    /// The applicant in GBD FL (service centre).
    ApplicantIdentity,
    /// The notarised power of attorney in ENIS (service centre, representatives only).
    PowerOfAttorney,
    /// The patient's social status in the MTSZN state database.
    SocialStatus,
}

/// The result a service ends with (DOMAIN.md 6, 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultDocument {
    /// «ИНФОРМАЦИЯ о назначении (отказе в назначении) …» (services 1-8, 6.1).
    BenefitInformation,
    /// «Свидетельство о присвоении социального индивидуального кода» (6.2).
    SikCertificate,
    /// «Справка по оборотам по транзитным счетам вкладчика» (6.3).
    FundStatement,
    /// An on-screen line, not a document (8).
    SocialStatusLine,
}

/// A field of a result document: its key and its label as the sample documents print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocumentField {
    pub key: &'static str,
    pub label_ru: &'static str,
}

impl ResultDocument {
    /// The fields the document carries (DOMAIN.md 6), besides its unique number and the provider's
    /// signature, which every document has.
    pub const fn fields(self) -> &'static [DocumentField] {
        match self {
            // 6.1: the decision and what it assigned, or the benefit body's refusal, which is a
            // result and not a refused request (DOMAIN.md 5(b)).
            ResultDocument::BenefitInformation => &[
                DocumentField {
                    key: "issuer",
                    label_ru: "наименование ГО",
                },
                DocumentField {
                    key: "decision_number",
                    label_ru: "Решением №",
                },
                DocumentField {
                    key: "decision_date",
                    label_ru: "от",
                },
                DocumentField {
                    key: "amount_kzt",
                    label_ru: "в размере ___ тенге",
                },
                DocumentField {
                    key: "assigned_from",
                    label_ru: "Дата назначения",
                },
                DocumentField {
                    key: "paid_until",
                    label_ru: "Дата окончания выплаты",
                },
                DocumentField {
                    key: "refusal_reason",
                    label_ru: "Отказано в назначении (причина отказа)",
                },
            ],
            // 6.2.
            ResultDocument::SikCertificate => &[
                DocumentField {
                    key: "sik",
                    label_ru: "СИК",
                },
                DocumentField {
                    key: "last_name",
                    label_ru: "Фамилия",
                },
                DocumentField {
                    key: "first_name",
                    label_ru: "Имя",
                },
                DocumentField {
                    key: "patronymic",
                    label_ru: "Отчество",
                },
                DocumentField {
                    key: "birth_date",
                    label_ru: "Дата рождения",
                },
                DocumentField {
                    key: "branch",
                    label_ru: "Филиал/Отделение, выдавший(ее) свидетельство",
                },
                DocumentField {
                    key: "registered_on",
                    label_ru: "Дата регистрации",
                },
                DocumentField {
                    key: "issued_on",
                    label_ru: "Дата выдачи",
                },
            ],
            // 6.3: one row per movement in the period, and the total.
            ResultDocument::FundStatement => &[
                DocumentField {
                    key: "full_name",
                    label_ru: "ФИО",
                },
                DocumentField {
                    key: "sik",
                    label_ru: "СИК",
                },
                DocumentField {
                    key: "rows",
                    label_ru: "Обороты по транзитным счетам вкладчика",
                },
                DocumentField {
                    key: "total_kzt",
                    label_ru: "Итого",
                },
            ],
            // 8: «Статус ИИН [ХХХХХХХХХХХХ] : [Социальный статус]!»
            ResultDocument::SocialStatusLine => &[
                DocumentField {
                    key: "iin",
                    label_ru: "Статус ИИН",
                },
                DocumentField {
                    key: "status",
                    label_ru: "Социальный статус",
                },
            ],
        }
    }

    /// The document's title as the regulations give it.
    pub const fn title_ru(self) -> &'static str {
        match self {
            ResultDocument::BenefitInformation => "ИНФОРМАЦИЯ о назначении (отказе в назначении)",
            ResultDocument::SikCertificate => {
                "Свидетельство о присвоении социального индивидуального кода"
            }
            ResultDocument::FundStatement => "Справка по оборотам по транзитным счетам вкладчика",
            ResultDocument::SocialStatusLine => "Сведения о социальном статусе",
        }
    }
}

/// A step of the workflow whose time the step tables limit (DOMAIN.md 3.2-3.4).
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
    /// An IIN (KZ.md 1).
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
    /// The refusal codes of DOMAIN.md 5 that can end a request for this service.
    pub refusals: &'static [RefusalReason],
    /// The step limits of the portal's step table.
    pub steps: &'static [StepLimit],
    /// The step limits of the service centre's step table.
    pub centre_steps: &'static [StepLimit],
    /// The deadline promised to the citizen, where the regulations state one.
    pub deadline: Option<Deadline>,
}

/// A promised deadline, as data (turned into a [`TimeLimit`] for arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "unit", content = "amount")]
pub enum Deadline {
    WorkingDays(u32),
    Hours(u32),
    Minutes(u32),
}

impl Deadline {
    /// The limit for deadline arithmetic; the day of receipt is not counted (KZ.md 4.5).
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

/// What a validated request form holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RequestForm {
    /// Nothing besides the applicant's IIN (services 1-9).
    Empty,
    /// The pension-fund statement, for a period or for all time.
    Statement { period: Option<Period> },
    /// The social-status check of a patient.
    PatientStatus { patient: Iin },
}

/// A period of dates, start not after end (REG 3452-3470).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Why a request form is refused; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The form is not a JSON object.
    #[error("the form is a JSON object")]
    NotAnObject,
    /// A field this service does not have.
    #[error("the form has no field {0:?}")]
    UnknownField(String),
    /// A required field is missing.
    #[error("the field {0:?} is required")]
    Missing(&'static str),
    /// A date field is not `YYYY-MM-DD`.
    #[error("the field {0:?} is a date, YYYY-MM-DD")]
    BadDate(&'static str),
    /// An IIN field does not hold a valid IIN.
    #[error("the field {field:?} is not a valid IIN: {error}")]
    BadIin {
        field: &'static str,
        error: IinError,
    },
    /// Only one end of the period is given.
    #[error("a period needs both its start and its end")]
    HalfPeriod,
    /// The period starts after it ends.
    #[error("the period starts after it ends")]
    PeriodReversed,
    /// The period reaches into the future.
    #[error("the period ends in the future")]
    PeriodInFuture,
}

impl Service {
    /// Validates a request form for this service; `today` is the local date of receipt.
    ///
    /// # Errors
    /// [`FormError`] naming the field and the rule broken.
    pub fn validate_form(&self, form: &Value, today: NaiveDate) -> Result<RequestForm, FormError> {
        let fields = match form {
            Value::Object(map) => map,
            Value::Null => &serde_json::Map::new(),
            _ => return Err(FormError::NotAnObject),
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !self.form.iter().any(|f| f.key == k.as_str()))
        {
            return Err(FormError::UnknownField(unknown.clone()));
        }
        let date = |key: &'static str| -> Result<Option<NaiveDate>, FormError> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| FormError::BadDate(key)),
                Some(_) => Err(FormError::BadDate(key)),
            }
        };
        match self.code {
            ServiceCode::PensionFundStatement => {
                // REG 3452-3470: the period is optional («Указать период»); when given, both dates.
                let period = match (date("period_start")?, date("period_end")?) {
                    (None, None) => None,
                    (Some(start), Some(end)) => {
                        if start > end {
                            return Err(FormError::PeriodReversed);
                        }
                        if end > today {
                            return Err(FormError::PeriodInFuture);
                        }
                        Some(Period { start, end })
                    }
                    _ => return Err(FormError::HalfPeriod),
                };
                Ok(RequestForm::Statement { period })
            }
            ServiceCode::SocialStatusCheck => {
                let raw = match fields.get("patient_iin") {
                    Some(Value::String(s)) => s,
                    Some(_) => {
                        return Err(FormError::BadIin {
                            field: "patient_iin",
                            error: IinError::NotAsciiDigits,
                        })
                    }
                    None => return Err(FormError::Missing("patient_iin")),
                };
                let patient = Iin::parse(raw).map_err(|error| FormError::BadIin {
                    field: "patient_iin",
                    error,
                })?;
                Ok(RequestForm::PatientStatus { patient })
            }
            _ => Ok(RequestForm::Empty),
        }
    }
}

const PORTAL: &[Channel] = &[Channel::Portal];
const PORTAL_AND_CENTRE: &[Channel] = &[Channel::Portal, Channel::ServiceCentre];

const BENEFIT_LOOKUPS: &[Lookup] = &[Lookup::Iin, Lookup::Sik, Lookup::BenefitData];
const BENEFIT_REFUSALS: &[RefusalReason] = &[
    RefusalReason::AuthFailed,
    RefusalReason::SignatureInvalid,
    RefusalReason::CertificateExpired,
    RefusalReason::CertificateRevoked,
    RefusalReason::CertificateIinMismatch,
    RefusalReason::IinNotFound,
    RefusalReason::SikNotRegistered,
    RefusalReason::NoData,
];

/// Services 1-8 (REG 280-309, identical in every table).
const BENEFIT_STEPS: &[StepLimit] = &[
    StepLimit {
        step: Step::SignatureCheck,
        seconds: 60,
    },
    StepLimit {
        step: Step::CertificateCheck,
        seconds: 105,
    },
    StepLimit {
        step: Step::Lookup(Lookup::Iin),
        seconds: 15,
    },
    StepLimit {
        step: Step::Lookup(Lookup::Sik),
        seconds: 15,
    },
    StepLimit {
        step: Step::Lookup(Lookup::BenefitData),
        seconds: 30,
    },
    StepLimit {
        step: Step::ResultIssue,
        seconds: 20,
    },
];

const fn kk_pending(ru: &'static str, kk: &'static str, en: &'static str) -> Names {
    Names {
        ru,
        kk,
        en,
        kk_reviewed: false,
    }
}

const fn benefit(code: ServiceCode, names: Names) -> Service {
    Service {
        code,
        names,
        provider: Provider::Gcvp,
        kind: ServiceKind::Interactive,
        channels: PORTAL,
        form: &[],
        lookups: BENEFIT_LOOKUPS,
        centre_lookups: &[],
        result: ResultDocument::BenefitInformation,
        refusals: BENEFIT_REFUSALS,
        steps: BENEFIT_STEPS,
        centre_steps: &[],
        // No citizen-facing deadline is given (DOMAIN.md 10, D3): the upper end of the step table's
        // «Всего 5-6 мин», as data that is easy to change.
        deadline: Some(Deadline::Minutes(6)),
    }
}

/// The catalog.
pub static CATALOG: [Service; 11] = [
    benefit(
        ServiceCode::BirthChildcareBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) пособий на рождение ребенка и по уходу за ребенком по достижению им возраста одного года",
            "Бала тууына және бір жасқа толғанға дейін бала күтіміне байланысты жәрдемақыларды тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on assignment (refusal) of the childbirth benefit and the child-care benefit up to age one",
        ),
    ),
    benefit(
        ServiceCode::GcvpPensionInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) пенсионных выплат из Государственного центра по выплате пенсий с учетом базовой пенсионной выплаты",
            "Базалық зейнетақы төлемін ескере отырып, Зейнетақы төлеу жөніндегі мемлекеттік орталықтан зейнетақы төлемдерін тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on assignment (refusal) of pension payments from GTsVP including the basic pension payment",
        ),
    ),
    benefit(
        ServiceCode::BasicPensionInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) государственной базовой пенсионной выплаты",
            "Мемлекеттік базалық зейнетақы төлемін тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on assignment (refusal) of the state basic pension payment",
        ),
    ),
    benefit(
        ServiceCode::DisabilityBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) государственного социального пособия по инвалидности",
            "Мүгедектігі бойынша мемлекеттік әлеуметтік жәрдемақыны тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on the state social disability benefit",
        ),
    ),
    benefit(
        ServiceCode::SurvivorBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) государственного социального пособия по случаю потери кормильца",
            "Асыраушысынан айырылу жағдайы бойынша мемлекеттік әлеуметтік жәрдемақыны тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on the state social survivor (loss-of-breadwinner) benefit",
        ),
    ),
    benefit(
        ServiceCode::AgeBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) государственного социального пособия по возрасту",
            "Жасына байланысты мемлекеттік әлеуметтік жәрдемақыны тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on the state social old-age benefit",
        ),
    ),
    benefit(
        ServiceCode::SpecialStateBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) специального государственного пособия",
            "Арнаулы мемлекеттік жәрдемақыны тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on the special state benefit",
        ),
    ),
    benefit(
        ServiceCode::StateSpecialBenefitInfo,
        kk_pending(
            "Получение информации о назначении (отказе в назначении) государственного специального пособия",
            "Мемлекеттік арнаулы жәрдемақыны тағайындау (тағайындаудан бас тарту) туралы ақпарат алу",
            "Information on the state special benefit",
        ),
    ),
    Service {
        code: ServiceCode::SikAssignment,
        names: kk_pending(
            "Присвоение (выдача дубликата) социального индивидуального кода",
            "Әлеуметтік жеке кодты беру (телнұсқасын беру)",
            "Assignment of a social individual code (or issue of a duplicate certificate)",
        ),
        provider: Provider::Gcvp,
        kind: ServiceKind::Transactional,
        channels: PORTAL,
        form: &[],
        lookups: &[Lookup::SikProcessing],
        centre_lookups: &[],
        result: ResultDocument::SikCertificate,
        refusals: &[
            RefusalReason::AuthFailed,
            RefusalReason::SignatureInvalid,
            RefusalReason::CertificateExpired,
            RefusalReason::CertificateRevoked,
            RefusalReason::CertificateIinMismatch,
            RefusalReason::ProcessingError,
            RefusalReason::NoData,
        ],
        // REG 2967-2979.
        steps: &[
            StepLimit { step: Step::SignatureCheck, seconds: 60 },
            StepLimit { step: Step::CertificateCheck, seconds: 105 },
            StepLimit { step: Step::Lookup(Lookup::SikProcessing), seconds: 15 },
            StepLimit { step: Step::ResultIssue, seconds: 20 },
        ],
        centre_steps: &[],
        // «В течение 1 рабочего дня с момента получения заявления» (REG 2933).
        deadline: Some(Deadline::WorkingDays(1)),
    },
    Service {
        code: ServiceCode::PensionFundStatement,
        names: kk_pending(
            "Выдача информации о поступлении и движении средств вкладчика накопительного пенсионного фонда",
            "Жинақтаушы зейнетақы қорының салымшысының қаражатының түсуі және қозғалысы туралы ақпарат беру",
            "Statement of receipts and movements of a contributor's funds in an accumulative pension fund",
        ),
        provider: Provider::Gcvp,
        kind: ServiceKind::Transactional,
        channels: PORTAL_AND_CENTRE,
        form: &[
            FormField {
                key: "period_start",
                label: kk_pending("Начальная дата", "Бастапқы күні", "Start date"),
                kind: FieldKind::Date,
                required: false,
                rule: "with period_end; not after period_end",
            },
            FormField {
                key: "period_end",
                label: kk_pending("Конечная дата", "Соңғы күні", "End date"),
                kind: FieldKind::Date,
                required: false,
                rule: "with period_start; not in the future",
            },
        ],
        lookups: &[Lookup::Iin, Lookup::Sik, Lookup::FundMovements],
        // DOMAIN.md 10, D14: the service centre's table omits the IIN and SIK searches; they mirror
        // the portal's.
        centre_lookups: &[
            Lookup::ApplicantIdentity,
            Lookup::PowerOfAttorney,
            Lookup::Iin,
            Lookup::Sik,
            Lookup::FundMovements,
        ],
        result: ResultDocument::FundStatement,
        refusals: &[
            RefusalReason::AuthFailed,
            RefusalReason::SignatureInvalid,
            RefusalReason::CertificateExpired,
            RefusalReason::CertificateRevoked,
            RefusalReason::CertificateIinMismatch,
            RefusalReason::IinNotFound,
            RefusalReason::SikNotRegistered,
            RefusalReason::NoData,
            RefusalReason::ApplicantNotInGbdFl,
            RefusalReason::PoaNotInEnis,
            RefusalReason::OperatorSignatureInvalid,
        ],
        // Table 1, REG 3551-3572.
        steps: &[
            StepLimit { step: Step::SignatureCheck, seconds: 60 },
            StepLimit { step: Step::CertificateCheck, seconds: 105 },
            StepLimit { step: Step::Lookup(Lookup::Iin), seconds: 15 },
            StepLimit { step: Step::Lookup(Lookup::Sik), seconds: 15 },
            StepLimit { step: Step::Lookup(Lookup::FundMovements), seconds: 30 },
            StepLimit { step: Step::ResultIssue, seconds: 20 },
        ],
        // Table 2, REG 3575-3592: GBD FL and ENIS together take steps 3-4 (3 min); the NUC check of
        // the operator's EDS and the IIN and SIK searches mirror the portal's (D14), and the
        // unitless «10» and «20-3 сек» read as 10 s and 20-30 s.
        centre_steps: &[
            StepLimit { step: Step::Lookup(Lookup::ApplicantIdentity), seconds: 180 },
            StepLimit { step: Step::Lookup(Lookup::PowerOfAttorney), seconds: 180 },
            StepLimit { step: Step::SignatureCheck, seconds: 10 },
            StepLimit { step: Step::CertificateCheck, seconds: 105 },
            StepLimit { step: Step::Lookup(Lookup::Iin), seconds: 15 },
            StepLimit { step: Step::Lookup(Lookup::Sik), seconds: 15 },
            StepLimit { step: Step::Lookup(Lookup::FundMovements), seconds: 30 },
            StepLimit { step: Step::ResultIssue, seconds: 10 },
        ],
        // «В течении 1 часа» (REG 3537).
        deadline: Some(Deadline::Hours(1)),
    },
    Service {
        code: ServiceCode::SocialStatusCheck,
        names: kk_pending(
            "Просмотр сведений о социальном статусе граждан Республики Казахстан",
            "Қазақстан Республикасы азаматтарының әлеуметтік мәртебесі туралы мәліметтерді қарау",
            "Social-status (compulsory health insurance) check by IIN for medical organisations",
        ),
        provider: Provider::MtsznStateDatabase,
        // Not stated in the sources; DOMAIN.md 2a proposes an interactive, synchronous lookup.
        kind: ServiceKind::Interactive,
        channels: PORTAL,
        form: &[FormField {
            key: "patient_iin",
            label: kk_pending("Введите ИИН", "ЖСН енгізіңіз", "Patient's IIN"),
            kind: FieldKind::Iin,
            required: true,
            rule: "a valid IIN",
        }],
        lookups: &[Lookup::SocialStatus],
        centre_lookups: &[],
        result: ResultDocument::SocialStatusLine,
        refusals: &[
            RefusalReason::AuthFailed,
            RefusalReason::ClientNcalayerMissing,
            RefusalReason::ClientRootCertMissing,
            RefusalReason::IinInvalid,
            RefusalReason::NotFoundInRegistry,
        ],
        steps: &[StepLimit { step: Step::Lookup(Lookup::SocialStatus), seconds: 15 }],
        centre_steps: &[],
        deadline: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        // DOMAIN.md 10, D3: six minutes for the information services.
        assert_eq!(
            ServiceCode::GcvpPensionInfo.service().deadline,
            Some(Deadline::Minutes(6))
        );
        assert_eq!(ServiceCode::SocialStatusCheck.service().deadline, None);
    }
}
