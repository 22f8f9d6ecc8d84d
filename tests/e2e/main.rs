//! End-to-end tests: the real `egov` binary against the real PostgreSQL. One binary, a module per
//! area (declared as the `e2e` test of the `api` package, which owns the binary).

mod analytics;
mod api;
mod audit;
mod centre;
mod cli;
mod embedded;
mod kafka;
mod portal;
mod registries;
mod registry_sim;
mod serve;
mod support;
mod workflow;
