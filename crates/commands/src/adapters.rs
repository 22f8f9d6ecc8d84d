//! The outside world as the write side reaches it, each behind a trait so that the workflow and
//! the API can run against the real thing or an in-memory fake (with the `fakes` feature, or in
//! this crate's tests):
//! - [`nca`]: the NCA's checks of a CMS signature (chain, validity, key usage, IIN, OCSP/CRL);
//! - [`registries`]: the other agencies' registries over HTTP, with retries and circuit breakers;
//! - [`scans`]: where the service centres' scans are kept.

pub mod nca;
pub mod registries;
pub mod scans;
