//! What clients show beside a service so that people see the rules: the survey's questions and
//! answers (docs/domain.md 7), the promised deadline in the regulations' words (docs/domain.md 4)
//! and the telephone to call (docs/domain.md 7, "Contacts").

use serde::Serialize;

use super::{Deadline, Names, ServiceCode};

/// A text the sources give in Russian; the Kazakh and English are translations awaiting review.
const fn text(ru: &'static str, kk: &'static str, en: &'static str) -> Names {
    Names {
        ru,
        kk,
        en,
        kk_reviewed: false,
    }
}

/// The survey offered once a request has ended («Анкета», REG 397-413 and the last appendix of
/// every regulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Survey {
    /// Question 1, on the quality of the process (service 10: of the process and the result).
    pub quality: Names,
    /// Question 2, on the information about how the service is provided.
    pub information: Names,
    /// The three answers, in order: `not-satisfied`, `partially-satisfied`, `satisfied`.
    pub answers: [(&'static str, Names); 3],
    /// The regulation lines the questions are quoted from.
    pub source: &'static str,
}

const QUALITY: Names = text(
    "Удовлетворены ли Вы качеством процесса оказания электронной государственной услуги?",
    "Электрондық мемлекеттік қызмет көрсету процесінің сапасына қанағаттанасыз ба?",
    "Are you satisfied with the quality of the process of providing the e-service?",
);

/// Service 10 asks about the result too (REG 3640).
const QUALITY_AND_RESULT: Names = text(
    "Удовлетворены ли Вы качеством процесса и результатом оказания электронной государственной услуги?",
    "Электрондық мемлекеттік қызмет көрсету процесінің сапасына және нәтижесіне қанағаттанасыз ба?",
    "Are you satisfied with the quality of the process and with the result of the e-service?",
);

const INFORMATION: Names = text(
    "Удовлетворены ли Вы качеством информации о порядке оказания электронной государственной услуги?",
    "Электрондық мемлекеттік қызмет көрсету тәртібі туралы ақпараттың сапасына қанағаттанасыз ба?",
    "Are you satisfied with the quality of the information on how the e-service is provided?",
);

const ANSWERS: [(&str, Names); 3] = [
    (
        "not-satisfied",
        text("не удовлетворен", "қанағаттанбаймын", "not satisfied"),
    ),
    (
        "partially-satisfied",
        text(
            "частично удовлетворен",
            "ішінара қанағаттанамын",
            "partly satisfied",
        ),
    ),
    (
        "satisfied",
        text("удовлетворен", "қанағаттанамын", "satisfied"),
    ),
];

/// A telephone the regulations give for questions about a service, with the sentence that gives it
/// (item 9 or 10 of each regulation's general provisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub phone: &'static str,
    pub name: Names,
    /// The regulation line it is quoted from.
    pub source: &'static str,
}

impl ServiceCode {
    /// The survey of this service: the same two questions everywhere, service 10's first one
    /// asking about the result as well (REG 3640).
    pub const fn survey(self) -> Survey {
        match self {
            ServiceCode::PensionFundStatement => Survey {
                quality: QUALITY_AND_RESULT,
                information: INFORMATION,
                answers: ANSWERS,
                source: "REG 3629-3651",
            },
            _ => Survey {
                quality: QUALITY,
                information: INFORMATION,
                answers: ANSWERS,
                source: "REG 397-413",
            },
        }
    }

    /// Where to call: GTsVP's own line for services 1-8 (REG 164), the free call centre 1414 for
    /// services 9-10 (REG 2774, 3192); none is given for the social-status check.
    pub const fn contact(self) -> Option<Contact> {
        match self {
            ServiceCode::SikAssignment | ServiceCode::PensionFundStatement => Some(Contact {
                phone: "1414",
                name: text(
                    "Необходимую информацию и консультацию по оказанию электронной государственной услуги можно получить по телефону call-центра ПЭП",
                    "Электрондық мемлекеттік қызмет көрсету бойынша қажетті ақпарат пен кеңесті ЭҮП call-орталығының телефоны арқылы алуға болады",
                    "Information and advice on the e-service are given by the e-government portal's call centre",
                ),
                source: "REG 2774, 3192",
            }),
            ServiceCode::SocialStatusCheck => None,
            _ => Some(Contact {
                phone: "8(7172) - 376402",
                name: text(
                    "Номер контактного телефона для получения информации об электронной государственной услуге в РГКП \"ГЦВП\"",
                    "Электрондық мемлекеттік қызмет туралы ақпарат алуға арналған «ЗТМО» РМҚК байланыс телефоны",
                    "The telephone of GTsVP for information about the e-service",
                ),
                source: "REG 164",
            }),
        }
    }
}

impl Deadline {
    /// The promise in the words the status screen shows after «Срок оказания услуги:»: the
    /// regulations' own for services 9 (REG 2933) and 10 (REG 3537, its «В течении» spelt right,
    /// docs/domain.md 10, D19); ours for the six minutes of services 1-8 (D3).
    pub fn wording(self) -> (String, String, String) {
        match self {
            Deadline::WorkingDays(1) => (
                "В течение 1 рабочего дня с момента получения заявления".into(),
                "Өтініш алынған сәттен бастап 1 жұмыс күні ішінде".into(),
                "Within 1 working day of receipt of the application".into(),
            ),
            Deadline::WorkingDays(n) => (
                format!("В течение {n} рабочих дней с момента получения заявления"),
                format!("Өтініш алынған сәттен бастап {n} жұмыс күні ішінде"),
                format!("Within {n} working days of receipt of the application"),
            ),
            Deadline::Hours(1) => (
                "В течение 1 часа".into(),
                "1 сағат ішінде".into(),
                "Within 1 hour".into(),
            ),
            Deadline::Hours(n) => (
                format!("В течение {n} часов"),
                format!("{n} сағат ішінде"),
                format!("Within {n} hours"),
            ),
            Deadline::Minutes(n) => (
                format!("В течение {n} минут"),
                format!("{n} минут ішінде"),
                format!("Within {n} minutes"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// REG 3640 against REG 397-413: only service 10 asks about the result.
    #[test]
    fn the_pension_fund_statement_asks_about_the_result_and_every_other_service_does_not() {
        for code in ServiceCode::ALL {
            let survey = code.survey();
            let about_result = survey.quality.ru.contains("и результатом");
            assert_eq!(
                about_result,
                code == ServiceCode::PensionFundStatement,
                "{code}"
            );
            assert!(survey.information.ru.contains("информации о порядке"));
            let codes: Vec<&str> = survey.answers.iter().map(|(c, _)| *c).collect();
            assert_eq!(codes, ["not-satisfied", "partially-satisfied", "satisfied"]);
        }
    }

    #[test]
    fn the_promised_deadlines_read_as_the_regulations_write_them() {
        assert_eq!(
            Deadline::WorkingDays(1).wording().0,
            "В течение 1 рабочего дня с момента получения заявления",
            "REG 2933"
        );
        assert_eq!(
            Deadline::Hours(1).wording().0,
            "В течение 1 часа",
            "REG 3537"
        );
        assert_eq!(Deadline::Minutes(6).wording().2, "Within 6 minutes");
    }

    #[test]
    fn services_9_and_10_give_the_call_centre_and_1_to_8_the_providers_line() {
        assert_eq!(
            ServiceCode::SikAssignment.contact().map(|c| c.phone),
            Some("1414")
        );
        assert_eq!(
            ServiceCode::PensionFundStatement.contact().map(|c| c.phone),
            Some("1414")
        );
        assert_eq!(
            ServiceCode::DisabilityBenefitInfo
                .contact()
                .map(|c| c.phone),
            Some("8(7172) - 376402")
        );
        assert_eq!(ServiceCode::SocialStatusCheck.contact(), None);
    }
}
