//! The benefit-information documents of services 1-8 (docs/domain.md 6.1), each with its own
//! title and lines: the regulations' documents differ per benefit - the child-care amount, the
//! disability group and its period, the survivor payment period, «На период», the pension
//! service's second decision - and print dates as `дд.мм.гггг`. The Russian lines are the
//! regulations' (REG 356-378, 699-724, 1015-1030, 1334-1353, 1661-1675, 1978-1997, 2296-2311,
//! 2617-2640); the Kazakh ones are translations awaiting review.

use serde::Serialize;
use serde_json::Value;

use crate::catalog::ServiceCode;

/// One printed line, in Russian and Kazakh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub ru: String,
    pub kk: String,
}

fn line(ru: String, kk: String) -> Line {
    Line { ru, kk }
}

/// `2019-05-14` as the regulations print dates: `14.05.2019`. Anything that is not an ISO date
/// (or a timestamp starting with one) is given back as it is.
pub fn dmy(iso: &str) -> String {
    let date = iso.get(..10).unwrap_or(iso);
    match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(day) => day.format("%d.%m.%Y").to_string(),
        Err(_) => iso.to_owned(),
    }
}

/// The title of service `service`'s document: «ИНФОРМАЦИЯ о назначении (отказе в назначении)»
/// and the end of the service's name (docs/domain.md 6.1, title rule), in Russian and Kazakh.
pub fn title(service: ServiceCode) -> Line {
    let names = service.service().names;
    let ru = names
        .ru
        .strip_prefix("Получение информации о назначении (отказе в назначении) ")
        .unwrap_or(names.ru);
    let kk = names
        .kk
        .strip_suffix(" туралы ақпарат алу")
        .unwrap_or(names.kk);
    line(
        format!("ИНФОРМАЦИЯ о назначении (отказе в назначении) {ru}"),
        format!("{kk} туралы АҚПАРАТ"),
    )
}

/// What a decision assigned, in the words of its service's document: (Russian, Kazakh).
fn assigned(service: ServiceCode, record: &Value) -> (&'static str, &'static str) {
    let basic = record["payment"].as_str() == Some("basic-pension");
    match service {
        ServiceCode::BirthChildcareBenefitInfo => (
            "Назначено единовременное пособие на рождение ребенка в сумме",
            "Бала тууына байланысты біржолғы жәрдемақы тағайындалды, сомасы",
        ),
        ServiceCode::GcvpPensionInfo if basic => (
            "Назначена базовая пенсионная выплата в размере",
            "Базалық зейнетақы төлемі тағайындалды, мөлшері",
        ),
        ServiceCode::GcvpPensionInfo => (
            "Назначена пенсионная выплата в размере",
            "Зейнетақы төлемі тағайындалды, мөлшері",
        ),
        ServiceCode::BasicPensionInfo => (
            "Назначена базовая пенсионная выплата в размере",
            "Базалық зейнетақы төлемі тағайындалды, мөлшері",
        ),
        ServiceCode::DisabilityBenefitInfo => (
            "Назначено государственное социальное пособие по инвалидности в размере",
            "Мүгедектігі бойынша мемлекеттік әлеуметтік жәрдемақы тағайындалды, мөлшері",
        ),
        ServiceCode::SurvivorBenefitInfo => (
            "Назначено государственное социальное пособие по случаю потери кормильца в размере",
            "Асыраушысынан айырылу жағдайы бойынша мемлекеттік әлеуметтік жәрдемақы тағайындалды, мөлшері",
        ),
        ServiceCode::AgeBenefitInfo => (
            "Назначено государственное социальное пособие по возрасту в размере",
            "Жасына байланысты мемлекеттік әлеуметтік жәрдемақы тағайындалды, мөлшері",
        ),
        ServiceCode::SpecialStateBenefitInfo => (
            "Назначено специальное государственное пособие в размере",
            "Арнаулы мемлекеттік жәрдемақы тағайындалды, мөлшері",
        ),
        _ => (
            "Назначено государственное специальное пособие в размере",
            "Мемлекеттік арнаулы жәрдемақы тағайындалды, мөлшері",
        ),
    }
}

/// The refusal line's start: «Отказано в назначении пособия», or the pension payment's.
fn refused(service: ServiceCode, record: &Value) -> &'static str {
    match (service, record["payment"].as_str()) {
        (ServiceCode::GcvpPensionInfo, Some("basic-pension"))
        | (ServiceCode::BasicPensionInfo, _) => "Отказано в назначении базовой пенсионной выплаты",
        (ServiceCode::GcvpPensionInfo, _) => "Отказано в назначении пенсионной выплаты",
        _ => "Отказано в назначении пособия",
    }
}

/// A field of the record as printed: a date as `дд.мм.гггг`, anything else as it is.
fn field(record: &Value, key: &str) -> Option<String> {
    record[key].as_str().filter(|s| !s.is_empty()).map(dmy)
}

/// The lines of one decision of service `service`'s document, in the order the regulations
/// print them.
pub fn decision_lines(service: ServiceCode, record: &Value) -> Vec<Line> {
    let get = |key| field(record, key).unwrap_or_else(|| "—".into());
    let mut lines = Vec::new();
    if service == ServiceCode::DisabilityBenefitInfo {
        if let (Some(from), Some(until)) = (
            field(record, "disability_from"),
            field(record, "disability_until"),
        ) {
            lines.push(line(
                format!("На основании экспертного заключения инвалидность установлена с {from} г. по {until} г."),
                format!("Сараптамалық қорытынды негізінде мүгедектік {from} бастап {until} дейін белгіленді."),
            ));
        }
        if let Some(group) = field(record, "disability_group") {
            lines.push(line(
                format!("Группа инвалидности {group}"),
                format!("Мүгедектік тобы {group}"),
            ));
        }
    }
    lines.push(line(
        format!(
            "Решением {} от {} года № {}",
            get("issuer"),
            get("decision_date"),
            get("decision_number")
        ),
        format!(
            "{} {} жылғы № {} шешімімен",
            get("issuer"),
            get("decision_date"),
            get("decision_number")
        ),
    ));
    if let Some(reason) = field(record, "refusal_reason") {
        lines.push(line(
            format!("{} {reason}", refused(service, record)),
            format!("Тағайындаудан бас тартылды: {reason}"),
        ));
        return lines;
    }
    let (ru, kk) = assigned(service, record);
    let amount = get("amount_kzt");
    lines.push(line(
        format!("{ru} {amount} тенге"),
        format!("{kk} {amount} теңге"),
    ));
    lines.extend(specifics(service, record));
    lines
}

/// What follows the amount: the dates and periods each benefit's document prints.
fn specifics(service: ServiceCode, record: &Value) -> Vec<Line> {
    let from = field(record, "assigned_from").unwrap_or_else(|| "—".into());
    let until = field(record, "paid_until");
    let assigned_on = |ru: &str| {
        line(
            format!("{ru} {from} года"),
            format!("Тағайындалған күні {from}"),
        )
    };
    match service {
        ServiceCode::BirthChildcareBenefitInfo => {
            let mut lines = Vec::new();
            if let Some(monthly) = field(record, "monthly_amount_kzt") {
                lines.push(line(
                    format!("Ежемесячное пособие по уходу за ребенком по достижению им возраста одного года в размере {monthly} тенге"),
                    format!("Бала бір жасқа толғанға дейін оның күтімі бойынша ай сайынғы жәрдемақы, мөлшері {monthly} теңге"),
                ));
            }
            if let Some(until) = until {
                lines.push(line(
                    format!("Дата окончания выплаты {until} года"),
                    format!("Төлемнің аяқталу күні {until}"),
                ));
            }
            lines
        }
        ServiceCode::GcvpPensionInfo => vec![assigned_on("Дата назначения выплат")],
        ServiceCode::BasicPensionInfo => {
            vec![assigned_on("Дата назначения базовой пенсионной выплаты")]
        }
        ServiceCode::SurvivorBenefitInfo => {
            let mut lines = vec![assigned_on("Дата назначения пособия")];
            if let Some(until) = until {
                lines.push(line(
                    format!("с {from} года по {until} года"),
                    format!("{from} бастап {until} дейін"),
                ));
            }
            lines
        }
        ServiceCode::SpecialStateBenefitInfo => {
            let period = until
                .as_ref()
                .map_or_else(|| format!("с {from}"), |u| format!("с {from} по {u}"));
            let kk = until.map_or_else(
                || format!("{from} бастап"),
                |u| format!("{from} бастап {u} дейін"),
            );
            vec![line(
                format!("На период {period}"),
                format!("Кезеңге: {kk}"),
            )]
        }
        _ => vec![assigned_on("Дата назначения пособия")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ru(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.ru.as_str()).collect()
    }

    fn record(extra: Value) -> Value {
        let mut base = json!({
            "issuer": "Департамент по г. Алматы", "decision_number": "1045-77",
            "decision_date": "2019-05-14", "amount_kzt": "38250.00", "assigned_from": "2019-05-01",
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        base
    }

    #[test]
    fn dates_print_as_the_regulations_print_them() {
        assert_eq!(dmy("2019-05-14"), "14.05.2019");
        assert_eq!(dmy("2026-11-23T10:00:00.000000Z"), "23.11.2026");
        assert_eq!(dmy("not a date"), "not a date");
    }

    /// docs/domain.md 6.1, the title rule; REG 1334 for service 4.
    #[test]
    fn each_title_carries_its_benefits_name() {
        assert_eq!(
            title(ServiceCode::DisabilityBenefitInfo).ru,
            "ИНФОРМАЦИЯ о назначении (отказе в назначении) государственного социального пособия по инвалидности"
        );
        assert!(title(ServiceCode::GcvpPensionInfo)
            .ru
            .ends_with("с учетом базовой пенсионной выплаты"));
        assert!(title(ServiceCode::AgeBenefitInfo)
            .kk
            .ends_with("туралы АҚПАРАТ"));
    }

    /// REG 356-378: the lump sum, the monthly child-care amount and the end of payment.
    #[test]
    fn service_1_prints_the_lump_sum_the_monthly_child_care_and_the_end_of_payment() {
        let lines = decision_lines(
            ServiceCode::BirthChildcareBenefitInfo,
            &record(json!({"monthly_amount_kzt": "21580.00", "paid_until": "2020-11-01"})),
        );
        assert_eq!(
            ru(&lines),
            [
                "Решением Департамент по г. Алматы от 14.05.2019 года № 1045-77",
                "Назначено единовременное пособие на рождение ребенка в сумме 38250.00 тенге",
                "Ежемесячное пособие по уходу за ребенком по достижению им возраста одного года в размере 21580.00 тенге",
                "Дата окончания выплаты 01.11.2020 года",
            ]
        );
    }

    /// REG 699-724: two decisions, the pension payment and the basic pension payment.
    #[test]
    fn service_2_prints_the_pension_and_the_basic_pension_as_two_decisions() {
        let pension = decision_lines(ServiceCode::GcvpPensionInfo, &record(json!({})));
        let basic = decision_lines(
            ServiceCode::GcvpPensionInfo,
            &record(json!({"payment": "basic-pension", "amount_kzt": "39120.00"})),
        );
        assert_eq!(
            ru(&pension)[1],
            "Назначена пенсионная выплата в размере 38250.00 тенге"
        );
        assert_eq!(ru(&pension)[2], "Дата назначения выплат 01.05.2019 года");
        assert_eq!(
            ru(&basic)[1],
            "Назначена базовая пенсионная выплата в размере 39120.00 тенге"
        );
        let refused = decision_lines(
            ServiceCode::GcvpPensionInfo,
            &record(json!({"payment": "basic-pension", "refusal_reason": "нет стажа"})),
        );
        assert_eq!(
            ru(&refused)[1],
            "Отказано в назначении базовой пенсионной выплаты нет стажа"
        );
    }

    /// REG 1015-1030.
    #[test]
    fn service_3_prints_the_basic_pension_and_its_date() {
        let lines = decision_lines(ServiceCode::BasicPensionInfo, &record(json!({})));
        assert_eq!(
            &ru(&lines)[1..],
            [
                "Назначена базовая пенсионная выплата в размере 38250.00 тенге",
                "Дата назначения базовой пенсионной выплаты 01.05.2019 года",
            ]
        );
    }

    /// REG 1334-1353: the disability's period and group before the decision.
    #[test]
    fn service_4_prints_the_disability_period_and_group() {
        let lines = decision_lines(
            ServiceCode::DisabilityBenefitInfo,
            &record(
                json!({"disability_group": "II", "disability_from": "2015-03-01",
                           "disability_until": "2027-03-01"}),
            ),
        );
        assert_eq!(
            ru(&lines),
            [
                "На основании экспертного заключения инвалидность установлена с 01.03.2015 г. по 01.03.2027 г.",
                "Группа инвалидности II",
                "Решением Департамент по г. Алматы от 14.05.2019 года № 1045-77",
                "Назначено государственное социальное пособие по инвалидности в размере 38250.00 тенге",
                "Дата назначения пособия 01.05.2019 года",
            ]
        );
    }

    /// REG 1661-1675: the payment period «с … по …»; a refusal prints its reason instead.
    #[test]
    fn service_5_prints_the_survivor_payment_period_or_the_refusal() {
        let lines = decision_lines(
            ServiceCode::SurvivorBenefitInfo,
            &record(json!({"paid_until": "2030-08-01"})),
        );
        assert_eq!(ru(&lines)[3], "с 01.05.2019 года по 01.08.2030 года");
        let refused = decision_lines(
            ServiceCode::SurvivorBenefitInfo,
            &record(json!({"refusal_reason": "Отсутствует право на пособие"})),
        );
        assert_eq!(
            ru(&refused)[1],
            "Отказано в назначении пособия Отсутствует право на пособие"
        );
        assert_eq!(refused.len(), 2, "no amount for a refusal");
    }

    /// REG 1978-1997 and 2617-2640.
    #[test]
    fn services_6_and_8_print_their_own_benefits_name() {
        let age = decision_lines(ServiceCode::AgeBenefitInfo, &record(json!({})));
        assert_eq!(
            ru(&age)[1],
            "Назначено государственное социальное пособие по возрасту в размере 38250.00 тенге"
        );
        let special = decision_lines(ServiceCode::StateSpecialBenefitInfo, &record(json!({})));
        assert_eq!(
            ru(&special)[1],
            "Назначено государственное специальное пособие в размере 38250.00 тенге"
        );
    }

    /// REG 2296-2311: «На период».
    #[test]
    fn service_7_prints_the_period() {
        let lines = decision_lines(
            ServiceCode::SpecialStateBenefitInfo,
            &record(json!({"paid_until": "2031-03-31"})),
        );
        assert_eq!(
            &ru(&lines)[1..],
            [
                "Назначено специальное государственное пособие в размере 38250.00 тенге",
                "На период с 01.05.2019 по 31.03.2031",
            ]
        );
        assert!(lines.iter().all(|l| !l.kk.is_empty()));
    }
}
