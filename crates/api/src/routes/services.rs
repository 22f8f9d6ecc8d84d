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

/// The deadline a service promises.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineDto {
    /// `working-days`, `hours` or `minutes`.
    pub unit: String,
    pub amount: u32,
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
            deadline: s.deadline.map(|d| match d {
                Deadline::WorkingDays(amount) => DeadlineDto {
                    unit: "working-days".into(),
                    amount,
                },
                Deadline::Hours(amount) => DeadlineDto {
                    unit: "hours".into(),
                    amount,
                },
                Deadline::Minutes(amount) => DeadlineDto {
                    unit: "minutes".into(),
                    amount,
                },
            }),
            result: code_of(&s.result),
        })
        .collect()
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
