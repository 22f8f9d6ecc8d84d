//! Tracing, set up once by the binary: readable text in development, JSON for collectors, levels
//! from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Installs the global subscriber; logs go to standard error, coloured only on a terminal (a
/// file or a journal gets plain text, and no request pays for escape codes nobody sees).
pub fn init(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The root span of every HTTP request: tracing-actix-web's fields (method, route, status,
/// `request_id`) plus the `correlation_id` of the service request being worked on, which handlers
/// record once they know it, so every log line of a request names both.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::root_span!(request, correlation_id = tracing::field::Empty)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        // A client's mistake is answered with a problem document; it is not an operator's
        // concern, so it is logged at debug rather than as a warning. Server errors and successes
        // go through the default (which logs 5xx as errors).
        if let Ok(response) = outcome {
            let status = response.response().status();
            if status.is_client_error() {
                span.record("http.status_code", status.as_u16());
                span.record("otel.status_code", "OK");
                if let Some(error) = response.response().error() {
                    tracing::debug!(parent: &span, status = status.as_u16(), error = %error, "client error");
                }
                return;
            }
        }
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Records the service request's id on the current HTTP request's root span.
pub fn record_correlation(span: &tracing_actix_web::RootSpan, id: uuid::Uuid) {
    span.record("correlation_id", tracing::field::display(id));
}
