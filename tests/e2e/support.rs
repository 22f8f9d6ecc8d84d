//! The harness of the end-to-end tests:
//! - [`process`]: the `egov` binary started and stopped (`egov serve` on a port it picks and
//!   announces), waits on conditions with a deadline;
//! - [`portal`]: the identity provider's keys, a served API in production mode and its client;
//! - [`flow`]: a served API with the workflow, the registry simulator, a test CA and OCSP;
//! - [`kafka`]: a Kafka broker of a test's own, its topic read back against the log;
//! - [`replication`]: a PostgreSQL primary with a synchronous standby, for failovers.

pub mod flow;
pub mod kafka;
pub mod portal;
pub mod process;
pub mod replication;

/// Citizens of the shipped registry fixture (`fixtures/registry.json`), as the tests use them.
pub mod citizens {
    /// Known to every registry, with benefits, a SIK and fund movements.
    pub const AIDA: &str = "760324400005";
    pub const SERIK: &str = "850715300003";
    pub const DANA: &str = "900101400003";
    pub const ERLAN: &str = "620412300009";
    pub const GULNAR: &str = "551130400004";
    pub const NURLAN: &str = "010510500007";
    /// A valid IIN that no registry knows.
    pub const NOBODY: &str = "900101300007";
}
