//! The one place where failures become HTTP answers: RFC 9457 problem documents
//! (`application/problem+json`) with a stable `code`, the `field` at fault where there is one, an
//! English `detail`, and `texts` in Russian, Kazakh and English for people to read.
//!
//! A client's mistake is always a 4xx. Every 500 is logged with a correlation id that the answer
//! carries, so an operator can find the log line a citizen quotes.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use commands::{CommandError, StoreError};
use domain::catalog::FormError;
use domain::request::DomainError;
use domain::IinError;
use projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Role, TokenError};

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
    /// A scan that is not a PDF, JPEG or PNG by its bytes.
    #[error("the scan is not a PDF, JPEG or PNG")]
    UnsupportedScan,
    #[error("internal error {correlation_id}")]
    Internal { correlation_id: Uuid },
}

/// Texts for people, in the three languages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemTexts {
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
    pub texts: ProblemTexts,
    /// For a 500: the id under which the failure is logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
}

fn texts(ru: &str, kk: &str, en: &str) -> ProblemTexts {
    ProblemTexts {
        ru: ru.to_owned(),
        kk: kk.to_owned(),
        en: en.to_owned(),
    }
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
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::ResultNotReady => "result-not-ready",
            ApiError::RegistryUnavailable => "registry-unavailable",
            ApiError::OperatorUnidentified => "operator-unidentified",
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

    /// The texts for people.
    fn texts(&self) -> ProblemTexts {
        match self {
            ApiError::NotReady(_) | ApiError::Unavailable => texts(
                "Сервис временно недоступен. Повторите попытку позже.",
                "Қызмет уақытша қолжетімсіз. Кейінірек қайталап көріңіз.",
                "The service is temporarily unavailable. Please try again later.",
            ),
            ApiError::Unauthorized(TokenError::Expired) => texts(
                "Срок действия сеанса истёк. Войдите снова.",
                "Сеанстың мерзімі өтті. Қайта кіріңіз.",
                "Your session has expired. Please sign in again.",
            ),
            ApiError::Unauthorized(_) => texts(
                "Требуется вход в систему.",
                "Жүйеге кіру қажет.",
                "Please sign in.",
            ),
            ApiError::Forbidden { .. } => texts(
                "Недостаточно прав для этого действия.",
                "Бұл әрекетке құқығыңыз жеткіліксіз.",
                "You are not allowed to do this.",
            ),
            ApiError::ForeignIin => texts(
                "Запрос можно подать только на свой ИИН.",
                "Сұрауды тек өз ЖСН-іңізге беруге болады.",
                "You can file a request only for your own IIN.",
            ),
            ApiError::RequestNotFound => texts(
                "Запрос с таким номером не найден.",
                "Мұндай нөмірлі сұрау табылмады.",
                "No request with this number was found.",
            ),
            ApiError::RouteNotFound => texts(
                "Страница не найдена.",
                "Бет табылмады.",
                "Not found.",
            ),
            ApiError::MethodNotAllowed => texts(
                "Метод не поддерживается.",
                "Әдіс қолданылмайды.",
                "This method is not allowed here.",
            ),
            ApiError::MalformedJson(_) => texts(
                "Данные запроса не удалось прочитать.",
                "Сұрау деректерін оқу мүмкін болмады.",
                "The request data could not be read.",
            ),
            ApiError::InvalidParameter { .. } => texts(
                "Неверный параметр запроса.",
                "Сұрау параметрі қате.",
                "A request parameter is invalid.",
            ),
            ApiError::UnknownService(_) => texts(
                "Такая услуга не оказывается.",
                "Мұндай қызмет көрсетілмейді.",
                "There is no such service.",
            ),
            ApiError::InvalidIin { error, .. } => match error {
                IinError::Length { .. } => texts(
                    "ИИН должен состоять из 12 цифр.",
                    "ЖСН 12 цифрдан тұруы керек.",
                    "An IIN has exactly 12 digits.",
                ),
                IinError::NotAsciiDigits => texts(
                    "ИИН может содержать только цифры 0-9.",
                    "ЖСН тек 0-9 цифрларынан тұрады.",
                    "An IIN holds only the digits 0-9.",
                ),
                IinError::NoCheckDigit | IinError::BadCheckDigit { .. } => texts(
                    "ИИН введён с ошибкой: не сходится контрольная цифра.",
                    "ЖСН қате енгізілген: бақылау цифры сәйкес келмейді.",
                    "The IIN has a typo: its check digit does not match.",
                ),
            },
            ApiError::InvalidForm(error) => match error {
                FormError::Missing(_) => texts(
                    "Не заполнено обязательное поле.",
                    "Міндетті өріс толтырылмаған.",
                    "A required field is empty.",
                ),
                FormError::BadDate(_) => texts(
                    "Дата должна быть в формате ГГГГ-ММ-ДД.",
                    "Күн ЖЖЖЖ-АА-КК пішімінде болуы керек.",
                    "A date must be written as YYYY-MM-DD.",
                ),
                FormError::BadIin { .. } => texts(
                    "ИИН в форме введён с ошибкой.",
                    "Формадағы ЖСН қате енгізілген.",
                    "An IIN in the form is not valid.",
                ),
                FormError::HalfPeriod | FormError::PeriodReversed | FormError::PeriodInFuture => {
                    texts(
                        "Период указан неверно: нужны начало и конец, начало не позже конца, конец не в будущем.",
                        "Кезең қате көрсетілген: басы мен соңы қажет, басы соңынан кеш емес, соңы болашақта емес.",
                        "The period is wrong: give both ends, the start not after the end, the end not in the future.",
                    )
                }
                FormError::NotAnObject | FormError::UnknownField(_) => texts(
                    "Форма заявления заполнена неверно.",
                    "Өтініш нысаны қате толтырылған.",
                    "The application form is not filled in correctly.",
                ),
            },
            ApiError::InvalidSignatureEncoding => texts(
                "Подпись не удалось прочитать. Подпишите запрос ещё раз.",
                "Қолтаңбаны оқу мүмкін болмады. Сұрауға қайта қол қойыңыз.",
                "The signature could not be read. Please sign the request again.",
            ),
            ApiError::IdempotencyKeyReused(_) => texts(
                "Этот ключ повтора уже использован для другого запроса.",
                "Бұл қайталау кілті басқа сұрау үшін пайдаланылған.",
                "This idempotency key was already used for a different request.",
            ),
            ApiError::WrongState(DomainError::NotAwaitingSignature) => texts(
                "Запрос уже подписан или больше не ожидает подписи.",
                "Сұрауға қол қойылған немесе ол енді қолтаңбаны күтпейді.",
                "The request is already signed or no longer waits for a signature.",
            ),
            ApiError::WrongState(DomainError::RequestEnded) => texts(
                "Обработка запроса завершена.",
                "Сұрауды өңдеу аяқталды.",
                "The request has already been completed.",
            ),
            ApiError::WrongState(DomainError::ChannelNotOffered { .. }) => texts(
                "Эта услуга не оказывается через данный канал.",
                "Бұл қызмет осы арна арқылы көрсетілмейді.",
                "This service is not offered through this channel.",
            ),
            ApiError::WrongState(DomainError::SurveyBeforeEnd) => texts(
                "Анкету можно заполнить после завершения оказания услуги.",
                "Сауалнаманы қызмет көрсету аяқталғаннан кейін толтыруға болады.",
                "The survey can be answered once the service is completed.",
            ),
            ApiError::WrongState(DomainError::SurveyAlreadySubmitted) => texts(
                "Анкета по этому запросу уже заполнена.",
                "Бұл сұрау бойынша сауалнама толтырылған.",
                "The survey for this request was already answered.",
            ),
            ApiError::WrongState(_) => texts(
                "Действие сейчас недоступно для этого запроса.",
                "Бұл әрекет қазір осы сұрау үшін қолжетімсіз.",
                "This action is not available for the request now.",
            ),
            ApiError::Busy => texts(
                "Запрос обрабатывается. Повторите попытку через несколько секунд.",
                "Сұрау өңделуде. Бірнеше секундтан кейін қайталаңыз.",
                "The request is being processed. Please try again in a few seconds.",
            ),
            ApiError::PayloadTooLarge { .. } => texts(
                "Слишком большой объём данных.",
                "Деректер көлемі тым үлкен.",
                "The data sent is too large.",
            ),
            ApiError::UnsupportedMediaType => texts(
                "Данные должны быть в формате JSON.",
                "Деректер JSON пішімінде болуы керек.",
                "The data must be sent as JSON.",
            ),
            ApiError::ResultNotReady => texts(
                "Результат по запросу ещё не готов или услуга не была оказана.",
                "Сұрау бойынша нәтиже әлі дайын емес немесе қызмет көрсетілмеді.",
                "The result of this request is not ready, or the service was not provided.",
            ),
            ApiError::SocialStatusNotFound => texts(
                "Сведения о социальном статусе по данному ИИН не найдены.",
                "Осы ЖСН бойынша әлеуметтік мәртебе туралы мәліметтер табылмады.",
                "No social status was found for this IIN.",
            ),
            ApiError::OperatorUnidentified => texts(
                "Токен оператора должен содержать ИИН оператора и ЦОН.",
                "Оператор токенінде оператордың ЖСН-і мен ХҚКО көрсетілуі керек.",
                "The operator's token must name the operator's IIN and the service centre.",
            ),
            ApiError::UnsupportedScan => texts(
                "Скан документа должен быть в формате PDF, JPEG или PNG.",
                "Құжат сканері PDF, JPEG немесе PNG пішімінде болуы керек.",
                "The scan must be a PDF, JPEG or PNG file.",
            ),
            ApiError::RegistryUnavailable => texts(
                "Источник данных временно недоступен. Повторите попытку позже.",
                "Деректер көзі уақытша қолжетімсіз. Кейінірек қайталап көріңіз.",
                "The data source is temporarily unavailable. Please try again later.",
            ),
            ApiError::Internal { .. } => texts(
                "Произошла внутренняя ошибка. Сообщите в службу поддержки код ошибки.",
                "Ішкі қате орын алды. Қолдау қызметіне қате кодын хабарлаңыз.",
                "An internal error occurred. Please give the error code to support.",
            ),
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
            texts: self.texts(),
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
            ApiError::Forbidden { .. } | ApiError::ForeignIin | ApiError::OperatorUnidentified => {
                StatusCode::FORBIDDEN
            }
            ApiError::RequestNotFound
            | ApiError::RouteNotFound
            | ApiError::SocialStatusNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedJson(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::InvalidSignatureEncoding => StatusCode::BAD_REQUEST,
            ApiError::UnknownService(_)
            | ApiError::InvalidIin { .. }
            | ApiError::InvalidForm(_)
            | ApiError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::WrongState(_) | ApiError::Busy => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedScan => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
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
            | ApiError::RegistryUnavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(self.problem())
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
            CommandError::Busy => ApiError::Busy,
            CommandError::Store(store) => store.into(),
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
            ProjectionError::Unavailable(_) | ProjectionError::Database { .. } => {
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
            ResultError::Unavailable(_) | ResultError::Database { .. } => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}
