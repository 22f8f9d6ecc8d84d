//! The event store's guarantees (docs/architecture.md), each proven against the real PostgreSQL named by
//! `TEST_DATABASE_URL`. One binary, a module per guarantee.

mod append_only;
mod bad_input;
mod concurrency;
mod definer_functions;
mod gap_free;
mod hash_chain;
mod idempotency;
mod metadata;
mod migrations;
mod restart;
mod support;
