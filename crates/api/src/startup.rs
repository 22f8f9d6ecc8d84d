//! Building and running the HTTP application. [`Application::build`] binds first, so a caller (or a
//! test asking for port 0) learns the port before anything is served.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::metrics;
use crate::problem::ApiError;
use crate::routes::{self, health};
use crate::state::AppState;

/// The largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// The bound, not yet running HTTP server.
pub struct Application {
    port: u16,
    server: Server,
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

impl Application {
    /// Binds `addr` and prepares the routes over `state`.
    ///
    /// # Errors
    /// The bind error when the address is taken or not allowed.
    pub fn build(addr: std::net::SocketAddr, state: web::Data<AppState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let db = web::Data::new(state.db.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(metrics::track))
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .app_data(db.clone())
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(MAX_JSON_BYTES)
                        .error_handler(|e, _| json_error(e).into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
                .service(health::healthz)
                .service(health::readyz)
                .service(metrics::metrics)
                .service(web::scope("/api/v1").configure(routes::configure))
                .default_service(web::to(routes::not_found))
        })
        // Signals are handled by the binary, which also stops the embedded database afterwards.
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    /// The port the server is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (at most 10 s).
    ///
    /// # Errors
    /// An IO error of the server.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        serve_until(self.server, shutdown).await
    }
}

/// Runs an actix server until `shutdown` completes, then stops it gracefully (in-flight requests
/// finish within the server's shutdown timeout).
///
/// # Errors
/// An IO error of the server.
pub async fn serve_until(
    server: Server,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let handle = server.handle();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        () = shutdown => {
            tracing::info!("shutting down: draining requests");
            // The server future must keep being polled for the stop to complete.
            let (_, result) = tokio::join!(handle.stop(true), &mut server);
            result
        }
    }
}
