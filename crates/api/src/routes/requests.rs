//! The portal's request routes: file (step 1), sign (step 2; the document again for a signing
//! made later), answer the survey, and the citizen's history. Refresh status (step 3) is
//! [`super::status`].
//!
//! Writes go through the command handlers; reads come only from the status view. A citizen sees
//! only requests where they are the applicant or the subject.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use commands::Submission;
use domain::request::SurveyAnswer;
use domain::{Actor, Channel, RequestStatus, ServiceCode};
use projections::request_status::HistoryCursor;
use serde::{Deserialize, Serialize};
use tracing_actix_web::RootSpan;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::views::{self, RequestDto, StatusDto};
use super::{access, input, status};
use crate::limits::Writer;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::telemetry::record_correlation;
use crate::token::{Principal, Role};

/// Step 1: what a portal client sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// A service code from `GET /services`.
    #[schema(example = "pension-fund-statement")]
    pub service: String,
    /// The applicant's IIN: the citizen's own.
    #[schema(pattern = "^[0-9]{12}$", example = "900101300007")]
    pub iin: String,
    /// The service's form fields (see the catalog); `{}` or absent for services without fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub form: serde_json::Value,
}

/// Step 1's answer: the filed request and the bytes to sign.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDto {
    pub number: String,
    pub id: Uuid,
    pub service: String,
    pub iin: String,
    pub status: StatusDto,
    pub received_at: DateTime<Utc>,
    /// When the request ends as abandoned if it is not signed by then (docs/domain.md 3.6). The
    /// promised deadline starts only with the signature, and the status shows it from then.
    pub sign_by: DateTime<Utc>,
    /// Base64 of the exact canonical bytes the citizen signs (step 2).
    pub document_to_sign: String,
    pub version: u64,
}

/// Step 2: the CMS SignedData over `document_to_sign`, attached or detached, base64 of its DER.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    #[schema(format = Byte)]
    pub cms: String,
}

/// The survey of docs/domain.md 7: two questions, three answers each.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyBody {
    /// «Удовлетворены ли Вы качеством процесса оказания электронной государственной услуги?»
    #[schema(value_type = String, pattern = "^(not-satisfied|partially-satisfied|satisfied)$", example = "satisfied")]
    pub quality: SurveyAnswer,
    /// «Удовлетворены ли Вы качеством информации о порядке оказания электронной государственной услуги?»
    #[schema(value_type = String, pattern = "^(not-satisfied|partially-satisfied|satisfied)$", example = "partially-satisfied")]
    pub information: SurveyAnswer,
}

/// The survey's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyedDto {
    pub number: String,
    pub version: u64,
}

/// Step 2's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedDto {
    pub number: String,
    pub status: StatusDto,
    /// The stream version after the signature; `GET ...?min_version=` with it reads your write.
    pub version: u64,
}

/// A page of a citizen's requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDto {
    pub items: Vec<RequestDto>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Query of the history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Items per page, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// File a request (portal step 1).
#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "requests",
    request_body = SubmitBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the same request")),
    responses(
        (status = 201, description = "Filed; sign `document_to_sign` next", body = CreatedDto,
         headers(("Location" = String, description = "The request's status URL"),
                 ("Idempotent-Replayed" = String, description = "`true` when a retry with the same Idempotency-Key got the request filed the first time"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen (for `social-status-check`: not a medical organisation's user, or one whose token names no organisation), or another person's IIN", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not available now", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown service, invalid IIN or form, idempotency key reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    req: HttpRequest,
    span: RootSpan,
    state: web::Data<AppState>,
    Writer {
        principal,
        daily_filings,
    }: Writer,
    body: web::Json<SubmitBody>,
) -> Result<HttpResponse, ApiError> {
    let (applicant, through) = principal.signer()?;
    let body = body.into_inner();
    let service = body
        .service
        .parse::<ServiceCode>()
        .map_err(|_| ApiError::UnknownService(body.service.clone()))?;
    if !through.sign_in.files(service) {
        return Err(ApiError::Forbidden {
            role: principal.role,
        });
    }
    // A check reads the patient's status: its filer must name their organisation.
    access::may_read(&principal, None)?;
    let iin = input::iin("iin", &body.iin)?;
    if applicant != iin {
        return Err(ApiError::ForeignIin);
    }
    let idempotency_key = input::idempotency_key(&req)?;
    let submitted = state
        .requests
        .submit(Submission {
            service,
            applicant: iin,
            form: body.form,
            actor: Actor::Citizen { iin: applicant },
            channel: Channel::Portal,
            idempotency_key,
            representative: None,
            operator_id: None,
            // A check is the records of the organisation it is filed through.
            organisation: through.organisation.map(str::to_owned),
            presented: None,
            daily_limit: daily_filings,
        })
        .await?;
    if !submitted.replayed {
        state.metrics.events_appended.inc();
    }
    let info = submitted.info;
    record_correlation(&span, info.request_id);
    if let Some(patient) = info.subject() {
        // A look at the patient's status: theirs to see in their data-access list, on record
        // before the filing is answered (again on a resend: a record twice is no harm, none is).
        let what = format!("social-status-check:{}", info.number);
        access::record_reads(&state.read_audit, &principal, &[patient], what, None).await?;
    }
    let dto = CreatedDto {
        number: info.number.to_string(),
        id: info.request_id,
        service: info.service.code().to_owned(),
        iin: info.applicant.as_str().to_owned(),
        status: views::status_dto(RequestStatus::AwaitingSignature),
        received_at: info.received_at,
        sign_by: info.sign_by,
        document_to_sign: base64::engine::general_purpose::STANDARD.encode(info.document_to_sign()),
        version: submitted.version.get(),
    };
    // A retry answers exactly as the first time did, and says that it is a replay.
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/requests/{}", dto.number)))
        .insert_header(input::replayed_header(submitted.replayed))
        .json(dto))
}

/// Sign a request (portal step 2): the signature is recorded; verification follows.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{number}/signature",
    tag = "requests",
    params(("number" = String, Path, description = "The request number")),
    request_body = SignBody,
    responses(
        (status = 202, description = "The signature is recorded", body = AcceptedDto),
        (status = 400, description = "Malformed JSON, or `cms` is not base64 of a CMS SignedData", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen or a medical organisation's user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or one the signer did not file (through this sign-in)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request does not wait for a signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sign(
    span: RootSpan,
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    number: web::Path<String>,
    body: web::Json<SignBody>,
) -> Result<HttpResponse, ApiError> {
    let (signer, through) = principal.signer()?;
    let number = input::request_number(&number)?;
    let der = input::cms(&body.cms)?;
    let signed = state
        .requests
        .sign(&number, &der, &Actor::Citizen { iin: signer }, through)
        .await?;
    record_correlation(&span, signed.info.request_id);
    if !signed.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Accepted().json(AcceptedDto {
        number: number.to_string(),
        status: views::status_dto(RequestStatus::Submitted),
        version: signed.version.get(),
    }))
}

/// Step 2 again: the document to sign of a request still waiting for its signature.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDto {
    pub number: String,
    /// Base64 of the exact canonical bytes to sign, as step 1 gave them.
    pub document_to_sign: String,
}

/// The document to sign of the applicant's request that still waits for its signature (portal
/// step 2), for a signing that failed after filing to be made again.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{number}/document",
    tag = "requests",
    params(("number" = String, Path, description = "The request number")),
    responses(
        (status = 200, description = "The document to sign", body = DocumentDto),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen or a medical organisation's user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or one the reader did not file (through this sign-in)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request does not wait for the applicant's signature", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn document(
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (applicant, through) = principal.signer()?;
    let number = input::request_number(&number)?;
    let document = state
        .requests
        .document_to_sign(&number, &Actor::Citizen { iin: applicant }, through)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(DocumentDto {
            number: number.to_string(),
            document_to_sign: base64::engine::general_purpose::STANDARD.encode(document),
        }))
}

/// Answer the survey (docs/domain.md 7), once, after the request ended.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{number}/survey",
    tag = "requests",
    params(("number" = String, Path, description = "The request number")),
    request_body = SurveyBody,
    responses(
        (status = 201, description = "The answers are recorded (a resend of the same answers too)", body = SurveyedDto),
        (status = 400, description = "Malformed JSON or an answer that is not one of the three", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or one the citizen did not file", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has not ended, or was already surveyed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn survey(
    span: RootSpan,
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    number: web::Path<String>,
    body: web::Json<SurveyBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let number = input::request_number(&number)?;
    let surveyed = state
        .requests
        .survey(&number, body.quality, body.information, &principal.actor())
        .await?;
    record_correlation(&span, surveyed.info.request_id);
    if !surveyed.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Created()
        .insert_header(input::replayed_header(surveyed.replayed))
        .json(SurveyedDto {
            number: number.to_string(),
            version: surveyed.version.get(),
        }))
}

/// The citizen's requests, newest first, by cursor.
#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "requests",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of requests", body = HistoryDto),
        (status = 400, description = "Invalid `limit` or `after`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let iin = principal.iin.as_ref().ok_or(ApiError::Forbidden {
        role: principal.role,
    })?;
    let limit = input::page_limit(query.limit)?;
    let after = query
        .after
        .as_deref()
        .map(parse_history_cursor)
        .transpose()?;
    let mut rows = state.status_view.history(iin, after, limit + 1).await?;
    let next = input::page(&mut rows, limit, |r| {
        format!(
            "{}.{}",
            r.received_at.timestamp_micros(),
            r.stream_id.simple()
        )
    });
    Ok(HttpResponse::Ok().json(HistoryDto {
        items: rows.iter().map(views::request_dto).collect(),
        next,
    }))
}

fn parse_history_cursor(raw: &str) -> Result<HistoryCursor, ApiError> {
    let invalid = || ApiError::InvalidParameter {
        field: "after",
        reason: "pass the `next` of the previous page".into(),
    };
    let (micros, id) = raw.split_once('.').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let received_at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let stream_id = Uuid::try_parse(id).map_err(|_| invalid())?;
    Ok(HistoryCursor {
        received_at,
        stream_id,
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/requests")
            .route(web::get().to(history))
            .route(web::post().to(submit))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}")
            .route(web::get().to(status::status))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/signature")
            .route(web::post().to(sign))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/document")
            .route(web::get().to(document))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/survey")
            .route(web::post().to(survey))
            .default_service(web::to(super::method_not_allowed)),
    );
}
