//! The NCA steps against a real test PKI, real CMS signatures and `openssl ocsp` as the responder.

mod dev_ca;

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
            request_received_at: chrono::Utc::now() - chrono::Duration::minutes(1),
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
    assert_eq!(verifier.revocation_answering(), Some(true));
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
    assert_eq!(down.revocation_answering(), None, "nothing asked yet");
    let answer = check(&down, &pki.sign(&valid, DOCUMENT, false), ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(_))),
        "{answer:?}"
    );
    // `/readyz` learns that the responders do not answer.
    assert_eq!(down.revocation_answering(), Some(false));
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
    // The issuing CA's own status comes from the root's CRL (its responder is not started).
    let root_crl = pki.root_crl_file(24).display().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let down = format!("http://127.0.0.1:{closed}");
    let verifier = verifier_at(&pki, &down).with_crls(vec![crl, root_crl.clone()]);
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
    for crls in [
        vec![foreign, root_crl.clone()],
        vec!["/nonexistent/ca.crl".to_owned(), root_crl.clone()],
    ] {
        let verifier = verifier_at(&pki, &down).with_crls(crls);
        let answer = check(&verifier, &pki.sign(&valid, DOCUMENT, true), ALICE).await;
        assert!(
            matches!(answer, Err(NcaError::RevocationUnknown(_))),
            "{answer:?}"
        );
    }
}

/// Finding 3: the CMS carried a certificate named like the issuing CA, the issuer was picked by
/// name among the CMS's certificates first, and those certificates were trusted for the OCSP
/// answer's signature - so a forged "good" from a responder of the attacker's, signed by that
/// impostor, passed for a revoked key. Now the issuer comes from the chain verified from the
/// anchors and the answer is trusted through the anchors alone: no verdict (and no "good").
#[tokio::test]
async fn a_forged_good_answer_signed_by_an_impostor_named_like_the_ca_is_not_taken() {
    let mut pki = Pki::new();
    let revoked = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), true, true);
    let impostor = pki.impostor_ca();
    let forged = pki.forged_responder(&impostor);
    let real = pki.responder();
    let cms = pki::sign_with(&revoked, &[&impostor.cert, &pki.ca.cert], DOCUMENT, true);
    let verifier = verifier_at(&pki, &forged.url);
    let answer = check(&verifier, &cms, ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(ref why)) if why.contains("does not verify")),
        "{answer:?}"
    );
    // The real responder says what the key is.
    let honest = verifier_at(&pki, &real.url);
    let verdict = check(&honest, &cms, ALICE).await.expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
}

/// Finding 3: an old "good" answer replayed (here one fetched without a nonce, as a recorded one
/// would be) is not taken: the answer must carry the nonce of the request it answers.
#[tokio::test]
async fn a_replayed_good_answer_without_the_requests_nonce_is_not_taken() {
    let mut pki = Pki::new();
    let signer = pki.citizen(ALICE, Algorithm::Rsa, (-10, 300), false, true);
    let responder = pki.responder();
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, pem: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write");
        path
    };
    let cert = write("cert.pem", signer.cert.to_pem().expect("pem"));
    let issuer = write("ca.pem", pki.ca.cert.to_pem().expect("pem"));
    let recorded = dir.path().join("recorded.der");
    let status = std::process::Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(&issuer)
        .arg("-cert")
        .arg(&cert)
        .args(["-url", &responder.url, "-noverify", "-respout"])
        .arg(&recorded)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl ocsp client");
    assert!(status.success());
    let replay = replaying(std::fs::read(&recorded).expect("recorded")).await;
    let verifier = verifier_at(&pki, &replay);
    let answer = check(&verifier, &pki.sign(&signer, DOCUMENT, true), ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(ref why)) if why.contains("nonce")),
        "{answer:?}"
    );
}

/// An HTTP server on loopback that answers every request with `body` as an OCSP response.
async fn replaying(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    url
}

/// Finding 3: the issuing CA itself is checked too; once its issuer (the root) revokes it, no
/// signature under it is good, however good the citizen's own certificate is.
#[tokio::test]
async fn a_signature_under_a_revoked_intermediate_is_revoked() {
    let mut pki = Pki::new();
    let signer = pki.signer(ALICE);
    pki.revoke_issuing_ca();
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    let verdict = check(&verifier, &pki.sign(&signer, DOCUMENT, true), ALICE)
        .await
        .expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
}

/// Finding 5: only an upper bound held the signing time, and the chain and validity were checked
/// at that time, so a signature made earlier (by a certificate since expired) passed for a
/// request filed later. A signing time before the request's receipt (beyond five minutes) is now
/// `signature-invalid`.
#[tokio::test]
async fn a_signature_made_before_the_request_was_received_is_refused() {
    let mut pki = Pki::new();
    let signer = pki.signer(ALICE);
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    let cms = pki.sign(&signer, DOCUMENT, true);
    let applicant = Iin::parse(ALICE).expect("iin");
    let at = |received: chrono::DateTime<chrono::Utc>| SignatureToCheck {
        document: DOCUMENT,
        cms: &cms,
        applicant: &applicant,
        received_at: received + chrono::Duration::minutes(1),
        request_received_at: received,
    };
    let now = chrono::Utc::now();
    let later = verifier
        .verify(at(now + chrono::Duration::hours(1)))
        .await
        .expect("a verdict");
    assert_eq!(rejection(&later), Some(SignatureRejection::Malformed));
    let within_skew = verifier
        .verify(at(now + chrono::Duration::minutes(4)))
        .await
        .expect("a verdict");
    assert!(matches!(within_skew.check, SignatureCheck::Verified(_)));
}

/// Finding 15: a signature carrying more certificates than a chain needs, or a huge one, is
/// refused before any is decoded (the verifier's cache of decoded certificates stays bounded).
#[tokio::test]
async fn a_signature_carrying_too_many_or_too_large_certificates_is_refused() {
    let mut pki = Pki::new();
    let signer = pki.signer(ALICE);
    let responder = pki.responder();
    let verifier = verifier_at(&pki, &responder.url);
    // The chain and ten certificates of no use: eleven, past the ten a signature may carry.
    let strangers: Vec<_> = (0..9).map(|_| Pki::stranger(BOB).0.cert).collect();
    let mut chain = vec![&pki.ca.cert, &pki.root.cert];
    chain.extend(strangers.iter());
    let crowded = pki::sign_with(&signer, &chain, DOCUMENT, true);
    let verdict = check(&verifier, &crowded, ALICE).await.expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Malformed));
    let big = pki.citizen_with(
        ALICE,
        Algorithm::Rsa,
        (-10, 300),
        false,
        true,
        &[("nsComment", &"x".repeat(20_000))],
    );
    let verdict = check(&verifier, &pki.sign(&big, DOCUMENT, true), ALICE)
        .await
        .expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Malformed));
}
