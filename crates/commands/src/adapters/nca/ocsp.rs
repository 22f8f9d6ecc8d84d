//! One OCSP exchange for one certificate: a request carrying a fresh nonce, and the answer taken
//! only when it is signed by the certificate's issuer (or a responder the issuer delegated to)
//! under the configured trust anchors, echoes the nonce, covers the certificate and is current.
//!
//! The trust for the answer's signature comes from the anchors alone: certificates a citizen's
//! CMS carries are never trusted, and the issuer is the one the verified chain names (a CMS could
//! carry a certificate named like the real CA; its answer would not verify). OpenSSL's bindings
//! neither add a nonce to a request nor read one from an answer, so both are done on the DER with
//! the `x509-ocsp` types.

use std::time::Duration;

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus,
};
use openssl::stack::Stack;
use openssl::x509::store::X509Store;
use openssl::x509::X509;
use x509_cert::ext::Extension;

use super::Revocation;

/// id-pkix-ocsp-nonce (RFC 6960 4.4.1).
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// How far a responder's clock may run ahead of ours.
const SKEW_SECONDS: u32 = 300;

/// What an exchange needs besides the certificate: the trust anchors' store, the verified chain's
/// certificates between (to build the responder's chain from), and how old an answer without a
/// nextUpdate may be.
pub(super) struct Trust<'a> {
    pub anchors: &'a X509Store,
    pub chain: &'a [X509],
    pub max_age: Duration,
}

/// Where an OCSP request goes: a responder over HTTP, or one inside this process.
pub(super) enum Responder<'a> {
    Http(&'a reqwest::Client, &'a str),
    Local(&'a dyn super::LocalResponder),
}

/// The status `responder` gives for `cert` (issued by `issuer`), or why there is none.
pub(super) async fn status(
    responder: Responder<'_>,
    cert: &X509,
    issuer: &X509,
    trust: &Trust<'_>,
) -> Result<Revocation, String> {
    let id = || OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).map_err(text);
    let mut nonce = [0u8; 16];
    openssl::rand::rand_bytes(&mut nonce).map_err(text)?;
    let body = request(id()?, &nonce)?;
    let bytes = match responder {
        Responder::Http(http, url) => exchange(http, url, body).await?,
        Responder::Local(local) => local
            .answer(&body)
            .map_err(|e| format!("the development CA: {e}"))?,
    };
    read_answer(&bytes, &id()?, &nonce, trust)
}

/// The answer `url` gives to `body`.
async fn exchange(http: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
    let answer = http
        .post(url)
        .header("content-type", "application/ocsp-request")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", causes(&e)))?;
    if !answer.status().is_success() {
        return Err(format!("{url} answered {}", answer.status()));
    }
    let bytes = answer.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(bytes.to_vec())
}

/// The DER of an OCSP request for `id` with `nonce` in its extensions.
fn request(id: OcspCertId, nonce: &[u8]) -> Result<Vec<u8>, String> {
    let mut request = OcspRequest::new().map_err(text)?;
    request.add_id(id).map_err(text)?;
    let der = request.to_der().map_err(text)?;
    let mut parsed = x509_ocsp::OcspRequest::from_der(&der).map_err(text)?;
    let value = OctetString::new(nonce)
        .and_then(|n| n.to_der())
        .map_err(text)?;
    parsed.tbs_request.request_extensions = Some(vec![Extension {
        extn_id: NONCE,
        critical: false,
        extn_value: OctetString::new(value).map_err(text)?,
    }]);
    parsed.to_der().map_err(text)
}

/// The status an answer gives, once it verified, echoed `nonce` and is current.
fn read_answer(
    bytes: &[u8],
    id: &OcspCertId,
    nonce: &[u8],
    trust: &Trust<'_>,
) -> Result<Revocation, String> {
    let response =
        OcspResponse::from_der(bytes).map_err(|e| format!("not an OCSP response: {e}"))?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(format!(
            "the responder answered status {:?}",
            response.status()
        ));
    }
    let basic = response.basic().map_err(text)?;
    let mut chain = Stack::new().map_err(text)?;
    for cert in trust.chain {
        chain.push(cert.clone()).map_err(text)?;
    }
    basic
        .verify(&chain, trust.anchors, OcspFlag::empty())
        .map_err(|e| format!("the OCSP answer does not verify: {e}"))?;
    if echoed_nonce(bytes)?.as_deref() != Some(nonce) {
        return Err("the OCSP answer does not carry the request's nonce".into());
    }
    let status = basic
        .find_status(id)
        .ok_or("the answer does not cover this certificate")?;
    // Without a nextUpdate an answer says nothing of how long it holds: it may be no older than
    // the bound (EGOV_OCSP_MAX_AGE).
    let max_age = status
        .next_update()
        .is_none()
        .then(|| u32::try_from(trust.max_age.as_secs()).unwrap_or(u32::MAX));
    status
        .check_validity(SKEW_SECONDS, max_age)
        .map_err(|e| format!("the answer is stale: {e}"))?;
    match status.status {
        OcspCertStatus::GOOD => Ok(Revocation::Good),
        OcspCertStatus::REVOKED => Ok(Revocation::Revoked),
        _ => Err("the responder does not know the certificate".into()),
    }
}

/// The nonce the answer's responseExtensions carry, if any.
fn echoed_nonce(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let response = x509_ocsp::OcspResponse::from_der(bytes).map_err(text)?;
    let body = response.response_bytes.ok_or("the answer has no body")?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(body.response.as_bytes()).map_err(text)?;
    let Some(extension) = basic
        .tbs_response_data
        .response_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == NONCE)
    else {
        return Ok(None);
    };
    let inner = OctetString::from_der(extension.extn_value.as_bytes())
        .map(OctetString::into_bytes)
        // A responder that put the nonce's bytes in the value unwrapped.
        .unwrap_or_else(|_| extension.extn_value.as_bytes().to_vec());
    Ok(Some(inner))
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
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
