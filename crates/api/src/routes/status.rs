//! Refresh status (portal step 3): a request read from the status view, never from the log, with
//! long polls (`wait`), read-your-writes (`min_version`) and ETags. Each answer is serialised once
//! per version of its row.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::RequestNumber;
use projections::StatusRow;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{access, input, views};
use crate::problem::{ApiError, Problem};
use crate::state::{AppState, StatusBody};
use crate::token::{Principal, Role};

/// The longest a long poll may hold an answer.
pub const MAX_WAIT_SECONDS: u64 = 30;
/// How long `min_version` waits when no `wait` is given.
const DEFAULT_MIN_VERSION_WAIT: Duration = Duration::from_secs(10);

/// Query of step 3.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Hold the answer up to this many seconds (at most 30) until the request changes: with
    /// `If-None-Match` until its ETag changes, with `min_version` until that version is visible.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
    /// Read your write: wait until the view shows at least this version.
    #[param(minimum = 1)]
    pub min_version: Option<i64>,
}

/// Refresh status (portal step 3), read from the status view; long poll with `wait`.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{number}",
    tag = "requests",
    params(("number" = String, Path, description = "The request number"),
           ("If-None-Match" = Option<String>, Header, description = "The ETag of the last answer"),
           ("X-Purpose" = Option<String>, Header, description = "Why someone other than the citizen reads the request (recorded with the read)"),
           StatusQuery),
    responses(
        (status = 200, description = "The request", body = views::RequestDto, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 400, description = "Invalid `wait`, `min_version` or `X-Purpose`, or an operator's read without `X-Purpose`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not read requests, or an operator's (medical user's) token naming no service centre (organisation)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown request, or another citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The principal holds as many long polls as it may (8)", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen, Role::Medical, Role::Operator, Role::Auditor])?;
    let purpose = input::purpose(&req)?;
    access::may_read(&principal, purpose.as_deref())?;
    let poll = Poll::new(&req, query.into_inner())?;
    let number = input::request_number(&number)?;
    // A held answer takes one of the principal's poll slots first, before any database work.
    let _slot = if poll.holds() {
        let principal_key = format!("{}:{}", principal.role, principal.subject);
        Some(
            state
                .polls
                .hold(principal_key)
                .map_err(|_| ApiError::TooManyPolls)?,
        )
    } else {
        None
    };
    let Some(first) = first_read(&state, &principal, &number, &poll).await? else {
        return Err(ApiError::RequestNotFound);
    };
    let (mut entry, watch) = match first {
        First::Answer(entry) => (Some(entry), None),
        First::Hold { entry, stream } => (entry, Some(state.polls.watch(stream))),
    };
    // A version the event store does not have yet cannot be waited for: it would hold the answer
    // for nothing. Asked once, only when the view is behind `min_version`.
    let mut written: Option<u64> = None;
    loop {
        // Enabled before the row is read, so that a commit during the read still wakes this poll.
        let notified = watch.as_ref().map(crate::polls::Watch::notified);
        tokio::pin!(notified);
        if let Some(notified) = notified.as_mut().as_pin_mut() {
            notified.enable();
        }
        if entry.is_none() || watch.is_some() {
            entry = read(&state, &number, &poll, &principal).await?;
        }
        let row = entry.as_ref().map(|entry| &entry.0);
        let behind = match (poll.min_version, row) {
            (Some(wanted), row) if row.map_or(0, |r| r.version) < wanted => {
                let stored = match written {
                    Some(stored) => stored,
                    None => *written.insert(stored_version(&state, &number).await?),
                };
                i64::try_from(stored).unwrap_or(i64::MAX) >= wanted
            }
            _ => false,
        };
        let settled = !behind && row.is_none_or(|row| !(poll.wait && poll.unchanged(row)));
        // A stopping server answers with what it has rather than hold a poll past its drain.
        if settled
            || watch.is_none()
            || tokio::time::Instant::now() >= poll.deadline
            || state.stopping.is_cancelled()
        {
            let row = row.ok_or(ApiError::RequestNotFound)?;
            if access::recorded(&principal, row) {
                let what = format!("request:{number}");
                access::record_read(&state.read_audit, &principal, row, what, purpose).await?;
            }
            return answer(&state, row, &poll);
        }
        // Cancel safe: each branch only waits; the loop re-reads the view whichever ends first.
        tokio::select! {
            () = async { if let Some(notified) = notified.as_mut().as_pin_mut() { notified.await } } => {}
            () = tokio::time::sleep_until(poll.deadline) => {}
            () = state.stopping.cancelled() => {}
        }
    }
}

/// A cached entry of the status view (the row and when it was read).
type Entry = std::sync::Arc<(StatusRow, std::time::Instant)>;

/// What the first look at a request decides.
enum First {
    /// Answer with this row now.
    Answer(Entry),
    /// Hold: the row as it is now (if the view has it), and the stream to watch for changes.
    Hold {
        entry: Option<Entry>,
        stream: uuid::Uuid,
    },
}

/// The first look at the request: `None` when it is unknown or `principal` may not see it, which
/// is told at once and alike (a foreign number is never held, so its existence does not show in
/// how long the answer takes).
async fn first_read(
    state: &AppState,
    principal: &Principal,
    number: &RequestNumber,
    poll: &Poll,
) -> Result<Option<First>, ApiError> {
    let row = if poll.holds() {
        state
            .status_view
            .by_number_fresh(number.as_str())
            .await?
            .map(|row| std::sync::Arc::new((row, std::time::Instant::now())))
    } else {
        state.status_view.by_number(number.as_str()).await?
    };
    match row {
        Some(entry) if !access::visible(principal, &entry.0) => Ok(None),
        Some(entry) if !poll.holds() => Ok(Some(First::Answer(entry))),
        Some(entry) => {
            let stream = entry.0.stream_id;
            Ok(Some(First::Hold {
                entry: Some(entry),
                stream,
            }))
        }
        // Not in the view yet: only read-your-writes may wait for it, and only for a request the
        // principal may see, told from the request's own first event.
        None if poll.min_version.is_some() => {
            let Some(stream) = state.requests.find(number).await? else {
                return Ok(None);
            };
            let loaded = state.requests.load(stream).await?;
            let visible = loaded
                .info()
                .is_some_and(|info| access::visible_info(principal, info));
            Ok(visible.then_some(First::Hold {
                entry: None,
                stream: stream.as_uuid(),
            }))
        }
        None => Ok(None),
    }
}

/// The row as a held poll sees it: from the table itself, if `principal` may see it.
async fn read(
    state: &AppState,
    number: &RequestNumber,
    poll: &Poll,
    principal: &Principal,
) -> Result<Option<Entry>, ApiError> {
    debug_assert!(poll.holds());
    state.metrics.status_poll_reads.inc();
    Ok(state
        .status_view
        .by_number_fresh(number.as_str())
        .await?
        .filter(|row| access::visible(principal, row))
        .map(|row| std::sync::Arc::new((row, std::time::Instant::now()))))
}

/// What a status read waits for, from its query and headers.
struct Poll {
    /// A long poll (`wait`): held until the request changes from `If-None-Match`.
    wait: bool,
    /// Read-your-writes: held until the view shows this version.
    min_version: Option<i64>,
    if_none_match: Option<String>,
    /// When a held answer is given whatever the view shows.
    deadline: tokio::time::Instant,
}

impl Poll {
    fn new(req: &HttpRequest, query: StatusQuery) -> Result<Poll, ApiError> {
        if query.wait.is_some_and(|s| s > MAX_WAIT_SECONDS) {
            return Err(ApiError::InvalidParameter {
                field: "wait",
                reason: format!("at most {MAX_WAIT_SECONDS} seconds"),
            });
        }
        if query.min_version.is_some_and(|v| v < 1) {
            return Err(ApiError::InvalidParameter {
                field: "min_version",
                reason: "a version is at least 1".into(),
            });
        }
        let hold = match (query.wait, query.min_version) {
            (Some(seconds), _) => Duration::from_secs(seconds),
            (None, Some(_)) => DEFAULT_MIN_VERSION_WAIT,
            (None, None) => Duration::ZERO,
        };
        Ok(Poll {
            wait: query.wait.is_some(),
            min_version: query.min_version,
            if_none_match: req
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            deadline: tokio::time::Instant::now() + hold,
        })
    }

    /// Whether the answer may be held (and so must come from the table, not the cache).
    fn holds(&self) -> bool {
        self.wait || self.min_version.is_some()
    }

    /// Whether the client already has `row` (its ETag is one of `If-None-Match`).
    fn unchanged(&self, row: &StatusRow) -> bool {
        self.if_none_match
            .as_deref()
            .is_some_and(|tags| etag_matches(tags, &etag(row)))
    }
}

/// 304 when the client has `row` already, else 200 with it.
fn answer(state: &AppState, row: &StatusRow, poll: &Poll) -> Result<HttpResponse, ApiError> {
    let body = status_body(state, row)?;
    if poll.unchanged(row) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, body.etag.as_str()))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, body.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .content_type("application/json")
        .body(body.json.clone()))
}

/// The serialised answer for `row`, made once per version of the row.
fn status_body(state: &AppState, row: &StatusRow) -> Result<std::sync::Arc<StatusBody>, ApiError> {
    if let Some(body) = state.status_bodies.get(&row.stream_id) {
        if body.version == row.version {
            return Ok(body);
        }
    }
    let json = serde_json::to_vec(&views::request_dto(row)).map_err(ApiError::internal)?;
    let body = std::sync::Arc::new(StatusBody {
        version: row.version,
        etag: etag(row),
        json: json.into(),
    });
    state.status_bodies.insert(row.stream_id, body.clone());
    Ok(body)
}

/// The version the event store holds for the request with this number (0 when there is none).
async fn stored_version(state: &AppState, number: &RequestNumber) -> Result<u64, ApiError> {
    let Some(stream_id) = state.requests.find(number).await? else {
        return Ok(0);
    };
    Ok(state
        .requests
        .store()
        .stream_version(stream_id)
        .await?
        .get())
}

fn etag(row: &StatusRow) -> String {
    format!("\"{}-{}\"", row.stream_id.simple(), row.version)
}

fn etag_matches(header: &str, tag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}
