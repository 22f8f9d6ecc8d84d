//! A citizen's own view of who looked at their data (as Estonia's data tracker shows its
//! citizens): every read of their requests, results and social status by an operator, auditor or
//! medical user, with role, organisation and purpose.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::{Principal, Role};

/// A page of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// One read of the citizen's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessDto {
    pub at: DateTime<Utc>,
    /// Who read it (their id in their organisation's directory).
    pub reader: String,
    /// `operator`, `auditor`, `medical`, `analyst`.
    pub role: String,
    pub organisation: Option<String>,
    /// What was read: `request:NUMBER`, `result:NUMBER`, `audit:NUMBER`, `social-status`,
    /// `social-status-check:NUMBER`.
    pub what: String,
    /// Why, as the reader's system said.
    pub purpose: Option<String>,
}

/// The reads, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessPageDto {
    pub items: Vec<AccessDto>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Who looked at my data.
#[utoipa::path(
    get,
    path = "/api/v1/me/data-access",
    tag = "me",
    params(AccessQuery),
    responses(
        (status = 200, description = "The reads of the citizen's data by others, newest first", body = AccessPageDto),
        (status = 400, description = "Invalid `limit` or `after`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn data_access(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AccessQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let iin = principal.iin.as_ref().ok_or(ApiError::Forbidden {
        role: principal.role,
    })?;
    let limit = super::input::page_limit(query.limit)?;
    let before = match &query.after {
        Some(raw) => Some(parse_cursor(raw)?),
        None => None,
    };
    let mut rows =
        projections::data_access::reads_of(state.db.pool(), iin, before, limit + 1).await?;
    let next = super::input::page(&mut rows, limit, |r| {
        format!(
            "{}.{}.{}",
            r.at.timestamp_micros(),
            r.event_id.simple(),
            r.seq
        )
    });
    Ok(HttpResponse::Ok().json(AccessPageDto {
        items: rows
            .into_iter()
            .map(|r| AccessDto {
                at: r.at,
                reader: r.reader,
                role: r.role,
                organisation: r.organisation,
                what: r.what,
                purpose: r.purpose,
            })
            .collect(),
        next,
    }))
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, uuid::Uuid, i32), ApiError> {
    let invalid = || ApiError::InvalidParameter {
        field: "after",
        reason: "pass the `next` of the previous page".into(),
    };
    let mut parts = raw.split('.');
    let (Some(micros), Some(id), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let seq = seq.parse::<i32>().map_err(|_| invalid())?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = uuid::Uuid::try_parse(id).map_err(|_| invalid())?;
    Ok((at, id, seq))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/me/data-access")
            .route(web::get().to(data_access))
            .default_service(web::to(super::method_not_allowed)),
    );
}
