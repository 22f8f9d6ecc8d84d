//! Building and running the HTTP application. [`Application::build`] binds first, so a caller (or a
//! test asking for port 0) learns the port before anything is served.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use commands::Database;
use tracing_actix_web::TracingLogger;

use crate::routes::health;

/// The bound, not yet running HTTP server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `addr` and prepares the routes over `db`.
    ///
    /// # Errors
    /// The bind error when the address is taken or not allowed.
    pub fn build(addr: std::net::SocketAddr, db: Database) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let db = web::Data::new(db);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(db.clone())
                .service(health::healthz)
                .service(health::readyz)
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
        let handle = self.server.handle();
        let server = self.server;
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
}
