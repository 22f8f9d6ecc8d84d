//! The catalog's data: every service with its names, channels, form, lookups, result, refusals,
//! step limits (the step tables of docs/domain.md 3.2-3.4) and deadline.

use super::{
    Deadline, FieldKind, FormField, Lookup, Names, Provider, ResultDocument, Service, ServiceCode,
    ServiceKind, Step, StepLimit,
};
use crate::envelope::Channel;
use crate::refusal::RefusalReason;

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
        // No citizen-facing deadline is given (docs/domain.md 10, D3): the upper end of the step table's
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
        // docs/domain.md 10, D14: the service centre's table omits the IIN and SIK searches; they mirror
        // the portal's.
        centre_lookups: &[
            Lookup::ApplicantIdentity,
            Lookup::RepresentativeIdentity,
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
            RefusalReason::RepresentativeNotInGbdFl,
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
            StepLimit { step: Step::Lookup(Lookup::RepresentativeIdentity), seconds: 180 },
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
        // Not stated in the sources; docs/domain.md 2a proposes an interactive, synchronous lookup.
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
