//! The result of a request (docs/domain.md 6): the signed document as JSON with its CMS signature, or
//! with `Accept: application/pdf` the bilingual PDF with its QR code («открыть», «сохранить»).
//! Only who may see the request may fetch it: its applicant (and subject), operators, auditors.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::telemetry::record_correlation;
use crate::token::{Principal, Role};
use tracing_actix_web::RootSpan;

/// A result document and its signature.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultDto {
    pub document_number: String,
    /// The document (its exact signed bytes are `document_base64`).
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// Base64 of the canonical JSON bytes the provider signed.
    pub document_base64: String,
    /// SHA-256 (hex) of those bytes, as the `ResultIssued` event records it.
    pub sha256: String,
    /// Base64 of the provider's detached CMS SignedData (DER) over those bytes.
    pub signature: String,
    pub issued_at: DateTime<Utc>,
}

/// The result document of a completed request.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{number}/result",
    tag = "requests",
    params(("number" = String, Path, description = "The request number"),
           ("Accept" = Option<String>, Header, description = "`application/pdf` for the printable PDF; JSON otherwise"),
           ("X-Purpose" = Option<String>, Header, description = "Why someone other than the citizen reads the result (recorded with the read)")),
    responses(
        (status = 200, description = "The signed document (JSON), or its PDF", body = ResultDto,
         content((ResultDto = "application/json"), (Vec<u8> = "application/pdf"))),
        (status = 400, description = "An invalid `X-Purpose`, or an operator's read without it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not read results, or an operator's (medical user's) token naming no service centre (organisation)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or another citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No result (yet, or the request was refused)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn result(
    span: RootSpan,
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (number, row, purpose) = readable(&span, &req, &state, &principal, &number).await?;
    // A document stored before its `ResultIssued` was appended is not issued yet (and may not be
    // on disk yet: it is written without waiting for the flush that the append waits for).
    if !row.result_ready {
        return Err(ApiError::ResultNotReady);
    }
    let stored = state
        .documents
        .get(domain::StreamId::from_uuid(row.stream_id))
        .await?
        .ok_or(ApiError::ResultNotReady)?;
    if super::access::recorded(&principal, &row) {
        let what = format!("result:{number}");
        super::access::record_read(&state.read_audit, &principal, &row, what, purpose).await?;
    }
    let document: serde_json::Value =
        serde_json::from_slice(&stored.document).map_err(ApiError::internal)?;
    if wants_pdf(&req) {
        let signature_sha256 = commands::sha256_hex(&stored.signature);
        let digests = crate::pdf::Digests {
            document: &stored.sha256,
            signature: &signature_sha256,
        };
        let pdf = crate::pdf::render(&document, digests).map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok()
            .content_type("application/pdf")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}.pdf\"", stored.number),
            ))
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .body(pdf));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(ResultDto {
            document_number: stored.number,
            document,
            document_base64: b64.encode(&stored.document),
            sha256: stored.sha256,
            signature: b64.encode(&stored.signature),
            issued_at: stored.created_at,
        }))
}

/// The request `number` when `principal` may read its documents: its row and the read's purpose.
async fn readable(
    span: &RootSpan,
    req: &HttpRequest,
    state: &AppState,
    principal: &Principal,
    number: &str,
) -> Result<
    (
        domain::RequestNumber,
        projections::StatusRow,
        Option<String>,
    ),
    ApiError,
> {
    principal.require(&[Role::Citizen, Role::Medical, Role::Operator, Role::Auditor])?;
    let purpose = super::input::purpose(req)?;
    super::access::may_read(principal, purpose.as_deref())?;
    let number = super::input::request_number(number)?;
    let row = state
        .status_view
        .by_number_fresh(number.as_str())
        .await?
        .filter(|row| super::access::visible(principal, row))
        .ok_or(ApiError::RequestNotFound)?;
    record_correlation(span, row.stream_id);
    Ok((number, row, purpose))
}

/// The receipt of the request's result or refusal document: the event that issued it, its
/// inclusion proof and the signed head it is proven in (docs/architecture.md, "The verifiable
/// log"). `egov receipt verify` checks it offline with the log's public key.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{number}/receipt",
    tag = "requests",
    params(("number" = String, Path, description = "The request number"),
           ("X-Purpose" = Option<String>, Header, description = "Why someone other than the citizen reads it (recorded with the read)")),
    responses(
        (status = 200, description = "The receipt", body = Object),
        (status = 400, description = "An invalid `X-Purpose`, or an operator's read without it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not read results, or an operator's (medical user's) token naming no service centre (organisation)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or another citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No document yet, or no signed head covers it yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn receipt(
    span: RootSpan,
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (number, row, purpose) = readable(&span, &req, &state, &principal, &number).await?;
    let stream = domain::StreamId::from_uuid(row.stream_id);
    let events = state.requests.recorded(stream).await?;
    let issuing = [
        domain::request::EventType::ResultIssued.code(),
        domain::request::EventType::RefusalIssued.code(),
    ];
    let event = events
        .into_iter()
        .rev()
        .find(|e| issuing.contains(&e.event_type.as_str()))
        .ok_or(ApiError::ResultNotReady)?;
    if super::access::recorded(&principal, &row) {
        let what = format!("receipt:{number}");
        super::access::record_read(&state.read_audit, &principal, &row, what, purpose).await?;
    }
    let receipt = super::log::receipt(&state, number.to_string(), event).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(receipt))
}

/// Whether the client asks for the PDF (`Accept: application/pdf`, preferred over JSON).
fn wants_pdf(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .map(|part| part.split(';').next().unwrap_or_default().trim())
                .take_while(|kind| *kind != "application/json")
                .any(|kind| kind.eq_ignore_ascii_case("application/pdf"))
        })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/requests/{number}/result")
            .route(web::get().to(result))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/receipt")
            .route(web::get().to(receipt))
            .default_service(web::to(super::method_not_allowed)),
    );
}
