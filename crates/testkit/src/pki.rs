//! A test PKI in the national profile: a root, an issuing CA, a delegated OCSP signer and user
//! certificates (docs/national-rules.md 2.1-2.2), and `openssl ocsp` as a real responder over its index.

use std::path::PathBuf;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

mod revocation;
pub use revocation::Responder;

pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

pub enum Algorithm {
    Rsa,
    EcP256,
}

fn key(algorithm: &Algorithm) -> PKey<Private> {
    match algorithm {
        Algorithm::Rsa => PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"),
        Algorithm::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
            PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey")
        }
    }
}

/// A certificatePolicies extension of the comma-separated policy OIDs in `oids`.
fn policies(oids: &str) -> openssl::x509::X509Extension {
    use der::Encode;
    let list = x509_cert::ext::pkix::CertificatePolicies(
        oids.split(',')
            .map(|oid| x509_cert::ext::pkix::certpolicy::PolicyInformation {
                policy_identifier: der::asn1::ObjectIdentifier::new_unwrap(oid.trim()),
                policy_qualifiers: None,
            })
            .collect(),
    );
    let der = list.to_der().expect("policies DER");
    let oid = openssl::asn1::Asn1Object::from_str("2.5.29.32").expect("oid");
    let value = openssl::asn1::Asn1OctetString::new_from_bytes(&der).expect("octets");
    openssl::x509::X509Extension::new_from_der(&oid, false, &value).expect("extension")
}

/// The extensions that make a certificate what it is: CA or not, its key usage, OCSP signing,
/// the responder it names, and further extensions in OpenSSL's config syntax.
struct Profile<'a> {
    ca: bool,
    usage: &'a KeyUsage,
    ocsp_signing: bool,
    ocsp_url: Option<&'a str>,
    extensions: &'a [(&'a str, &'a str)],
}

impl Profile<'_> {
    fn apply(&self, builder: &mut X509Builder, issuer: Option<&Issued>) {
        let Profile {
            ca,
            usage,
            ocsp_signing,
            ocsp_url,
            extensions,
        } = *self;
        let mut constraints = BasicConstraints::new();
        if ca {
            constraints.critical().ca();
        }
        builder
            .append_extension(constraints.build().expect("bc"))
            .expect("ext");
        builder
            .append_extension(usage.build().expect("ku"))
            .expect("ext");
        // Key identifiers, as the NCA's certificates carry: a chain is built by them, not by
        // names alone.
        let context = builder.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
        let skid = SubjectKeyIdentifier::new().build(&context).expect("skid");
        let akid = issuer.map(|_| {
            AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&context)
                .expect("akid")
        });
        builder.append_extension(skid).expect("ext");
        if let Some(akid) = akid {
            builder.append_extension(akid).expect("ext");
        }
        if ocsp_signing {
            builder
                .append_extension(
                    ExtendedKeyUsage::new()
                        .other("OCSPSigning")
                        .build()
                        .expect("eku"),
                )
                .expect("ext");
        }
        for (name, value) in extensions {
            // Named extensions in OpenSSL's config syntax, e.g. certificatePolicies, extendedKeyUsage.
            let extension = if *name == "certificatePolicies" {
                // OpenSSL reads policies only from a config database; the DER is built instead.
                policies(value)
            } else {
                let context = builder.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
                #[allow(deprecated)]
                openssl::x509::X509Extension::new(None, Some(&context), name, value)
                    .unwrap_or_else(|e| panic!("extension {name}={value}: {e}"))
            };
            builder.append_extension(extension).expect("ext");
        }
        if let Some(url) = ocsp_url {
            // The responder named in the certificate (authorityInfoAccess), as NCA certificates do.
            #[allow(deprecated)]
            let aia = openssl::x509::X509Extension::new_nid(
                None,
                None,
                Nid::INFO_ACCESS,
                &format!("OCSP;URI:{url}"),
            )
            .expect("aia");
            builder.append_extension(aia).expect("ext");
        }
    }
}

/// A certificate of `subject` signed by `issuer` (self-signed when `None`).
#[allow(clippy::too_many_arguments)]
fn issue(
    subject: &[(&str, &str)],
    key: PKey<Private>,
    issuer: Option<&Issued>,
    serial: u32,
    days_from_now: (i64, i64),
    ca: bool,
    usage: &KeyUsage,
    ocsp_signing: bool,
    ocsp_url: Option<&str>,
    extensions: &[(&str, &str)],
) -> Issued {
    let mut name = X509NameBuilder::new().expect("name");
    for (field, value) in subject {
        name.append_entry_by_text(field, value).expect("entry");
    }
    let name = name.build();
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("version");
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(serial).expect("bn")).expect("serial");
    builder.set_serial_number(&serial).expect("serial");
    builder.set_subject_name(&name).expect("subject");
    builder
        .set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
        .expect("issuer");
    builder.set_pubkey(&key).expect("pubkey");
    let time = |days: i64| {
        Asn1Time::from_unix(chrono::Utc::now().timestamp() + days * 86_400).expect("time")
    };
    builder.set_not_before(&time(days_from_now.0)).expect("nb");
    builder.set_not_after(&time(days_from_now.1)).expect("na");
    let profile = Profile {
        ca,
        usage,
        ocsp_signing,
        ocsp_url,
        extensions,
    };
    profile.apply(&mut builder, issuer);
    let signer = issuer.map_or(&key, |i| &i.key);
    builder.sign(signer, MessageDigest::sha256()).expect("sign");
    Issued {
        cert: builder.build(),
        key,
    }
}

pub struct Pki {
    pub root: Issued,
    pub ca: Issued,
    pub ocsp: Issued,
    pub dir: tempfile::TempDir,
    index: Vec<String>,
    next_serial: u32,
    /// The responder's port, chosen before any certificate names it.
    pub port: u16,
    /// The root's responder's port (for the issuing CA's status), named in the CA's certificate.
    pub root_port: u16,
    /// Whether the root's responder says the issuing CA is revoked.
    ca_revoked: bool,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let root_port = crate::port::free();
        let root = issue(
            &[("CN", "TEST ROOT (RSA)"), ("C", "KZ")],
            key(&Algorithm::Rsa),
            None,
            1,
            (-3650, 3650),
            true,
            KeyUsage::new().critical().key_cert_sign().crl_sign(),
            false,
            None,
            &[],
        );
        let ca = issue(
            &[("CN", "ҰКО TEST (RSA)"), ("C", "KZ")],
            key(&Algorithm::Rsa),
            Some(&root),
            2,
            (-1800, 1800),
            true,
            KeyUsage::new().critical().key_cert_sign().crl_sign(),
            false,
            Some(&format!("http://127.0.0.1:{root_port}")),
            &[],
        );
        let ocsp = issue(
            &[("CN", "TEST OCSP"), ("C", "KZ")],
            key(&Algorithm::Rsa),
            Some(&ca),
            3,
            (-30, 365),
            false,
            KeyUsage::new().critical().digital_signature(),
            true,
            None,
            &[],
        );
        Pki {
            root,
            ca,
            ocsp,
            dir: tempfile::tempdir().expect("dir"),
            index: Vec::new(),
            next_serial: 0x1000,
            port: crate::port::free(),
            root_port,
            ca_revoked: false,
        }
    }

    /// Makes the root's responder say the issuing CA is revoked (from the next [`Pki::responder`]).
    pub fn revoke_issuing_ca(&mut self) {
        self.ca_revoked = true;
    }

    /// A self-signed CA certificate named exactly like the issuing CA, with a key of its own: an
    /// impostor a forged signature or OCSP answer may carry.
    pub fn impostor_ca(&self) -> Issued {
        let subject: Vec<(String, String)> = self
            .ca
            .cert
            .subject_name()
            .entries()
            .filter_map(|e| {
                Some((
                    e.object().nid().short_name().ok()?.to_owned(),
                    e.data().to_string().ok()?,
                ))
            })
            .collect();
        let subject: Vec<(&str, &str)> = subject
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        issue(
            &subject,
            key(&Algorithm::Rsa),
            None,
            2,
            (-1800, 1800),
            true,
            KeyUsage::new().critical().key_cert_sign().crl_sign(),
            false,
            None,
            &[],
        )
    }

    /// A citizen's signing certificate from the issuing CA, entered in the responder's index.
    pub fn citizen(
        &mut self,
        iin: &str,
        algorithm: Algorithm,
        days: (i64, i64),
        revoked: bool,
        signing_key: bool,
    ) -> Issued {
        self.citizen_with(iin, algorithm, days, revoked, signing_key, &[])
    }

    /// A citizen's good signing certificate: EC P-256, valid from ten days ago for 300 days, not
    /// revoked.
    pub fn signer(&mut self, iin: &str) -> Issued {
        self.citizen(iin, Algorithm::EcP256, (-10, 300), false, true)
    }

    /// As [`Pki::citizen`], with more extensions in OpenSSL's config syntax, e.g.
    /// `("certificatePolicies", "1.2.398.3.3.2.4")` or `("extendedKeyUsage", "clientAuth")`.
    pub fn citizen_with(
        &mut self,
        iin: &str,
        algorithm: Algorithm,
        days: (i64, i64),
        revoked: bool,
        signing_key: bool,
        extensions: &[(&str, &str)],
    ) -> Issued {
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if signing_key {
            usage.non_repudiation();
        } else {
            usage.key_encipherment();
        }
        let issued = issue(
            &[
                ("CN", "ТЕСТОВ ТЕСТ"),
                ("surname", "ТЕСТОВ"),
                ("serialNumber", &format!("IIN{iin}")),
                ("C", "KZ"),
            ],
            key(&algorithm),
            Some(&self.ca),
            serial,
            days,
            false,
            &usage,
            false,
            Some(&format!("http://127.0.0.1:{}", self.port)),
            extensions,
        );
        let expiry = "301231235959Z";
        let line = if revoked {
            format!("R\t{expiry}\t240101000000Z\t{serial:X}\tunknown\t/CN=TEST {serial:X}")
        } else {
            format!("V\t{expiry}\t\t{serial:X}\tunknown\t/CN=TEST {serial:X}")
        };
        self.index.push(line);
        issued
    }

    /// A certificate from a CA nobody trusts.
    pub fn stranger(iin: &str) -> (Issued, Issued) {
        let root = issue(
            &[("CN", "SOMEONE ELSE"), ("C", "KZ")],
            key(&Algorithm::Rsa),
            None,
            9,
            (-10, 10),
            true,
            KeyUsage::new().critical().key_cert_sign(),
            false,
            None,
            &[],
        );
        let user = issue(
            &[
                ("CN", "ТЕСТОВ ТЕСТ"),
                ("serialNumber", &format!("IIN{iin}")),
                ("C", "KZ"),
            ],
            key(&Algorithm::Rsa),
            Some(&root),
            10,
            (-1, 10),
            false,
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation(),
            false,
            None,
            &[],
        );
        (root, user)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// The trust anchors: the root only (the CMS carries the issuing CA).
    pub fn anchors(&self) -> Vec<X509> {
        vec![self.root.cert.clone()]
    }

    /// The trust anchors as a PEM file (for `EGOV_TRUST_ANCHORS`).
    pub fn anchors_file(&self) -> PathBuf {
        self.write("anchors.pem", &self.root.cert.to_pem().expect("pem"))
    }

    /// A CMS SignedData (DER) over `content` by `signer`, carrying the issuing CA's certificate.
    pub fn sign(&self, signer: &Issued, content: &[u8], detached: bool) -> Vec<u8> {
        sign_with(signer, &[&self.ca.cert], content, detached)
    }
}

pub fn sign_with(signer: &Issued, chain: &[&X509], content: &[u8], detached: bool) -> Vec<u8> {
    let mut certs = Stack::new().expect("stack");
    for cert in chain {
        certs.push((*cert).clone()).expect("push");
    }
    let mut flags = CMSOptions::BINARY;
    if detached {
        flags |= CMSOptions::DETACHED;
    }
    CmsContentInfo::sign(
        Some(&signer.cert),
        Some(&signer.key),
        Some(&certs),
        Some(content),
        flags,
    )
    .expect("cms")
    .to_der()
    .expect("der")
}

/// A CMS SignedData (attached, DER) over `content`, by a self-signed certificate for `iin`: a
/// well-formed signature that no trust anchor vouches for (APIs take it; a verifier refuses it).
///
/// # Panics
/// When OpenSSL cannot make the key, the certificate or the signature.
pub fn self_signed_cms(content: &[u8], iin: &str) -> Vec<u8> {
    use openssl::asn1::Asn1Time;
    use openssl::cms::{CMSOptions, CmsContentInfo};
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509NameBuilder, X509};
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa"))
        .expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "TEST CITIZEN").expect("cn");
    name.append_entry_by_text("serialNumber", &format!("IIN{iin}"))
        .expect("serial");
    let name = name.build();
    let mut cert = X509::builder().expect("cert");
    cert.set_version(2).expect("version");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("key");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    cert.set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("na");
    cert.sign(&key, MessageDigest::sha256()).expect("sign cert");
    let cert = cert.build();
    CmsContentInfo::sign(
        Some(&cert),
        Some(&key),
        None,
        Some(content),
        CMSOptions::BINARY,
    )
    .expect("cms")
    .to_der()
    .expect("der")
}
