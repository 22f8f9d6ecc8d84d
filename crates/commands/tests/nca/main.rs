//! The NCA steps against a real test PKI, real CMS signatures and `openssl ocsp` as the responder.

use std::time::Duration;

use commands::adapters::nca::{
    NcaError, OpensslVerifier, Revocation, SignatureToCheck, SignatureVerifier,
};
use domain::request::{SignatureCheck, SignatureRejection};
use domain::Iin;
use testkit::pki::{self, Algorithm, Pki};

const ALICE: &str = "900101300007";
const BOB: &str = "850715400109";
const DOCUMENT: &[u8] = br#"{"applicant":"900101300007","number":"20261124000001"}"#;

fn verifier_at(pki: &Pki, ocsp_url: &str) -> OpensslVerifier {
    OpensslVerifier::new(
        pki.anchors(),
        Some(ocsp_url.to_owned()),
        Duration::from_secs(5),
    )
    .expect("verifier")
}

async fn check(
    verifier: &OpensslVerifier,
    cms: &[u8],
    applicant: &str,
) -> Result<commands::adapters::nca::Verdict, NcaError> {
    let applicant = Iin::parse(applicant).expect("iin");
    verifier
        .verify(SignatureToCheck {
            document: DOCUMENT,
            cms,
            applicant: &applicant,
            received_at: chrono::Utc::now(),
        })
        .await
}

fn rejection(verdict: &commands::adapters::nca::Verdict) -> Option<SignatureRejection> {
    match &verdict.check {
        SignatureCheck::Rejected { reason, .. } => Some(*reason),
        SignatureCheck::Verified(_) => None,
    }
}

#[tokio::test]
async fn valid_rsa_and_ecdsa_signatures_attached_or_detached_are_verified_with_their_certificate() {
    let mut pki = Pki::new();
    let rsa = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, true);
    let ec = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), false, true);
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    for (signer, detached) in [(&rsa, false), (&ec, true), (&rsa, true)] {
        let verdict = check(&verifier, &pki.sign(signer, DOCUMENT, detached), ALICE)
            .await
            .expect("verdict");
        let SignatureCheck::Verified(info) = &verdict.check else {
            panic!("expected verified, got {verdict:?}")
        };
        assert_eq!(verdict.revocation, Revocation::Good);
        assert_eq!(info.subject_iin.as_ref().map(Iin::as_str), Some(ALICE));
        assert!(info.issuer.contains("ҰКО TEST (RSA)"), "{}", info.issuer);
        assert!(info.serial.starts_with("10"), "{}", info.serial);
        assert!(info.not_before < chrono::Utc::now() && chrono::Utc::now() < info.not_after);
    }
}

#[tokio::test]
async fn verdicts_stay_the_same_when_the_verifier_has_met_the_certificates_before() {
    // The verifier keeps the certificates it decoded: a citizen signing again, and another
    // citizen under the same issuing CA, must get the verdicts a fresh verifier gives.
    let mut pki = Pki::new();
    let alice = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), false, true);
    let revoked = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), true, true);
    let bob = pki.citizen(BOB, Algorithm::EcP256, (-10, 300), false, true);
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    let signed = pki.sign(&alice, DOCUMENT, true);
    for _ in 0..3 {
        let verdict = check(&verifier, &signed, ALICE).await.expect("verdict");
        assert_eq!(rejection(&verdict), None, "{verdict:?}");
    }
    let verdict = check(&verifier, &pki.sign(&bob, DOCUMENT, true), ALICE)
        .await
        .expect("verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::IinMismatch));
    let verdict = check(&verifier, &pki.sign(&revoked, DOCUMENT, true), ALICE)
        .await
        .expect("verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
    let verdict = check(&verifier, &pki.sign(&alice, b"something else", true), ALICE)
        .await
        .expect("verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Malformed));
}

#[tokio::test]
async fn every_failing_check_names_its_reason() {
    let mut pki = Pki::new();
    let expired = pki.citizen(ALICE, Algorithm::Rsa, (-400, -10), false, true);
    let not_yet = pki.citizen(ALICE, Algorithm::Rsa, (10, 400), false, true);
    let revoked = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), true, true);
    let bobs = pki.citizen(BOB, Algorithm::Rsa, (-10, 300), false, true);
    let authentication = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, false);
    let valid = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), false, true);
    let profiles: Vec<_> = [
        (
            &[("certificatePolicies", "1.2.398.3.3.2.4")][..],
            Some(SignatureRejection::NotASigningKey),
        ),
        (
            &[("extendedKeyUsage", "clientAuth")][..],
            Some(SignatureRejection::NotASigningKey),
        ),
        (
            &[
                ("certificatePolicies", "1.2.398.3.3.2.3"),
                ("extendedKeyUsage", "emailProtection"),
            ][..],
            None,
        ),
    ]
    .into_iter()
    .map(|(extensions, expected)| {
        let cert = pki.citizen_with(ALICE, Algorithm::Rsa, (-10, 300), false, true, extensions);
        (cert, expected)
    })
    .collect();
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    let reason = |cms: Vec<u8>| {
        let verifier = &verifier;
        async move { rejection(&check(verifier, &cms, ALICE).await.expect("verdict")) }
    };
    assert_eq!(
        reason(pki.sign(&expired, DOCUMENT, false)).await,
        Some(SignatureRejection::Expired)
    );
    assert_eq!(
        reason(pki.sign(&not_yet, DOCUMENT, false)).await,
        Some(SignatureRejection::Expired)
    );
    assert_eq!(
        reason(pki.sign(&revoked, DOCUMENT, false)).await,
        Some(SignatureRejection::Revoked)
    );
    assert_eq!(
        reason(pki.sign(&bobs, DOCUMENT, false)).await,
        Some(SignatureRejection::IinMismatch)
    );
    assert_eq!(
        reason(pki.sign(&authentication, DOCUMENT, false)).await,
        Some(SignatureRejection::NotASigningKey)
    );
    // The NCA's profile (docs/national-rules.md 2.2): an authentication policy or clientAuth-only usage does not
    // sign applications, even with a signing key usage; the signing policy and emailProtection do.
    for (cert, expected) in &profiles {
        let verdict = check(&verifier, &pki.sign(cert, DOCUMENT, false), ALICE)
            .await
            .expect("verdict");
        assert_eq!(rejection(&verdict), *expected);
    }
    let (_root, stranger) = Pki::stranger(ALICE);
    assert_eq!(
        reason(pki::sign_with(&stranger, &[], DOCUMENT, false)).await,
        Some(SignatureRejection::NotTrusted)
    );
    // Another document, attached or detached; bytes that are no CMS at all.
    assert_eq!(
        reason(pki.sign(&valid, b"something else", false)).await,
        Some(SignatureRejection::Malformed)
    );
    assert_eq!(
        reason(pki.sign(&valid, b"something else", true)).await,
        Some(SignatureRejection::Malformed)
    );
    assert_eq!(
        reason(b"\x30\x03\x02\x01\x01".to_vec()).await,
        Some(SignatureRejection::Malformed)
    );
    // The revoked and the valid certificate's verdicts carry the certificate.
    let verdict = check(&verifier, &pki.sign(&revoked, DOCUMENT, false), ALICE)
        .await
        .expect("verdict");
    assert!(matches!(
        verdict.check,
        SignatureCheck::Rejected {
            certificate: Some(_),
            ..
        }
    ));
    assert_eq!(verdict.revocation, Revocation::Revoked);
}

#[tokio::test]
async fn a_responder_that_is_down_gives_no_verdict_rather_than_a_silent_good() {
    let mut pki = Pki::new();
    let valid = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, true);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let down = verifier_at(&pki, &format!("http://127.0.0.1:{closed}"));
    let answer = check(&down, &pki.sign(&valid, DOCUMENT, false), ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(_))),
        "{answer:?}"
    );
    // Another PKI's responder: its answer does not verify against our anchors (and it does not
    // know the certificate) - no verdict either.
    let other = Pki::new();
    let responder = other.responder();
    let verifier = verifier_at(&pki, &responder.url);
    let answer = check(&verifier, &pki.sign(&valid, DOCUMENT, false), ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn without_a_configured_responder_the_one_the_certificate_names_is_asked() {
    let mut pki = Pki::new();
    let valid = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, true);
    let revoked = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), true, true);
    let _responder = pki.responder();
    let from_certificate =
        OpensslVerifier::new(pki.anchors(), None, Duration::from_secs(5)).expect("verifier");
    let verdict = check(&from_certificate, &pki.sign(&valid, DOCUMENT, false), ALICE)
        .await
        .expect("verdict");
    assert_eq!(verdict.revocation, Revocation::Good);
    assert!(matches!(verdict.check, SignatureCheck::Verified(_)));
    let verdict = check(
        &from_certificate,
        &pki.sign(&revoked, DOCUMENT, true),
        ALICE,
    )
    .await
    .expect("verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
}

#[tokio::test]
async fn with_the_responder_down_a_configured_crl_of_the_issuer_decides_and_anothers_does_not() {
    let mut pki = Pki::new();
    let valid = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, true);
    let revoked = pki.citizen(ALICE, Algorithm::EcP256, (-10, 300), true, true);
    let crl = pki.crl_file(24).display().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let down = format!("http://127.0.0.1:{closed}");
    let verifier = verifier_at(&pki, &down).with_crls(vec![crl]);
    let verdict = check(&verifier, &pki.sign(&valid, DOCUMENT, true), ALICE)
        .await
        .expect("a verdict from the CRL");
    assert_eq!(verdict.revocation, Revocation::Good);
    assert!(matches!(verdict.check, SignatureCheck::Verified(_)));
    let verdict = check(&verifier, &pki.sign(&revoked, DOCUMENT, true), ALICE)
        .await
        .expect("a verdict from the CRL");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
    // A CRL of another CA (or no readable CRL) decides nothing: still no verdict.
    let other = Pki::new();
    let foreign = other.crl_file(24).display().to_string();
    for crls in [vec![foreign], vec!["/nonexistent/ca.crl".to_owned()]] {
        let verifier = verifier_at(&pki, &down).with_crls(crls);
        let answer = check(&verifier, &pki.sign(&valid, DOCUMENT, true), ALICE).await;
        assert!(
            matches!(answer, Err(NcaError::RevocationUnknown(_))),
            "{answer:?}"
        );
    }
}
