//! The development signing key: an ES256 key kept in a file, created on first use (mode 0600).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jsonwebtoken::{encode, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;

use super::{Claims, KeyError, VerifyingKey};

/// The development key: signs tokens for `egov token`, verifies them in `egov serve`.
pub struct DevKey {
    path: PathBuf,
    private_pem: Vec<u8>,
    public_pem: Vec<u8>,
}

impl DevKey {
    /// Loads the key at `path`, creating it when the file does not exist.
    ///
    /// # Errors
    /// [`KeyError`] when the file cannot be read, written or parsed.
    pub fn load_or_create(path: &Path) -> Result<DevKey, KeyError> {
        let io = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
                .map_err(|e| invalid(e.to_string()))?;
            let key = EcKey::generate(&group).map_err(|e| invalid(e.to_string()))?;
            let pem = PKey::from_ec_key(key)
                .and_then(|k| k.private_key_to_pem_pkcs8())
                .map_err(|e| invalid(e.to_string()))?;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    file.write_all(&pem).map_err(io)?;
                    tracing::warn!(path = %path.display(), "created a development signing key");
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let private_pem = std::fs::read(path).map_err(io)?;
        let pkey = PKey::private_key_from_pem(&private_pem).map_err(|e| invalid(e.to_string()))?;
        let public_pem = pkey
            .public_key_to_pem()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(DevKey {
            path: path.to_owned(),
            private_pem,
            public_pem,
        })
    }

    /// Where the key is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that checks the tokens it signs.
    ///
    /// # Errors
    /// [`KeyError`] if the stored key is not a P-256 key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_public_pem(&self.public_pem)
    }

    /// A signed ES256 token with these claims.
    ///
    /// # Errors
    /// [`KeyError`] when the key cannot sign.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            path: self.path.clone(),
            reason,
        };
        let key =
            EncodingKey::from_ec_pem(&self.private_pem).map_err(|e| invalid(e.to_string()))?;
        encode(&Header::new(jsonwebtoken::Algorithm::ES256), claims, &key)
            .map_err(|e| invalid(e.to_string()))
    }
}
