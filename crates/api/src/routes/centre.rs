//! The service-centre channel (role `operator`; DOMAIN.md 3.4, REG 3147-3160): an operator files
//! a request for the citizen at the desk, or for the citizen a representative acts for; the
//! identity check (GBD FL) and the power-of-attorney check (ENIS) run at once; the paper
//! documents are scanned; the operator signs with the operator's own EDS; then the request goes
//! through the same workflow as a portal request.
//!
//! The operator's token names the operator by IIN (`sub`, the IIN of the operator's EDS
//! certificate) and the service centre (`org`).

use std::time::Duration;

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::NaiveDate;
use commands::scans::ScanStore;
use commands::Submission;
use domain::centre::{sniff, MAX_SCAN_BYTES, SCAN_KINDS};
use domain::request::{PresentedPerson, Representative, Request, RequestEvent, Stage};
use domain::{Channel, Iin, RequestNumber, ServiceCode};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RootSpan;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::problem::{ApiError, Problem, ProblemTexts};
use crate::routes::requests::{decode_cms, idempotency_key, parse_iin, replayed_header};
use crate::state::AppState;
use crate::telemetry::record_correlation;

/// How long filing waits for the identity checks to answer before it answers itself.
const CHECKS_WAIT: Duration = Duration::from_secs(15);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/centre/requests")
            .route(web::post().to(submit))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/centre/requests/{number}/documents/{kind}")
            .route(web::put().to(scan))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/centre/requests/{number}/signature")
            .route(web::post().to(sign))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// The person at the desk, as their identity document names them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    /// 12 digits.
    pub iin: String,
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub identity_document: IdentityDocumentBody,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocumentBody {
    /// e.g. `id-card`, `passport`.
    pub kind: String,
    pub number: String,
}

/// A notarised power of attorney, as registered in ENIS.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOfAttorneyBody {
    pub number: String,
    pub date: NaiveDate,
}

/// A request filed at a service centre.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CentreSubmitBody {
    /// A service offered at service centres (`pension-fund-statement`).
    pub service: String,
    /// The person at the desk: the citizen, or the representative.
    pub applicant: PersonBody,
    /// For a representative: the IIN of the citizen they act for (who owns the request).
    pub represented_iin: Option<String>,
    /// For a representative: the power of attorney.
    pub power_of_attorney: Option<PowerOfAttorneyBody>,
    /// The service's form, as on the portal.
    #[serde(default = "empty_form")]
    #[schema(value_type = Object)]
    pub form: serde_json::Value,
}

fn empty_form() -> serde_json::Value {
    serde_json::json!({})
}

/// One identity check and its answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckDto {
    /// `applicant-identity` (GBD FL) or `power-of-attorney` (ENIS).
    pub check: String,
    /// `passed`, `failed` or `pending`.
    pub outcome: String,
}

/// A refusal, with its text for the operator to read out.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentreRefusalDto {
    pub code: String,
    pub text: ProblemTexts,
}

/// The answer to filing at a service centre.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentreCreatedDto {
    pub number: String,
    pub id: uuid::Uuid,
    pub service: String,
    /// The citizen the request is for (its owner).
    pub iin: String,
    pub channel: String,
    /// `checking` (the registries have not answered yet), `awaiting-scans` or `refused`.
    pub stage: String,
    pub checks: Vec<CheckDto>,
    pub refusal: Option<CentreRefusalDto>,
    pub version: u64,
}

/// A scan recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScannedDto {
    pub number: String,
    pub kind: String,
    pub sha256: String,
    pub size: u64,
    /// Judged by the bytes: `application/pdf`, `image/jpeg` or `image/png`.
    pub media_type: String,
    /// What the operator signs now (base64): the request and the digests of all scans so far.
    pub document_to_sign: String,
    pub version: u64,
}

/// The operator's signature recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentreSignedDto {
    pub number: String,
    pub version: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CentreSignBody {
    /// Base64 of the CMS SignedData (DER) over `document_to_sign`, made with the operator's EDS.
    pub cms: String,
}

/// The operator and the centre from the token.
fn operator(principal: &Principal) -> Result<(Iin, String), ApiError> {
    principal.require(&[Role::Operator])?;
    let iin = Iin::parse(&principal.subject).map_err(|_| ApiError::OperatorUnidentified)?;
    let centre = principal
        .organisation
        .clone()
        .filter(|o| !o.trim().is_empty())
        .ok_or(ApiError::OperatorUnidentified)?;
    Ok((iin, centre))
}

/// File a request at a service centre; the identity checks answer at once.
#[utoipa::path(
    post,
    path = "/api/v1/centre/requests",
    tag = "service-centre",
    request_body = CentreSubmitBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the same request")),
    responses(
        (status = 201, description = "Filed, with the checks' answers (or the refusal to read out)", body = CentreCreatedDto),
        (status = 400, description = "Malformed JSON, header or person", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator named by IIN at a service centre", body = Problem, content_type = "application/problem+json"),
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
    body: web::Json<CentreSubmitBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, centre) = operator(&principal)?;
    let body = body.into_inner();
    let service = body
        .service
        .parse::<ServiceCode>()
        .map_err(|_| ApiError::UnknownService(body.service.clone()))?;
    let at_desk = parse_iin("applicant.iin", &body.applicant.iin)?;
    let presented = PresentedPerson {
        iin: at_desk.clone(),
        surname: body.applicant.surname,
        given_name: body.applicant.given_name,
        patronymic: body.applicant.patronymic,
        document_kind: body.applicant.identity_document.kind,
        document_number: body.applicant.identity_document.number,
    };
    let (owner, representative) = match (body.represented_iin, body.power_of_attorney) {
        (None, None) => (at_desk, None),
        (Some(represented), Some(poa)) => (
            parse_iin("represented_iin", &represented)?,
            Some(Representative {
                iin: at_desk,
                power_of_attorney_number: poa.number,
                power_of_attorney_date: poa.date,
            }),
        ),
        _ => {
            return Err(ApiError::InvalidParameter {
                field: "power_of_attorney",
                reason: "a representative gives both `represented_iin` and `power_of_attorney`"
                    .into(),
            })
        }
    };
    let submitted = state
        .requests
        .submit(Submission {
            service,
            applicant: owner,
            form: body.form,
            actor: principal.actor(),
            channel: Channel::ServiceCentre,
            idempotency_key: idempotency_key(&req)?,
            representative,
            operator_id: Some(format!("{centre}/{}", principal.subject)),
            presented: Some(presented),
        })
        .await?;
    if !submitted.replayed {
        state.metrics.events_appended.inc();
    }
    record_correlation(&span, submitted.info.request_id);
    tracing::info!(number = %submitted.info.number, centre = %centre, "filed at a service centre");
    // The workflow runs the checks; the operator waits for their answers at the desk.
    let deadline = tokio::time::Instant::now() + CHECKS_WAIT;
    let stream_id = domain::StreamId::from_uuid(submitted.info.request_id);
    let loaded = loop {
        let loaded = state.requests.load(stream_id).await?;
        let checking = matches!(&loaded.state, Request::Open(open) if matches!(open.stage, Stage::Checks { .. }));
        if !checking || tokio::time::Instant::now() >= deadline {
            break loaded;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut checks: Vec<CheckDto> = Vec::new();
    let mut refusal = None;
    for event in &loaded.events {
        match event {
            RequestEvent::LookupRequested(asked) => {
                let check = lookup_code(asked.lookup);
                if !checks.iter().any(|c| c.check == check) {
                    checks.push(CheckDto {
                        check,
                        outcome: "pending".into(),
                    });
                }
            }
            RequestEvent::LookupSucceeded(answered) => {
                set_outcome(&mut checks, &lookup_code(answered.lookup), "passed");
            }
            RequestEvent::LookupFailed(failed) => {
                set_outcome(&mut checks, &lookup_code(failed.lookup), "failed");
            }
            RequestEvent::Refused(refused) => {
                let m = domain::Messages::shared().refusal(refused.reason);
                // The registry answered, but not what was presented: the check failed.
                if let Some(last) = checks.last_mut() {
                    last.outcome = "failed".into();
                }
                refusal = Some(CentreRefusalDto {
                    code: refused.reason.code().to_owned(),
                    text: ProblemTexts {
                        ru: m.texts.ru.clone(),
                        kk: m.texts.kk.clone(),
                        en: m.texts.en.clone(),
                    },
                });
            }
            _ => {}
        }
    }
    let stage = match &loaded.state {
        Request::Open(open) => match open.stage {
            Stage::Checks { .. } => "checking",
            _ => "awaiting-scans",
        },
        _ => "refused",
    };
    let info = submitted.info;
    let dto = CentreCreatedDto {
        number: info.number.to_string(),
        id: info.request_id,
        service: info.service.code().to_owned(),
        iin: info.applicant.as_str().to_owned(),
        channel: Channel::ServiceCentre.as_str().to_owned(),
        stage: stage.to_owned(),
        checks,
        refusal,
        version: loaded.version.get(),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/requests/{}", dto.number)))
        .insert_header(replayed_header(submitted.replayed))
        .json(dto))
}

/// The body, refused with 413 as soon as it passes [`MAX_SCAN_BYTES`].
async fn read_scan(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt as _;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ApiError::InvalidParameter {
            field: "body",
            reason: error.to_string(),
        })?;
        if bytes.len() + chunk.len() > MAX_SCAN_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_SCAN_BYTES,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A lookup's stable name (`applicant-identity`, `power-of-attorney`, ...).
fn lookup_code(lookup: domain::catalog::Lookup) -> String {
    domain::catalog::Step::Lookup(lookup)
        .code()
        .trim_start_matches("lookup:")
        .to_owned()
}

fn set_outcome(checks: &mut [CheckDto], check: &str, outcome: &str) {
    if let Some(found) = checks.iter_mut().rev().find(|c| c.check == check) {
        outcome.clone_into(&mut found.outcome);
    }
}

/// Scan a paper document (PDF, JPEG or PNG, told by its bytes; at most 10 MiB).
#[utoipa::path(
    put,
    path = "/api/v1/centre/requests/{number}/documents/{kind}",
    tag = "service-centre",
    params(
        ("number" = String, Path, description = "The request number"),
        ("kind" = String, Path, description = "`identity-document`, `power-of-attorney` or `application`"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The scan's bytes"),
    responses(
        (status = 201, description = "Stored (once per digest) and recorded", body = ScannedDto),
        (status = 400, description = "Unknown kind of document, or an empty body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator named by IIN at a service centre", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request does not wait for scans (checks under way, signed, ended, or a portal request)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF, JPEG or PNG by its bytes", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn scan(
    span: RootSpan,
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    operator(&principal)?;
    let bytes = read_scan(payload).await?;
    let (number, kind) = path.into_inner();
    let number = RequestNumber::parse(&number).map_err(|_| ApiError::RequestNotFound)?;
    if !SCAN_KINDS.contains(&kind.as_str()) {
        return Err(ApiError::InvalidParameter {
            field: "kind",
            reason: format!("one of {}", SCAN_KINDS.join(", ")),
        });
    }
    if bytes.is_empty() {
        return Err(ApiError::InvalidParameter {
            field: "body",
            reason: "the scan is empty".into(),
        });
    }
    let format = sniff(&bytes).ok_or(ApiError::UnsupportedScan)?;
    // The request must exist before its scan is kept.
    let stream_id = state
        .requests
        .find(&number)
        .await?
        .ok_or(ApiError::RequestNotFound)?;
    // Keep the bytes only for a request that takes this scan now (no orphans of refused ones).
    let loaded = state.requests.load(stream_id).await?;
    let sha256 = commands::sha256_hex(&bytes);
    let take = domain::request::Command::ScanDocument {
        kind: kind.clone(),
        sha256,
        size: bytes.len() as u64,
    };
    match domain::request::decide(&loaded.state, take, chrono::Utc::now()) {
        Ok(_) | Err(domain::request::DomainError::AlreadyScanned) => {}
        Err(error) => return Err(commands::CommandError::Rejected(error).into()),
    }
    let stored = state.scans.put(&bytes, format).await.map_err(|error| {
        tracing::warn!(error = %error, "cannot store a scan");
        ApiError::Unavailable
    })?;
    let recorded = state
        .requests
        .scan(
            &number,
            &kind,
            &stored.sha256,
            stored.size,
            &principal.actor(),
        )
        .await?;
    record_correlation(&span, recorded.info.request_id);
    if !recorded.replayed {
        state.metrics.events_appended.inc();
    }
    let loaded = state.requests.load(stream_id).await?;
    let document = match &loaded.state {
        Request::Open(open) => open.document_to_sign(),
        _ => Vec::new(),
    };
    Ok(HttpResponse::Created()
        .insert_header(replayed_header(recorded.replayed))
        .json(ScannedDto {
            number: number.to_string(),
            kind,
            sha256: stored.sha256,
            size: stored.size,
            media_type: stored.media_type,
            document_to_sign: base64::engine::general_purpose::STANDARD.encode(document),
            version: recorded.version.get(),
        }))
}

/// The operator signs the request (after the scans) with the operator's own EDS.
#[utoipa::path(
    post,
    path = "/api/v1/centre/requests/{number}/signature",
    tag = "service-centre",
    params(("number" = String, Path, description = "The request number")),
    request_body = CentreSignBody,
    responses(
        (status = 202, description = "Recorded; the workflow verifies it (chain, validity, OCSP, and that the operator made it)", body = CentreSignedDto),
        (status = 400, description = "Malformed JSON, or `cms` is not base64 of a CMS SignedData", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator named by IIN at a service centre", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No scan yet, or the request does not wait for a signature", body = Problem, content_type = "application/problem+json"),
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
    body: web::Json<CentreSignBody>,
) -> Result<HttpResponse, ApiError> {
    let (operator_iin, centre) = operator(&principal)?;
    let number = RequestNumber::parse(&number).map_err(|_| ApiError::RequestNotFound)?;
    let der = decode_cms(&body.cms)?;
    let signed = state
        .requests
        .operator_sign(
            &number,
            &der,
            &format!("{centre}/{}", principal.subject),
            &operator_iin,
            &principal.actor(),
        )
        .await?;
    record_correlation(&span, signed.info.request_id);
    if !signed.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Accepted().json(CentreSignedDto {
        number: number.to_string(),
        version: signed.version.get(),
    }))
}
