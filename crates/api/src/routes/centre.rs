//! The service-centre channel (role `operator`; docs/domain.md 3.4, REG 3147-3160): an operator files
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
use commands::Submission;
use domain::request::centre::Desk;
use domain::request::{PresentedPerson, Representative};
use domain::scans::{sniff, ScanKind, MAX_SCAN_BYTES};
use domain::{Channel, Iin, ServiceCode, Texts};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RootSpan;
use utoipa::ToSchema;

use super::input;
use crate::limits::Writer;
use crate::problem::{ApiError, Problem, TextsSchema};
use crate::state::AppState;
use crate::telemetry::record_correlation;
use crate::token::{Principal, Role};

/// How long filing waits for the identity checks to answer before it answers itself.
const CHECKS_WAIT: Duration = Duration::from_secs(15);

pub mod papers;

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
    )
    .service(
        web::resource("/centre/requests/{number}/power-of-attorney/attestation")
            .route(web::post().to(papers::attest))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/centre/requests/{number}/handout")
            .route(web::post().to(papers::hand_out))
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

/// A power of attorney: a notarised one is checked in ENIS; one that is not is checked by the
/// operator against the paper, scanned (`power-of-attorney`) and attested before the signature
/// (REG 3150).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOfAttorneyBody {
    pub number: String,
    pub date: NaiveDate,
    /// Whether it is notarised (registered in ENIS); `true` when left out.
    #[serde(default = "notarised")]
    pub notarised: bool,
}

fn notarised() -> bool {
    true
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
    #[schema(value_type = TextsSchema)]
    pub text: Texts,
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

/// A filing at the desk, parsed: who owns the request, who stands at the desk and for whom.
struct Filing {
    service: ServiceCode,
    /// The citizen the request is for.
    owner: Iin,
    representative: Option<Representative>,
    /// The person at the desk, as their identity document names them.
    presented: PresentedPerson,
    form: serde_json::Value,
}

impl CentreSubmitBody {
    /// The filing this body describes.
    fn parse(self) -> Result<Filing, ApiError> {
        let service = self
            .service
            .parse::<ServiceCode>()
            .map_err(|_| ApiError::UnknownService(self.service.clone()))?;
        let at_desk = input::iin("applicant.iin", &self.applicant.iin)?;
        let person = self.applicant;
        let presented = PresentedPerson {
            iin: at_desk.clone(),
            surname: input::plain("applicant.surname", person.surname)?,
            given_name: input::plain("applicant.given_name", person.given_name)?,
            patronymic: person
                .patronymic
                .map(|p| input::plain("applicant.patronymic", p))
                .transpose()?,
            document_kind: input::plain(
                "applicant.identity_document.kind",
                person.identity_document.kind,
            )?,
            document_number: input::plain(
                "applicant.identity_document.number",
                person.identity_document.number,
            )?,
        };
        let (owner, representative) = match (self.represented_iin, self.power_of_attorney) {
            (None, None) => (at_desk, None),
            (Some(represented), Some(poa)) => (
                input::iin("represented_iin", &represented)?,
                Some(Representative {
                    iin: at_desk,
                    power_of_attorney_number: input::power_of_attorney_number(poa.number)?,
                    power_of_attorney_date: poa.date,
                    notarised: poa.notarised,
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
        Ok(Filing {
            service,
            owner,
            representative,
            presented,
            form: self.form,
        })
    }
}

/// The operator and the centre from the token.
pub(super) fn operator(principal: &Principal) -> Result<(Iin, String), ApiError> {
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
    body: web::Json<CentreSubmitBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, centre) = operator(&principal)?;
    let Filing {
        service,
        owner,
        representative,
        presented,
        form,
    } = body.into_inner().parse()?;
    let filed = state
        .centre
        .file(
            Submission {
                service,
                applicant: owner,
                form,
                actor: principal.actor(),
                channel: Channel::ServiceCentre,
                idempotency_key: input::idempotency_key(&req)?,
                representative,
                operator_id: Some(format!("{centre}/{}", principal.subject)),
                organisation: None,
                presented: Some(presented),
                daily_limit: daily_filings,
            },
            CHECKS_WAIT,
        )
        .await?;
    let submitted = filed.submitted;
    if !submitted.replayed {
        state.metrics.events_appended.inc();
    }
    record_correlation(&span, submitted.info.request_id);
    tracing::info!(number = %submitted.info.number, centre = %centre, "filed at a service centre");
    let info = submitted.info;
    let dto = CentreCreatedDto {
        number: info.number.to_string(),
        id: info.request_id,
        service: info.service.code().to_owned(),
        iin: info.applicant.as_str().to_owned(),
        channel: Channel::ServiceCentre.as_str().to_owned(),
        stage: filed.desk.stage.code().to_owned(),
        checks: checks(&filed.desk),
        refusal: filed.desk.refusal.map(|reason| CentreRefusalDto {
            code: reason.code().to_owned(),
            text: domain::Messages::shared().refusal(reason).texts.clone(),
        }),
        version: filed.version.get(),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/requests/{}", dto.number)))
        .insert_header(input::replayed_header(submitted.replayed))
        .json(dto))
}

/// The desk's checks as the API shows them.
fn checks(desk: &Desk) -> Vec<CheckDto> {
    desk.checks
        .iter()
        .map(|check| CheckDto {
            check: check.code(),
            outcome: check.outcome.code().to_owned(),
        })
        .collect()
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
        (status = 404, description = "Unknown request, or one filed elsewhere (another centre, the portal)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request does not wait for scans (checks under way, signed, ended)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF, JPEG or PNG by its bytes", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn scan(
    span: RootSpan,
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (_, centre) = operator(&principal)?;
    let bytes = read_scan(payload).await?;
    let (number, kind) = path.into_inner();
    let number = input::request_number(&number)?;
    let kind = kind
        .parse::<ScanKind>()
        .map_err(|_| ApiError::InvalidParameter {
            field: "kind",
            reason: format!("one of {}", ScanKind::ALL.map(ScanKind::code).join(", ")),
        })?;
    if bytes.is_empty() {
        return Err(ApiError::InvalidParameter {
            field: "body",
            reason: "the scan is empty".into(),
        });
    }
    let format = sniff(&bytes).ok_or(ApiError::UnsupportedScan)?;
    let scanned = state
        .centre
        .scan(&number, kind, format, &bytes, &centre, &principal.actor())
        .await?;
    record_correlation(&span, scanned.request_id);
    if !scanned.replayed {
        state.metrics.events_appended.inc();
    }
    Ok(HttpResponse::Created()
        .insert_header(input::replayed_header(scanned.replayed))
        .json(ScannedDto {
            number: number.to_string(),
            kind: kind.code().to_owned(),
            sha256: scanned.stored.sha256,
            size: scanned.stored.size,
            media_type: scanned.stored.media_type,
            document_to_sign: base64::engine::general_purpose::STANDARD
                .encode(scanned.document_to_sign),
            version: scanned.version.get(),
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
        (status = 404, description = "Unknown request, or one filed elsewhere (another centre, the portal)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No scan yet, or the request does not wait for a signature", body = Problem, content_type = "application/problem+json"),
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
    body: web::Json<CentreSignBody>,
) -> Result<HttpResponse, ApiError> {
    let (operator_iin, centre) = operator(&principal)?;
    let number = input::request_number(&number)?;
    let der = input::cms(&body.cms)?;
    let signed = state
        .requests
        .operator_sign(
            &number,
            &der,
            &format!("{centre}/{}", principal.subject),
            &operator_iin,
            &centre,
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
