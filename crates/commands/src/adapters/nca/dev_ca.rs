//! Development mode's certification authority: what stands in for the NCA on a developer's
//! machine, so that a request can be carried to its result without building a PKI by hand
//! (README.md, "Quick start"). It is used only when development mode is asked for; production trusts
//! only the configured anchors.
//!
//! The authority lives in a directory beside the data directory: its self-signed certificate
//! (`ca.pem`), its key (`ca-key.pem`, readable by its owner only) and the serial numbers it issued
//! (`issued`, one a line, `R` before a revoked one). It issues signing certificates in the national
//! profile (docs/national-rules.md 2.1-2.2) and answers OCSP requests for them inside the process
//! ([`LocalResponder`]): the verifier checks its answers exactly as it checks the NCA's - signed
//! under the trust anchors, the nonce echoed, current.

use std::io::Write;
use std::path::{Path, PathBuf};

use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use domain::Iin;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseBytes, ResponseData, SingleResponse, Version,
};

/// An OCSP responder inside this process: development mode's authority answering for its own
/// certificates, without a network exchange.
pub trait LocalResponder: Send + Sync {
    /// Whether it answers for the certificates `issuer` issued.
    fn answers_for(&self, issuer: &X509) -> bool;
    /// The DER of the OCSP response to the DER of `request`.
    ///
    /// # Errors
    /// Why no response can be made (the verifier then reports the status unknown).
    fn answer(&self, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// What the development authority is named: nobody could take it for the NCA.
const NAME: &str = "egov DEVELOPMENT CA - not for production";
/// How long the authority's and its certificates' validity runs, in days.
const CA_DAYS: u32 = 3650;
const CERTIFICATE_DAYS: u32 = 365;
/// docs/national-rules.md 2.2: signing certificates of individuals.
const INDIVIDUAL_SIGNING_POLICY: &str = "1.2.398.3.3.2.3";
/// docs/national-rules.md 2.2: emailProtection and the role "individual".
const SIGNING_EKU: [&str; 2] = ["emailProtection", "1.2.398.3.3.4.1.1"];
/// id-pkix-ocsp-basic and id-pkix-ocsp-nonce (RFC 6960 4.2.1, 4.4.1).
const OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// ecdsa-with-SHA256 (RFC 5758 3.2), how the authority signs.
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// SHA-1 and SHA-256, the hashes a CertID may name.
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// How long an answer holds (its nextUpdate).
const ANSWER_HOURS: u64 = 1;

/// Why the development authority cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DevCaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not the development authority's: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("OpenSSL: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// A certificate the authority issued, with its key.
pub struct DevCertificate {
    pub certificate: X509,
    pub key: PKey<Private>,
}

/// Development mode's certification authority (see the module's text).
pub struct DevCa {
    certificate: X509,
    key: PKey<Private>,
    dir: PathBuf,
}

impl DevCa {
    /// The authority kept in `dir`, made there on first use.
    ///
    /// # Errors
    /// [`DevCaError`] when the directory cannot be written or holds something else.
    pub fn open_or_create(dir: &Path) -> Result<Self, DevCaError> {
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        if !cert_path.exists() {
            // A key without its certificate is what a crash while making the authority leaves
            // (the certificate is written last); nothing was ever issued under it.
            if key_path.exists() {
                std::fs::remove_file(&key_path).map_err(|source| DevCaError::Io {
                    path: key_path.clone(),
                    source,
                })?;
            }
            create(dir, &cert_path, &key_path)?;
        }
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| DevCaError::Io {
                path: path.to_owned(),
                source,
            })
        };
        let invalid = |path: &Path, e: openssl::error::ErrorStack| DevCaError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let certificate = X509::from_pem(&read(&cert_path)?).map_err(|e| invalid(&cert_path, e))?;
        let key =
            PKey::private_key_from_pem(&read(&key_path)?).map_err(|e| invalid(&key_path, e))?;
        if !certificate.public_key()?.public_eq(&key) {
            return Err(DevCaError::Invalid {
                path: key_path,
                reason: "the key is not the certificate's".into(),
            });
        }
        Ok(Self {
            certificate,
            key,
            dir: dir.to_owned(),
        })
    }

    /// The authority's certificate: the trust anchor development mode adds.
    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }

    /// A new signing certificate for `iin`, named `name` (`SURNAME NAME`), in the national
    /// profile, with a fresh P-256 key; its serial is entered as good.
    ///
    /// # Errors
    /// [`DevCaError`] when OpenSSL or the `issued` file fails.
    pub fn issue(&self, iin: &Iin, name: &str) -> Result<DevCertificate, DevCaError> {
        let key = p256_key()?;
        let certificate = self.issue_for(iin, name, &key)?;
        Ok(DevCertificate { certificate, key })
    }

    /// As [`DevCa::issue`], for a key made elsewhere (a browser's, whose private half never
    /// leaves it).
    ///
    /// # Errors
    /// [`DevCaError`] when OpenSSL or the `issued` file fails.
    pub fn issue_for<T: openssl::pkey::HasPublic>(
        &self,
        iin: &Iin,
        name: &str,
        key: &openssl::pkey::PKeyRef<T>,
    ) -> Result<X509, DevCaError> {
        let surname = name.split_whitespace().next().unwrap_or(name);
        let mut subject = X509NameBuilder::new()?;
        subject.append_entry_by_nid(Nid::COMMONNAME, name)?;
        subject.append_entry_by_nid(Nid::SURNAME, surname)?;
        subject.append_entry_by_nid(Nid::SERIALNUMBER, &format!("IIN{}", iin.as_str()))?;
        subject.append_entry_by_nid(Nid::COUNTRYNAME, "KZ")?;
        let subject = subject.build();
        let mut builder = skeleton(&subject, key, CERTIFICATE_DAYS)?;
        builder.set_issuer_name(self.certificate.subject_name())?;
        builder.append_extension(BasicConstraints::new().build()?)?;
        builder.append_extension(signing_usage()?)?;
        let mut usage = ExtendedKeyUsage::new();
        for purpose in SIGNING_EKU {
            usage.other(purpose);
        }
        builder.append_extension(usage.build()?)?;
        builder.append_extension(policies(INDIVIDUAL_SIGNING_POLICY)?)?;
        let context = builder.x509v3_context(Some(&self.certificate), None);
        let skid = SubjectKeyIdentifier::new().build(&context)?;
        let akid = AuthorityKeyIdentifier::new().keyid(true).build(&context)?;
        builder.append_extension(skid)?;
        builder.append_extension(akid)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        let certificate = builder.build();
        self.enter(&serial_text(&certificate.serial_number().to_bn()?.to_vec()))?;
        Ok(certificate)
    }

    /// The serials issued, each with whether it is revoked.
    fn issued(&self) -> Vec<(String, bool)> {
        let text = std::fs::read_to_string(self.dir.join("issued")).unwrap_or_default();
        text.lines()
            .filter_map(|line| match line.split_once(' ') {
                Some(("R", serial)) => Some((serial.to_owned(), true)),
                None if !line.is_empty() => Some((line.to_owned(), false)),
                _ => None,
            })
            .collect()
    }

    fn enter(&self, line: &str) -> Result<(), DevCaError> {
        let path = self.dir.join("issued");
        let io = |source| DevCaError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        writeln!(file, "{line}").map_err(io)
    }

    /// Marks `certificate` revoked: OCSP answers say so from now on.
    ///
    /// # Errors
    /// [`DevCaError`] when the `issued` file cannot be written.
    pub fn revoke(&self, certificate: &X509) -> Result<(), DevCaError> {
        let serial = serial_text(&certificate.serial_number().to_bn()?.to_vec());
        self.enter(&format!("R {serial}"))
    }

    /// The status of one certificate the request names.
    fn status_of(&self, id: &CertId, issued: &[(String, bool)], at: GeneralizedTime) -> CertStatus {
        let ours = self
            .key_hash(&id.hash_algorithm.oid)
            .is_some_and(|h| h == id.issuer_key_hash.as_bytes());
        let serial = serial_text(id.serial_number.as_bytes());
        let mut entries = issued.iter().filter(|(s, _)| *s == serial).peekable();
        let known = entries.peek().is_some();
        match (ours && known, entries.any(|(_, revoked)| *revoked)) {
            (true, true) => CertStatus::revoked(x509_ocsp::RevokedInfo {
                revocation_time: at.into(),
                revocation_reason: None,
            }),
            (true, false) => CertStatus::good(),
            (false, _) => CertStatus::unknown(),
        }
    }

    /// The hash of the authority's public key with the algorithm a CertID names.
    fn key_hash(&self, algorithm: &ObjectIdentifier) -> Option<Vec<u8>> {
        let digest = match *algorithm {
            SHA1 => MessageDigest::sha1(),
            SHA256 => MessageDigest::sha256(),
            _ => return None,
        };
        Some(hash(digest, &self.public_key_bits().ok()?).ok()?.to_vec())
    }

    /// The subjectPublicKey bits of the authority's certificate (what CertIDs hash).
    fn public_key_bits(&self) -> Result<Vec<u8>, String> {
        let der = self.certificate.to_der().map_err(|e| e.to_string())?;
        let parsed = x509_cert::Certificate::from_der(&der).map_err(|e| e.to_string())?;
        Ok(parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec())
    }

    fn respond(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let request = OcspRequest::from_der(request).map_err(|e| e.to_string())?;
        let issued = self.issued();
        let (at, until) = (now(0)?, now(ANSWER_HOURS * 3600)?);
        let responses = request
            .tbs_request
            .request_list
            .iter()
            .map(|one| SingleResponse {
                cert_id: one.req_cert.clone(),
                cert_status: self.status_of(&one.req_cert, &issued, at),
                this_update: at.into(),
                next_update: Some(until.into()),
                single_extensions: None,
            })
            .collect();
        let nonce = request
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == NONCE)
            .cloned()
            .collect::<Vec<_>>();
        let key_hash =
            hash(MessageDigest::sha1(), &self.public_key_bits()?).map_err(|e| e.to_string())?;
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(
                OctetString::new(key_hash.to_vec()).map_err(|e| e.to_string())?,
            ),
            produced_at: at.into(),
            responses,
            response_extensions: (!nonce.is_empty()).then_some(nonce),
        };
        self.signed(&data)
    }

    /// The OCSP response carrying `data` signed by the authority (its certificate included).
    fn signed(&self, data: &ResponseData) -> Result<Vec<u8>, String> {
        let text = |e: &dyn std::fmt::Display| e.to_string();
        let tbs = data.to_der().map_err(|e| text(&e))?;
        let mut signer =
            openssl::sign::Signer::new(MessageDigest::sha256(), &self.key).map_err(|e| text(&e))?;
        let signature = signer.sign_oneshot_to_vec(&tbs).map_err(|e| text(&e))?;
        let own = self.certificate.to_der().map_err(|e| text(&e))?;
        let basic = BasicOcspResponse {
            tbs_response_data: data.clone(),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&signature).map_err(|e| text(&e))?,
            certs: Some(vec![
                x509_cert::Certificate::from_der(&own).map_err(|e| text(&e))?
            ]),
        };
        let body = basic.to_der().map_err(|e| text(&e))?;
        OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: OCSP_BASIC,
                response: OctetString::new(body).map_err(|e| text(&e))?,
            }),
        }
        .to_der()
        .map_err(|e| text(&e))
    }
}

impl LocalResponder for DevCa {
    fn answers_for(&self, issuer: &X509) -> bool {
        matches!(
            (issuer.to_der(), self.certificate.to_der()),
            (Ok(a), Ok(b)) if a == b
        )
    }

    fn answer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.respond(request)
    }
}

/// Makes the authority's key and self-signed certificate in `dir`.
fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), DevCaError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DevCaError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = p256_key()?;
    let mut subject = X509NameBuilder::new()?;
    subject.append_entry_by_nid(Nid::COMMONNAME, NAME)?;
    subject.append_entry_by_nid(Nid::COUNTRYNAME, "KZ")?;
    let subject = subject.build();
    let mut builder = skeleton(&subject, &key, CA_DAYS)?;
    builder.set_issuer_name(&subject)?;
    builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .digital_signature()
            .build()?,
    )?;
    let skid = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(skid)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(key_path).map_err(io(key_path))?;
    file.write_all(&key.private_key_to_pem_pkcs8()?)
        .map_err(io(key_path))?;
    // The certificate last: its presence says the authority is complete.
    std::fs::write(cert_path, builder.build().to_pem()?).map_err(io(cert_path))
}

/// A certificate builder with `subject`'s name and `key`, a random serial and `days` of validity
/// from an hour ago (clocks differ a little): development's self-made certificates start here.
pub(crate) fn skeleton<T: openssl::pkey::HasPublic>(
    subject: &openssl::x509::X509NameRef,
    key: &openssl::pkey::PKeyRef<T>,
    days: u32,
) -> Result<X509Builder, openssl::error::ErrorStack> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    builder.set_pubkey(key)?;
    let start = chrono::Utc::now().timestamp() - 3600;
    let (from, until) = (Asn1Time::from_unix(start)?, Asn1Time::days_from_now(days)?);
    builder.set_not_before(&from)?;
    builder.set_not_after(&until)?;
    Ok(builder)
}

/// The key usage of a signing key (docs/national-rules.md 2.2): digitalSignature and
/// nonRepudiation, critical.
pub(crate) fn signing_usage() -> Result<openssl::x509::X509Extension, openssl::error::ErrorStack> {
    KeyUsage::new()
        .critical()
        .digital_signature()
        .non_repudiation()
        .build()
}

/// A fresh EC P-256 key.
pub(crate) fn p256_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

/// A certificatePolicies extension naming `oid`. OpenSSL's bindings read policies only from a
/// configuration database, so the DER is made with the `x509-cert` types.
fn policies(oid: &str) -> Result<openssl::x509::X509Extension, openssl::error::ErrorStack> {
    let list = x509_cert::ext::pkix::CertificatePolicies(vec![
        x509_cert::ext::pkix::certpolicy::PolicyInformation {
            policy_identifier: ObjectIdentifier::new_unwrap(oid),
            policy_qualifiers: None,
        },
    ]);
    // Encoding one well-formed OID cannot fail.
    let der = list.to_der().unwrap_or_default();
    let name = openssl::asn1::Asn1Object::from_str("2.5.29.32")?;
    let value = openssl::asn1::Asn1OctetString::new_from_bytes(&der)?;
    openssl::x509::X509Extension::new_from_der(&name, false, &value)
}

/// The time `seconds` from now, as OCSP writes it (whole seconds: DER has no fraction).
fn now(seconds: u64) -> Result<GeneralizedTime, String> {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(seconds);
    let since = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(since.as_secs()))
        .map_err(|e| e.to_string())
}

/// A serial number as the `issued` file keeps it: upper-case hex of its bytes without leading
/// zero bytes (a DER integer may carry one for its sign).
fn serial_text(bytes: &[u8]) -> String {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    hex::encode_upper(&bytes[first..])
}
