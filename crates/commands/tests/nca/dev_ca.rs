//! Development mode's authority: the certificates it issues pass the same verifier as the NCA's,
//! its in-process OCSP answers decide their status, and nothing else trusts it.

use std::sync::Arc;
use std::time::Duration;

use commands::adapters::nca::dev_ca::DevCaError;
use commands::adapters::nca::{DevCa, NcaError, OpensslVerifier, Revocation};
use domain::request::{SignatureCheck, SignatureRejection};
use domain::Iin;
use testkit::pki::{self, Issued, Pki};

use super::{check, rejection, ALICE, BOB, DOCUMENT};

fn signed_by(ca: &DevCa, iin: &str) -> (Vec<u8>, openssl::x509::X509) {
    let issued = ca
        .issue(&Iin::parse(iin).expect("iin"), "ТЕСТОВ ТЕСТ")
        .expect("issued");
    let cert = issued.certificate.clone();
    let signer = Issued {
        cert: issued.certificate,
        key: issued.key,
    };
    (pki::sign_with(&signer, &[], DOCUMENT, false), cert)
}

fn trusting(ca: &Arc<DevCa>) -> OpensslVerifier {
    OpensslVerifier::new(vec![ca.certificate().clone()], None, Duration::from_secs(5))
        .expect("verifier")
        .with_local_responder(ca.clone())
}

#[tokio::test]
async fn a_development_certificate_is_verified_good_until_the_authority_revokes_it() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Arc::new(DevCa::open_or_create(&dir.path().join("dev-ca")).expect("authority"));
    let verifier = trusting(&ca);
    let (cms, cert) = signed_by(&ca, ALICE);
    let verdict = check(&verifier, &cms, ALICE).await.expect("a verdict");
    let SignatureCheck::Verified(info) = &verdict.check else {
        panic!("expected verified, got {verdict:?}")
    };
    assert_eq!(verdict.revocation, Revocation::Good);
    assert_eq!(info.subject_iin.as_ref().map(Iin::as_str), Some(ALICE));
    assert!(info.issuer.contains("DEVELOPMENT"), "{}", info.issuer);
    // The IIN in the certificate is the holder's: it signs nobody else's request.
    let verdict = check(&verifier, &cms, BOB).await.expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::IinMismatch));
    ca.revoke(&cert).expect("revoked");
    let verdict = check(&verifier, &cms, ALICE).await.expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::Revoked));
    // Another certificate of the same holder stays good.
    let (other, _) = signed_by(&ca, ALICE);
    let verdict = check(&verifier, &other, ALICE).await.expect("a verdict");
    assert_eq!(verdict.revocation, Revocation::Good);
}

#[tokio::test]
async fn only_a_verifier_asked_to_trust_the_development_authority_takes_its_certificates() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Arc::new(DevCa::open_or_create(dir.path()).expect("authority"));
    let (cms, _) = signed_by(&ca, ALICE);
    // Production's verifier: the NCA's anchors only, whatever responder is at hand.
    let nca = Pki::new();
    let production = OpensslVerifier::new(nca.anchors(), None, Duration::from_secs(5))
        .expect("verifier")
        .with_local_responder(ca.clone());
    let verdict = check(&production, &cms, ALICE).await.expect("a verdict");
    assert_eq!(rejection(&verdict), Some(SignatureRejection::NotTrusted));
    // Trusting the authority without its responder: no status, so no verdict - never a silent good.
    let without =
        OpensslVerifier::new(vec![ca.certificate().clone()], None, Duration::from_secs(5))
            .expect("verifier");
    let answer = check(&without, &cms, ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(_))),
        "{answer:?}"
    );
    // A second authority's responder knows nothing of the first's certificates.
    let other_dir = tempfile::tempdir().expect("dir");
    let other = Arc::new(DevCa::open_or_create(other_dir.path()).expect("authority"));
    let mixed = OpensslVerifier::new(vec![ca.certificate().clone()], None, Duration::from_secs(5))
        .expect("verifier")
        .with_local_responder(other);
    let answer = check(&mixed, &cms, ALICE).await;
    assert!(
        matches!(answer, Err(NcaError::RevocationUnknown(_))),
        "{answer:?}"
    );
}

#[test]
fn the_authority_is_kept_beside_the_data_its_key_readable_by_its_owner_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let first = DevCa::open_or_create(dir.path()).expect("made");
    let again = DevCa::open_or_create(dir.path()).expect("opened");
    assert_eq!(
        first.certificate().to_der().expect("der"),
        again.certificate().to_der().expect("der")
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("ca-key.pem"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // Another authority's key beside this certificate is refused, not used.
    let other = tempfile::tempdir().expect("dir");
    DevCa::open_or_create(other.path()).expect("made");
    std::fs::copy(
        other.path().join("ca-key.pem"),
        dir.path().join("ca-key.pem"),
    )
    .expect("copy");
    let refused = DevCa::open_or_create(dir.path());
    assert!(
        matches!(refused, Err(DevCaError::Invalid { .. })),
        "{:?}",
        refused.err()
    );
    // What a crash while making the authority leaves - a key, no certificate - is made anew.
    let half = tempfile::tempdir().expect("dir");
    std::fs::write(half.path().join("ca-key.pem"), b"left by a crash").expect("write");
    let made = DevCa::open_or_create(half.path()).expect("made anew");
    assert!(made.certificate().public_key().is_ok());
}
