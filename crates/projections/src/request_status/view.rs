//! Reading the status view: what the API's "refresh status" and history answer from.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::{
    Channel, Iin, RefusalReason, RequestNumber, RequestStatus, ServiceCode, SignIn, Texts,
};
use serde::Serialize;
use tokio::sync::watch;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Progress, ProjectionError};

/// One request in the status view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRow {
    pub stream_id: Uuid,
    pub number: RequestNumber,
    pub service: ServiceCode,
    /// The applicant, who owns the request.
    pub iin: Iin,
    /// The citizen the request is about, when it is not the applicant (a patient).
    pub subject_iin: Option<Iin>,
    pub channel: Channel,
    pub status: RequestStatus,
    pub status_text: Texts,
    pub refusal_reason: Option<RefusalReason>,
    pub deadline: Option<DateTime<Utc>>,
    pub result_ready: bool,
    /// The promised deadline passed while the request was open.
    pub service_deadline_missed: bool,
    /// Steps that took longer than their limit (`Step::code`).
    pub late_steps: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub last_change: DateTime<Utc>,
    pub version: i64,
    /// At a service centre: `<centre>/<operator IIN>` of the operator who filed it.
    pub operator_id: Option<String>,
    /// At a service centre: the representative who acted for the citizen.
    pub representative_iin: Option<Iin>,
    /// The last day the representative's power of attorney holds (as ENIS gave it).
    pub representative_until: Option<chrono::NaiveDate>,
    /// A social-status check: the medical organisation it was filed through.
    pub organisation: Option<String>,
}

impl StatusRow {
    /// Whether a citizen with this IIN may see the request through their own sign-in: as its
    /// applicant (unless they filed it through another sign-in: a social-status check filed as a
    /// medical organisation's user, [`SignIn`]) or its subject, or as the representative while
    /// the power of attorney holds - never once the request was refused because it does not (ENIS
    /// may have found it revoked, or someone else's, with a date still ahead).
    pub fn concerns(&self, iin: &Iin) -> bool {
        let poa_refused = self.refusal_reason == Some(RefusalReason::PoaNotInEnis);
        (&self.iin == iin && SignIn::Citizen.files(self.service))
            || self.subject_iin.as_ref() == Some(iin)
            || (self.representative_iin.as_ref() == Some(iin)
                && !poa_refused
                && self
                    .representative_until
                    .is_some_and(|until| domain::calendar::local_date(chrono::Utc::now()) <= until))
    }
}

/// Where a page of a citizen's history ends: the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    pub received_at: DateTime<Utc>,
    pub stream_id: Uuid,
}

/// Queries over the status view. Cheap to clone.
#[derive(Clone)]
pub struct StatusView {
    pool: Pool,
    cache: Option<Arc<RowCache>>,
    /// The projector's progress, to tell whether the cache has taken in its last batch.
    progress: Option<watch::Receiver<Progress>>,
}

/// Rows read recently, so that clients polling "refresh status" do not each cost a query.
///
/// Used only while the projector of this process leads (and so applies every change): every batch
/// it commits drops the rows of the streams it touched, and anything it cannot account for (a
/// missed batch, leadership gained or lost, a rebuild's swap) drops everything. As a last guard a
/// row is never served older than [`RowCache::MAX_AGE`].
struct RowCache {
    /// Request number -> the row and when it was read.
    rows: quick_cache::sync::Cache<String, Arc<(StatusRow, Instant)>>,
    /// Stream id -> request number, to drop the rows of changed streams.
    numbers: quick_cache::sync::Cache<Uuid, String>,
    /// Moves on every invalidation: a row read before a move is not stored after it.
    epoch: AtomicU64,
    /// Whether this process's projector leads; the cache is bypassed otherwise.
    enabled: std::sync::atomic::AtomicBool,
    /// The projector's batch count the cache has taken in; while the projector is ahead (a batch
    /// committed, its rows not yet dropped), reads bypass the cache, so that no one who saw the
    /// new version (a long poll) reads the old one afterwards.
    seen: AtomicU64,
}

impl RowCache {
    const MAX_AGE: Duration = Duration::from_secs(60);
    const CAPACITY: usize = 100_000;

    fn new() -> Self {
        Self {
            rows: quick_cache::sync::Cache::new(Self::CAPACITY),
            numbers: quick_cache::sync::Cache::new(Self::CAPACITY * 2),
            epoch: AtomicU64::new(0),
            enabled: std::sync::atomic::AtomicBool::new(false),
            seen: AtomicU64::new(0),
        }
    }

    fn get(&self, number: &str) -> Option<Arc<(StatusRow, Instant)>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        self.rows
            .get(number)
            .filter(|entry| entry.1.elapsed() < Self::MAX_AGE)
    }

    fn invalidate(&self, progress: &Progress, last_seen: u64) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.enabled.store(progress.leader, Ordering::SeqCst);
        if progress.leader && progress.batches.wrapping_sub(last_seen) == 1 {
            for id in progress.streams.iter() {
                match self.numbers.get(id) {
                    Some(number) => {
                        self.rows.remove(&number);
                    }
                    // Evicted from the index: the row may still be cached; be safe.
                    None if !self.rows.is_empty() && self.numbers.len() >= Self::CAPACITY * 2 => {
                        self.rows.clear();
                        return;
                    }
                    None => {}
                }
            }
        } else {
            self.rows.clear();
        }
    }
}

const COLUMNS: &str = "stream_id, number, service, iin, subject_iin, channel, status, status_ru, \
                       status_kk, status_en, refusal_reason, deadline, result_ready, received_at, \
                       last_change, version, service_deadline_missed, late_steps, operator_id, \
                       representative_iin, representative_until, organisation";

impl StatusView {
    /// Reads straight from the table.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            cache: None,
            progress: None,
        }
    }

    /// Reads through a cache kept correct by `progress`, the projector of this process (see
    /// [`RowCache`]). Must be called inside a Tokio runtime: it starts the task that drops
    /// changed rows; the task ends when the projector's sender is dropped.
    pub fn cached(pool: Pool, mut progress: watch::Receiver<Progress>) -> Self {
        let cache = Arc::new(RowCache::new());
        let weak = Arc::downgrade(&cache);
        let watching = progress.clone();
        tokio::spawn(async move {
            let mut last_seen = {
                let current = progress.borrow_and_update();
                if let Some(cache) = weak.upgrade() {
                    cache.enabled.store(current.leader, Ordering::SeqCst);
                    cache.seen.store(current.batches, Ordering::SeqCst);
                }
                current.batches
            };
            while progress.changed().await.is_ok() {
                let Some(cache) = weak.upgrade() else { break };
                let current = progress.borrow_and_update().clone();
                cache.invalidate(&current, last_seen);
                cache.seen.store(current.batches, Ordering::SeqCst);
                last_seen = current.batches;
            }
        });
        Self {
            pool,
            cache: Some(cache),
            progress: Some(watching),
        }
    }

    /// Whether reads are served from the cache now (this process's projector leads).
    pub fn caching(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.enabled.load(Ordering::SeqCst))
    }

    /// The request with this number (and when it was read), from the cache when it holds it.
    ///
    /// # Errors
    /// When the database fails or a row cannot be read.
    pub async fn by_number(
        &self,
        number: &str,
    ) -> Result<Option<Arc<(StatusRow, Instant)>>, ProjectionError> {
        let Some(cache) = &self.cache else {
            let row = self.by_number_fresh(number).await?;
            return Ok(row.map(|row| Arc::new((row, Instant::now()))));
        };
        let behind = self
            .progress
            .as_ref()
            .is_some_and(|p| p.borrow().batches != cache.seen.load(Ordering::SeqCst));
        if behind {
            let row = self.by_number_fresh(number).await?;
            return Ok(row.map(|row| Arc::new((row, Instant::now()))));
        }
        if let Some(entry) = cache.get(number) {
            return Ok(Some(entry));
        }
        let epoch = cache.epoch.load(Ordering::SeqCst);
        let Some(row) = self.by_number_fresh(number).await? else {
            return Ok(None);
        };
        cache.numbers.insert(row.stream_id, number.to_owned());
        let entry = Arc::new((row, Instant::now()));
        if cache.enabled.load(Ordering::SeqCst) && cache.epoch.load(Ordering::SeqCst) == epoch {
            cache.rows.insert(number.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// The request with this number, read from the table now (long polls, read-your-writes).
    ///
    /// # Errors
    /// When the database fails or a row cannot be read.
    pub async fn by_number_fresh(
        &self,
        number: &str,
    ) -> Result<Option<StatusRow>, ProjectionError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM projections.request_status WHERE number = $1"
            ))
            .await
            .map_err(ProjectionError::database("preparing a status read"))?;
        let row = client
            .query_opt(&statement, &[&number])
            .await
            .map_err(ProjectionError::database("reading the status view"))?;
        row.as_ref().map(decode).transpose()
    }

    /// A citizen's requests (as applicant or subject), newest first, `limit` after `after`: as
    /// applicant only those filed through the citizen's own sign-in (not the social-status
    /// checks they filed as a medical organisation's user).
    ///
    /// # Errors
    /// When the database fails or a row cannot be read.
    pub async fn history(
        &self,
        iin: &Iin,
        after: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<StatusRow>, ProjectionError> {
        let client = self.pool.get().await?;
        let (at, id) = after.map_or((None, None), |c| (Some(c.received_at), Some(c.stream_id)));
        let elsewhere: Vec<&str> = ServiceCode::ALL
            .into_iter()
            .filter(|service| !SignIn::Citizen.files(*service))
            .map(ServiceCode::code)
            .collect();
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM projections.request_status \
                  WHERE ((iin = $1 AND NOT service = ANY($5)) OR subject_iin = $1) \
                    AND ($2::timestamptz IS NULL OR (received_at, stream_id) < ($2, $3::uuid)) \
                  ORDER BY received_at DESC, stream_id DESC LIMIT $4"
            ))
            .await
            .map_err(ProjectionError::database("preparing a history read"))?;
        let rows = client
            .query(&statement, &[&iin.as_str(), &at, &id, &limit, &elsewhere])
            .await
            .map_err(ProjectionError::database("reading a citizen's history"))?;
        rows.iter().map(decode).collect()
    }
}

fn decode(row: &Row) -> Result<StatusRow, ProjectionError> {
    let get = ProjectionError::database("reading a status row");
    let stream_id: Uuid = row.try_get("stream_id").map_err(get)?;
    // A value the projector wrote that does not parse back is a bug to look at, not a row to show.
    let bad = |column: &str, value: &str| ProjectionError::Undecodable {
        stream_id: domain::StreamId::from_uuid(stream_id),
        version: 0,
        reason: format!("the status view holds {column} {value:?}"),
    };
    let text = |column: &'static str| -> Result<String, ProjectionError> {
        row.try_get::<_, String>(column).map_err(get)
    };
    let status = text("status")?;
    let number = text("number")?;
    let service = text("service")?;
    let iin = text("iin")?;
    let channel = text("channel")?;
    let subject: Option<String> = row.try_get("subject_iin").map_err(get)?;
    let refusal: Option<String> = row.try_get("refusal_reason").map_err(get)?;
    let representative: Option<String> = row.try_get("representative_iin").map_err(get)?;
    Ok(StatusRow {
        stream_id,
        number: RequestNumber::parse(&number).map_err(|_| bad("number", &number))?,
        service: ServiceCode::from_str(&service).map_err(|_| bad("service", &service))?,
        iin: Iin::parse(&iin).map_err(|_| bad("iin", &iin))?,
        subject_iin: subject
            .map(|s| Iin::parse(&s).map_err(|_| bad("subject_iin", &s)))
            .transpose()?,
        channel: Channel::from_str(&channel).map_err(|_| bad("channel", &channel))?,
        status: RequestStatus::from_str(&status).map_err(|_| bad("status", &status))?,
        status_text: Texts {
            ru: text("status_ru")?,
            kk: text("status_kk")?,
            en: text("status_en")?,
        },
        refusal_reason: refusal
            .map(|r| RefusalReason::from_str(&r).map_err(|_| bad("refusal_reason", &r)))
            .transpose()?,
        deadline: row.try_get("deadline").map_err(get)?,
        result_ready: row.try_get("result_ready").map_err(get)?,
        service_deadline_missed: row.try_get("service_deadline_missed").map_err(get)?,
        late_steps: row.try_get("late_steps").map_err(get)?,
        received_at: row.try_get("received_at").map_err(get)?,
        last_change: row.try_get("last_change").map_err(get)?,
        version: row.try_get("version").map_err(get)?,
        operator_id: row.try_get("operator_id").map_err(get)?,
        representative_iin: representative
            .map(|s| Iin::parse(&s).map_err(|_| bad("representative_iin", &s)))
            .transpose()?,
        representative_until: row.try_get("representative_until").map_err(get)?,
        organisation: row.try_get("organisation").map_err(get)?,
    })
}
