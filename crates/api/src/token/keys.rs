//! Loading the keys tokens are checked against: PEM public keys and JWKS files.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::algorithm_of;

/// A key and the one algorithm it admits.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Why the configured keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl VerifyingKey {
    /// The keys of every file in `paths` (a `.json` file is a JWKS, anything else a PEM public key).
    ///
    /// # Errors
    /// [`KeyError`] naming the file that cannot be used.
    pub fn load_all(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>, KeyError> {
        let mut keys = Vec::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?;
            if path.extension().is_some_and(|e| e == "json") {
                keys.extend(from_jwks(path, &bytes)?);
            } else {
                keys.push(from_pem(path, &bytes)?);
            }
        }
        Ok(keys)
    }

    /// A PEM public key (RSA or EC P-256).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for anything else.
    pub fn from_public_pem(pem: &[u8]) -> Result<VerifyingKey, KeyError> {
        from_pem(Path::new("<pem>"), pem)
    }
}

fn invalid(path: &Path, reason: impl ToString) -> KeyError {
    KeyError::Invalid {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn from_pem(path: &Path, pem: &[u8]) -> Result<VerifyingKey, KeyError> {
    let pkey = openssl::pkey::PKey::public_key_from_pem(pem)
        .map_err(|e| invalid(path, format!("not a PEM public key: {e}")))?;
    let algorithm = algorithm_of(&pkey)
        .ok_or_else(|| invalid(path, "only RSA and EC P-256 keys are accepted"))?;
    let key = match algorithm {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        _ => DecodingKey::from_ec_pem(pem),
    }
    .map_err(|e| invalid(path, e))?;
    Ok(VerifyingKey {
        kid: None,
        algorithm,
        key,
    })
}

fn from_jwks(path: &Path, bytes: &[u8]) -> Result<Vec<VerifyingKey>, KeyError> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| invalid(path, e))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return Err(invalid(path, "only RSA and EC P-256 keys are accepted")),
        };
        if let Some(declared) = jwk.common.key_algorithm {
            if format!("{declared:?}") != format!("{algorithm:?}") {
                return Err(invalid(
                    path,
                    format!("key declares {declared:?}, its type admits {algorithm:?}"),
                ));
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(path, e))?;
        keys.push(VerifyingKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err(invalid(path, "the key set is empty"));
    }
    Ok(keys)
}
