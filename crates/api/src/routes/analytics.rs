//! Analysts' aggregates (role `analyst`): the views of schema `analytics` (migrations/V6) per
//! service and day, without personal data - the same rows a BI tool reads as `egov_analyst`.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::{Principal, Role};

/// The views that may be read, by their path name.
const VIEWS: [(&str, &str); 5] = [
    ("requests", "analytics.requests_daily"),
    ("refusals", "analytics.refusals_daily"),
    ("step-times", "analytics.step_times_daily"),
    ("deadlines", "analytics.deadlines_daily"),
    ("survey", "analytics.survey_daily"),
];

/// Which rows.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// A service code.
    pub service: Option<String>,
    /// The first day (of receipt, Asia/Almaty), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// The last day, `YYYY-MM-DD`.
    pub to: Option<String>,
}

fn day(field: &'static str, raw: Option<&String>) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|raw| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ApiError::InvalidParameter {
            field,
            reason: "a date, YYYY-MM-DD".into(),
        })
    })
    .transpose()
}

/// One of the analytics views, per service and day.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/{view}",
    tag = "analytics",
    params(("view" = String, Path, description = "`requests`, `refusals`, `step-times`, `deadlines` or `survey`"), AnalyticsQuery),
    responses(
        (status = 200, description = "The view's rows, by day then service", body = Vec<Object>),
        (status = 400, description = "An invalid `from` or `to`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown service", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn view(
    state: web::Data<AppState>,
    principal: Principal,
    view: web::Path<String>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Analyst])?;
    let table = VIEWS
        .iter()
        .find(|(name, _)| *name == view.as_str())
        .map(|(_, table)| *table)
        .ok_or(ApiError::RouteNotFound)?;
    let service = match &query.service {
        Some(code) => Some(
            code.parse::<domain::ServiceCode>()
                .map_err(|_| ApiError::UnknownService(code.clone()))?
                .code(),
        ),
        None => None,
    };
    let from = day("from", query.from.as_ref())?;
    let to = day("to", query.to.as_ref())?;
    let client = state
        .db
        .pool()
        .get()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let rows = client
        .query(
            &format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(v) ORDER BY v.day, v.service), '[]'::jsonb)
                   FROM {table} v
                  WHERE ($1::text IS NULL OR v.service = $1)
                    AND ($2::date IS NULL OR v.day >= $2)
                    AND ($3::date IS NULL OR v.day <= $3)"
            ),
            &[&service, &from, &to],
        )
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "reading an analytics view failed");
            ApiError::Unavailable
        })?;
    let json: serde_json::Value = rows
        .first()
        .map_or(serde_json::Value::Array(Vec::new()), |row| row.get(0));
    Ok(HttpResponse::Ok().json(json))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/analytics/{view}")
            .route(web::get().to(view))
            .default_service(web::to(super::method_not_allowed)),
    );
}
