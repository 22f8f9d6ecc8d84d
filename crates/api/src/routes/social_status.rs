//! The social-status check (docs/domain.md 8) for medical organisations: the patient's IIN in, the
//! status line out at once - «Статус ИИН [IIN] : [social status]!» with the explanation - and the
//! check recorded as an event naming who looked up whom, from which organisation and why.

use actix_web::{web, HttpResponse};
use commands::social_status::StatusCheck;
use domain::social_status::CheckOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::limits::Writer;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::Role;

/// How long the registry may take (the step limit of docs/domain.md 8).
const REGISTRY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// What the medical user sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialStatusBody {
    /// The patient's IIN («*Введите ИИН»).
    #[schema(example = "760324400005")]
    pub iin: String,
    /// Why the status is looked up (recorded with the check), e.g. "приём пациента".
    pub purpose: Option<String>,
}

/// The answer, in the instruction's format.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocialStatusDto {
    pub iin: String,
    /// «Статус ИИН [IIN] : [social status]!»
    pub line: String,
    /// The status as the registry gave it.
    pub status: String,
    /// The explanation about compulsory social health insurance, when the registry gives one.
    pub explanation: Option<String>,
}

/// Look up a patient's social status.
#[utoipa::path(
    post,
    path = "/api/v1/social-status",
    tag = "social-status",
    request_body = SocialStatusBody,
    responses(
        (status = 200, description = "The status line", body = SocialStatusDto),
        (status = 400, description = "Malformed JSON or a purpose too long", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a medical organisation's user, or a token naming no organisation (`organisation-unidentified`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The registry has no status for the IIN", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid IIN", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The registry did not answer", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes by this principal (Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn check(
    state: web::Data<AppState>,
    Writer { principal, .. }: Writer,
    body: web::Json<SocialStatusBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Medical])?;
    super::access::may_read(&principal, None)?;
    let body = body.into_inner();
    let patient = super::input::iin("iin", body.iin.trim())?;
    let purpose = body
        .purpose
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if purpose.as_ref().is_some_and(|p| {
        p.chars().count() > super::input::MAX_PURPOSE_CHARS || p.chars().any(char::is_control)
    }) {
        return Err(ApiError::InvalidParameter {
            field: "purpose",
            reason: format!(
                "at most {} printable characters",
                super::input::MAX_PURPOSE_CHARS
            ),
        });
    }
    let checked = state
        .social_status
        .check(
            StatusCheck {
                actor: principal.actor(),
                checker: principal.subject.clone(),
                organisation: principal.organisation.clone(),
                patient: patient.clone(),
                purpose,
            },
            tokio::time::Instant::now() + REGISTRY_DEADLINE,
        )
        .await?;
    state.metrics.events_appended.inc();
    match checked.result {
        CheckOutcome::Found {
            status,
            explanation,
            line,
        } => Ok(HttpResponse::Ok().json(SocialStatusDto {
            iin: patient.as_str().to_owned(),
            line,
            status,
            explanation,
        })),
        CheckOutcome::NotFound => Err(ApiError::SocialStatusNotFound),
        CheckOutcome::Unavailable => Err(ApiError::RegistryUnavailable),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/social-status")
            .route(web::post().to(check))
            .default_service(web::to(super::method_not_allowed)),
    );
}
