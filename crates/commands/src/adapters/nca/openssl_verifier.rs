//! [`OpensslVerifier`]: RSA and ECDSA signatures checked with OpenSSL, revocation by OCSP (and
//! CRLs when OCSP gives no answer).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::request::{CertificateInfo, SignatureCheck, SignatureRejection};
use futures_util::future::BoxFuture;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus,
};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509KeyUsage, X509};

use super::{
    crl, parse, NcaError, Revocation, SignatureToCheck, SignatureVerifier, TrustAnchorError,
    Verdict,
};

/// How far a signing time may lie after the time of receipt (clocks differ).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// How many decoded certificates the verifier keeps (about 2 KiB each).
const DECODED_CERTIFICATES: usize = 20_000;

/// RSA and ECDSA signatures, checked with OpenSSL.
pub struct OpensslVerifier {
    anchors: Vec<X509>,
    ocsp_url: Option<String>,
    /// CRLs asked when OCSP gives no answer (URLs or files).
    crls: Vec<String>,
    http: reqwest::Client,
    /// Certificates met in signatures, by their DER: OpenSSL 3 takes longer to decode a
    /// certificate (its public key) than to check a signature, and citizens sign with the same
    /// certificate for years, under the same few intermediates.
    decoded: quick_cache::sync::Cache<Vec<u8>, X509>,
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
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(ocsp_timeout).build()?;
        Ok(Self {
            anchors,
            ocsp_url,
            crls: Vec::new(),
            http,
            decoded: quick_cache::sync::Cache::new(DECODED_CERTIFICATES),
        })
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

    fn store(&self, extra: &[X509], at: Option<DateTime<Utc>>) -> Result<X509Store, NcaError> {
        let internal = |e: openssl::error::ErrorStack| NcaError::Internal(e.to_string());
        let mut builder = X509StoreBuilder::new().map_err(internal)?;
        for anchor in self.anchors.iter().chain(extra) {
            builder.add_cert(anchor.clone()).map_err(internal)?;
        }
        if let Some(at) = at {
            let mut param = X509VerifyParam::new().map_err(internal)?;
            param.set_time(at.timestamp());
            builder.set_param(&param).map_err(internal)?;
        }
        Ok(builder.build())
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
        if signing_time > s.received_at + CLOCK_SKEW {
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
        let issuer = intermediates
            .iter()
            .chain(&self.anchors)
            .find(|c| {
                c.subject_name().try_cmp(parsed.signer.issuer_name()).ok()
                    == Some(std::cmp::Ordering::Equal)
            })
            .cloned()
            .ok_or_else(|| NcaError::Internal("the issuer is not at hand".into()))?;
        Ok(Ok(Checked {
            info,
            signer: parsed.signer,
            issuer,
            intermediates,
        }))
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
        let store = self.store(&[], Some(signing_time))?;
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

    async fn revocation(&self, checked: &Checked) -> Result<Revocation, NcaError> {
        let unknown = |why: String| NcaError::RevocationUnknown(why);
        let url = match &self.ocsp_url {
            Some(url) => url.clone(),
            None => checked
                .signer
                .ocsp_responders()
                .ok()
                .and_then(|r| r.iter().next().map(|u| u.to_string()))
                .ok_or_else(|| unknown("the certificate names no OCSP responder".into()))?,
        };
        let id = || {
            OcspCertId::from_cert(MessageDigest::sha1(), &checked.signer, &checked.issuer)
                .map_err(|e| NcaError::Internal(e.to_string()))
        };
        let mut request = OcspRequest::new().map_err(|e| NcaError::Internal(e.to_string()))?;
        request
            .add_id(id()?)
            .map_err(|e| NcaError::Internal(e.to_string()))?;
        let body = request
            .to_der()
            .map_err(|e| NcaError::Internal(e.to_string()))?;
        let answer = self
            .http
            .post(&url)
            .header("content-type", "application/ocsp-request")
            .body(body)
            .send()
            .await
            .map_err(|e| unknown(format!("{url}: {}", causes(&e))))?;
        if !answer.status().is_success() {
            return Err(unknown(format!("{url} answered {}", answer.status())));
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| unknown(format!("{url}: {e}")))?;
        self.ocsp_answer(&bytes, checked)
    }

    /// The revocation status an OCSP answer gives for `checked`, once its signature verified.
    fn ocsp_answer(&self, bytes: &[u8], checked: &Checked) -> Result<Revocation, NcaError> {
        let unknown = |why: String| NcaError::RevocationUnknown(why);
        let id = || {
            OcspCertId::from_cert(MessageDigest::sha1(), &checked.signer, &checked.issuer)
                .map_err(|e| NcaError::Internal(e.to_string()))
        };
        let response = OcspResponse::from_der(bytes)
            .map_err(|e| unknown(format!("not an OCSP response: {e}")))?;
        if response.status() != OcspResponseStatus::SUCCESSFUL {
            return Err(unknown(format!(
                "the responder answered status {:?}",
                response.status()
            )));
        }
        let basic = response.basic().map_err(|e| unknown(e.to_string()))?;
        // The answer must be signed by the CA or a responder it delegated to.
        let store = self.store(&checked.intermediates, None)?;
        let mut certs = Stack::new().map_err(|e| NcaError::Internal(e.to_string()))?;
        for cert in &checked.intermediates {
            certs
                .push(cert.clone())
                .map_err(|e| NcaError::Internal(e.to_string()))?;
        }
        basic
            .verify(&certs, &store, OcspFlag::empty())
            .map_err(|e| unknown(format!("the OCSP answer does not verify: {e}")))?;
        let id = id()?;
        let status = basic
            .find_status(&id)
            .ok_or_else(|| unknown("the answer does not cover this certificate".into()))?;
        status
            .check_validity(300, None)
            .map_err(|e| unknown(format!("the answer is stale: {e}")))?;
        match status.status {
            OcspCertStatus::GOOD => Ok(Revocation::Good),
            OcspCertStatus::REVOKED => Ok(Revocation::Revoked),
            _ => Err(unknown(
                "the responder does not know the certificate".into(),
            )),
        }
    }
}

/// A signature that passed the offline checks.
struct Checked {
    info: CertificateInfo,
    signer: X509,
    issuer: X509,
    intermediates: Vec<X509>,
}

impl SignatureVerifier for OpensslVerifier {
    fn verify<'a>(
        &'a self,
        signature: SignatureToCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, NcaError>> {
        Box::pin(self.check(signature))
    }
}

impl OpensslVerifier {
    async fn check(&self, signature: SignatureToCheck<'_>) -> Result<Verdict, NcaError> {
        let checked = match self.offline(signature)? {
            Ok(checked) => checked,
            Err(rejected) => return Ok(rejected),
        };
        let revocation = match self.revocation(&checked).await {
            Err(NcaError::RevocationUnknown(ocsp)) if !self.crls.is_empty() => {
                crl::status(&self.http, &self.crls, &checked.signer, &checked.issuer)
                    .await
                    .map_err(|crl| {
                        NcaError::RevocationUnknown(format!("OCSP: {ocsp}; CRL: {crl}"))
                    })?
            }
            other => other?,
        };
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

/// An error and its causes, for a message an operator can act on.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
