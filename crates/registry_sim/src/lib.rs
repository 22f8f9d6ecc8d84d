//! The registry simulator: AIS GTsVP, GBD FL, ENIS and the MTSZN state database as one small HTTP
//! service over a JSON fixture of synthetic citizens, for development and tests. Other agencies'
//! registries are reached over HTTP in production; this stands in for them with the same shape of
//! answers, and with faults that can be injected at start or switched at run time
//! (`PUT /admin/faults`): added latency, a share of 503 answers, a full outage.
//!
//! Answers: 200 with the record; 404 `{"error": "not-found"}` when the registry has no such record
//! (an answer, which ends a request with its refusal); 503 `{"error": "unavailable"}` for an
//! injected fault (no answer: the caller retries); 400 `{"error": "bad-request"}` for a malformed
//! identifier. The routes are listed in crates/registry_sim/README.md.

//!
//! Map of the crate:
//! - [`fixture`]: the synthetic citizens, powers of attorney and benefit records, loaded from
//!   JSON and checked (the shipped `fixtures/registry.json` is compiled in);
//! - [`faults`]: the faults to inject, at start or at run time;
//! - [`effects`]: what the SIK assignment changed at the registry, per idempotency key;
//! - `routes`: the registries' routes over the fixture;
//! - [`Simulator`]: binds first (port 0 picks a free port and [`Simulator::port`] tells it), then
//!   serves until told to stop. The `egov-registry-sim` binary runs it as a process of its own.

pub mod effects;
pub mod faults;
pub mod fixture;
mod routes;

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

pub use faults::{check_faults, FaultSettings, Faults};
pub use fixture::{FixtureError, Registry};

/// The bound, not yet running simulator.
pub struct Simulator {
    port: u16,
    server: Server,
}

impl Simulator {
    /// Binds `addr` and prepares the routes over `registry`.
    ///
    /// # Errors
    /// The bind error.
    pub fn build(
        addr: SocketAddr,
        registry: Registry,
        faults: FaultSettings,
    ) -> std::io::Result<Simulator> {
        let listener = std::net::TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let sim = web::Data::new(routes::Sim {
            registry,
            faults: Faults::new(faults),
            effects: effects::Effects::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(sim.clone())
                .app_data(web::JsonConfig::default().error_handler(|e, _| {
                    actix_web::error::InternalError::from_response(
                        e.to_string(),
                        HttpResponse::BadRequest()
                            .json(json!({"error": "bad-request", "detail": e.to_string()})),
                    )
                    .into()
                }))
                .configure(routes::configure)
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(json!({"error": "no-such-route"}))
                }))
        })
        .disable_signals()
        .workers(2)
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        Ok(Simulator { port, server })
    }

    /// The port the simulator is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes.
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
                // The server future must keep being polled for the stop to complete.
                let (_, result) = tokio::join!(handle.stop(true), &mut server);
                result
            }
        }
    }

    /// Serves in the background of the current runtime on `127.0.0.1:0` with the shipped
    /// fixture, until the returned handle is stopped or dropped: the stand-in that development
    /// runs and tests use in-process.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn spawn(faults: FaultSettings) -> std::io::Result<Background> {
        let registry = Registry::built_in().map_err(std::io::Error::other)?;
        let simulator = Simulator::build(SocketAddr::from(([127, 0, 0, 1], 0)), registry, faults)?;
        let url = format!("http://127.0.0.1:{}", simulator.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(simulator.run_until(async {
            let _ = stopped.await;
        }));
        Ok(Background {
            url,
            stop: Some(stop),
            task,
        })
    }
}

/// A simulator serving in the background ([`Simulator::spawn`]); dropping it stops it.
pub struct Background {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Background {
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops it and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
