//! Scans kept in memory, for fast tests of the desk and the API.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::scans::ScanFormat;
use futures_util::future::BoxFuture;

use super::{Scan, ScanError, ScanStore, StoredScan};

/// Scans by digest, in memory.
#[derive(Default)]
pub struct InMemoryScans {
    scans: Mutex<HashMap<String, Scan>>,
}

impl InMemoryScans {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many distinct scans are kept.
    pub fn len(&self) -> usize {
        self.scans.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ScanStore for InMemoryScans {
    fn put<'a>(
        &'a self,
        bytes: &'a [u8],
        format: ScanFormat,
    ) -> BoxFuture<'a, Result<StoredScan, ScanError>> {
        let sha256 = crate::sha256_hex(bytes);
        let new = self.scans.lock().is_ok_and(|mut scans| {
            scans
                .insert(
                    sha256.clone(),
                    (bytes.to_vec(), format.media_type().to_owned()),
                )
                .is_none()
        });
        Box::pin(std::future::ready(Ok(StoredScan {
            sha256,
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            media_type: format.media_type().to_owned(),
            new,
        })))
    }

    fn get<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Scan>, ScanError>> {
        let found = self
            .scans
            .lock()
            .ok()
            .and_then(|scans| scans.get(sha256).cloned());
        Box::pin(std::future::ready(Ok(found)))
    }
}
