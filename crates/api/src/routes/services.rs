//! `GET /api/v1/services`: the catalog, public (no token needed).

use actix_web::{web, HttpResponse};
use domain::catalog::{Deadline, FieldKind};
use serde::Serialize;
use utoipa::ToSchema;

/// A text in the three languages.
#[derive(Debug, Serialize, ToSchema)]
pub struct Names {
    pub ru: String,
    pub kk: String,
    pub en: String,
}

/// A field of a request form.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormFieldDto {
    /// The key in the request's `form` object.
    pub key: String,
    pub label: Names,
    /// `iin` or `date` (`YYYY-MM-DD`).
    pub kind: String,
    pub required: bool,
    /// The rule the value must follow.
    pub rule: String,
}

/// The deadline a service promises, counted from the receipt of the signed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineDto {
    /// `working-days`, `hours` or `minutes`.
    pub unit: String,
    pub amount: u32,
    /// The promise as the status screen words it after «Срок оказания услуги:», e.g. «В течение
    /// 1 рабочего дня с момента получения заявления» (REG 2933).
    pub text: Names,
}

/// One answer of a survey question.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyAnswerDto {
    /// `not-satisfied`, `partially-satisfied` or `satisfied`: what `POST .../survey` takes.
    pub code: String,
    pub text: Names,
}

/// The survey offered once the request has ended (docs/domain.md 7).
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyDto {
    /// Question 1, answered as `quality`.
    pub quality: Names,
    /// Question 2, answered as `information`.
    pub information: Names,
    pub answers: Vec<SurveyAnswerDto>,
    /// The regulation lines the questions come from.
    pub source: String,
}

/// A telephone to call about the service, as the regulations give it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDto {
    pub phone: String,
    pub name: Names,
    pub source: String,
}

/// A service of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDto {
    pub code: String,
    pub names: Names,
    /// `interactive` or `transactional`.
    pub kind: String,
    /// `portal` and/or `service-centre`.
    pub channels: Vec<String>,
    pub form: Vec<FormFieldDto>,
    pub deadline: Option<DeadlineDto>,
    /// The result document the service ends with.
    pub result: String,
    pub survey: SurveyDto,
    pub contact: Option<ContactDto>,
}

fn names(n: &domain::catalog::Names) -> Names {
    Names {
        ru: n.ru.to_owned(),
        kk: n.kk.to_owned(),
        en: n.en.to_owned(),
    }
}

fn code_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The catalog as clients see it.
pub fn catalog() -> Vec<ServiceDto> {
    domain::CATALOG
        .iter()
        .map(|s| ServiceDto {
            code: s.code.code().to_owned(),
            names: names(&s.names),
            kind: code_of(&s.kind),
            channels: s.channels.iter().map(|c| c.as_str().to_owned()).collect(),
            form: s
                .form
                .iter()
                .map(|f| FormFieldDto {
                    key: f.key.to_owned(),
                    label: names(&f.label),
                    kind: match f.kind {
                        FieldKind::Iin => "iin".into(),
                        FieldKind::Date => "date".into(),
                    },
                    required: f.required,
                    rule: f.rule.to_owned(),
                })
                .collect(),
            deadline: s.deadline.map(deadline),
            result: code_of(&s.result),
            survey: survey(s.code.survey()),
            contact: s.code.contact().map(|c| ContactDto {
                phone: c.phone.to_owned(),
                name: names(&c.name),
                source: c.source.to_owned(),
            }),
        })
        .collect()
}

fn deadline(d: Deadline) -> DeadlineDto {
    let (unit, amount) = match d {
        Deadline::WorkingDays(amount) => ("working-days", amount),
        Deadline::Hours(amount) => ("hours", amount),
        Deadline::Minutes(amount) => ("minutes", amount),
    };
    let (ru, kk, en) = d.wording();
    DeadlineDto {
        unit: unit.into(),
        amount,
        text: Names { ru, kk, en },
    }
}

fn survey(s: domain::catalog::Survey) -> SurveyDto {
    SurveyDto {
        quality: names(&s.quality),
        information: names(&s.information),
        answers: s
            .answers
            .iter()
            .map(|(code, text)| SurveyAnswerDto {
                code: (*code).to_owned(),
                text: names(text),
            })
            .collect(),
        source: s.source.to_owned(),
    }
}

/// The catalog of services.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "services",
    responses((status = 200, description = "Every service", body = Vec<ServiceDto>))
)]
pub async fn list() -> HttpResponse {
    HttpResponse::Ok().json(catalog())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services")
            .route(web::get().to(list))
            .default_service(web::to(super::method_not_allowed)),
    );
}
