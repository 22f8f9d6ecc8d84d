//! The verifiable log over HTTP (docs/architecture.md, "The verifiable log"): the latest signed
//! tree head, the inclusion proof of an event, the consistency proof between two sizes, and the
//! log's public key. Proofs are given only against sizes a signed head covers, so every answer can
//! be checked against a head the log can no longer take back.
//!
//! Auditors ask about any event; a citizen about the events of their own requests (anyone else's
//! event answers like an unknown one, 404). Heads and proofs are hashes, nothing of a citizen's
//! data, so reading them records no read.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::merkle::Hash;
use domain::receipt::{Consistency, Receipt};
use domain::StreamId;
use projections::log_tree::heads::{self, SignedHead};
use projections::log_tree::{read, Path};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub mod witness;

use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::{Principal, Role};

/// A signed tree head.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeadDto {
    /// The log's name.
    pub origin: String,
    /// How many events the tree holds.
    pub size: u64,
    /// The tree's head, base64.
    pub root: String,
    pub time: DateTime<Utc>,
    /// The checkpoint note as signed (text and signature lines): check it with the log's key.
    pub note: String,
    /// With `?from=M`: the consistency proof from the tree of M leaves to this head. Saved as it
    /// is, this answer is the newer head `egov receipt verify --head` takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub consistency: Option<Consistency>,
}

/// From which older size to prove the head consistent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadQuery {
    /// An older signed head's size: the answer carries the consistency proof from it.
    pub from: Option<String>,
}

impl From<&SignedHead> for HeadDto {
    fn from(signed: &SignedHead) -> Self {
        HeadDto {
            origin: signed.head.origin.clone(),
            size: signed.head.size,
            root: STANDARD.encode(signed.head.root),
            time: signed.head.time,
            note: signed.note.clone(),
            consistency: None,
        }
    }
}

/// Which event, and against which size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's id.
    pub event: String,
    /// The tree size to prove against: a signed head's (absent: the latest).
    pub size: Option<String>,
}

/// An event's inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionDto {
    pub event_id: uuid::Uuid,
    /// The event's leaf index (its place in the global order, from 0).
    pub index: u64,
    /// SHA-256(0x00 || canonical bytes || chain hash), base64.
    pub leaf: String,
    pub size: u64,
    /// The tree's head at `size`, base64: the signed head's, which the proof must lead to.
    pub root: String,
    /// RFC 9162's inclusion proof, base64 hashes from the leaf's sibling up.
    pub proof: Vec<String>,
    /// The signed head of `size` leaves.
    pub head: HeadDto,
}

/// Between which sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older size: a signed head's.
    pub from: String,
    /// The newer size: a signed head's.
    pub to: String,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyDto {
    pub from: u64,
    pub to: u64,
    /// The signed heads at both sizes, base64, which the proof must join.
    pub from_root: String,
    pub to_root: String,
    /// RFC 9162's consistency proof, base64 hashes.
    pub proof: Vec<String>,
}

fn b64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// Heads and consistency proofs: auditors, citizens (for their receipts) and witnesses.
fn may_ask(principal: &Principal) -> Result<(), ApiError> {
    Ok(principal.require(&[Role::Auditor, Role::Citizen, Role::Witness])?)
}

pub(crate) fn size_parameter(field: &'static str, raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|size| i64::try_from(*size).is_ok())
        .ok_or_else(|| ApiError::InvalidParameter {
            field,
            reason: "a tree size is a whole number".into(),
        })
}

/// A pooled connection; none is 503 (the database is away).
pub(crate) async fn client(state: &AppState) -> Result<deadpool_postgres::Client, ApiError> {
    let pool = state.db.pool();
    pool.get().await.map_err(|_| ApiError::Unavailable)
}

/// The signed head of `size` leaves (`latest` when it is its size); asked for a size no head was
/// signed at, 400 naming `field`: proofs are given only between heads the log has signed.
async fn signed_size(
    client: &deadpool_postgres::Client,
    field: &'static str,
    size: u64,
    latest: SignedHead,
) -> Result<SignedHead, ApiError> {
    if size == latest.head.size {
        return Ok(latest);
    }
    let reason = if size > latest.head.size {
        format!("the latest signed head has {} events", latest.head.size)
    } else {
        "no signed head has this size".to_owned()
    };
    heads::at(client, size)
        .await?
        .ok_or(ApiError::InvalidParameter { field, reason })
}

/// The latest signed head with the witnesses' cosignatures.
async fn latest(state: &AppState) -> Result<SignedHead, ApiError> {
    let client = client(state).await?;
    let signed = heads::latest(&client)
        .await?
        .ok_or(ApiError::NotYetInSignedHead)?;
    Ok(heads::with_cosignatures(&client, signed).await?)
}

/// The latest signed tree head.
#[utoipa::path(
    get,
    path = "/api/v1/log/head",
    tag = "log",
    params(HeadQuery),
    responses(
        (status = 200, description = "The latest signed head", body = HeadDto),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`from` not a size from 1 to the head's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an auditor nor a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No head signed yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn head(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<HeadQuery>,
) -> Result<HttpResponse, ApiError> {
    may_ask(&principal)?;
    let from = query
        .from
        .as_deref()
        .map(|raw| size_parameter("from", raw))
        .transpose()?;
    let signed = latest(&state).await?;
    let mut dto = HeadDto::from(&signed);
    if let Some(from) = from {
        if from == 0 || from > signed.head.size {
            return Err(ApiError::InvalidParameter {
                field: "from",
                reason: format!("a size from 1 to the head's {}", signed.head.size),
            });
        }
        let client = client(&state).await?;
        signed_size(&client, "from", from, signed.clone()).await?;
        let proof =
            read::consistency(&client, Some(&state.tree_nodes), from, signed.head.size).await?;
        dto.consistency = Some(Consistency {
            from,
            proof: b64(&proof),
        });
    }
    Ok(HttpResponse::Ok().json(dto))
}

/// Whether `principal` may see the event `id` (a citizen: an event of their own request).
async fn may_see_event(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
) -> Result<bool, ApiError> {
    if principal.role == Role::Auditor {
        return Ok(true);
    }
    let client = client(state).await?;
    let row = client
        .query_opt(
            "SELECT stream_id, event_type FROM events WHERE event_id = $1",
            &[&id],
        )
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let Some(row) = row else { return Ok(false) };
    // Reads of citizens' data and social-status checks are no request's: no citizen's own.
    if projections::projector::NOT_REQUESTS.contains(&row.get::<_, &str>(1)) {
        return Ok(false);
    }
    let loaded = state.requests.load(StreamId::from_uuid(row.get(0))).await;
    Ok(match loaded {
        Ok(loaded) => loaded
            .info()
            .is_some_and(|info| super::access::visible_info(principal, info)),
        Err(commands::CommandError::NotFound | commands::CommandError::Corrupt { .. }) => false,
        Err(other) => return Err(other.into()),
    })
}

/// The inclusion proof of an event in the tree of a signed size.
#[utoipa::path(
    get,
    path = "/api/v1/log/proof/inclusion",
    tag = "log",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionDto),
        (status = 400, description = "A malformed event id or size, or a size no signed head has", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an auditor nor a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event, or not the citizen's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No signed head covers the event yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn inclusion(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<InclusionQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Auditor, Role::Citizen])?;
    let id = uuid::Uuid::parse_str(&query.event).map_err(|_| ApiError::InvalidParameter {
        field: "event",
        reason: "an event id is a UUID".into(),
    })?;
    let asked = query
        .size
        .as_deref()
        .map(|raw| size_parameter("size", raw))
        .transpose()?;
    if !may_see_event(&state, &principal, id).await? {
        return Err(ApiError::LogEntryNotFound);
    }
    let client = client(&state).await?;
    // Both in one round trip: the leaf with the nodes its proof most likely names, and the
    // latest head a proof is taken against.
    let (path, latest) = futures_util::try_join!(
        Path::read(&client, &state.tree_nodes, id),
        heads::latest(&client)
    )?;
    let Some(path) = path else {
        // The tree follows the log in batches: an event in the log but not yet in the tree is
        // waiting for a head like one the tree has and no head covers yet.
        let in_log = client
            .query_opt("SELECT 1 FROM events WHERE event_id = $1", &[&id])
            .await
            .map_err(|_| ApiError::Unavailable)?;
        return Err(match in_log {
            Some(_) => ApiError::NotYetInSignedHead,
            None => ApiError::LogEntryNotFound,
        });
    };
    let signed = latest.ok_or(ApiError::NotYetInSignedHead)?;
    let signed = match asked {
        Some(size) => signed_size(&client, "size", size, signed).await?,
        None => signed,
    };
    let (index, size) = (path.index, signed.head.size);
    if index >= size {
        return Err(match asked {
            Some(_) => ApiError::InvalidParameter {
                field: "size",
                reason: format!("the event is leaf {index}, beyond that size"),
            },
            None => ApiError::NotYetInSignedHead,
        });
    }
    let inclusion = path.inclusion(&client, &state.tree_nodes, size).await?;
    Ok(HttpResponse::Ok().json(InclusionDto {
        event_id: id,
        index,
        leaf: STANDARD.encode(inclusion.leaf),
        size,
        root: STANDARD.encode(signed.head.root),
        proof: b64(&inclusion.proof),
        head: HeadDto::from(&signed),
    }))
}

/// The consistency proof between two sizes of the tree, the newer one signed.
#[utoipa::path(
    get,
    path = "/api/v1/log/proof/consistency",
    tag = "log",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyDto),
        (status = 400, description = "Sizes not 1 <= from <= to, or a size no signed head has", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an auditor nor a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No head signed yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn consistency(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    may_ask(&principal)?;
    let from = size_parameter("from", &query.from)?;
    let to = size_parameter("to", &query.to)?;
    if from == 0 || from > to {
        return Err(ApiError::InvalidParameter {
            field: "from",
            reason: "the sizes must be 1 <= from <= to".into(),
        });
    }
    let client = client(&state).await?;
    let signed = heads::latest(&client)
        .await?
        .ok_or(ApiError::NotYetInSignedHead)?;
    let newer = signed_size(&client, "to", to, signed.clone()).await?;
    let older = signed_size(&client, "from", from, signed).await?;
    let proof = read::consistency(&client, Some(&state.tree_nodes), from, to).await?;
    Ok(HttpResponse::Ok().json(ConsistencyDto {
        from,
        to,
        from_root: STANDARD.encode(older.head.root),
        to_root: STANDARD.encode(newer.head.root),
        proof: b64(&proof),
    }))
}

/// The log's public key, as signed-note verifiers read it (`name+id+key`). Public: it checks
/// heads and receipts, and tells nothing else.
pub async fn key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", state.log_key))
}

/// The receipt of `event` (a document's issuing event) of request `request`: its inclusion proof
/// against the latest signed head.
///
/// # Errors
/// [`ApiError::NotYetInSignedHead`] until a signed head covers the event.
pub(crate) async fn receipt(
    state: &AppState,
    request: String,
    event: domain::RecordedEvent,
) -> Result<Receipt, ApiError> {
    let client = client(state).await?;
    let (path, signed) = futures_util::try_join!(
        Path::read(&client, &state.tree_nodes, event.event_id),
        heads::latest(&client)
    )?;
    let (Some(path), Some(signed)) = (path, signed) else {
        return Err(ApiError::NotYetInSignedHead);
    };
    let index = path.index;
    if index >= signed.head.size {
        return Err(ApiError::NotYetInSignedHead);
    }
    let inclusion = path
        .inclusion(&client, &state.tree_nodes, signed.head.size)
        .await?;
    Ok(Receipt {
        format: domain::receipt::FORMAT.to_owned(),
        request,
        event,
        index,
        size: signed.head.size,
        proof: b64(&inclusion.proof),
        head: signed.note,
    })
}

/// The routes under `/api/v1/log`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, route) in [
        ("/log/head", web::get().to(head)),
        ("/log/proof/inclusion", web::get().to(inclusion)),
        ("/log/proof/consistency", web::get().to(consistency)),
        ("/log/key", web::get().to(key)),
        ("/log/leaves", web::get().to(witness::leaves)),
        ("/log/cosignatures", web::post().to(witness::cosign)),
    ] {
        cfg.service(
            web::resource(path)
                .route(route)
                .default_service(web::to(super::method_not_allowed)),
        );
    }
}
