//! The one place where failures become HTTP answers: RFC 9457 problem documents
//! (`application/problem+json`) with a stable `code`, the `field` at fault where there is one, an
//! English `detail`, and `texts` in Russian, Kazakh and English for people to read.
//!
//! A client's mistake is always a 4xx. Every 500 is logged with a correlation id that the answer
//! carries, so an operator can find the log line a citizen quotes.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use commands::CommandError;
use domain::catalog::FormError;
use domain::request::DomainError;
use domain::{ErrorMessage, IinError, Messages, Texts};
use event_store::StoreError;
use projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::token::{Forbidden, Role, TokenError};

/// Errors of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service cannot serve yet (database unreachable, migrations not applied): 503.
    #[error("the service is not ready: {0}")]
    NotReady(String),
    /// The database is unreachable for this request: 503 with Retry-After.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("not authenticated: {0}")]
    Unauthorized(TokenError),
    #[error("the role {role} may not do this")]
    Forbidden { role: Role },
    /// A citizen filing for someone else's IIN.
    #[error("a citizen files requests for their own IIN")]
    ForeignIin,
    /// No such request, or one the caller may not see: the two answer alike.
    #[error("no such request")]
    RequestNotFound,
    #[error("no such resource")]
    RouteNotFound,
    /// No such event in the log's tree, or one the caller may not see: the two answer alike.
    #[error("no such event in the log")]
    LogEntryNotFound,
    /// The event is in the log but no signed tree head covers it yet (one is signed within
    /// seconds).
    #[error("no signed tree head covers this event yet; try again in a few seconds")]
    NotYetInSignedHead,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the body is not valid JSON for this operation: {0}")]
    MalformedJson(String),
    #[error("the parameter {field} is invalid: {reason}")]
    InvalidParameter { field: &'static str, reason: String },
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("the field {field} is not a valid IIN: {error}")]
    InvalidIin {
        field: &'static str,
        error: IinError,
    },
    #[error("the form is not valid: {0}")]
    InvalidForm(FormError),
    #[error("the signature is not base64 of a DER-encoded CMS SignedData")]
    InvalidSignatureEncoding,
    #[error("the idempotency key was used for request {0}")]
    IdempotencyKeyReused(String),
    #[error("the request cannot do this now: {0}")]
    WrongState(DomainError),
    #[error("the request is busy; try again")]
    Busy,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A request whose body did not arrive (and be answered) within the deadline: 408.
    #[error("the request took longer than {seconds} s")]
    RequestTimeout { seconds: u64 },
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The request has no result document (yet, or because it was refused).
    #[error("the request has no result document")]
    ResultNotReady,
    /// The registry has no social status for the IIN.
    #[error("the registry has no social status for this IIN")]
    SocialStatusNotFound,
    /// A registry did not answer a check that is answered at once.
    #[error("the registry did not answer in time")]
    RegistryUnavailable,
    /// An operator's token must name the operator by IIN and the service centre.
    #[error("the operator's token names no operator IIN or service centre")]
    OperatorUnidentified,
    /// A medical organisation's user's token must name the organisation: every social-status
    /// check is recorded with it.
    #[error("the medical user's token names no organisation")]
    OrganisationUnidentified,
    /// Staff reading a citizen's data must say why (`X-Purpose`).
    #[error("a read of a citizen's data by staff needs X-Purpose")]
    PurposeRequired,
    /// A limit on how often or how much a principal (or the process) may ask was reached: 429,
    /// with the seconds to wait.
    #[error("too many requests; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    /// The principal filed as many requests today as one may: 429 until the next local day.
    #[error("the daily limit of filings is reached; retry in {retry_after} s")]
    DailyLimitReached { retry_after: u64 },
    /// The principal (or the process) holds as many long polls as it may.
    #[error("too many long polls held at once")]
    TooManyPolls,
    /// A scan that is not a PDF, JPEG or PNG by its bytes.
    #[error("the scan is not a PDF, JPEG or PNG")]
    UnsupportedScan,
    #[error("internal error {correlation_id}")]
    Internal { correlation_id: Uuid },
}

/// Texts for people, in the three languages (the schema of `domain::Texts`).
#[derive(ToSchema)]
#[schema(as = Texts)]
#[allow(dead_code)] // Only its schema is used: the answers carry `domain::Texts` itself.
pub struct TextsSchema {
    pub ru: String,
    pub kk: String,
    pub en: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// The stable code clients switch on.
    pub code: String,
    /// What went wrong, in English.
    pub detail: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The same for people, in Russian, Kazakh and English.
    #[schema(value_type = TextsSchema)]
    pub texts: Texts,
    /// For a 500: the id under which the failure is logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
}

impl ApiError {
    /// A 500: logs `what` with a fresh correlation id that the answer carries.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        let correlation_id = Uuid::new_v4();
        tracing::error!(%correlation_id, error = %what, "internal error");
        ApiError::Internal { correlation_id }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotReady(_) => "not-ready",
            ApiError::Unavailable => "unavailable",
            ApiError::Unauthorized(reason) => reason.code(),
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::ForeignIin => "foreign-iin",
            ApiError::RequestNotFound => "request-not-found",
            ApiError::RouteNotFound => "not-found",
            ApiError::LogEntryNotFound => "log-entry-not-found",
            ApiError::NotYetInSignedHead => "not-yet-in-signed-head",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::MalformedJson(_) => "malformed-json",
            ApiError::InvalidParameter { .. } => "invalid-parameter",
            ApiError::UnknownService(_) => "unknown-service",
            ApiError::InvalidIin { error, .. } => match error {
                IinError::Length { .. } => "iin-length",
                IinError::NotAsciiDigits => "iin-not-digits",
                IinError::NoCheckDigit => "iin-no-check-digit",
                IinError::BadCheckDigit { .. } => "iin-check-digit",
            },
            ApiError::InvalidForm(_) => "invalid-form",
            ApiError::InvalidSignatureEncoding => "invalid-signature-encoding",
            ApiError::IdempotencyKeyReused(_) => "idempotency-key-reused",
            ApiError::WrongState(error) => error.code(),
            ApiError::Busy => "busy",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::RequestTimeout { .. } => "request-timeout",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::ResultNotReady => "result-not-ready",
            ApiError::RegistryUnavailable => "registry-unavailable",
            ApiError::OperatorUnidentified => "operator-unidentified",
            ApiError::OrganisationUnidentified => "organisation-unidentified",
            ApiError::PurposeRequired => "purpose-required",
            ApiError::TooManyPolls => "too-many-polls",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::DailyLimitReached { .. } => "daily-limit-reached",
            ApiError::UnsupportedScan => "unsupported-scan-type",
            ApiError::SocialStatusNotFound => "not-found-in-registry",
            ApiError::Internal { .. } => "internal",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::InvalidParameter { field, .. } | ApiError::InvalidIin { field, .. } => {
                Some((*field).to_owned())
            }
            ApiError::ForeignIin => Some("iin".into()),
            ApiError::PurposeRequired => Some("X-Purpose".into()),
            ApiError::UnknownService(_) => Some("service".into()),
            ApiError::InvalidSignatureEncoding => Some("cms".into()),
            ApiError::InvalidForm(error) => Some(match error {
                FormError::NotAnObject => "form".into(),
                FormError::UnknownField(name) => format!("form.{name}"),
                FormError::Missing(name) | FormError::BadDate(name) => format!("form.{name}"),
                FormError::BadIin { field, .. } => format!("form.{field}"),
                FormError::HalfPeriod | FormError::PeriodReversed | FormError::PeriodInFuture => {
                    "form.period_start".into()
                }
            }),
            _ => None,
        }
    }

    /// The message that explains this error to people (its texts are data: `domain::Messages`).
    fn message(&self) -> ErrorMessage {
        match self {
            ApiError::NotReady(_) | ApiError::Unavailable => ErrorMessage::Unavailable,
            ApiError::Unauthorized(TokenError::Expired) => ErrorMessage::SessionExpired,
            ApiError::Unauthorized(_) => ErrorMessage::SignIn,
            ApiError::Forbidden { .. } => ErrorMessage::Forbidden,
            ApiError::ForeignIin => ErrorMessage::ForeignIin,
            ApiError::RequestNotFound => ErrorMessage::RequestNotFound,
            ApiError::RouteNotFound | ApiError::LogEntryNotFound => ErrorMessage::NotFound,
            ApiError::MethodNotAllowed => ErrorMessage::MethodNotAllowed,
            ApiError::MalformedJson(_) => ErrorMessage::UnreadableData,
            ApiError::InvalidParameter { .. } => ErrorMessage::InvalidParameter,
            ApiError::UnknownService(_) => ErrorMessage::UnknownService,
            ApiError::InvalidIin { error, .. } => match error {
                IinError::Length { .. } => ErrorMessage::IinLength,
                IinError::NotAsciiDigits => ErrorMessage::IinNotDigits,
                IinError::NoCheckDigit | IinError::BadCheckDigit { .. } => {
                    ErrorMessage::IinCheckDigit
                }
            },
            ApiError::InvalidForm(error) => match error {
                FormError::Missing(_) => ErrorMessage::FormFieldMissing,
                FormError::BadDate(_) => ErrorMessage::FormDate,
                FormError::BadIin { .. } => ErrorMessage::FormIin,
                FormError::HalfPeriod | FormError::PeriodReversed | FormError::PeriodInFuture => {
                    ErrorMessage::FormPeriod
                }
                FormError::NotAnObject | FormError::UnknownField(_) => ErrorMessage::FormInvalid,
            },
            ApiError::InvalidSignatureEncoding => ErrorMessage::SignatureUnreadable,
            ApiError::IdempotencyKeyReused(_) => ErrorMessage::IdempotencyKeyReused,
            ApiError::WrongState(DomainError::NotAwaitingSignature) => {
                ErrorMessage::NotAwaitingSignature
            }
            ApiError::WrongState(DomainError::RequestEnded) => ErrorMessage::RequestEnded,
            ApiError::WrongState(DomainError::SignByPassed) => ErrorMessage::SignByPassed,
            ApiError::WrongState(DomainError::ChannelNotOffered { .. }) => {
                ErrorMessage::ChannelNotOffered
            }
            ApiError::WrongState(DomainError::SurveyBeforeEnd) => ErrorMessage::SurveyBeforeEnd,
            ApiError::WrongState(DomainError::SurveyAlreadySubmitted) => {
                ErrorMessage::SurveyAlreadySubmitted
            }
            ApiError::WrongState(DomainError::TooManyScans { .. }) => ErrorMessage::TooManyScans,
            ApiError::WrongState(_) => ErrorMessage::ActionUnavailable,
            ApiError::Busy | ApiError::NotYetInSignedHead => ErrorMessage::Busy,
            ApiError::PayloadTooLarge { .. } => ErrorMessage::PayloadTooLarge,
            ApiError::RequestTimeout { .. } => ErrorMessage::RequestTimeout,
            ApiError::UnsupportedMediaType => ErrorMessage::JsonRequired,
            ApiError::ResultNotReady => ErrorMessage::ResultNotReady,
            ApiError::SocialStatusNotFound => ErrorMessage::SocialStatusNotFound,
            ApiError::OperatorUnidentified => ErrorMessage::OperatorUnidentified,
            ApiError::OrganisationUnidentified => ErrorMessage::OrganisationUnidentified,
            ApiError::PurposeRequired => ErrorMessage::PurposeRequired,
            ApiError::TooManyPolls | ApiError::TooManyRequests { .. } => {
                ErrorMessage::TooManyRequests
            }
            ApiError::DailyLimitReached { .. } => ErrorMessage::DailyLimitReached,
            ApiError::UnsupportedScan => ErrorMessage::UnsupportedScan,
            ApiError::RegistryUnavailable => ErrorMessage::RegistryUnavailable,
            ApiError::Internal { .. } => ErrorMessage::Internal,
        }
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let code = self.code();
        Problem {
            kind: format!("https://egov-events.kz/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: self.to_string(),
            field: self.field(),
            texts: Messages::shared().error(self.message()).texts.clone(),
            correlation_id: match self {
                ApiError::Internal { correlation_id } => Some(*correlation_id),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotReady(_) | ApiError::Unavailable | ApiError::RegistryUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::ResultNotReady => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. }
            | ApiError::ForeignIin
            | ApiError::OperatorUnidentified
            | ApiError::OrganisationUnidentified => StatusCode::FORBIDDEN,
            ApiError::RequestNotFound
            | ApiError::RouteNotFound
            | ApiError::LogEntryNotFound
            | ApiError::SocialStatusNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedJson(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::InvalidSignatureEncoding
            | ApiError::PurposeRequired => StatusCode::BAD_REQUEST,
            ApiError::UnknownService(_)
            | ApiError::InvalidIin { .. }
            | ApiError::InvalidForm(_)
            | ApiError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::WrongState(_) | ApiError::Busy | ApiError::NotYetInSignedHead => {
                StatusCode::CONFLICT
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedScan => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::TooManyPolls
            | ApiError::TooManyRequests { .. }
            | ApiError::DailyLimitReached { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::NotReady(_)
            | ApiError::Unavailable
            | ApiError::Busy
            | ApiError::NotYetInSignedHead
            | ApiError::RegistryUnavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyPolls => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests { retry_after }
            | ApiError::DailyLimitReached { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<Forbidden> for ApiError {
    fn from(Forbidden { role }: Forbidden) -> Self {
        ApiError::Forbidden { role }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(DomainError::InvalidForm(form)) => ApiError::InvalidForm(form),
            CommandError::Rejected(DomainError::PresentedPersonMismatch) => {
                ApiError::InvalidParameter {
                    field: "applicant",
                    reason: DomainError::PresentedPersonMismatch.to_string(),
                }
            }
            CommandError::Rejected(domain) => ApiError::WrongState(domain),
            CommandError::NotFound => ApiError::RequestNotFound,
            CommandError::IdempotencyKeyReused { number } => {
                ApiError::IdempotencyKeyReused(number.to_string())
            }
            CommandError::NumbersExhausted => ApiError::Unavailable,
            CommandError::DailyLimitReached { until } => ApiError::DailyLimitReached {
                retry_after: u64::try_from((until - chrono::Utc::now()).num_seconds()).unwrap_or(1),
            },
            CommandError::Busy => ApiError::Busy,
            CommandError::Store(store) => store.into(),
            CommandError::Scans(scans) => {
                tracing::warn!(error = %scans, cause = ?std::error::Error::source(&scans), "cannot store a scan");
                ApiError::Unavailable
            }
            CommandError::Corrupt { .. } => ApiError::internal(error),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::Database { .. } => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Conflict { .. } => ApiError::Busy,
            other => ApiError::internal(other),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Db(_) => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "database unavailable");
                ApiError::Unavailable
            }
            ProjectionError::Store(store) => store.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<commands::results::ResultError> for ApiError {
    fn from(error: commands::results::ResultError) -> Self {
        use commands::results::ResultError;
        match error {
            ResultError::Db(_) => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}
