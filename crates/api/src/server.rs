//! The HTTP server over the shared state: middleware (metrics and in-flight counting, one root
//! span per request), the JSON and query extractors' failures as problem answers, the routes.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::drain::InFlight;
use crate::metrics::{self, Metrics};
use crate::problem::ApiError;
use crate::routes::{self, health};
use crate::state::AppState;
use crate::token::Authenticator;

/// The largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// How long a stopping server lets the requests in flight finish before its workers stop.
const SHUTDOWN_TIMEOUT_SECONDS: u64 = 10;

/// What the server's workers share, each behind its own `web::Data` (middleware and extractors
/// take only what they need).
pub struct Shared {
    pub state: web::Data<AppState>,
    pub authenticator: web::Data<Authenticator>,
    pub metrics: web::Data<Metrics>,
    pub in_flight: web::Data<InFlight>,
    pub write_limits: web::Data<crate::limits::WriteLimits>,
    pub db_watch: web::Data<crate::db_watch::DbWatch>,
    /// Development mode's stand-ins for the portal's sign-in and NCALayer; `None` (not routed
    /// at all) in production.
    pub development: Option<web::Data<crate::pages::development::Development>>,
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge {
                limit: MAX_JSON_BYTES,
            }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) => ApiError::MalformedJson(e.to_string()),
        other => ApiError::MalformedJson(other.to_string()),
    }
}

fn query_error(error: QueryPayloadError) -> ApiError {
    ApiError::InvalidParameter {
        field: "query",
        reason: error.to_string(),
    }
}

/// Serves the routes over `shared` on `listener` (signals are the caller's: it stops the server).
///
/// # Errors
/// When the listener cannot be used.
pub fn start(listener: TcpListener, shared: Shared) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(metrics::track))
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
            .app_data(shared.state.clone())
            .app_data(shared.authenticator.clone())
            .app_data(shared.metrics.clone())
            .app_data(shared.in_flight.clone())
            .app_data(shared.write_limits.clone())
            .app_data(shared.db_watch.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BYTES)
                    .error_handler(|e, _| json_error(e).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
            .service(health::healthz)
            .service(health::readyz)
            .service(health::metrics)
            .configure(|cfg| {
                // Before the API's scope, which would answer 404 for these paths.
                if let Some(dev) = &shared.development {
                    crate::pages::development::configure(cfg, dev.clone());
                }
            })
            .configure(crate::pages::configure)
            .service(web::scope("/api/v1").configure(routes::configure))
            .default_service(web::to(routes::not_found))
    })
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECONDS)
    .listen(listener)?
    .run();
    Ok(server)
}
