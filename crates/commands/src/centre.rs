//! The service centre's desk (docs/domain.md 3.4, REG 3147-3160): a request filed for the citizen
//! at the desk, whose identity checks the operator waits for, and the paper documents scanned
//! before the operator signs.

use std::sync::Arc;
use std::time::Duration;

use domain::request::centre::Desk;
use domain::request::{decide, Command, DomainError, Request};
use domain::scans::{ScanFormat, ScanKind};
use domain::{Actor, RequestNumber, StreamVersion};

use crate::adapters::scans::{ScanStore, StoredScan};
use crate::requests::{CommandError, Requests, Submission, Submitted};

/// How often a waiting desk looks at the request again.
const CHECKS_POLL: Duration = Duration::from_millis(50);

/// A request filed at the desk, with what its checks answered by the time the desk stopped waiting.
#[derive(Debug, Clone)]
pub struct Filed {
    pub submitted: Submitted,
    pub desk: Desk,
    /// The stream version the desk's view was read at.
    pub version: StreamVersion,
}

/// A scan kept and recorded.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The request's id (its stream's).
    pub request_id: uuid::Uuid,
    pub stored: StoredScan,
    pub version: StreamVersion,
    /// `true` when the same scan was recorded before: nothing was appended.
    pub replayed: bool,
    /// What the operator signs next: the request's document with every scan's digest.
    pub document_to_sign: Vec<u8>,
}

/// The desk's commands. Cheap to clone.
#[derive(Clone)]
pub struct Centre {
    requests: Requests,
    scans: Arc<dyn ScanStore>,
}

impl Centre {
    pub fn new(requests: Requests, scans: Arc<dyn ScanStore>) -> Self {
        Self { requests, scans }
    }

    /// Files `submission` and waits, up to `wait`, for the workflow to answer its identity checks
    /// (the citizen is at the desk), then tells what they answered.
    ///
    /// # Errors
    /// As [`Requests::submit`], and store errors while reading the request back.
    pub async fn file(
        &self,
        submission: Submission,
        wait: Duration,
    ) -> Result<Filed, CommandError> {
        let submitted = self.requests.submit(submission).await?;
        let deadline = tokio::time::Instant::now() + wait;
        let stream_id = domain::StreamId::from_uuid(submitted.info.request_id);
        let loaded = loop {
            let loaded = self.requests.load(stream_id).await?;
            if !Desk::checking(&loaded.state) || tokio::time::Instant::now() >= deadline {
                break loaded;
            }
            tokio::time::sleep(CHECKS_POLL).await;
        };
        Ok(Filed {
            desk: Desk::of(&loaded.events, &loaded.state),
            version: loaded.version,
            submitted,
        })
    }

    /// Keeps the scan `bytes` (already known to be of `format`) and records it on the request
    /// `number`. The bytes are kept only for a request that takes this scan now, so a refused or
    /// signed request leaves no orphan scans behind.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one not filed at `centre`;
    /// [`CommandError::Rejected`] when the request takes no scan now; [`CommandError::Scans`]
    /// when the bytes cannot be kept.
    pub async fn scan(
        &self,
        number: &RequestNumber,
        kind: ScanKind,
        format: ScanFormat,
        bytes: &[u8],
        centre: &str,
        actor: &Actor,
    ) -> Result<Scanned, CommandError> {
        let stream_id = self
            .requests
            .find(number)
            .await?
            .ok_or(CommandError::NotFound)?;
        let loaded = self.requests.load(stream_id).await?;
        // Another centre's request (or a portal one) answers as an unknown number, and keeps none
        // of these bytes.
        if !loaded.filed_at(centre) {
            return Err(CommandError::NotFound);
        }
        let take = Command::ScanDocument {
            kind,
            sha256: crate::sha256_hex(bytes),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        };
        // Asked before the bytes are kept; the recording below decides again on the stream as it
        // is then. A scan recorded already is taken again (its resend answers as the first).
        match decide(&loaded.state, take, chrono::Utc::now()) {
            Ok(_) | Err(DomainError::AlreadyScanned) => {}
            Err(error) => return Err(CommandError::Rejected(error)),
        }
        let stored = self.scans.put(bytes, format).await?;
        let recorded = self
            .requests
            .scan(number, kind, &stored.sha256, stored.size, centre, actor)
            .await?;
        let document_to_sign = match &self.requests.load(stream_id).await?.state {
            Request::Open(open) => open.document_to_sign(),
            _ => Vec::new(),
        };
        Ok(Scanned {
            request_id: stream_id.as_uuid(),
            stored,
            version: recorded.version,
            replayed: recorded.replayed,
            document_to_sign,
        })
    }
}
