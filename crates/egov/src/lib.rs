//! What the `egov` binary (and `egov-bench`) need besides the libraries: the database a command
//! runs against, `DATABASE_URL` or a private PostgreSQL cluster started from the system's
//! binaries ([`embedded_postgres`]), and how a binary starts ([`process`]).
//!
//! The binary's own modules (`main.rs`): `cli` (the subcommands and flags), `serve` (serve,
//! worker, relay), `admin` (migrate, verify, replay, projections, token).

pub mod database;
pub mod embedded_postgres;
pub mod process;
