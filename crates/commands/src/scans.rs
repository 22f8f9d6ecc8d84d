//! Where the scans of a service centre's paper documents are kept: once per SHA-256 digest,
//! behind [`ScanStore`] so that an object store can replace the database.

use std::future::Future;

use domain::centre::ScanFormat;

use crate::Database;

/// A scan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScan {
    /// SHA-256 (hex) of the bytes: the scan's name.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    /// False when these bytes were stored already (the same scan sent again).
    pub new: bool,
}

/// Why a scan could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the database is unavailable")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    #[error("database error while {doing}")]
    Database {
        doing: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Keeps scans by digest.
pub trait ScanStore: Send + Sync {
    /// Stores `bytes` (already known to be of `format`) unless the same bytes are stored.
    ///
    /// # Errors
    /// [`ScanError`] when the store cannot be reached or refuses the write.
    fn put(
        &self,
        bytes: &[u8],
        format: ScanFormat,
    ) -> impl Future<Output = Result<StoredScan, ScanError>> + Send;

    /// The bytes and media type of the scan named `sha256`, if stored.
    ///
    /// # Errors
    /// [`ScanError`] when the store cannot be reached.
    fn get(
        &self,
        sha256: &str,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, String)>, ScanError>> + Send;
}

/// Scans in PostgreSQL (`scans`, migrations/V8).
#[derive(Clone)]
pub struct PgScans {
    db: Database,
}

impl PgScans {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

impl ScanStore for PgScans {
    async fn put(&self, bytes: &[u8], format: ScanFormat) -> Result<StoredScan, ScanError> {
        let sha256 = crate::sha256_hex(bytes);
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let client = self.db.pool().get().await?;
        let inserted = client
            .execute(
                "INSERT INTO scans (sha256, media_type, size, bytes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256) DO NOTHING",
                &[&sha256, &format.media_type(), &size, &bytes],
            )
            .await
            .map_err(|source| ScanError::Database {
                doing: "storing a scan",
                source,
            })?;
        Ok(StoredScan {
            sha256,
            size: bytes.len() as u64,
            media_type: format.media_type().to_owned(),
            new: inserted == 1,
        })
    }

    async fn get(&self, sha256: &str) -> Result<Option<(Vec<u8>, String)>, ScanError> {
        let client = self.db.pool().get().await?;
        let row = client
            .query_opt(
                "SELECT bytes, media_type FROM scans WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(|source| ScanError::Database {
                doing: "reading a scan",
                source,
            })?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }
}
