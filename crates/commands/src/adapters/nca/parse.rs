//! Reading a CMS SignedData's structure (OpenSSL's bindings check signatures but do not expose the
//! signer's certificate or signed attributes): the signer's certificate, the other certificates,
//! the signed signingTime and the attached content.

use chrono::{DateTime, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use domain::request::CertificateInfo;
use domain::Iin;
use openssl::nid::Nid;
use openssl::x509::X509;

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const CERTIFICATE_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// docs/national-rules.md 2.2: the NCA's policies of signing certificates (legal entities, individuals).
const SIGNING_POLICIES: [ObjectIdentifier; 2] = [
    ObjectIdentifier::new_unwrap("1.2.398.3.3.2.1"),
    ObjectIdentifier::new_unwrap("1.2.398.3.3.2.3"),
];
/// docs/national-rules.md 2.2: the NCA's policies of authentication certificates.
const AUTHENTICATION_POLICIES: [ObjectIdentifier; 2] = [
    ObjectIdentifier::new_unwrap("1.2.398.3.3.2.2"),
    ObjectIdentifier::new_unwrap("1.2.398.3.3.2.4"),
];
const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");

/// Most certificates a signature may carry: the signer's and its chain (the NCA's is two deep).
pub(super) const MAX_CERTIFICATES: usize = 10;
/// Largest certificate taken (NCA certificates are about 2 KiB).
pub(super) const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

pub(super) struct Parsed {
    pub signer: X509,
    pub info: CertificateInfo,
    /// Every certificate the CMS carries, the signer's included.
    pub certificates: Vec<X509>,
    pub signing_time: Option<DateTime<Utc>>,
    pub attached: Option<Vec<u8>>,
    /// Whether the signer's certificate says it is for authentication, not for signing: an
    /// authentication policy of docs/national-rules.md 2.2 without a signing one, or clientAuth without
    /// emailProtection in its extended key usage (docs/national-rules.md 2.6, pitfall 4).
    pub authentication_only: bool,
}

/// `None` when the bytes are not a CMS SignedData with one signer whose certificate it carries,
/// or it carries more than [`MAX_CERTIFICATES`] or one larger than [`MAX_CERTIFICATE_BYTES`].
/// `to_openssl` turns a certificate's DER into OpenSSL's form (the verifier caches it).
pub(super) fn parse(
    der_bytes: &[u8],
    to_openssl: impl Fn(&[u8]) -> Option<X509>,
) -> Option<Parsed> {
    let info = ContentInfo::from_der(der_bytes).ok()?;
    if info.content_type != SIGNED_DATA {
        return None;
    }
    let signed: SignedData = info.content.decode_as().ok()?;
    let signers = signed.signer_infos.0.as_slice();
    let [signer_info] = signers else { return None };
    let certificates = carried(&signed)?;
    let signer = certificates.iter().find(|cert| match &signer_info.sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            cert.tbs_certificate.issuer == id.issuer
                && cert.tbs_certificate.serial_number == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            cert.tbs_certificate.extensions.iter().flatten().any(|ext| {
                ext.extn_id == SUBJECT_KEY_ID
                    && OctetString::from_der(ext.extn_value.as_bytes())
                        .is_ok_and(|v| v.as_bytes() == ski.0.as_bytes())
            })
        }
    })?;
    let signing_time = signer_info
        .signed_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .find(|attr| attr.oid == SIGNING_TIME)
        .and_then(|attr| attr.values.iter().next())
        .and_then(|value| x509_cert::time::Time::from_der(&value.to_der().ok()?).ok())
        .and_then(|time| {
            let since = time.to_unix_duration();
            DateTime::from_timestamp(i64::try_from(since.as_secs()).ok()?, since.subsec_nanos())
        });
    let attached = match &signed.encap_content_info.econtent {
        Some(any) => Some(any.decode_as::<OctetString>().ok()?.into_bytes()),
        None => None,
    };
    let authentication_only = authentication_only(signer);
    let to_openssl = |cert: &x509_cert::Certificate| to_openssl(&cert.to_der().ok()?);
    let signer = to_openssl(signer)?;
    let certificates = certificates.iter().filter_map(to_openssl).collect();
    let info = CertificateInfo {
        serial: signer
            .serial_number()
            .to_bn()
            .ok()?
            .to_hex_str()
            .ok()?
            .to_string(),
        issuer: oneline(signer.issuer_name()),
        not_before: asn1_time(signer.not_before())?,
        not_after: asn1_time(signer.not_after())?,
        subject_iin: subject_iin(&signer),
        revocation: Some(domain::request::RevocationStatus::NotChecked),
    };
    Some(Parsed {
        signer,
        info,
        certificates,
        signing_time,
        attached,
        authentication_only,
    })
}

/// The certificates `signed` carries; `None` past [`MAX_CERTIFICATES`] or
/// [`MAX_CERTIFICATE_BYTES`].
fn carried(signed: &SignedData) -> Option<Vec<x509_cert::Certificate>> {
    let certificates: Vec<x509_cert::Certificate> = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|choice| match choice {
                    CertificateChoices::Certificate(cert) => Some(cert.clone()),
                    CertificateChoices::Other(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let oversized = |cert: &x509_cert::Certificate| {
        cert.encoded_len().map_or(true, |len| {
            usize::try_from(u32::from(len)).unwrap_or(usize::MAX) > MAX_CERTIFICATE_BYTES
        })
    };
    (certificates.len() <= MAX_CERTIFICATES && !certificates.iter().any(oversized))
        .then_some(certificates)
}

fn authentication_only(cert: &x509_cert::Certificate) -> bool {
    let extensions = cert.tbs_certificate.extensions.iter().flatten();
    let mut policies = Vec::new();
    let mut usages = Vec::new();
    for ext in extensions {
        if ext.extn_id == CERTIFICATE_POLICIES {
            if let Ok(list) =
                x509_cert::ext::pkix::CertificatePolicies::from_der(ext.extn_value.as_bytes())
            {
                policies.extend(list.0.into_iter().map(|p| p.policy_identifier));
            }
        } else if ext.extn_id == EXTENDED_KEY_USAGE {
            if let Ok(list) =
                x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
            {
                usages.extend(list.0);
            }
        }
    }
    let authentication_policy = policies.iter().any(|p| AUTHENTICATION_POLICIES.contains(p))
        && !policies.iter().any(|p| SIGNING_POLICIES.contains(p));
    let authentication_usage = usages.contains(&CLIENT_AUTH) && !usages.contains(&EMAIL_PROTECTION);
    authentication_policy || authentication_usage
}

fn oneline(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .filter_map(|entry| {
            let key = entry.object().nid().short_name().ok()?;
            let value = entry.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn asn1_time(time: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    DateTime::from_timestamp(i64::from(diff.days) * 86_400 + i64::from(diff.secs), 0)
}

/// The IIN in a subject's serialNumber (`IIN` + 12 digits, docs/national-rules.md 2.1).
fn subject_iin(cert: &X509) -> Option<Iin> {
    let entry = cert
        .subject_name()
        .entries_by_nid(Nid::SERIALNUMBER)
        .next()?;
    let text = entry.data().to_string().ok()?;
    Iin::parse(text.strip_prefix("IIN")?).ok()
}
