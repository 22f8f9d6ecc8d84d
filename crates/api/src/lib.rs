//! The HTTP face of egov-events and the glue of the `egov` binary.
//!
//! Map of the crate:
//! - [`settings`]: every `EGOV_*` variable parsed once into typed [`Settings`];
//! - [`telemetry`]: tracing set up once (text or JSON, levels from `RUST_LOG`);
//! - [`embedded_postgres`]: the private PostgreSQL cluster `egov serve` starts when no
//!   `DATABASE_URL` is given;
//! - [`startup`]: [`Application`] binds first, reports its port, then serves until told to stop;
//! - [`routes`]: the HTTP routes under `/api/v1` (catalog, requests) with their OpenAPI document,
//!   and health and readiness;
//! - [`auth`]: bearer JWTs checked against configured keys (or the development key), roles;
//! - [`state`]: what the handlers share;
//! - [`metrics`]: Prometheus metrics at `/metrics`;
//! - [`registry_sim`]: the registry simulator (`egov-registry-sim`) over a JSON fixture;
//! - [`pdf`]: the printable, bilingual PDF of a result document with its QR code;
//! - [`read_audit`]: reads of citizens' data by others, queued and recorded in batches;
//! - [`problem`]: the one mapping of failures to RFC 9457 problem responses;
//! - [`bench`]: `egov bench append`, the event store benchmark against a pgbench reference;
//! - [`bench_workflow`]: `egov bench workflow`, requests carried from submission to result per
//!   second through the real workflow, with per-step medians;
//! - [`workers`]: the workflow with the adapters the settings choose (`egov serve`, `egov worker`);
//! - [`bench_read`]: `egov bench read`, the status view's rebuild rate and `GET` under load
//!   against `/healthz`.

pub mod auth;
pub mod bench;
pub mod bench_read;
pub mod bench_relay;
pub mod bench_workflow;
pub mod drain;
pub mod embedded_postgres;
pub mod metrics;
pub mod pdf;
pub mod problem;
pub mod read_audit;
pub mod read_side;
pub mod registry_sim;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod workers;

pub use settings::Settings;
pub use startup::Application;
