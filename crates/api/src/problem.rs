//! The one place where failures become HTTP answers: RFC 9457 problem documents with a stable
//! `code` and, where a citizen may read it, a message in Russian, Kazakh and English.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Errors of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service cannot serve yet (database unreachable, migrations not applied): 503.
    #[error("the service is not ready: {0}")]
    NotReady(String),
}

/// A texts triple for people.
#[derive(Debug, Serialize)]
struct Texts {
    ru: &'static str,
    kk: &'static str,
    en: &'static str,
}

#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: Texts,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::NotReady(_) => "not-ready",
        }
    }

    fn texts(&self) -> Texts {
        match self {
            ApiError::NotReady(_) => Texts {
                ru: "Сервис временно недоступен. Повторите попытку позже.",
                kk: "Қызмет уақытша қолжетімсіз. Кейінірек қайталап көріңіз.",
                en: "The service is temporarily unavailable. Please try again later.",
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        let problem = Problem {
            kind: format!("https://egov-events.kz/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code,
            detail: self.texts(),
        };
        HttpResponse::build(status)
            .content_type("application/problem+json")
            .json(problem)
    }
}
