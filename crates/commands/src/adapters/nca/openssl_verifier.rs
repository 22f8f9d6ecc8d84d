//! [`OpensslVerifier`]: RSA and ECDSA signatures checked with OpenSSL, revocation of the
//! certificate and its intermediates by OCSP (and CRLs when OCSP gives no answer).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::request::{CertificateInfo, SignatureCheck, SignatureRejection};
use futures_util::future::BoxFuture;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509KeyUsage, X509StoreContext, X509};

use super::{
    crl, ocsp, parse, LatestOutcome, LocalResponder, NcaError, Revocation, SignatureToCheck,
    SignatureVerifier, TrustAnchorError, Verdict,
};

/// How far a signing time may lie before the request's receipt or after the signature's (clocks
/// differ).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// How many bytes of decoded certificates the verifier keeps (each weighs its DER twice over).
const DECODED_BYTES: u64 = 32 * 1024 * 1024;
/// How long an intermediate found good stays good without asking again: intermediates are few
/// and shared by every signature, and a revoked one is news within this long.
const INTERMEDIATE_GOOD_FOR: Duration = Duration::from_secs(600);
/// How old an OCSP answer without a nextUpdate may be, unless configured (`EGOV_OCSP_MAX_AGE`).
pub const DEFAULT_OCSP_MAX_AGE: Duration = Duration::from_secs(3600);

/// Weighs a decoded certificate by its DER (the key) and OpenSSL's copy, about as large.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<Vec<u8>, X509> for ByBytes {
    fn weight(&self, der: &Vec<u8>, _: &X509) -> u64 {
        2 * der.len() as u64
    }
}

/// RSA and ECDSA signatures, checked with OpenSSL.
pub struct OpensslVerifier {
    anchors: Vec<X509>,
    ocsp_url: Option<String>,
    /// CRLs asked when OCSP gives no answer (URLs or files).
    crls: Vec<String>,
    http: reqwest::Client,
    /// The anchors alone, for OCSP answers' signatures.
    anchor_store: X509Store,
    /// How old an OCSP answer without a nextUpdate may be.
    max_age: Duration,
    /// Certificates met in signatures, by their DER: OpenSSL 3 takes longer to decode a
    /// certificate (its public key) than to check a signature, and citizens sign with the same
    /// certificate for years, under the same few intermediates. Bounded by bytes.
    decoded: quick_cache::sync::Cache<Vec<u8>, X509, ByBytes>,
    /// Intermediates found good, by their DER, and until when.
    intermediates: quick_cache::sync::Cache<Vec<u8>, Instant>,
    /// Whether the latest revocation check got an answer.
    latest: LatestOutcome,
    /// The responder inside this process for the certificates it answers for (development
    /// mode's authority).
    local: Option<std::sync::Arc<dyn LocalResponder>>,
}

impl OpensslVerifier {
    /// A verifier trusting `anchors` that asks `ocsp_url` (or else the responder each certificate
    /// names) with `ocsp_timeout` per call.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        anchors: Vec<X509>,
        ocsp_url: Option<String>,
        ocsp_timeout: Duration,
    ) -> Result<Self, NcaError> {
        let http = reqwest::Client::builder()
            .timeout(ocsp_timeout)
            .build()
            .map_err(|e| NcaError::Internal(e.to_string()))?;
        let anchor_store = store_of(&anchors, None)?;
        Ok(Self {
            anchors,
            ocsp_url,
            crls: Vec::new(),
            http,
            anchor_store,
            max_age: DEFAULT_OCSP_MAX_AGE,
            decoded: quick_cache::sync::Cache::with_weighter(20_000, DECODED_BYTES, ByBytes),
            intermediates: quick_cache::sync::Cache::new(1_000),
            latest: LatestOutcome::default(),
            local: None,
        })
    }

    /// Takes OCSP answers without a nextUpdate only when no older than `max_age`.
    #[must_use]
    pub fn with_ocsp_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Asks `local` instead of any responder over the network for the certificates it answers
    /// for (development mode's authority, whose certificate must be among the anchors).
    #[must_use]
    pub fn with_local_responder(mut self, local: std::sync::Arc<dyn LocalResponder>) -> Self {
        self.local = Some(local);
        self
    }

    /// Falls back to these CRLs (http(s) URLs or files) when OCSP gives no answer.
    #[must_use]
    pub fn with_crls(mut self, crls: Vec<String>) -> Self {
        self.crls = crls;
        self
    }

    /// The certificates of a PEM file, or of every `.pem`/`.crt`/`.cer` file of a directory
    /// (`EGOV_TRUST_ANCHORS`).
    ///
    /// # Errors
    /// [`TrustAnchorError`] naming the file that cannot be used.
    pub fn load_anchors(path: &Path) -> Result<Vec<X509>, TrustAnchorError> {
        let read = |p: &Path| -> Result<Vec<X509>, TrustAnchorError> {
            let bytes = std::fs::read(p).map_err(|source| TrustAnchorError::Read {
                path: p.display().to_string(),
                source,
            })?;
            let certs = X509::stack_from_pem(&bytes).map_err(|e| TrustAnchorError::Invalid {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            if certs.is_empty() {
                return Err(TrustAnchorError::Invalid {
                    path: p.display().to_string(),
                    reason: "no certificate".into(),
                });
            }
            Ok(certs)
        };
        if !path.is_dir() {
            return read(path);
        }
        let entries = std::fs::read_dir(path).map_err(|source| TrustAnchorError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut anchors = Vec::new();
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension()
                .is_some_and(|e| e == "pem" || e == "crt" || e == "cer")
            {
                anchors.extend(read(&p)?);
            }
        }
        Ok(anchors)
    }

    /// The certificate of `der`, decoded once.
    fn decode(&self, der: &[u8]) -> Option<X509> {
        if let Some(cert) = self.decoded.get(der) {
            return Some(cert);
        }
        let cert = X509::from_der(der).ok()?;
        self.decoded.insert(der.to_vec(), cert.clone());
        Some(cert)
    }

    /// The chain from `signer` to an anchor, verified at `at` through the `carried` certificates:
    /// the signer first, the anchor last. `None` when it does not verify.
    fn chain(
        &self,
        signer: &X509,
        carried: &[X509],
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<X509>>, NcaError> {
        let internal = |e: openssl::error::ErrorStack| NcaError::Internal(e.to_string());
        let store = store_of(&self.anchors, Some(at))?;
        let mut untrusted = Stack::new().map_err(internal)?;
        for cert in carried {
            untrusted.push(cert.clone()).map_err(internal)?;
        }
        let mut context = X509StoreContext::new().map_err(internal)?;
        context
            .init(&store, signer, &untrusted, |context| {
                if !context.verify_cert()? {
                    return Ok(None);
                }
                Ok(context
                    .chain()
                    .map(|chain| chain.iter().map(ToOwned::to_owned).collect()))
            })
            .map_err(internal)
    }

    fn rejected(reason: SignatureRejection, certificate: Option<CertificateInfo>) -> Verdict {
        Verdict {
            check: SignatureCheck::Rejected {
                reason,
                certificate,
            },
            revocation: Revocation::NotChecked,
        }
    }

    /// Everything but revocation; `Ok(Err(verdict))` is a rejection.
    fn offline(&self, s: SignatureToCheck<'_>) -> Result<Result<Checked, Verdict>, NcaError> {
        let malformed = |info| Ok(Err(Self::rejected(SignatureRejection::Malformed, info)));
        let Some(parsed) = parse::parse(s.cms, |der| self.decode(der)) else {
            return malformed(None);
        };
        let info = parsed.info.clone();
        let signing_time = parsed.signing_time.unwrap_or(s.received_at);
        if signing_time > s.received_at + CLOCK_SKEW
            || signing_time < s.request_received_at - CLOCK_SKEW
        {
            return malformed(Some(info));
        }
        let intermediates: Vec<X509> = parsed.certificates.clone();
        let detached = parsed.attached.is_none();
        let Some(chained) =
            self.signature(s.cms, s.document, detached, &intermediates, signing_time)?
        else {
            return malformed(Some(info));
        };
        // Valid at signing time.
        if signing_time < info.not_before || signing_time > info.not_after {
            return Ok(Err(Self::rejected(SignatureRejection::Expired, Some(info))));
        }
        // A signing key (docs/national-rules.md 2.2: digitalSignature + nonRepudiation), checked before the chain so
        // that this is the reason given (OpenSSL's chain check refuses a clientAuth-only
        // certificate for S/MIME signing too).
        let usage = parsed.signer.key_usage();
        let signing_key = usage.is_some_and(|u| {
            u.contains(X509KeyUsage::DIGITAL_SIGNATURE) && u.contains(X509KeyUsage::NON_REPUDIATION)
        });
        // An authentication certificate does not sign applications (docs/national-rules.md 2.6, pitfall 4).
        if !signing_key || parsed.authentication_only {
            return Ok(Err(Self::rejected(
                SignatureRejection::NotASigningKey,
                Some(info),
            )));
        }
        if !chained {
            return Ok(Err(Self::rejected(
                SignatureRejection::NotTrusted,
                Some(info),
            )));
        }
        if info.subject_iin.as_ref() != Some(s.applicant) {
            return Ok(Err(Self::rejected(
                SignatureRejection::IinMismatch,
                Some(info),
            )));
        }
        // The issuers are those of the chain verified from the anchors, never a certificate
        // chosen by its name among those the signature carries.
        let Some(chain) = self
            .chain(&parsed.signer, &intermediates, signing_time)?
            .filter(|chain| chain.len() >= 2)
        else {
            return Ok(Err(Self::rejected(
                SignatureRejection::NotTrusted,
                Some(info),
            )));
        };
        Ok(Ok(Checked { info, chain }))
    }

    /// Checks the CMS signature over exactly `document` (attached content must be the document)
    /// and its chain to a trust anchor at `signing_time` through the certificates the CMS carries:
    /// `None` when the signature does not verify, else whether it chains. One check does both
    /// when both hold (the common case); only when it fails is the signature checked alone, to
    /// tell a bad signature from an untrusted one.
    fn signature(
        &self,
        der: &[u8],
        document: &[u8],
        detached: bool,
        intermediates: &[X509],
        signing_time: DateTime<Utc>,
    ) -> Result<Option<bool>, NcaError> {
        let Ok(mut cms) = CmsContentInfo::from_der(der) else {
            return Ok(None);
        };
        let detached = detached.then_some(document);
        let store = store_of(&self.anchors, Some(signing_time))?;
        let mut stack = Stack::new().map_err(|e| NcaError::Internal(e.to_string()))?;
        for cert in intermediates {
            stack
                .push(cert.clone())
                .map_err(|e| NcaError::Internal(e.to_string()))?;
        }
        let mut content = Vec::new();
        let chained = cms
            .verify(
                Some(&stack),
                Some(&store),
                detached,
                Some(&mut content),
                CMSOptions::BINARY,
            )
            .is_ok();
        let signature_ok = chained || {
            content.clear();
            cms.verify(
                None,
                None,
                detached,
                Some(&mut content),
                CMSOptions::BINARY | CMSOptions::NO_SIGNER_CERT_VERIFY,
            )
            .is_ok()
        };
        Ok((signature_ok && content == document).then_some(chained))
    }

    /// The revocation status of `cert` (issued by `issuer`): by OCSP from `url`, else from the
    /// configured CRLs; an error says why neither answered.
    async fn status_of(
        &self,
        url: Option<String>,
        cert: &X509,
        issuer: &X509,
        chain: &[X509],
    ) -> Result<Revocation, NcaError> {
        let trust = ocsp::Trust {
            anchors: &self.anchor_store,
            chain,
            max_age: self.max_age,
        };
        let local = self.local.as_deref().filter(|l| l.answers_for(issuer));
        let by_ocsp = match (local, url) {
            (Some(local), _) => {
                ocsp::status(ocsp::Responder::Local(local), cert, issuer, &trust).await
            }
            (None, Some(url)) => {
                ocsp::status(
                    ocsp::Responder::Http(&self.http, &url),
                    cert,
                    issuer,
                    &trust,
                )
                .await
            }
            (None, None) => Err("the certificate names no OCSP responder".into()),
        };
        match by_ocsp {
            Ok(revocation) => Ok(revocation),
            Err(ocsp) if self.crls.is_empty() => Err(NcaError::RevocationUnknown(ocsp)),
            Err(ocsp) => crl::status(&self.http, &self.crls, cert, issuer)
                .await
                .map_err(|crl| NcaError::RevocationUnknown(format!("OCSP: {ocsp}; CRL: {crl}"))),
        }
    }

    /// The revocation status of the signer and of each intermediate of its chain: revoked when any
    /// is, good when all are. The signer is asked at the configured responder or the one its
    /// certificate names; an intermediate at the one it names (good answers kept a while).
    async fn revocation(&self, checked: &Checked) -> Result<Revocation, NcaError> {
        let chain = &checked.chain;
        let between = &chain[1..chain.len().saturating_sub(1)];
        let named = |cert: &X509| {
            cert.ocsp_responders()
                .ok()
                .and_then(|r| r.iter().next().map(|u| u.to_string()))
        };
        let signer = &chain[0];
        let url = self.ocsp_url.clone().or_else(|| named(signer));
        if self.status_of(url, signer, &chain[1], between).await? == Revocation::Revoked {
            return Ok(Revocation::Revoked);
        }
        for pair in chain[1..].windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let der = cert
                .to_der()
                .map_err(|e| NcaError::Internal(e.to_string()))?;
            if self
                .intermediates
                .get(&der)
                .is_some_and(|until| until > Instant::now())
            {
                continue;
            }
            match self.status_of(named(cert), cert, issuer, between).await? {
                Revocation::Good => self
                    .intermediates
                    .insert(der, Instant::now() + INTERMEDIATE_GOOD_FOR),
                _ => return Ok(Revocation::Revoked),
            }
        }
        Ok(Revocation::Good)
    }
}

/// A store of `anchors`, checking at `at` (now when `None`).
fn store_of(anchors: &[X509], at: Option<DateTime<Utc>>) -> Result<X509Store, NcaError> {
    let internal = |e: openssl::error::ErrorStack| NcaError::Internal(e.to_string());
    let mut builder = X509StoreBuilder::new().map_err(internal)?;
    for anchor in anchors {
        builder.add_cert(anchor.clone()).map_err(internal)?;
    }
    if let Some(at) = at {
        let mut param = X509VerifyParam::new().map_err(internal)?;
        param.set_time(at.timestamp());
        builder.set_param(&param).map_err(internal)?;
    }
    Ok(builder.build())
}

/// A signature that passed the offline checks, with its verified chain (signer first, anchor
/// last: at least two certificates).
struct Checked {
    info: CertificateInfo,
    chain: Vec<X509>,
}

impl SignatureVerifier for OpensslVerifier {
    fn verify<'a>(
        &'a self,
        signature: SignatureToCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, NcaError>> {
        Box::pin(self.check(signature))
    }

    fn revocation_answering(&self) -> Option<bool> {
        self.latest.recent()
    }
}

impl OpensslVerifier {
    async fn check(&self, signature: SignatureToCheck<'_>) -> Result<Verdict, NcaError> {
        let checked = match self.offline(signature)? {
            Ok(checked) => checked,
            Err(rejected) => return Ok(rejected),
        };
        let revocation = self.revocation(&checked).await;
        match &revocation {
            Ok(_) => self.latest.record(true),
            Err(NcaError::RevocationUnknown(_)) => self.latest.record(false),
            Err(NcaError::Internal(_)) => {}
        }
        let revocation = revocation?;
        let mut info = checked.info;
        info.revocation = Some(revocation);
        Ok(match revocation {
            Revocation::Good => Verdict {
                check: SignatureCheck::Verified(info),
                revocation,
            },
            Revocation::Revoked | Revocation::NotChecked => Verdict {
                check: SignatureCheck::Rejected {
                    reason: SignatureRejection::Revoked,
                    certificate: Some(info),
                },
                revocation: Revocation::Revoked,
            },
        })
    }
}
