//! The portal's request routes: file (step 1), sign (step 2), refresh status (step 3), history.
//!
//! Writes go through the command handlers; reads come only from the status view. A citizen sees
//! only requests where they are the applicant or the subject: anyone else's number answers 404,
//! exactly like an unknown one.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use commands::Submission;
use domain::request::SurveyAnswer;
use domain::{Channel, Iin, RequestNumber, RequestStatus, ServiceCode};
use projections::request_status::HistoryCursor;
use projections::StatusRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Principal, Role};
use crate::problem::{ApiError, Problem};
use crate::state::{AppState, StatusBody};
use crate::telemetry::record_correlation;
use tracing_actix_web::RootSpan;

/// The longest a long poll may hold an answer.
pub const MAX_WAIT_SECONDS: u64 = 30;
/// How long `min_version` waits when no `wait` is given.
const DEFAULT_MIN_VERSION_WAIT: Duration = Duration::from_secs(10);
/// The largest signature container accepted. The container is kept in the `RequestSigned` event
/// (base64, a third larger), well inside the store's limit on one event; a real NCALayer CMS with
/// its chain is a few kilobytes.
pub const MAX_CMS_BYTES: usize = 64 * 1024;

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

/// A status with its texts.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    /// `awaiting-signature`, `submitted`, `forwarded-to-provider`, `completed` or `refused`.
    pub code: String,
    pub text: crate::problem::ProblemTexts,
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
    pub deadline: Option<DateTime<Utc>>,
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

/// The survey of DOMAIN.md 7: two questions, three answers each.
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

/// The refusal reason of a refused request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalDto {
    pub code: String,
    pub text: crate::problem::ProblemTexts,
}

/// Step 3: a request as the status view has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDto {
    pub number: String,
    pub id: Uuid,
    pub service: String,
    pub iin: String,
    pub channel: String,
    /// At a service centre: the centre and the operator (IIN) who filed it.
    pub service_centre: Option<ServiceCentreDto>,
    pub status: StatusDto,
    pub refusal: Option<RefusalDto>,
    pub deadline: Option<DateTime<Utc>>,
    pub result_ready: bool,
    /// The promised deadline passed while the request was open.
    pub deadline_missed: bool,
    /// The steps that took longer than their limit, e.g. `lookup:sik`, `certificate-check`.
    pub late_steps: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub last_change: DateTime<Utc>,
    pub version: i64,
}

/// A page of a citizen's requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDto {
    pub items: Vec<RequestDto>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Query of step 3.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Hold the answer up to this many seconds (at most 30) until the request changes: with
    /// `If-None-Match` until its ETag changes, with `min_version` until that version is visible.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
    /// Read your write: wait until the view shows at least this version.
    #[param(minimum = 1)]
    pub min_version: Option<i64>,
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

/// Where a request was filed in person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceCentreDto {
    pub centre: String,
    pub operator: String,
    /// The representative who acted for the citizen, if one did.
    pub representative_iin: Option<String>,
}

fn status_dto(status: RequestStatus) -> StatusDto {
    let m = domain::Messages::shared().status(status);
    StatusDto {
        code: status.code().to_owned(),
        text: crate::problem::ProblemTexts {
            ru: m.texts.ru.clone(),
            kk: m.texts.kk.clone(),
            en: m.texts.en.clone(),
        },
    }
}

fn request_dto(row: &StatusRow) -> RequestDto {
    let refusal = row.refusal_reason.map(|reason| {
        let m = domain::Messages::shared().refusal(reason);
        RefusalDto {
            code: reason.code().to_owned(),
            text: crate::problem::ProblemTexts {
                ru: m.texts.ru.clone(),
                kk: m.texts.kk.clone(),
                en: m.texts.en.clone(),
            },
        }
    });
    RequestDto {
        number: row.number.to_string(),
        id: row.stream_id,
        service: row.service.code().to_owned(),
        iin: row.iin.as_str().to_owned(),
        channel: row.channel.as_str().to_owned(),
        service_centre: row.operator_id.as_ref().map(|id| {
            let (centre, operator) = id.split_once('/').unwrap_or(("", id.as_str()));
            ServiceCentreDto {
                centre: centre.to_owned(),
                operator: operator.to_owned(),
                representative_iin: row
                    .representative_iin
                    .as_ref()
                    .map(|i| i.as_str().to_owned()),
            }
        }),
        status: StatusDto {
            code: row.status.code().to_owned(),
            text: crate::problem::ProblemTexts {
                ru: row.status_text.ru.clone(),
                kk: row.status_text.kk.clone(),
                en: row.status_text.en.clone(),
            },
        },
        refusal,
        deadline: row.deadline,
        result_ready: row.result_ready,
        deadline_missed: row.service_deadline_missed,
        late_steps: row.late_steps.clone(),
        received_at: row.received_at,
        last_change: row.last_change,
        version: row.version,
    }
}

pub(crate) fn parse_iin(field: &'static str, raw: &str) -> Result<Iin, ApiError> {
    Iin::parse(raw).map_err(|error| ApiError::InvalidIin { field, error })
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
        (status = 403, description = "Not a citizen, or another citizen's IIN", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not available now", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown service, invalid IIN or form, idempotency key reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    req: HttpRequest,
    span: RootSpan,
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<SubmitBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let body = body.into_inner();
    let service = body
        .service
        .parse::<ServiceCode>()
        .map_err(|_| ApiError::UnknownService(body.service.clone()))?;
    let iin = parse_iin("iin", &body.iin)?;
    if principal.iin.as_ref() != Some(&iin) {
        return Err(ApiError::ForeignIin);
    }
    let idempotency_key = idempotency_key(&req)?;
    let submitted = state
        .requests
        .submit(Submission {
            service,
            applicant: iin,
            form: body.form,
            actor: principal.actor(),
            channel: Channel::Portal,
            idempotency_key,
            representative: None,
            operator_id: None,
            presented: None,
        })
        .await?;
    if !submitted.replayed {
        state.metrics.events_appended.inc();
    }
    let info = submitted.info;
    record_correlation(&span, info.request_id);
    let dto = CreatedDto {
        number: info.number.to_string(),
        id: info.request_id,
        service: info.service.code().to_owned(),
        iin: info.applicant.as_str().to_owned(),
        status: status_dto(RequestStatus::AwaitingSignature),
        received_at: info.received_at,
        deadline: info.deadline,
        document_to_sign: base64::engine::general_purpose::STANDARD.encode(info.document_to_sign()),
        version: submitted.version.get(),
    };
    // A retry answers exactly as the first time did, and says that it is a replay.
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/requests/{}", dto.number)))
        .insert_header(replayed_header(submitted.replayed))
        .json(dto))
}

/// `Idempotent-Replayed`: whether a resend was answered with what the first send recorded.
pub(crate) fn replayed_header(replayed: bool) -> (&'static str, &'static str) {
    (
        "Idempotent-Replayed",
        if replayed { "true" } else { "false" },
    )
}

pub(crate) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "Idempotency-Key",
        reason: reason.to_owned(),
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?;
    if key.is_empty() || key.len() > 255 {
        return Err(invalid("must be 1-255 characters"));
    }
    Ok(Some(key.to_owned()))
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
        (status = 403, description = "Not a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or another citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request does not wait for a signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sign(
    span: RootSpan,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
    body: web::Json<SignBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let number = RequestNumber::parse(&number).map_err(|_| ApiError::RequestNotFound)?;
    let der = decode_cms(&body.cms)?;
    let signed = state
        .requests
        .sign(&number, &der, &principal.actor())
        .await?;
    record_correlation(&span, signed.info.request_id);
    if !signed.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Accepted().json(AcceptedDto {
        number: number.to_string(),
        status: status_dto(RequestStatus::Submitted),
        version: signed.version.get(),
    }))
}

/// Base64 (white space ignored, as NCALayer may wrap lines) of a DER CMS ContentInfo.
pub(crate) fn decode_cms(text: &str) -> Result<Vec<u8>, ApiError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ApiError::InvalidSignatureEncoding)?;
    if der.is_empty() || der.len() > MAX_CMS_BYTES {
        return Err(ApiError::InvalidSignatureEncoding);
    }
    openssl::cms::CmsContentInfo::from_der(&der).map_err(|_| ApiError::InvalidSignatureEncoding)?;
    Ok(der)
}

/// Answer the survey (DOMAIN.md 7), once, after the request ended.
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
    ),
    security(("bearer" = []))
)]
pub async fn survey(
    span: RootSpan,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
    body: web::Json<SurveyBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen])?;
    let number = RequestNumber::parse(&number).map_err(|_| ApiError::RequestNotFound)?;
    let surveyed = state
        .requests
        .survey(&number, body.quality, body.information, &principal.actor())
        .await?;
    record_correlation(&span, surveyed.info.request_id);
    if !surveyed.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Created()
        .insert_header(replayed_header(surveyed.replayed))
        .json(SurveyedDto {
            number: number.to_string(),
            version: surveyed.version.get(),
        }))
}

/// Refresh status (portal step 3), read from the status view; long poll with `wait`.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{number}",
    tag = "requests",
    params(("number" = String, Path, description = "The request number"),
           ("If-None-Match" = Option<String>, Header, description = "The ETag of the last answer"),
           ("X-Purpose" = Option<String>, Header, description = "Why someone other than the citizen reads the request (recorded with the read)"),
           StatusQuery),
    responses(
        (status = 200, description = "The request", body = RequestDto, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 400, description = "Invalid `wait`, `min_version` or `X-Purpose`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not read requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or another citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen, Role::Operator, Role::Auditor])?;
    let purpose = crate::read_audit::purpose(&req)?;
    let query = query.into_inner();
    let wait = match query.wait {
        Some(s) if s > MAX_WAIT_SECONDS => {
            return Err(ApiError::InvalidParameter {
                field: "wait",
                reason: format!("at most {MAX_WAIT_SECONDS} seconds"),
            })
        }
        Some(s) => Some(Duration::from_secs(s)),
        None => None,
    };
    if query.min_version.is_some_and(|v| v < 1) {
        return Err(ApiError::InvalidParameter {
            field: "min_version",
            reason: "a version is at least 1".into(),
        });
    }
    let number = RequestNumber::parse(&number).map_err(|_| ApiError::RequestNotFound)?;
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let hold = wait.unwrap_or(if query.min_version.is_some() {
        DEFAULT_MIN_VERSION_WAIT
    } else {
        Duration::ZERO
    });
    let deadline = tokio::time::Instant::now() + hold;
    let mut progress = state.status_progress.clone();
    // A version the event store does not have yet cannot be waited for: it would hold the answer
    // for nothing. Asked once, only when the view is behind `min_version`.
    let mut written: Option<u64> = None;
    loop {
        // Marked seen before reading, so a commit during the read is not missed.
        progress.borrow_and_update();
        // Polls and read-your-writes read the table itself; a plain refresh may be served from
        // the cache the projector of this process keeps current.
        let entry = if wait.is_some() || query.min_version.is_some() {
            state
                .status_view
                .by_number_fresh(number.as_str())
                .await?
                .map(|row| std::sync::Arc::new((row, std::time::Instant::now())))
        } else {
            state.status_view.by_number(number.as_str()).await?
        }
        .filter(|entry| visible(&principal, &entry.0));
        let row = entry.as_ref().map(|entry| &entry.0);
        let unchanged = |row: &StatusRow| {
            if_none_match
                .as_deref()
                .is_some_and(|tags| etag_matches(tags, &etag(row)))
        };
        let view_version = row.map_or(0, |r| r.version);
        let behind = match query.min_version {
            Some(wanted) if view_version < wanted => {
                let stored = match written {
                    Some(stored) => stored,
                    None => {
                        let stored = stored_version(&state, &number).await?;
                        written = Some(stored);
                        stored
                    }
                };
                i64::try_from(stored).unwrap_or(i64::MAX) >= wanted
            }
            _ => false,
        };
        let settled = !behind
            && match row {
                None => true,
                Some(row) => !(wait.is_some() && unchanged(row)),
            };
        // A stopping server answers with what it has rather than hold a poll past its drain.
        if settled || tokio::time::Instant::now() >= deadline || state.stopping.is_cancelled() {
            let row = row.ok_or(ApiError::RequestNotFound)?;
            if principal.role != Role::Citizen {
                record_read(
                    &state,
                    &principal,
                    row,
                    format!("request:{number}"),
                    purpose,
                )
                .await;
            }
            let body = status_body(&state, row)?;
            if unchanged(row) {
                return Ok(HttpResponse::NotModified()
                    .insert_header((header::ETAG, body.etag.as_str()))
                    .finish());
            }
            return Ok(HttpResponse::Ok()
                .insert_header((header::ETAG, body.etag.as_str()))
                .insert_header((header::CACHE_CONTROL, "private, no-cache"))
                .content_type("application/json")
                .body(body.json.clone()));
        }
        // Wake on the projector's next commit; re-check now and then in case the projector
        // runs in another process.
        // Cancel safe: each branch only waits; the loop re-reads the view whichever ends first.
        tokio::select! {
            _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(500)),
                progress.changed(),
            ) => {}
            () = state.stopping.cancelled() => {}
        }
    }
}

/// The serialised answer for `row`, made once per version of the row.
fn status_body(state: &AppState, row: &StatusRow) -> Result<std::sync::Arc<StatusBody>, ApiError> {
    if let Some(body) = state.status_bodies.get(&row.stream_id) {
        if body.version == row.version {
            return Ok(body);
        }
    }
    let json = serde_json::to_vec(&request_dto(row)).map_err(ApiError::internal)?;
    let body = std::sync::Arc::new(StatusBody {
        version: row.version,
        etag: etag(row),
        json: json.into(),
    });
    state.status_bodies.insert(row.stream_id, body.clone());
    Ok(body)
}

/// The version the event store holds for the request with this number (0 when there is none).
async fn stored_version(state: &AppState, number: &RequestNumber) -> Result<u64, ApiError> {
    let Some(stream_id) = state.requests.find(number).await? else {
        return Ok(0);
    };
    Ok(state
        .requests
        .store()
        .stream_version(stream_id)
        .await?
        .get())
}

/// Records a read of `row`'s citizens' data by `principal` (someone other than them).
pub(crate) async fn record_read(
    state: &AppState,
    principal: &Principal,
    row: &StatusRow,
    what: String,
    purpose: Option<String>,
) {
    let citizens: Vec<&Iin> = std::iter::once(&row.iin)
        .chain(row.subject_iin.as_ref())
        .collect();
    crate::read_audit::record_read(&state.read_audit, principal, &citizens, what, purpose).await;
}

pub(crate) fn visible(principal: &Principal, row: &StatusRow) -> bool {
    match principal.role {
        Role::Citizen => principal.iin.as_ref().is_some_and(|iin| row.concerns(iin)),
        Role::Operator | Role::Auditor => true,
        Role::Analyst | Role::Medical => false,
    }
}

fn etag(row: &StatusRow) -> String {
    format!("\"{}-{}\"", row.stream_id.simple(), row.version)
}

fn etag_matches(header: &str, tag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
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
    let limit = super::page_limit(query.limit)?;
    let after = query
        .after
        .as_deref()
        .map(parse_history_cursor)
        .transpose()?;
    let mut rows = state.status_view.history(iin, after, limit + 1).await?;
    let next = super::page(&mut rows, limit, |r| {
        format!(
            "{}.{}",
            r.received_at.timestamp_micros(),
            r.stream_id.simple()
        )
    });
    Ok(HttpResponse::Ok().json(HistoryDto {
        items: rows.iter().map(request_dto).collect(),
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
            .route(web::get().to(status))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/signature")
            .route(web::post().to(sign))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/requests/{number}/survey")
            .route(web::post().to(survey))
            .default_service(web::to(super::method_not_allowed)),
    );
}
