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
use openssl::x509::X509;

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

pub(super) struct Parsed {
    pub signer: X509,
    pub info: CertificateInfo,
    /// Every certificate the CMS carries, the signer's included.
    pub certificates: Vec<X509>,
    pub signing_time: Option<DateTime<Utc>>,
    pub attached: Option<Vec<u8>>,
}

/// `None` when the bytes are not a CMS SignedData with one signer whose certificate it carries.
pub(super) fn parse(der_bytes: &[u8]) -> Option<Parsed> {
    let info = ContentInfo::from_der(der_bytes).ok()?;
    if info.content_type != SIGNED_DATA {
        return None;
    }
    let signed: SignedData = info.content.decode_as().ok()?;
    let signers = signed.signer_infos.0.as_slice();
    let [signer_info] = signers else { return None };
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
    let to_openssl = |cert: &x509_cert::Certificate| X509::from_der(&cert.to_der().ok()?).ok();
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
        subject_iin: super::subject_iin(&signer),
        revocation: Some(domain::request::RevocationStatus::NotChecked),
    };
    Some(Parsed {
        signer,
        info,
        certificates,
        signing_time,
        attached,
    })
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
