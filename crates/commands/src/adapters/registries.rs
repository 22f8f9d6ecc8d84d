//! The adapter to the other agencies' registries (AIS GTsVP, GBD FL, ENIS, the MTSZN state
//! database), reached over HTTP at `EGOV_REGISTRY_URL`.
//!
//! "Not found" is an answer: the registry has no such record, and the request ends with the refusal
//! docs/domain.md names. "Unavailable" is not: no answer came (an error status, a broken connection, a
//! timeout), and the caller tries again later, until the step's time is spent. Within one call the
//! adapter retries transient failures with exponential backoff and full jitter up to the deadline
//! it is given, and a circuit breaker per registry stops calling a registry that keeps failing
//! (it lets one trial call through after a cool-down).

mod breaker;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
mod http;

use chrono::NaiveDate;
use domain::catalog::Lookup;
use domain::{Iin, ServiceCode};
use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use breaker::{BreakerSettings, CircuitBreaker};
pub use http::{power_of_attorney_number_is_plain, HttpRegistries, RetryPolicy};

/// The registries behind the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registry {
    /// AIS GTsVP: IIN, SIK, benefit and pension data, transit-account movements.
    Gcvp,
    /// GBD FL: the state database of individuals.
    GbdFl,
    /// ENIS: the notaries' register (powers of attorney).
    Enis,
    /// The MTSZN state database (social status).
    Mtszn,
}

impl Registry {
    pub const ALL: [Registry; 4] = [
        Registry::Gcvp,
        Registry::GbdFl,
        Registry::Enis,
        Registry::Mtszn,
    ];

    /// The registry a lookup asks.
    pub const fn of(lookup: Lookup) -> Registry {
        match lookup {
            Lookup::Iin
            | Lookup::Sik
            | Lookup::BenefitData
            | Lookup::SikProcessing
            | Lookup::FundMovements => Registry::Gcvp,
            Lookup::ApplicantIdentity | Lookup::RepresentativeIdentity => Registry::GbdFl,
            Lookup::PowerOfAttorney => Registry::Enis,
            Lookup::SocialStatus => Registry::Mtszn,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Registry::Gcvp => "ais-gcvp",
            Registry::GbdFl => "gbd-fl",
            Registry::Enis => "enis",
            Registry::Mtszn => "mtszn",
        }
    }
}

/// What one lookup asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupQuery {
    pub lookup: Lookup,
    /// The citizen the lookup is about (the applicant, or the patient).
    pub iin: Iin,
    /// The service, for benefit data (which information service's records).
    pub service: ServiceCode,
    /// The period of a pension-fund statement, when one was asked for.
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// The power of attorney's registry number, for the ENIS check.
    pub power_of_attorney: Option<String>,
    /// Sent as `Idempotency-Key`, so a registry can tell a retry from a new call.
    pub idempotency_key: Uuid,
}

/// A registry's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryAnswer {
    /// The record, as the registry gave it.
    Found(serde_json::Value),
    /// The registry has no such record.
    NotFound,
}

/// Why a registry's answer was no answer. Typed, so that nothing of the call (its URL carries the
/// citizen's IIN) can reach a log line or an error message through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailability {
    /// The registry could not be reached (connection refused, reset, DNS).
    #[error("could not be reached")]
    Unreachable,
    /// The call failed on the way (sending it, or reading the answer).
    #[error("the call broke off")]
    BrokenOff,
    /// It answered with this status and no record.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// It answered with this status and a body that is not JSON.
    #[error("answered HTTP {0} with a body that is not JSON")]
    NotJson(u16),
}

/// No answer from a registry. Each may be retried later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry} is unavailable after {attempts} attempt(s): {reason}")]
    Unavailable {
        registry: &'static str,
        attempts: u32,
        reason: Unavailability,
    },
    #[error("{registry} did not answer before the deadline ({attempts} attempt(s))")]
    TimedOut {
        registry: &'static str,
        attempts: u32,
    },
    #[error("{registry} is failing; calls are held back for a while (circuit open)")]
    CircuitOpen { registry: &'static str },
    #[error("{registry} cannot be asked for {lookup:?}: {reason}")]
    Unsupported {
        registry: &'static str,
        lookup: Lookup,
        reason: &'static str,
    },
}

/// The registries, as the workflow sees them. Object safe (the future is boxed), so the workflow
/// and the API hold any registries, the HTTP ones or the in-memory [`fake::FakeRegistries`] of
/// fast tests, behind one type.
pub trait Registries: Send + Sync {
    /// Asks the registry of `query.lookup`, retrying transient failures until `deadline`.
    ///
    /// # Errors
    /// [`RegistryError`] when no answer came by `deadline` (ask again later).
    fn lookup<'a>(
        &'a self,
        query: &'a LookupQuery,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'a, Result<RegistryAnswer, RegistryError>>;

    /// What the calls to each registry came to since the process started (for `/metrics`);
    /// nothing for registries that keep no count.
    fn figures(&self) -> Vec<RegistryFigures> {
        Vec::new()
    }
}

/// One registry's calls since the process started, and its circuit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryFigures {
    pub registry: Registry,
    /// Calls sent (every attempt of every lookup).
    pub attempts: u64,
    /// Attempts after a lookup's first one.
    pub retries: u64,
    /// Attempts that got no answer (timed out, refused, a 5xx).
    pub failures: u64,
    /// Lookups refused at once because the registry's circuit was open.
    pub refused_open: u64,
    /// Whether the circuit is open now (calls are refused until it lets one through).
    pub circuit_open: bool,
}
