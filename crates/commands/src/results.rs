//! Result documents: signed with the provider's key (CMS, detached) and stored once per request.
//!
//! The document is stored before `ResultIssued` is appended; the event names its number and the
//! SHA-256 of its bytes. A workflow that crashed in between composes the document again on resume,
//! and [`ResultDocuments::store`] hands back the one stored first, so a request never gets two
//! documents.

pub mod log_key;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use domain::StreamId;
use event_store::DbFailure;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509NameBuilder, X509};

use event_store::db::Database;

use crate::adapters::nca::dev_ca;

/// Errors of signing and storing results.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable {what}: {reason}")]
    InvalidKey {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("cannot sign the document: {0}")]
    Sign(String),
    #[error(transparent)]
    Db(#[from] event_store::DbFailure),
}

/// The provider's signing key and certificate (`EGOV_PROVIDER_KEY`, `EGOV_PROVIDER_CERT`). Cheap to
/// clone: OpenSSL counts references to the key and the certificate.
#[derive(Clone)]
pub struct ProviderKey {
    key: PKey<Private>,
    certificate: X509,
}

impl ProviderKey {
    /// Loads a PEM private key and its PEM certificate.
    ///
    /// # Errors
    /// [`ResultError`] when a file cannot be read or parsed, or the key is not the certificate's.
    pub fn load(key_path: &Path, certificate_path: &Path) -> Result<Self, ResultError> {
        let key_pem = read(key_path)?;
        let cert_pem = read(certificate_path)?;
        let key = PKey::private_key_from_pem(&key_pem).map_err(|e| ResultError::InvalidKey {
            path: key_path.to_owned(),
            what: "PEM private key",
            reason: e.to_string(),
        })?;
        let certificate = X509::from_pem(&cert_pem).map_err(|e| ResultError::InvalidKey {
            path: certificate_path.to_owned(),
            what: "PEM certificate",
            reason: e.to_string(),
        })?;
        let matches = certificate
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(ResultError::InvalidKey {
                path: certificate_path.to_owned(),
                what: "certificate for the provider key",
                reason: "the certificate is for another key".into(),
            });
        }
        Ok(Self { key, certificate })
    }

    /// The development key in `dir` (`provider-key.pem`, `provider-cert.pem`, a self-signed
    /// ECDSA P-256 certificate), created on first use.
    ///
    /// # Errors
    /// [`ResultError`] when the files cannot be written or read.
    pub fn development(dir: &Path) -> Result<Self, ResultError> {
        let key_path = dir.join("provider-key.pem");
        let cert_path = dir.join("provider-cert.pem");
        if !key_path.exists() || !cert_path.exists() {
            std::fs::create_dir_all(dir).map_err(|source| ResultError::Io {
                path: dir.to_owned(),
                source,
            })?;
            let (key, certificate) = self_signed().map_err(|e| ResultError::Sign(e.to_string()))?;
            let key_pem = key
                .private_key_to_pem_pkcs8()
                .map_err(|e| ResultError::Sign(e.to_string()))?;
            let cert_pem = certificate
                .to_pem()
                .map_err(|e| ResultError::Sign(e.to_string()))?;
            write_new(&key_path, &key_pem, 0o600)?;
            write_new(&cert_path, &cert_pem, 0o644)?;
            tracing::warn!(key = %key_path.display(), "created a development provider key; set EGOV_PROVIDER_KEY and EGOV_PROVIDER_CERT in production");
        }
        Self::load(&key_path, &cert_path)
    }

    /// A detached CMS SignedData (DER) over `bytes`, with the certificate included.
    ///
    /// # Errors
    /// [`ResultError::Sign`] when OpenSSL fails.
    pub fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, ResultError> {
        let flags = CMSOptions::DETACHED | CMSOptions::BINARY;
        let cms = CmsContentInfo::sign(
            Some(&self.certificate),
            Some(&self.key),
            None,
            Some(bytes),
            flags,
        )
        .map_err(|e| ResultError::Sign(e.to_string()))?;
        cms.to_der().map_err(|e| ResultError::Sign(e.to_string()))
    }
}

fn self_signed() -> Result<(PKey<Private>, X509), openssl::error::ErrorStack> {
    let key = dev_ca::p256_key()?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COUNTRYNAME, "KZ")?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "egov-events (development)")?;
    name.append_entry_by_nid(Nid::COMMONNAME, "Development result-signing key")?;
    let name = name.build();
    let mut builder = dev_ca::skeleton(&name, &key, 3650)?;
    builder.set_issuer_name(&name)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(dev_ca::signing_usage()?)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

fn read(path: &Path) -> Result<Vec<u8>, ResultError> {
    std::fs::read(path).map_err(|source| ResultError::Io {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ResultError> {
    let io = |source| ResultError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(mut file) => file.write_all(bytes).map_err(io),
        // Another process created it first: theirs is used.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// A stored result document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub number: String,
    /// The canonical JSON bytes that were signed.
    pub document: Vec<u8>,
    /// The detached CMS SignedData (DER).
    pub signature: Vec<u8>,
    /// SHA-256 (hex) of `document`.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// The store of result documents (`result_documents`).
#[derive(Clone)]
pub struct ResultDocuments {
    db: Database,
}

impl ResultDocuments {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores the document of a request, unless one is stored already; returns the one stored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn store(
        &self,
        stream_id: StreamId,
        number: &str,
        document: &[u8],
        signature: &[u8],
    ) -> Result<StoredDocument, ResultError> {
        let client = self.db.pool().get().await.map_err(DbFailure::from)?;
        let sha256 = crate::sha256_hex(document);
        let database = DbFailure::of("storing a result document");
        let insert = client
            .prepare_cached(
                "INSERT INTO result_documents (stream_id, document_number, document, signature, sha256)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream_id) DO NOTHING",
            )
            .await
            .map_err(database)?;
        // Not waiting for the disk: the document is served only once the request's
        // `ResultIssued` is in the status view, and that append waits for the WAL to be flushed
        // past this commit, which comes earlier in it. A crash that loses the document loses the
        // event too, and the workflow issues the document again (docs/adr/0008).
        event_store::db::execute_relaxed(
            &client,
            &insert,
            &[
                &stream_id.as_uuid(),
                &number,
                &document,
                &signature,
                &sha256,
            ],
        )
        .await
        .map_err(database)?;
        drop(client);
        self.get(stream_id)
            .await?
            .ok_or(ResultError::Sign("the stored document vanished".into()))
    }

    /// The document of a request, if one was issued.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get(&self, stream_id: StreamId) -> Result<Option<StoredDocument>, ResultError> {
        let client = self.db.pool().get().await.map_err(DbFailure::from)?;
        let row = client
            .query_opt(
                "SELECT document_number, document, signature, sha256, created_at
                   FROM result_documents WHERE stream_id = $1",
                &[&stream_id.as_uuid()],
            )
            .await
            .map_err(DbFailure::of("reading a result document"))?;
        Ok(row.map(|row| StoredDocument {
            number: row.get(0),
            document: row.get(1),
            signature: row.get(2),
            sha256: row.get(3),
            created_at: row.get(4),
        }))
    }
}
