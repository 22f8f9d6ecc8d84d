//! The CRL fallback (docs/national-rules.md 2.6, pitfall 2: OCSP, with CRL fallback): when the OCSP responder gives
//! no answer, the configured CRLs (`EGOV_CRL_URLS`: http(s) URLs or files, PEM or DER) are read, the
//! one issued by the certificate's issuer is checked - its signature, and that it is current - and
//! the certificate is looked up in it. A CRL that cannot be read, is not signed by the issuer or is
//! past its nextUpdate gives no answer either: never a silent "good".

use chrono::Utc;
use openssl::x509::{CrlStatus, X509Crl, X509};

use super::Revocation;

/// The revocation status from the first usable CRL of `sources`, or why there is none.
pub(super) async fn status(
    http: &reqwest::Client,
    sources: &[String],
    signer: &X509,
    issuer: &X509,
) -> Result<Revocation, String> {
    let mut reasons = Vec::new();
    for source in sources {
        match check(http, source, signer, issuer).await {
            Ok(revocation) => return Ok(revocation),
            Err(reason) => reasons.push(format!("{source}: {reason}")),
        }
    }
    Err(if reasons.is_empty() {
        "no CRL is configured".into()
    } else {
        reasons.join("; ")
    })
}

async fn check(
    http: &reqwest::Client,
    source: &str,
    signer: &X509,
    issuer: &X509,
) -> Result<Revocation, String> {
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let answer = http.get(source).send().await.map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("answered {}", answer.status()));
        }
        answer.bytes().await.map_err(|e| e.to_string())?.to_vec()
    } else {
        std::fs::read(source).map_err(|e| e.to_string())?
    };
    let crl = X509Crl::from_pem(&bytes)
        .or_else(|_| X509Crl::from_der(&bytes))
        .map_err(|_| "not a CRL (PEM or DER)".to_owned())?;
    let same_issuer =
        crl.issuer_name().try_cmp(issuer.subject_name()).ok() == Some(std::cmp::Ordering::Equal);
    if !same_issuer {
        return Err("issued by another CA".into());
    }
    let key = issuer.public_key().map_err(|e| e.to_string())?;
    if !crl.verify(&key).map_err(|e| e.to_string())? {
        return Err("its signature does not verify with the issuer's key".into());
    }
    let now =
        openssl::asn1::Asn1Time::from_unix(Utc::now().timestamp()).map_err(|e| e.to_string())?;
    let current = crl.next_update().is_some_and(|next| next >= now.as_ref())
        && crl.last_update() <= now.as_ref();
    if !current {
        return Err("not current (past its nextUpdate, or issued in the future)".into());
    }
    Ok(match crl.get_by_cert(signer) {
        CrlStatus::NotRevoked | CrlStatus::RemoveFromCrl(_) => Revocation::Good,
        CrlStatus::Revoked(_) => Revocation::Revoked,
    })
}
