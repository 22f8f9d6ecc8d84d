//! End-to-end tests: the real `egov` binary against the real PostgreSQL, Kafka (tansu) and OCSP
//! responder. One binary, a module per area (declared as the `e2e` test of the `egov` package,
//! which owns the binary); the harness is in `support`.

mod analytics;
mod api;
mod attacks;
mod audit;
mod centre;
mod chaos;
mod cli;
mod embedded;
mod faults;
mod kafka;
mod log;
mod quick_start;
mod serve;
mod support;
mod workflow;
