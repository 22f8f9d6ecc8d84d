//! The registries over HTTP (the routes of `egov-registry-sim`, crates/registry_sim/README.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::catalog::Lookup;
use futures_util::future::BoxFuture;
use rand::Rng;
use reqwest::StatusCode;
use tokio::time::Instant;

use super::{
    BreakerSettings, CircuitBreaker, LookupQuery, Registries, Registry, RegistryAnswer,
    RegistryError, RegistryFigures, Unavailability,
};

/// How calls are timed and retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The most one attempt may take (less when the deadline is nearer).
    pub attempt_timeout: Duration,
    /// The first backoff's ceiling; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The most attempts one call makes; `None` retries until the deadline. The workflow makes
    /// one attempt per call, so that each attempt is recorded as an event.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// One attempt per call, each at most `attempt_timeout`: the caller retries and records.
    pub fn single_attempt(attempt_timeout: Duration) -> Self {
        Self {
            attempt_timeout,
            max_attempts: Some(1),
            ..Self::default()
        }
    }

    /// The pause after the `attempts`-th failed attempt. Full jitter: a random pause up to the
    /// doubled ceiling, so that retries of many callers spread out.
    fn pause_after(&self, attempts: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.max_delay);
        rand::thread_rng().gen_range(Duration::ZERO..=ceiling)
    }
}

/// The registries at one base URL, with a circuit breaker per registry.
pub struct HttpRegistries {
    base: String,
    client: reqwest::Client,
    policy: RetryPolicy,
    breakers: [CircuitBreaker; 4],
    /// The calls to each registry, in the order of [`Registry::ALL`].
    tallies: [Tally; 4],
}

/// Counts of one registry's calls (see [`RegistryFigures`]).
#[derive(Debug, Default)]
struct Tally {
    attempts: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    refused_open: AtomicU64,
}

impl Tally {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A registry call's URL and query parameters.
type Route = (String, Vec<(&'static str, String)>);

/// Why one attempt got no answer.
enum Failure {
    TimedOut,
    Unavailable(Unavailability),
}

/// Whether a power of attorney's number is plain enough to stand in a URL path: 1 to 64 letters,
/// digits and `-`, starting with a letter or digit (docs/domain.md 3.4). Anything else - `/`, `.`,
/// `%`, `?`, `#`, spaces - could address another endpoint of the registries.
pub fn power_of_attorney_number_is_plain(number: &str) -> bool {
    let mut chars = number.chars();
    chars.next().is_some_and(char::is_alphanumeric)
        && number.chars().count() <= 64
        && chars.all(|c| c.is_alphanumeric() || c == '-')
}

impl HttpRegistries {
    /// Registries at `base` (e.g. `http://127.0.0.1:8090`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(
        base: &str,
        policy: RetryPolicy,
        breaker: BreakerSettings,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            policy,
            breakers: Registry::ALL.map(|_| CircuitBreaker::new(breaker)),
            tallies: Default::default(),
        })
    }

    /// The breaker of `registry`.
    pub fn breaker(&self, registry: Registry) -> &CircuitBreaker {
        &self.breakers[Self::index(registry)]
    }

    fn index(registry: Registry) -> usize {
        Registry::ALL
            .iter()
            .position(|r| *r == registry)
            .unwrap_or_default()
    }

    fn url(&self, query: &LookupQuery) -> Result<Route, RegistryError> {
        let iin = query.iin.as_str();
        let base = &self.base;
        Ok(match query.lookup {
            Lookup::Iin => (format!("{base}/gcvp/persons/{iin}"), vec![]),
            Lookup::Sik => (format!("{base}/gcvp/sik/{iin}"), vec![]),
            Lookup::BenefitData => (
                format!("{base}/gcvp/benefits/{iin}"),
                vec![("service", query.service.code().to_owned())],
            ),
            Lookup::FundMovements => (
                format!("{base}/gcvp/fund-transactions/{iin}"),
                query
                    .period
                    .map(|(from, to)| vec![("from", from.to_string()), ("to", to.to_string())])
                    .unwrap_or_default(),
            ),
            Lookup::ApplicantIdentity | Lookup::RepresentativeIdentity => {
                (format!("{base}/gbdfl/persons/{iin}"), vec![])
            }
            Lookup::PowerOfAttorney => {
                let unsupported = |reason| RegistryError::Unsupported {
                    registry: Registry::Enis.name(),
                    lookup: query.lookup,
                    reason,
                };
                let number = query
                    .power_of_attorney
                    .as_deref()
                    .ok_or(unsupported("the power of attorney's number is missing"))?;
                // Checked at the edge already; here again, as it goes into the path.
                if !power_of_attorney_number_is_plain(number) {
                    return Err(unsupported("the power of attorney's number is not plain"));
                }
                (format!("{base}/enis/powers-of-attorney/{number}"), vec![])
            }
            Lookup::SocialStatus => (format!("{base}/mtszn/social-status/{iin}"), vec![]),
            Lookup::SikProcessing => (format!("{base}/gcvp/sik-assignment/{iin}"), vec![]),
        })
    }

    async fn attempt(
        &self,
        url: &str,
        params: &[(&'static str, String)],
        query: &LookupQuery,
        timeout: Duration,
    ) -> Result<RegistryAnswer, Failure> {
        // Assigning a SIK changes the registry (a POST, made safe to retry by the idempotency key);
        // every other lookup only reads.
        let method = match query.lookup {
            Lookup::SikProcessing => reqwest::Method::POST,
            _ => reqwest::Method::GET,
        };
        let call = self
            .client
            .request(method, url)
            .query(params)
            .header("Idempotency-Key", query.idempotency_key.to_string())
            .timeout(timeout)
            .send();
        let response = match call.await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return Err(Failure::TimedOut),
            Err(error) if error.is_connect() => {
                return Err(Failure::Unavailable(Unavailability::Unreachable))
            }
            Err(_) => return Err(Failure::Unavailable(Unavailability::BrokenOff)),
        };
        let status = response.status();
        let body: Result<serde_json::Value, _> = response.json().await;
        match (status, body) {
            (StatusCode::OK, Ok(record)) => Ok(RegistryAnswer::Found(record)),
            // Only the registry's own "no such record" is an answer; a 404 from a wrong URL is not.
            (StatusCode::NOT_FOUND, Ok(body)) if body["error"] == "not-found" => {
                Ok(RegistryAnswer::NotFound)
            }
            (status, Ok(_)) => Err(Failure::Unavailable(Unavailability::Status(
                status.as_u16(),
            ))),
            (status, Err(_)) => Err(Failure::Unavailable(Unavailability::NotJson(
                status.as_u16(),
            ))),
        }
    }
}

impl Registries for HttpRegistries {
    fn lookup<'a>(
        &'a self,
        query: &'a LookupQuery,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<RegistryAnswer, RegistryError>> {
        Box::pin(self.call(query, deadline))
    }

    fn figures(&self) -> Vec<RegistryFigures> {
        Registry::ALL
            .iter()
            .zip(&self.tallies)
            .map(|(registry, tally)| RegistryFigures {
                registry: *registry,
                attempts: tally.attempts.load(Ordering::Relaxed),
                retries: tally.retries.load(Ordering::Relaxed),
                failures: tally.failures.load(Ordering::Relaxed),
                refused_open: tally.refused_open.load(Ordering::Relaxed),
                circuit_open: self.breaker(*registry).is_open(),
            })
            .collect()
    }
}

impl HttpRegistries {
    /// One lookup: attempts, each within its timeout, with backoff and full jitter between them,
    /// until an answer, `deadline`, the policy's most attempts or an open circuit.
    async fn call(
        &self,
        query: &LookupQuery,
        deadline: Instant,
    ) -> Result<RegistryAnswer, RegistryError> {
        let registry = Registry::of(query.lookup);
        let name = registry.name();
        let (url, params) = self.url(query)?;
        let breaker = self.breaker(registry);
        let tally = &self.tallies[Self::index(registry)];
        let mut attempts = 0u32;
        let mut last = Failure::TimedOut;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if !breaker.allow() {
                Tally::count(&tally.refused_open);
                return Err(RegistryError::CircuitOpen { registry: name });
            }
            attempts += 1;
            Tally::count(&tally.attempts);
            if attempts > 1 {
                Tally::count(&tally.retries);
            }
            let timeout = self.policy.attempt_timeout.min(deadline - now);
            match self.attempt(&url, &params, query, timeout).await {
                Ok(answer) => {
                    breaker.succeeded();
                    return Ok(answer);
                }
                Err(failure) => {
                    breaker.failed();
                    Tally::count(&tally.failures);
                    if let Failure::Unavailable(reason) = &failure {
                        tracing::debug!(registry = name, attempts, reason = %reason, "registry call failed");
                    }
                    // An attempt cut short by the deadline says less than an earlier answer: a
                    // registry that kept answering 503 is unavailable, not slow.
                    let cut_short = timeout < self.policy.attempt_timeout;
                    if !(cut_short
                        && matches!(failure, Failure::TimedOut)
                        && matches!(last, Failure::Unavailable(_)))
                    {
                        last = failure;
                    }
                }
            }
            if self
                .policy
                .max_attempts
                .is_some_and(|most| attempts >= most)
            {
                break;
            }
            let pause = self.policy.pause_after(attempts);
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        Err(match last {
            Failure::TimedOut => RegistryError::TimedOut {
                registry: name,
                attempts,
            },
            Failure::Unavailable(reason) => RegistryError::Unavailable {
                registry: name,
                attempts,
                reason,
            },
        })
    }
}
