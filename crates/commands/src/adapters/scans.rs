//! Where the scans of a service centre's paper documents are kept: once per SHA-256 digest,
//! behind [`ScanStore`] so that an object store can replace the database.

#[cfg(any(test, feature = "fakes"))]
pub mod fake;

use domain::scans::ScanFormat;
use event_store::{Database, DbFailure};
use futures_util::future::BoxFuture;

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

/// A scan's bytes and media type.
pub type Scan = (Vec<u8>, String);

/// Why a scan could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Db(#[from] event_store::DbFailure),
}

/// Keeps scans by digest. Object safe (the futures are boxed), so the desk holds any store, the
/// database or the in-memory [`fake::InMemoryScans`] of fast tests, behind one type.
pub trait ScanStore: Send + Sync {
    /// Stores `bytes` (already known to be of `format`) unless the same bytes are stored.
    ///
    /// # Errors
    /// [`ScanError`] when the store cannot be reached or refuses the write.
    fn put<'a>(
        &'a self,
        bytes: &'a [u8],
        format: ScanFormat,
    ) -> BoxFuture<'a, Result<StoredScan, ScanError>>;

    /// The bytes and media type of the scan named `sha256`, if stored.
    ///
    /// # Errors
    /// [`ScanError`] when the store cannot be reached.
    fn get<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Scan>, ScanError>>;
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
    fn put<'a>(
        &'a self,
        bytes: &'a [u8],
        format: ScanFormat,
    ) -> BoxFuture<'a, Result<StoredScan, ScanError>> {
        Box::pin(self.insert(bytes, format))
    }

    fn get<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Scan>, ScanError>> {
        Box::pin(self.select(sha256))
    }
}

impl PgScans {
    async fn insert(&self, bytes: &[u8], format: ScanFormat) -> Result<StoredScan, ScanError> {
        let sha256 = crate::sha256_hex(bytes);
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let client = self.db.pool().get().await.map_err(DbFailure::from)?;
        let inserted = client
            .execute(
                "INSERT INTO scans (sha256, media_type, size, bytes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256) DO NOTHING",
                &[&sha256, &format.media_type(), &size, &bytes],
            )
            .await
            .map_err(DbFailure::of("storing a scan"))?;
        Ok(StoredScan {
            sha256,
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            media_type: format.media_type().to_owned(),
            new: inserted == 1,
        })
    }

    async fn select(&self, sha256: &str) -> Result<Option<Scan>, ScanError> {
        let client = self.db.pool().get().await.map_err(DbFailure::from)?;
        let row = client
            .query_opt(
                "SELECT bytes, media_type FROM scans WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(DbFailure::of("reading a scan"))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }
}
