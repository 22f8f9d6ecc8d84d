//! How often a principal may write: a token bucket per principal (`governor`'s keyed limiter,
//! `EGOV_WRITES_PER_SECOND` refilled, `EGOV_WRITE_BURST` deep), checked by the [`Writer`]
//! extractor that every write route takes instead of a bare [`Principal`]. Past it a write gets
//! 429 `too-many-requests` with `Retry-After`. How many requests a principal may file in a day is
//! the database's count (`allocate_request_number`, migrations/V13): it holds across processes and
//! restarts, and it is what keeps one principal from spending the day's request numbers.

use std::future::{ready, Ready};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::ApiError;
use crate::token::{Principal, Role};

/// The limits on writes, shared by the app's workers.
pub struct WriteLimits {
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    /// Filings a day for citizens (`EGOV_DAILY_FILINGS`).
    pub daily_filings: u32,
    /// Filings a day for operators and medical users (`EGOV_DAILY_FILINGS_OPERATOR`).
    pub daily_filings_staff: u32,
    /// How long a request with a body may take (`EGOV_BODY_DEADLINE`).
    pub body_deadline: std::time::Duration,
}

/// The default of `EGOV_BODY_DEADLINE`: a 10 MiB scan over a slow line still arrives.
pub const DEFAULT_BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Forgets the buckets of principals who stopped writing every this many checks, so the map
/// holds only those seen lately (keys are authenticated principals, never a client's free text).
const FORGET_EVERY: u64 = 4096;

impl WriteLimits {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32, daily: u32, daily_staff: u32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU64::new(0),
            daily_filings: daily,
            daily_filings_staff: daily_staff,
            body_deadline: DEFAULT_BODY_DEADLINE,
        }
    }

    /// Requests with a body answered within `deadline`, or 408.
    #[must_use]
    pub fn with_body_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.body_deadline = deadline;
        self
    }

    /// Takes one write from `principal`'s bucket.
    ///
    /// # Errors
    /// [`ApiError::TooManyRequests`] with the whole seconds until the bucket has one again.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let key = format!("{}:{}", principal.role, principal.subject);
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// How many requests `principal` may file in a day.
    pub fn daily_filings(&self, principal: &Principal) -> u32 {
        match principal.role {
            Role::Citizen => self.daily_filings,
            _ => self.daily_filings_staff,
        }
    }
}

/// A [`Principal`] allowed one more write by the [`WriteLimits`] of the app, with how many
/// requests it may file in a day.
pub struct Writer {
    pub principal: Principal,
    pub daily_filings: u32,
}

impl FromRequest for Writer {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let outcome = Principal::from_request(req, payload)
            .into_inner()
            .and_then(|principal| {
                let limits = req
                    .app_data::<web::Data<WriteLimits>>()
                    .ok_or_else(|| ApiError::internal("the write limits are missing"))?;
                limits.check(&principal)?;
                Ok(Writer {
                    daily_filings: limits.daily_filings(&principal),
                    principal,
                })
            });
        if let Err(ApiError::TooManyRequests { .. }) = &outcome {
            tracing::info!("write refused: the principal's rate limit");
        }
        ready(outcome)
    }
}

/// Calls `next`, answering 408 `request-timeout` (and closing the connection) when a request
/// with a body is not answered within [`WriteLimits::body_deadline`] (`EGOV_BODY_DEADLINE`).
/// Actix gives up on a head that does not arrive in 5 s, but a body may trickle a byte a second
/// for a day, holding a connection and a handler. Requests without a body (reads, long polls)
/// are passed straight on. Called by the one middleware every request goes through
/// (`metrics::track`), so the status reads pay no layer of their own for it.
///
/// # Errors
/// [`ApiError::RequestTimeout`], or what `next` fails with.
pub async fn within_body_deadline<B: actix_web::body::MessageBody>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    if req.method() == actix_web::http::Method::GET {
        return next.call(req).await;
    }
    let deadline = req
        .app_data::<web::Data<WriteLimits>>()
        .map_or(DEFAULT_BODY_DEADLINE, |limits| limits.body_deadline);
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(answered) => answered,
        Err(_) => {
            tracing::info!("a request with a body was not answered within the deadline");
            Err(ApiError::RequestTimeout {
                seconds: deadline.as_secs(),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citizen(subject: &str) -> Principal {
        Principal {
            role: Role::Citizen,
            subject: subject.into(),
            organisation: None,
            iin: None,
        }
    }

    #[test]
    fn a_principal_past_its_burst_waits_and_others_are_not_held_up() {
        let one = NonZeroU32::MIN;
        let limits = WriteLimits::new(one, NonZeroU32::new(3).expect("3"), 50, 1000);
        for _ in 0..3 {
            limits.check(&citizen("a")).expect("within the burst");
        }
        match limits.check(&citizen("a")) {
            Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        limits.check(&citizen("b")).expect("another principal");
    }
}
