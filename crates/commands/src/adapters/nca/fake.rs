//! An in-memory [`SignatureVerifier`] for fast tests of the workflow: it answers what a test
//! scripted for a signature (or never answers, like a verifier stuck on a dead connection), and by
//! default verifies every signature as made by the applicant.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use domain::request::{CertificateInfo, SignatureCheck};
use futures_util::future::BoxFuture;

use super::{NcaError, Revocation, SignatureToCheck, SignatureVerifier, Verdict};

/// The answers scripted for a signature, one per call.
type Script = VecDeque<Result<Verdict, NcaError>>;

/// Answers scripted per signature (by its bytes); unscripted signatures are verified.
#[derive(Default)]
pub struct FakeVerifier {
    scripts: Mutex<HashMap<Vec<u8>, Script>>,
    /// Signatures whose check never ends.
    hanging: Mutex<HashSet<Vec<u8>>>,
    calls: AtomicUsize,
}

impl FakeVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the answers for the signature `cms`, one per call; the last one repeats.
    pub fn script(&self, cms: &[u8], answers: Vec<Result<Verdict, NcaError>>) {
        if let Ok(mut scripts) = self.scripts.lock() {
            scripts.insert(cms.to_vec(), answers.into());
        }
    }

    /// The check of the signature `cms` never ends.
    pub fn hang(&self, cms: &[u8]) {
        if let Ok(mut hanging) = self.hanging.lock() {
            hanging.insert(cms.to_vec());
        }
    }

    /// How many signatures were checked.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A verdict that the applicant of `signature` made it with a good certificate.
    pub fn verified(signature: &SignatureToCheck<'_>) -> Verdict {
        Verdict {
            check: SignatureCheck::Verified(CertificateInfo {
                serial: "fake".into(),
                issuer: "CN=Fake CA".into(),
                not_before: signature.received_at - chrono::Duration::days(365),
                not_after: signature.received_at + chrono::Duration::days(365),
                subject_iin: Some(signature.applicant.clone()),
                revocation: Some(Revocation::Good),
            }),
            revocation: Revocation::Good,
        }
    }

    fn answer(&self, signature: &SignatureToCheck<'_>) -> Result<Verdict, NcaError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let Ok(mut scripts) = self.scripts.lock() else {
            return Err(NcaError::Internal("the fake's script is poisoned".into()));
        };
        match scripts.get_mut(signature.cms) {
            Some(answers) if answers.len() > 1 => answers
                .pop_front()
                .unwrap_or_else(|| Ok(Self::verified(signature))),
            Some(answers) => answers
                .front()
                .cloned()
                .unwrap_or_else(|| Ok(Self::verified(signature))),
            None => Ok(Self::verified(signature)),
        }
    }
}

impl SignatureVerifier for FakeVerifier {
    fn verify<'a>(
        &'a self,
        signature: SignatureToCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, NcaError>> {
        let hangs = self
            .hanging
            .lock()
            .is_ok_and(|hanging| hanging.contains(signature.cms));
        if hangs {
            self.calls.fetch_add(1, Ordering::SeqCst);
            return Box::pin(std::future::pending());
        }
        let answer = self.answer(&signature);
        Box::pin(std::future::ready(answer))
    }
}
