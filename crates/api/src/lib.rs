//! The HTTP face of egov-events, as a library: the `egov` binary builds an [`App`] from
//! [`Settings`] and runs it; tests build one on port 0 against a fresh database with fake
//! adapters ([`App::build_with`]).
//!
//! Map of the crate:
//! - [`settings`]: every `EGOV_*` variable parsed once into typed [`Settings`];
//! - [`telemetry`]: tracing set up once (text or JSON, levels from `RUST_LOG`), the request span;
//! - [`app`]: [`App`] - the database, the background work (workflow, read models, read-auditing,
//!   Kafka relay) and the bound HTTP server, run until a shutdown token and stopped in order;
//! - [`adapters`]: the production adapters chosen from the settings ([`Adapters`]);
//! - [`read_side`]: the read models as a process runs them, from the log or the Kafka topic;
//! - [`server`]: the actix-web server: middleware, extractor failures as problems, the routes;
//! - [`routes`]: the HTTP routes under `/api/v1` with their OpenAPI document, and health,
//!   readiness and metrics;
//! - [`token`]: bearer JWTs checked against the configured keys (or the development key) into a
//!   [`token::Principal`] with its role; [`auth`] takes the token from the request;
//! - [`problem`]: the one mapping of failures to RFC 9457 problem responses, texts from the
//!   domain's message catalogue;
//! - [`state`]: what the handlers share; [`metrics`]: Prometheus metrics; [`drain`]: the
//!   requests in flight a stopping server lets finish; [`polls`]: the long polls, woken by a
//!   change of their own request, and capped per principal;
//! - [`db_watch`]: whether the database answers; while it does not, requests needing it get 503
//!   at once instead of hanging;
//! - [`pdf`]: the printable, bilingual PDF of a result document with its QR code.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod db_watch;
pub mod drain;
pub mod limits;
pub mod metrics;
pub mod pages;
pub mod pdf;
pub mod polls;
pub mod problem;
pub mod read_side;
pub mod routes;
pub mod server;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod token;

pub use adapters::Adapters;
pub use app::{App, StartError};
pub use settings::Settings;
