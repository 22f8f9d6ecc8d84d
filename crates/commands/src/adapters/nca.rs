//! The NCA steps: the citizen's CMS signature over `document_to_sign`, checked as docs/national-rules.md 2 says -
//! the signature over exactly those bytes, the chain to a configured trust anchor, the
//! certificate's validity at signing time (the signed `signingTime`, no earlier than the request's
//! receipt and no later than the signature's, each give or take five minutes), the key usage of a
//! signing key, the IIN in the subject's serialNumber, and revocation of the certificate and of
//! every intermediate of its verified chain, by OCSP with a nonce (the responder named in the
//! certificate, or a configured one) or a CRL of the issuer. Answers and CRLs are trusted only
//! through the configured anchors and the chain verified from them, never through certificates
//! the signature carries.
//!
//! The verdict is the domain's [`SignatureCheck`]: verified with the certificate's data, or
//! rejected with the reason docs/domain.md 5(a) maps to a refusal. A revocation status that cannot be learnt
//! (the responder down, an answer that does not verify) is not a verdict: it is
//! [`NcaError::RevocationUnknown`], and the caller asks again later - never a silent "good".
//!
//! The verifier is a trait so that a GOST provider (Kalkan or an NCANode sidecar, docs/national-rules.md 2.3) can
//! be added; [`OpensslVerifier`] covers RSA and ECDSA.

mod crl;
pub mod dev_ca;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
mod ocsp;
mod openssl_verifier;
mod parse;

use chrono::{DateTime, Utc};
use domain::request::SignatureCheck;
use domain::Iin;
use futures_util::future::BoxFuture;

pub use dev_ca::{DevCa, LocalResponder};
pub use openssl_verifier::{OpensslVerifier, DEFAULT_OCSP_MAX_AGE};

/// What the verifier learnt about revocation (recorded in the certificate's info on the event).
pub use domain::request::RevocationStatus as Revocation;

/// The signer's certificate as a CMS SignedData (DER) names it, read without checking anything:
/// the parser every citizen's container meets first, for the fuzzing targets (`fuzz/`); `None`
/// when the bytes are not such a container.
pub fn signer_of(cms: &[u8]) -> Option<domain::request::CertificateInfo> {
    parse::parse(cms, |der| openssl::x509::X509::from_der(der).ok()).map(|parsed| parsed.info)
}

/// The verdict on one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub check: SignatureCheck,
    pub revocation: Revocation,
}

/// No verdict could be reached now; ask again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NcaError {
    #[error("the revocation status cannot be learnt: {0}")]
    RevocationUnknown(String),
    #[error("the verifier cannot run: {0}")]
    Internal(String),
}

/// Why the trust anchors cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustAnchorError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate: {reason}")]
    Invalid { path: String, reason: String },
}

/// A signature to check.
#[derive(Debug, Clone, Copy)]
pub struct SignatureToCheck<'a> {
    /// The exact bytes the citizen was asked to sign.
    pub document: &'a [u8],
    /// The CMS SignedData (DER), attached or detached.
    pub cms: &'a [u8],
    /// The IIN of the request.
    pub applicant: &'a Iin,
    /// When the signature arrived.
    pub received_at: DateTime<Utc>,
    /// When the request was received: a signature cannot be older (beyond the clock skew), so a
    /// backdated `signingTime` cannot bring an expired certificate back to life.
    pub request_received_at: DateTime<Utc>,
}

/// Checks signatures. Object safe (the future is boxed), so the workflow holds any verifier, the
/// OpenSSL one or the in-memory [`fake::FakeVerifier`] of fast tests, behind one type.
pub trait SignatureVerifier: Send + Sync {
    /// The verdict on `signature`.
    ///
    /// # Errors
    /// [`NcaError`] when no verdict can be reached now (ask again later).
    fn verify<'a>(
        &'a self,
        signature: SignatureToCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, NcaError>>;

    /// Whether the revocation checks of the last [`RECENTLY`] got an answer (OCSP or a CRL):
    /// `Some(false)` when the latest found neither answering, `None` when none was made (or the
    /// verifier keeps no account). `/readyz` shows it.
    fn revocation_answering(&self) -> Option<bool> {
        None
    }
}

/// How long the outcome of a revocation check stands for the state of the responders.
pub const RECENTLY: std::time::Duration = std::time::Duration::from_secs(60);

/// The outcome of the latest revocation check, and when it came.
#[derive(Debug, Default)]
pub struct LatestOutcome(std::sync::Mutex<Option<(std::time::Instant, bool)>>);

impl LatestOutcome {
    /// Records whether a check got an answer.
    pub fn record(&self, answered: bool) {
        // A poisoned lock only means a panic elsewhere while holding it; the value stays usable.
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), answered));
    }

    /// The latest outcome, when it is no older than [`RECENTLY`].
    pub fn recent(&self) -> Option<bool> {
        let latest = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        latest
            .filter(|(at, _)| at.elapsed() <= RECENTLY)
            .map(|(_, answered)| answered)
    }
}
