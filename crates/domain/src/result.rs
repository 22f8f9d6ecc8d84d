//! The result documents of docs/domain.md 6 and 8, composed from what the registries answered.
//!
//! A document is canonical JSON (the bytes the provider signs): its unique number, the request it
//! answers, the issuer, the recipient and the body of its kind. Composing is pure; the workflow
//! signs the bytes (CMS, the provider's key) and stores both.

mod benefit;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::catalog::{Lookup, Provider, ResultDocument};
use crate::identifiers::Iin;
use crate::refusal::RefusalReason;
use crate::request::{RequestEvent, RequestInfo, SikBranch};

pub use benefit::{dmy, Line};

/// The clause that makes the electronic document equal to a paper one (docs/domain.md 6.3), in
/// Russian and in Kazakh beside it; every document carries it.
pub const LEGAL_CLAUSE_RU: &str = "Данный документ согласно пункту 1 статьи 7 ЗРК от 7 января 2003 года «Об электронном документе и электронной цифровой подписи» равнозначен документу на бумажном носителе.";
/// The Kazakh clause (docs/domain.md 10, D17: the sample's «76-бабы» is a defect; this cites the
/// same article as the Russian one).
pub const LEGAL_CLAUSE_KK: &str = "Осы құжат «Электрондық құжат және электрондық цифрлық қолтаңба туралы» 2003 жылғы 7 қаңтардағы Қазақстан Республикасы Заңының 7-бабының 1-тармағына сәйкес қағаз жеткізгіштегі құжатпен тең.";

/// The issuer named on documents of AIS GTsVP (docs/domain.md 6.2, 6.3).
pub const GCVP_ISSUER: &str = "Государственный центр по выплате пенсий";
/// Its Kazakh name (docs/domain.md 6.2).
pub const GCVP_ISSUER_KK: &str = "Зейнетақы төлеу жөніндегі мемлекеттік орталық";
/// The source of the social-status check (docs/domain.md 1.1, INS 9).
pub const MTSZN_ISSUER: &str =
    "Государственная база данных Министерства труда и социальной защиты населения";

/// A composed document, ready to sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub number: String,
    /// The document as a JSON value (its canonical bytes are [`Composed::bytes`]).
    pub document: Value,
    /// For `sik-assignment`: which branch the registry took.
    pub sik_branch: Option<SikBranch>,
}

impl Composed {
    /// The canonical bytes that are signed and stored.
    pub fn bytes(&self) -> Vec<u8> {
        crate::hash_chain::canonical_json(&self.document)
    }
}

/// Why a document cannot be composed from the answers: the registry's answer lacks a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {lookup:?} answer has no usable {field:?}")]
pub struct ComposeError {
    pub lookup: Lookup,
    pub field: &'static str,
}

/// The unique number of the result of a request: one result per request, so the request number
/// makes it unique, and a workflow that composes it again after a crash gets the same number.
pub fn document_number(info: &RequestInfo) -> String {
    format!("R{}", info.number.as_str())
}

/// The registries' answers of a request, by lookup (the last answer of each).
pub fn answers(events: &[RequestEvent]) -> HashMap<Lookup, &Value> {
    events
        .iter()
        .filter_map(|e| e.lookup_answer().map(|(lookup, _, data)| (lookup, data)))
        .collect()
}

/// The registries' answers a document is composed from, by lookup.
type Answers<'a> = HashMap<Lookup, &'a Value>;

/// A document's recipient, its body, for a SIK certificate the branch taken, and a title of its
/// own (the benefit documents').
struct Parts {
    recipient: Value,
    body: Value,
    sik_branch: Option<SikBranch>,
    title: Option<Line>,
}

/// Composes the result document of `info` from the registries' `answers`, issued at `issued_at`.
///
/// # Errors
/// [`ComposeError`] when an answer lacks what the document prints.
pub fn compose(
    info: &RequestInfo,
    answers: &Answers<'_>,
    issued_at: DateTime<Utc>,
) -> Result<Composed, ComposeError> {
    let kind = info.service.service().result;
    let number = document_number(info);
    let parts = match kind {
        ResultDocument::BenefitInformation => benefit_information(info, answers)?,
        ResultDocument::SikCertificate => sik_certificate(answers)?,
        ResultDocument::FundStatement => fund_statement(info, answers)?,
        ResultDocument::SocialStatusLine => social_status_line(info, answers)?,
        // A refusal is composed by `compose_refusal`, never as a service's result.
        ResultDocument::Refusal => {
            return Err(ComposeError {
                lookup: Lookup::Iin,
                field: "refusal",
            })
        }
    };
    let issuer = match kind {
        ResultDocument::BenefitInformation => parts.body["issuer"].clone(),
        _ => json!(GCVP_ISSUER),
    };
    let title = parts.title.unwrap_or_else(|| Line {
        ru: kind.title_ru().into(),
        kk: kind.title_kk().into(),
    });
    let document = envelope(
        "egov-events/result/v1",
        (kind, &title),
        &number,
        info,
        issuer,
        parts.recipient,
        parts.body,
        issued_at,
    );
    Ok(Composed {
        number,
        document,
        sik_branch: parts.sik_branch,
    })
}

/// What every document carries around its body: its schema, number, kind and title, the request
/// it answers, its issuer and recipient, and when it was issued.
#[allow(clippy::too_many_arguments)] // The envelope's fields, each named at the call.
fn envelope(
    schema: &str,
    (kind, title): (ResultDocument, &Line),
    number: &str,
    info: &RequestInfo,
    issuer: Value,
    recipient: Value,
    body: Value,
    issued_at: DateTime<Utc>,
) -> Value {
    json!({
        "document": schema,
        "document_number": number,
        "kind": kind,
        "title_ru": title.ru,
        "title_kk": title.kk,
        "request_number": info.number,
        "request_id": info.request_id,
        "service": info.service,
        "issuer": issuer,
        "recipient": recipient,
        "body": body,
        "legal_clause": { "ru": LEGAL_CLAUSE_RU, "kk": LEGAL_CLAUSE_KK },
        "issued_at": issued_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

/// The unique number of the refusal document of a request: one per request, like a result.
pub fn refusal_number(info: &RequestInfo) -> String {
    format!("O{}", info.number.as_str())
}

/// The signed answer stating why a request was refused (REG 284-286: «формирует ответ с
/// указанием ошибки, подписывает ЭЦП РГКП ГЦВП»; REG 3591: «выдает ... отказ с описанием
/// ошибки»): the refusal's code, its texts in the three languages and the rule's own wording.
pub fn compose_refusal(
    info: &RequestInfo,
    reason: RefusalReason,
    issued_at: DateTime<Utc>,
) -> Composed {
    let kind = ResultDocument::Refusal;
    let number = refusal_number(info);
    let texts = &crate::Messages::shared().refusal(reason).texts;
    let rule = reason
        .source()
        .map(|(wording, lines)| json!({ "wording": wording, "lines": lines }));
    let issuer = match info.service.service().provider {
        Provider::Gcvp => GCVP_ISSUER,
        Provider::MtsznStateDatabase => MTSZN_ISSUER,
    };
    let body = json!({
        "reason": reason.code(),
        "text": { "ru": texts.ru, "kk": texts.kk, "en": texts.en },
        "rule": rule,
    });
    let recipient = json!({ "iin": info.applicant });
    let title = Line {
        ru: kind.title_ru().into(),
        kk: kind.title_kk().into(),
    };
    let document = envelope(
        "egov-events/refusal/v1",
        (kind, &title),
        &number,
        info,
        json!(issuer),
        recipient,
        body,
        issued_at,
    );
    Composed {
        number,
        document,
        sik_branch: None,
    }
}

/// The answer of `lookup`.
fn answer<'a>(answers: &Answers<'a>, lookup: Lookup) -> Result<&'a Value, ComposeError> {
    answers.get(&lookup).copied().ok_or(ComposeError {
        lookup,
        field: "answer",
    })
}

/// Services 1-8 (docs/domain.md 6.1): the decisions on the benefit, by the department of the
/// decision's region, each with the lines its service's document prints.
fn benefit_information(info: &RequestInfo, answers: &Answers<'_>) -> Result<Parts, ComposeError> {
    let person = answer(answers, Lookup::Iin)?;
    let benefits = answer(answers, Lookup::BenefitData)?;
    let missing = ComposeError {
        lookup: Lookup::BenefitData,
        field: "records",
    };
    let records = benefits["records"].as_array().ok_or(missing)?;
    let issuer = records
        .first()
        .map(|record| record["issuer"].clone())
        .ok_or(missing)?;
    let decisions: Vec<Value> = records
        .iter()
        .map(|record| {
            let mut decision = record.clone();
            if let Value::Object(map) = &mut decision {
                let lines = benefit::decision_lines(info.service, record);
                map.insert("lines".into(), json!(lines));
            }
            decision
        })
        .collect();
    Ok(Parts {
        recipient: recipient(person, Lookup::Iin)?,
        body: json!({ "issuer": issuer, "decisions": decisions }),
        sik_branch: None,
        title: Some(benefit::title(info.service)),
    })
}

/// `sik-assignment` (docs/domain.md 6.2): the code, and whether it was assigned or issued again.
fn sik_certificate(answers: &Answers<'_>) -> Result<Parts, ComposeError> {
    let answer = answer(answers, Lookup::SikProcessing)?;
    let error = |field| ComposeError {
        lookup: Lookup::SikProcessing,
        field,
    };
    let branch = match answer["outcome"].as_str() {
        Some("assigned") => SikBranch::Assigned,
        Some("duplicate") => SikBranch::Duplicate,
        _ => return Err(error("outcome")),
    };
    let mut body = Map::new();
    for key in [
        "sik",
        "last_name",
        "first_name",
        "patronymic",
        "birth_date",
        "branch",
        "registered_on",
        "issued_on",
    ] {
        body.insert(key.into(), answer[key].clone());
    }
    if !body["sik"].is_string() {
        return Err(error("sik"));
    }
    Ok(Parts {
        recipient: recipient(answer, Lookup::SikProcessing)?,
        body: Value::Object(body),
        sik_branch: Some(branch),
        title: None,
    })
}

/// `pension-fund-statement` (docs/domain.md 6.3): the movements of the period and their total,
/// added up in tiyn.
fn fund_statement(info: &RequestInfo, answers: &Answers<'_>) -> Result<Parts, ComposeError> {
    let statement = answer(answers, Lookup::FundMovements)?;
    let error = |field| ComposeError {
        lookup: Lookup::FundMovements,
        field,
    };
    let rows = statement["rows"].as_array().ok_or(error("rows"))?;
    let mut total_tiyn: i128 = 0;
    for row in rows {
        total_tiyn += row["amount_kzt"]
            .as_str()
            .and_then(tiyn)
            .ok_or(error("amount_kzt"))?;
    }
    let period = match &info.form {
        crate::RequestForm::Statement { period } => json!(period),
        _ => Value::Null,
    };
    let person = answer(answers, Lookup::Iin)?;
    Ok(Parts {
        recipient: recipient(person, Lookup::Iin)?,
        body: json!({
            "full_name": statement["full_name"],
            "sik": statement["sik"],
            "period": period,
            "rows": rows,
            "total_kzt": kzt(total_tiyn),
        }),
        sik_branch: None,
        title: None,
    })
}

/// The social-status check (docs/domain.md 8): the patient's status line.
fn social_status_line(info: &RequestInfo, answers: &Answers<'_>) -> Result<Parts, ComposeError> {
    let answer = answer(answers, Lookup::SocialStatus)?;
    let status = answer["status"].as_str().ok_or(ComposeError {
        lookup: Lookup::SocialStatus,
        field: "status",
    })?;
    let patient = info.subject().unwrap_or(&info.applicant);
    Ok(Parts {
        recipient: json!({ "iin": patient }),
        body: json!({
            "line": status_line(patient, status),
            "status": status,
            "explanation": answer["explanation"],
        }),
        sik_branch: None,
        title: None,
    })
}

/// The line of the social-status check, exactly as INS prints it (docs/domain.md 8):
/// «Статус ИИН [IIN] : [social status]!».
pub fn status_line(iin: &Iin, status: &str) -> String {
    format!("Статус ИИН {} : {status}!", iin.as_str())
}

fn recipient(person: &Value, lookup: Lookup) -> Result<Value, ComposeError> {
    let part = |key: &'static str| person[key].as_str().filter(|s| !s.is_empty());
    let last = part("last_name").ok_or(ComposeError {
        lookup,
        field: "last_name",
    })?;
    let first = part("first_name").ok_or(ComposeError {
        lookup,
        field: "first_name",
    })?;
    let full_name = [Some(last), Some(first), part("patronymic")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(json!({
        "iin": person["iin"],
        "full_name": full_name,
        "birth_date": person["birth_date"],
    }))
}

/// Tenge as a decimal string ("25400.00", "12", "3.5") in tiyn (hundredths).
fn tiyn(text: &str) -> Option<i128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

fn kzt(tiyn: i128) -> String {
    format!("{}.{:02}", tiyn / 100, tiyn % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_add_up_in_tiyn_without_floating_point() {
        assert_eq!(tiyn("25400.00"), Some(2_540_000));
        assert_eq!(tiyn("3.5"), Some(350));
        assert_eq!(tiyn("12"), Some(1200));
        assert_eq!(tiyn("1.234"), None);
        assert_eq!(tiyn("-1"), None);
        assert_eq!(tiyn(".5"), None);
        assert_eq!(
            kzt(tiyn("0.10").unwrap_or(0) + tiyn("0.20").unwrap_or(0)),
            "0.30"
        );
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).expect("a time")
    }

    fn info(service: crate::ServiceCode) -> RequestInfo {
        let events = crate::request::decide(
            &crate::request::Request::Empty,
            crate::request::Command::Submit(crate::request::Filing::on_portal(
                uuid::Uuid::from_u128(9),
                crate::RequestNumber::parse("20261123000009").expect("number"),
                service,
                Iin::parse("760324400005").expect("iin"),
                serde_json::json!({}),
            )),
            at(),
        )
        .expect("submitted");
        match events.into_iter().next() {
            Some(RequestEvent::Submitted(info)) => info,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fund_statement_totals_its_rows_and_names_its_recipient() {
        let info = info(crate::ServiceCode::PensionFundStatement);
        let person = json!({"iin": "760324400005", "last_name": "БАПАХОВА", "first_name": "АИДА",
                            "patronymic": "ГАЛИХАНОВНА", "birth_date": "1976-03-24"});
        let movements = json!({"full_name": "БАПАХОВА АИДА", "sik": "DV6MH41VHFEX4009",
                               "rows": [{"amount_kzt": "25400.00"}, {"amount_kzt": "0.55"}]});
        let answers = HashMap::from([(Lookup::Iin, &person), (Lookup::FundMovements, &movements)]);
        let composed = compose(&info, &answers, at()).expect("composed");
        assert_eq!(composed.number, "R20261123000009");
        assert_eq!(composed.document["body"]["total_kzt"], "25400.55");
        assert_eq!(
            composed.document["recipient"]["full_name"],
            "БАПАХОВА АИДА ГАЛИХАНОВНА"
        );
        assert_eq!(composed.sik_branch, None);
        // The same answers make the same bytes (canonical JSON), the time aside.
        assert_eq!(
            composed.bytes(),
            crate::hash_chain::canonical_json(&composed.document)
        );
    }

    #[test]
    fn a_sik_certificate_names_its_branch_and_an_answer_without_it_is_an_error() {
        let info = info(crate::ServiceCode::SikAssignment);
        let answer = json!({"iin": "760324400005", "last_name": "Б", "first_name": "А",
                            "birth_date": "1976-03-24", "sik": "DV6MH41VHFEX4009", "outcome": "assigned"});
        let answers = HashMap::from([(Lookup::SikProcessing, &answer)]);
        let composed = compose(&info, &answers, at()).expect("composed");
        assert_eq!(composed.sik_branch, Some(SikBranch::Assigned));
        let without =
            json!({"iin": "760324400005", "last_name": "Б", "first_name": "А", "sik": "X"});
        let answers = HashMap::from([(Lookup::SikProcessing, &without)]);
        assert_eq!(
            compose(&info, &answers, at()),
            Err(ComposeError {
                lookup: Lookup::SikProcessing,
                field: "outcome"
            })
        );
    }

    #[test]
    fn the_status_line_has_the_instructions_spaces_and_exclamation_mark() {
        let iin = Iin::parse("760324400005").expect("valid IIN");
        assert_eq!(
            status_line(&iin, "Застрахован"),
            "Статус ИИН 760324400005 : Застрахован!"
        );
    }

    /// REG 284-286 and 3591: a refusal is an answer with the error's code and description,
    /// issued by the provider like a result; ours carries the three languages and the rule.
    #[test]
    fn a_refusal_document_states_the_error_in_three_languages_with_the_rule() {
        let info = info(crate::ServiceCode::PensionFundStatement);
        let composed = compose_refusal(&info, RefusalReason::SikNotRegistered, at());
        let d = &composed.document;
        assert_eq!(composed.number, format!("O{}", info.number.as_str()));
        assert_eq!(d["kind"], "refusal");
        assert_eq!(d["issuer"], GCVP_ISSUER);
        assert_eq!(d["recipient"]["iin"], json!(info.applicant));
        assert_eq!(d["body"]["reason"], "sik-not-registered");
        assert_eq!(
            d["body"]["text"]["ru"],
            crate::Messages::shared()
                .refusal(RefusalReason::SikNotRegistered)
                .texts
                .ru
        );
        assert!(d["body"]["text"]["kk"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert_eq!(d["body"]["rule"]["lines"], "REG 298, 3562");
        // Composing again gives the same bytes: a resumed workflow stores one document.
        assert_eq!(
            composed.bytes(),
            compose_refusal(&info, RefusalReason::SikNotRegistered, at()).bytes()
        );
        let check = compose_refusal(&info, RefusalReason::NotFoundInRegistry, at());
        assert_eq!(check.document["body"]["rule"], Value::Null);
    }
}
