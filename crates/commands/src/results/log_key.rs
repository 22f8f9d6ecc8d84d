//! The key the log's tree heads are signed with (`EGOV_LOG_KEY`): a signed-note signer key in a
//! file of its own (`PRIVATE+KEY+name+id+key`), made by `egov log-key` in production and beside the
//! data directory in development.

use std::path::Path;

use domain::tree_head::NoteSigner;

use super::{write_new, ResultError};

/// The name of the development log (its origin line).
pub const DEVELOPMENT_NAME: &str = "egov-events.localhost/log";

/// Reads the signer key in `path`.
///
/// # Errors
/// [`ResultError`] when the file cannot be read or is not a signer key.
pub fn load(path: &Path) -> Result<NoteSigner, ResultError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResultError::Io {
        path: path.to_owned(),
        source,
    })?;
    NoteSigner::parse(&text).map_err(|e| ResultError::InvalidKey {
        path: path.to_owned(),
        what: "log key",
        reason: e.to_string(),
    })
}

/// Makes a new key named `name` in `path` (readable by its owner only); an existing file is kept.
///
/// # Errors
/// [`ResultError`] for a name a key cannot have, or a file that cannot be written.
pub fn create(path: &Path, name: &str) -> Result<(), ResultError> {
    let mut seed = [0u8; 32];
    openssl::rand::rand_bytes(&mut seed).map_err(|e| ResultError::Sign(e.to_string()))?;
    let signer = NoteSigner::from_seed(name, seed).map_err(|e| ResultError::InvalidKey {
        path: path.to_owned(),
        what: "log key",
        reason: e.to_string(),
    })?;
    let text = format!("{}\n", signer.to_private_text());
    write_new(path, text.as_bytes(), 0o600)
}

/// The development key in `dir` (`log-key`), made on first use.
///
/// # Errors
/// [`ResultError`] when the file cannot be written or read.
pub fn development(dir: &Path) -> Result<NoteSigner, ResultError> {
    let path = dir.join("log-key");
    if !path.exists() {
        std::fs::create_dir_all(dir).map_err(|source| ResultError::Io {
            path: dir.to_owned(),
            source,
        })?;
        create(&path, DEVELOPMENT_NAME)?;
        tracing::warn!(key = %path.display(), "created a development log key; set EGOV_LOG_KEY in production");
    }
    load(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_kept_and_read_back_and_a_bad_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("egov-log-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = development(&dir).expect("made");
        assert_eq!(first.name(), DEVELOPMENT_NAME);
        let again = development(&dir).expect("read back");
        assert_eq!(
            first.verifier(),
            again.verifier(),
            "the same key, not a new one"
        );
        let bad = dir.join("bad");
        std::fs::write(&bad, "PRIVATE+KEY+x+00000000+AQ==").expect("write");
        assert!(matches!(load(&bad), Err(ResultError::InvalidKey { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
