//! The auditors' routes: a request's stream with its metadata and hash links, the request as it
//! was at an instant or version (replayed through the domain's `evolve`, not read from a
//! projection), the hash chains verified, and the whole log as NDJSON in its gap-free order.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::data_access::{LogRead, LOG_READ_EVENT_TYPE};
use domain::request::{evolve, Outcome, Request, RequestEvent, Stage};
use domain::{Cursor, RecordedEvent, RequestNumber, StreamId, GENESIS_HASH};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::{Principal, Role};

/// The most events one page of the feed returns.
pub const MAX_FEED_LIMIT: u32 = 10_000;
/// Pages of the feed sent at once by the process; another waits its turn (429).
pub const FEEDS: usize = 4;
/// Events read from the database and sent at a time: a page goes out in parts of this many, so
/// that it never sits in memory whole (events are up to 256 KiB each).
const FEED_CHUNK: u32 = 16;

/// One event of a request's stream, as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventDto {
    /// The event's place in the log (resume a feed after it).
    pub cursor: String,
    pub stream_version: u64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub schema_version: u32,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `citizen:IIN`, `operator:ID` or `system:COMPONENT`.
    pub actor: String,
    pub channel: String,
    pub correlation_id: uuid::Uuid,
    pub causation_id: Option<uuid::Uuid>,
    pub recorded_at: DateTime<Utc>,
    /// SHA-256 (hex) over the previous hash and this event's canonical bytes.
    pub hash: String,
    /// The hash this event's links to (64 zeros for the first event of a stream).
    pub previous_hash: String,
}

/// A request's stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditStreamDto {
    pub number: String,
    pub stream_id: uuid::Uuid,
    pub events: Vec<AuditEventDto>,
}

/// Which instant or version of a request to replay to (one of them; none: the latest).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// An RFC 3339 instant: the events recorded at or before it.
    pub as_of: Option<String>,
    /// A stream version: the events up to it.
    #[param(minimum = 0)]
    pub version: Option<i64>,
}

/// A request as it was, replayed from its events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditStateDto {
    pub number: String,
    /// The version replayed to (0: nothing recorded by then).
    pub version: u64,
    /// When the last replayed event was recorded.
    pub last_event_at: Option<DateTime<Utc>>,
    /// `awaiting-signature`, `submitted`, `forwarded-to-provider`, `completed`, `refused`; absent
    /// before the submission.
    pub status: Option<String>,
    /// Where an open request stood: `checks`, `awaiting-signature`, `awaiting-verification`,
    /// `lookups`; `ended` once it ended.
    pub stage: Option<String>,
    /// Lookups answered so far, in order (open requests).
    pub lookups_done: Vec<String>,
    /// The lookup asked and not yet answered.
    pub lookup_in_flight: Option<String>,
    pub late_steps: Vec<String>,
    pub deadline_missed: bool,
    /// The document number of a completed request.
    pub document_number: Option<String>,
    /// The refusal code of a refused request.
    pub refusal_reason: Option<String>,
    pub survey_submitted: bool,
    /// The submission as recorded.
    #[schema(value_type = Object)]
    pub submission: Option<serde_json::Value>,
}

/// Which chains to verify.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// A request number: its stream only.
    pub request: Option<String>,
    /// `true`: every stream of the log.
    pub all: Option<bool>,
}

/// What a verification found.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyDto {
    pub intact: bool,
    pub streams: u64,
    pub events: u64,
    /// The first event that does not check out in each broken stream (at most 100).
    #[schema(value_type = Vec<Object>)]
    pub breaks: Vec<domain::ChainBreak>,
}

/// A page of the global log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The cursor of the last event already read (`TRANSACTION-POSITION`); absent: from the start.
    pub after: Option<String>,
    /// Events in this page, 1 to 10,000 (default 1,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

fn auditor(principal: &Principal) -> Result<(), ApiError> {
    Ok(principal.require(&[Role::Auditor])?)
}

async fn stream_of(state: &AppState, number: &str) -> Result<(RequestNumber, StreamId), ApiError> {
    let number = super::input::request_number(number)?;
    let stream = state
        .requests
        .find(&number)
        .await?
        .ok_or(ApiError::RequestNotFound)?;
    Ok((number, stream))
}

/// An auditor reading a request's history reads the data of every citizen it names (the
/// applicant, the subject, a representative, the person at the desk): recorded before the answer,
/// from the stream itself, so whether a read model has the request yet does not matter.
async fn record_audit_read(
    state: &AppState,
    principal: &Principal,
    number: &RequestNumber,
    events: &[RecordedEvent],
    purpose: Option<String>,
) -> Result<(), ApiError> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let submitted = RequestEvent::decode(
        &first.event_type,
        first.schema_version,
        first.payload.clone(),
    )
    .map_err(ApiError::internal)?;
    let RequestEvent::Submitted(info) = submitted else {
        return Ok(());
    };
    let citizens: Vec<&domain::Iin> = std::iter::once(&info.applicant)
        .chain(info.subject())
        .chain(info.representative.as_ref().map(|r| &r.iin))
        .chain(info.presented.as_ref().map(|p| &p.iin))
        .collect();
    let what = format!("audit:{number}");
    super::access::record_reads(&state.read_audit, principal, &citizens, what, purpose).await
}

fn event_dto(event: &RecordedEvent, previous_hash: String) -> AuditEventDto {
    AuditEventDto {
        cursor: event.cursor.to_string(),
        stream_version: event.stream_version.get(),
        event_id: event.event_id,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        payload: event.payload.clone(),
        actor: event.metadata.actor.to_string(),
        channel: event.metadata.channel.as_str().to_owned(),
        correlation_id: event.metadata.correlation_id,
        causation_id: event.metadata.causation_id,
        recorded_at: event.recorded_at,
        hash: event.hash.to_string(),
        previous_hash,
    }
}

/// A request's events in order, with metadata and hash links.
#[utoipa::path(
    get,
    path = "/api/v1/audit/requests/{number}/events",
    tag = "audit",
    params(("number" = String, Path, description = "The request number")),
    responses(
        (status = 200, description = "The stream", body = AuditStreamDto),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auditor(&principal)?;
    let purpose = super::input::purpose(&req)?;
    let (number, stream) = stream_of(&state, &number).await?;
    let events = state.requests.recorded(stream).await?;
    record_audit_read(&state, &principal, &number, &events, purpose).await?;
    let mut previous = GENESIS_HASH.to_string();
    let mut dtos = Vec::with_capacity(events.len());
    for event in &events {
        dtos.push(event_dto(
            event,
            std::mem::replace(&mut previous, event.hash.to_string()),
        ));
    }
    Ok(HttpResponse::Ok().json(AuditStreamDto {
        number: number.to_string(),
        stream_id: stream.as_uuid(),
        events: dtos,
    }))
}

/// The request as it was at an instant or a version, replayed through the domain.
#[utoipa::path(
    get,
    path = "/api/v1/audit/requests/{number}/state",
    tag = "audit",
    params(("number" = String, Path, description = "The request number"), StateQuery),
    responses(
        (status = 200, description = "The replayed state", body = AuditStateDto),
        (status = 400, description = "Both or a malformed `as_of` / `version`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn state_at(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    number: web::Path<String>,
    query: web::Query<StateQuery>,
) -> Result<HttpResponse, ApiError> {
    auditor(&principal)?;
    let purpose = super::input::purpose(&req)?;
    let query = query.into_inner();
    let as_of = match &query.as_of {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| ApiError::InvalidParameter {
                    field: "as_of",
                    reason: "an RFC 3339 instant, e.g. 2026-11-23T10:00:00Z".into(),
                })?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let version = match query.version {
        Some(v) if v < 0 => {
            return Err(ApiError::InvalidParameter {
                field: "version",
                reason: "a version is 0 or more".into(),
            })
        }
        Some(v) => Some(u64::try_from(v).unwrap_or(0)),
        None => None,
    };
    if as_of.is_some() && version.is_some() {
        return Err(ApiError::InvalidParameter {
            field: "version",
            reason: "give as_of or version, not both".into(),
        });
    }
    let (number, stream) = stream_of(&state, &number).await?;
    let events = state.requests.recorded(stream).await?;
    record_audit_read(&state, &principal, &number, &events, purpose).await?;
    let mut request = Request::default();
    let mut replayed = 0u64;
    let mut last_event_at = None;
    for recorded in &events {
        let included = match (as_of, version) {
            (Some(at), _) => recorded.recorded_at <= at,
            (_, Some(v)) => recorded.stream_version.get() <= v,
            _ => true,
        };
        if !included {
            break;
        }
        let event = RequestEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload.clone(),
        )
        .map_err(ApiError::internal)?;
        request = evolve(request, &event);
        replayed = recorded.stream_version.get();
        last_event_at = Some(recorded.recorded_at);
    }
    Ok(HttpResponse::Ok().json(state_dto(&number, replayed, last_event_at, &request)))
}

fn state_dto(
    number: &RequestNumber,
    version: u64,
    last_event_at: Option<DateTime<Utc>>,
    request: &Request,
) -> AuditStateDto {
    let lookup = |l: &domain::catalog::Lookup| domain::catalog::Step::Lookup(*l).code();
    let strip = |code: String| code.trim_start_matches("lookup:").to_owned();
    let mut dto = AuditStateDto {
        number: number.to_string(),
        version,
        last_event_at,
        status: request.status().map(|s| s.code().to_owned()),
        stage: None,
        lookups_done: Vec::new(),
        lookup_in_flight: None,
        late_steps: Vec::new(),
        deadline_missed: false,
        document_number: None,
        refusal_reason: None,
        survey_submitted: false,
        submission: request
            .info()
            .and_then(|info| serde_json::to_value(info).ok()),
    };
    match request {
        Request::Empty => {}
        Request::Open(open) => {
            let (stage, list, done, in_flight) = match open.stage {
                Stage::Checks { done, in_flight } => ("checks", &open.checks, done, in_flight),
                Stage::AwaitingSignature { .. } => ("awaiting-signature", &open.checks, 0, None),
                Stage::AwaitingVerification => ("awaiting-verification", &open.checks, 0, None),
                Stage::Lookups { done, in_flight } => ("lookups", &open.lookups, done, in_flight),
            };
            dto.stage = Some(stage.into());
            dto.lookups_done = list.iter().take(done).map(|l| strip(lookup(l))).collect();
            dto.lookup_in_flight = in_flight.map(|l| strip(lookup(&l)));
            dto.late_steps = open.missed_steps.iter().map(|s| s.code()).collect();
            dto.deadline_missed = open.service_deadline_missed;
        }
        Request::Closed(closed) => {
            dto.stage = Some("ended".into());
            dto.survey_submitted = closed.survey_submitted;
            match &closed.outcome {
                Outcome::Completed { document_number } => {
                    dto.document_number = Some(document_number.clone());
                }
                Outcome::Refused { reason } => dto.refusal_reason = Some(reason.code().to_owned()),
                Outcome::Abandoned => {}
            }
        }
    }
    dto
}

/// The hash chains of one request or of the whole log, checked.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    params(VerifyQuery),
    responses(
        (status = 200, description = "What was checked and the first altered event of each broken stream", body = VerifyDto),
        (status = 400, description = "Neither or both of `request` and `all=true`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn verify(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    auditor(&principal)?;
    let store = state.requests.store();
    let report = match (&query.request, query.all.unwrap_or(false)) {
        (Some(number), false) => {
            let (_, stream) = stream_of(&state, number).await?;
            store.verify_stream(stream).await?
        }
        (None, true) => store.verify_all().await?,
        _ => {
            return Err(ApiError::InvalidParameter {
                field: "request",
                reason: "give request=NUMBER or all=true".into(),
            })
        }
    };
    Ok(HttpResponse::Ok().json(VerifyDto {
        intact: report.is_intact(),
        streams: report.streams,
        events: report.events,
        breaks: report.breaks,
    }))
}

/// The global log in its gap-free order, as NDJSON: one event per line with the cursor to resume
/// after. Under concurrent writes every committed event appears exactly once across pages. Each
/// page is recorded (`LogRead`: who, why, which range) before it is sent, and sent in parts, so a
/// page never sits in memory whole; should the database fail mid-page the body ends early, and
/// each line's `cursor` tells where to resume.
#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = "audit",
    params(FeedQuery, ("X-Purpose" = Option<String>, Header, description = "Why the log is read (recorded with the read)")),
    responses(
        (status = 200, description = "One JSON event per line; `X-Next-Cursor` resumes after the page", content_type = "application/x-ndjson", body = String),
        (status = 429, description = "As many pages are being sent as the server sends at once", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed `after` or `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    auditor(&principal)?;
    let purpose = super::input::purpose(&req)?;
    let after = match &query.after {
        Some(raw) => raw
            .parse::<Cursor>()
            .map_err(|error| ApiError::InvalidParameter {
                field: "after",
                reason: error.to_string(),
            })?,
        None => Cursor::START,
    };
    let limit = query.limit.unwrap_or(1_000);
    let limit = u32::try_from(limit)
        .ok()
        .filter(|l| (1..=MAX_FEED_LIMIT).contains(l))
        .ok_or(ApiError::InvalidParameter {
            field: "limit",
            reason: format!("1 to {MAX_FEED_LIMIT}"),
        })?;
    let slot = state
        .feeds
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests { retry_after: 1 })?;
    let store = state.requests.store().clone();
    let answer = |next: Cursor| {
        let mut answer = HttpResponse::Ok();
        answer
            .content_type("application/x-ndjson")
            .insert_header(("X-Next-Cursor", next.to_string()))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        answer
    };
    let Some(end) = store.page_end(after, limit).await? else {
        return Ok(answer(after).finish());
    };
    // The whole page is on record before its first byte is sent. A page of nothing but such
    // records holds no one's data and is not recorded: reading to the end must end.
    if end.types.iter().any(|t| t != LOG_READ_EVENT_TYPE) {
        let read = LogRead {
            reader: principal.subject.clone(),
            role: principal.role.to_string(),
            organisation: principal.organisation.clone(),
            purpose,
            after: after.to_string(),
            through: end.through.to_string(),
            events: end.events,
            at: Utc::now(),
        };
        state
            .read_audit
            .record_log_read(&read)
            .await
            .map_err(super::access::audit_error)?;
    }
    Ok(answer(end.through).streaming(chunks(store, after, end.through, slot)))
}

/// The NDJSON lines of the events after `after` through `through`, [`FEED_CHUNK`] events at a
/// time, each part read when the client has taken the one before; `slot` is held until the end.
fn chunks(
    store: event_store::EventStore,
    after: Cursor,
    through: Cursor,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> impl futures_util::Stream<Item = Result<web::Bytes, event_store::StoreError>> {
    futures_util::stream::try_unfold((after, slot), move |(cursor, slot)| {
        let store = store.clone();
        async move {
            if cursor >= through {
                return Ok(None);
            }
            let events = store.read_range(cursor, through, FEED_CHUNK).await?;
            let Some(next) = events.last().map(|event| event.cursor) else {
                return Ok(None);
            };
            let mut body = Vec::new();
            for event in &events {
                // Serialising a stored event (strings, numbers, JSON) cannot fail.
                if serde_json::to_writer(&mut body, event).is_ok() {
                    body.push(b'\n');
                }
            }
            Ok(Some((web::Bytes::from(body), (next, slot))))
        }
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/audit/requests/{number}/events")
            .route(web::get().to(events))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/audit/requests/{number}/state")
            .route(web::get().to(state_at))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/audit/verify")
            .route(web::get().to(verify))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/audit/events")
            .route(web::get().to(feed))
            .default_service(web::to(super::method_not_allowed)),
    );
}
