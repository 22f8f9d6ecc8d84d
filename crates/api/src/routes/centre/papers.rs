//! The papers an operator handles after the checks (REG 3150, 3592): a power of attorney that is
//! not notarised, attested against the paper; the result or the refusal, handed out.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tracing_actix_web::RootSpan;
use utoipa::ToSchema;

use commands::requests::Recorded;
use domain::request::Request;
use domain::RequestNumber;

use super::operator;
use crate::limits::Writer;
use crate::problem::{ApiError, Problem};
use crate::routes::input;
use crate::state::AppState;
use crate::telemetry::record_correlation;
use crate::token::Principal;

/// The attestation recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttestedDto {
    pub number: String,
    pub version: u64,
}

/// Attest a power of attorney that is not notarised: the operator checked the paper presented
/// and scanned it (`power-of-attorney`); the operator signs after this (REG 3150).
#[utoipa::path(
    post,
    path = "/api/v1/centre/requests/{number}/power-of-attorney/attestation",
    tag = "service-centre",
    params(("number" = String, Path, description = "The request number")),
    responses(
        (status = 200, description = "Recorded (a retry records nothing new)", body = AttestedDto),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator named by IIN at a service centre", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or one filed elsewhere (another centre, the portal)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No power of attorney to attest (notarised, none, or not scanned yet), or the request does not wait for a signature", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn attest(
    span: RootSpan,
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (number, recorded) = record(&span, &state, &principal, &number, Paper::Attestation).await?;
    Ok(HttpResponse::Ok().json(AttestedDto {
        number: number.to_string(),
        version: recorded.version.get(),
    }))
}

/// What an operator records about a paper.
#[derive(Debug, Clone, Copy)]
enum Paper {
    /// A power of attorney that is not notarised, attested.
    Attestation,
    /// The result or the refusal, handed out.
    Handout,
}

/// Records `paper` on the request `number` for the operator of `principal`, at the operator's own
/// centre; the request's number and what was recorded.
async fn record(
    span: &RootSpan,
    state: &AppState,
    principal: &Principal,
    number: &str,
    paper: Paper,
) -> Result<(RequestNumber, Recorded), ApiError> {
    let (_, centre) = operator(principal)?;
    let number = input::request_number(number)?;
    let operator_id = format!("{centre}/{}", principal.subject);
    let actor = principal.actor();
    let requests = &state.requests;
    let recorded = match paper {
        Paper::Attestation => {
            requests
                .attest_power_of_attorney(&number, &operator_id, &centre, &actor)
                .await?
        }
        Paper::Handout => {
            requests
                .hand_out(&number, &operator_id, &centre, &actor)
                .await?
        }
    };
    record_correlation(span, recorded.info.request_id);
    if !recorded.replayed {
        state.metrics.events_appended.inc();
    }
    Ok((number, recorded))
}

/// The document an operator handed out.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandedOutDto {
    pub number: String,
    /// The number of the document handed out: the result (`R...`) or the refusal (`O...`).
    pub document_number: String,
    pub version: u64,
}

/// Record that the operator handed the person at the desk the request's signed document - its
/// result or its refusal, printed from `GET /api/v1/requests/{number}/result` (REG 3592, step 11).
#[utoipa::path(
    post,
    path = "/api/v1/centre/requests/{number}/handout",
    tag = "service-centre",
    params(("number" = String, Path, description = "The request number")),
    responses(
        (status = 200, description = "Recorded (a retry by the same operator records nothing new)", body = HandedOutDto),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator named by IIN at a service centre", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or one filed elsewhere (another centre, the portal)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has no document yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn hand_out(
    span: RootSpan,
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (number, recorded) = record(&span, &state, &principal, &number, Paper::Handout).await?;
    let document_number = match &recorded.state {
        Request::Closed(closed) => closed.document_number().map(str::to_owned),
        _ => None,
    }
    .unwrap_or_default();
    Ok(HttpResponse::Ok().json(HandedOutDto {
        number: number.to_string(),
        document_number,
        version: recorded.version.get(),
    }))
}
