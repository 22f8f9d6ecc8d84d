//! What a witness (`egov witness`, in another organisation) asks of the log: the leaves, to keep a
//! copy of the tree it can recompute every head from, and where it hands back its cosignature of a
//! head it checked. Both for the `witness` role, which reads nothing else (and auditors may read the
//! leaves too).

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::tree_head::cosignature::WitnessVerifier;
use projections::log_tree::{heads, read};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{client, size_parameter};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::token::{Principal, Role};

/// The most leaves one page gives.
pub const MAX_LEAVES: i64 = 10_000;

/// Which leaves.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeavesQuery {
    /// The first leaf's index (from 0).
    pub start: String,
    /// How many, 1 to 10,000 (default 1,000).
    pub limit: Option<String>,
}

/// One leaf.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeafDto {
    pub index: u64,
    pub event_id: uuid::Uuid,
    /// The leaf hash, base64.
    pub hash: String,
}

/// A page of leaves, in index order.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeavesDto {
    pub leaves: Vec<LeafDto>,
}

/// The tree's leaves from `start` on.
#[utoipa::path(
    get,
    path = "/api/v1/log/leaves",
    tag = "log",
    params(LeavesQuery),
    responses(
        (status = 200, description = "The leaves (fewer at the tree's end)", body = LeavesDto),
        (status = 400, description = "A malformed start or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither a witness nor an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn leaves(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<LeavesQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Auditor, Role::Witness])?;
    let start = size_parameter("start", &query.start)?;
    let limit = match query.limit.as_deref() {
        None => 1_000,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LEAVES).contains(n))
            .ok_or_else(|| ApiError::InvalidParameter {
                field: "limit",
                reason: format!("from 1 to {MAX_LEAVES}"),
            })?,
    };
    let client = client(&state).await?;
    let leaves = read::leaves(&client, start, limit).await?;
    Ok(HttpResponse::Ok().json(LeavesDto {
        leaves: leaves
            .into_iter()
            .map(|(index, event_id, hash)| LeafDto {
                index,
                event_id,
                hash: STANDARD.encode(hash),
            })
            .collect(),
    }))
}

/// A witness's cosignature of a signed head.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CosignatureDto {
    /// The size of the head cosigned.
    pub size: u64,
    /// The cosignature line, `— <witness> base64(key id || time || signature)`.
    pub line: String,
}

/// Keeps a witness's cosignature of a signed head; the head is served with it from then on.
#[utoipa::path(
    post,
    path = "/api/v1/log/cosignatures",
    tag = "log",
    request_body = CosignatureDto,
    responses(
        (status = 201, description = "Kept"),
        (status = 200, description = "This witness had cosigned this head already"),
        (status = 400, description = "A line of no trusted witness, or one that does not verify over the head", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a witness", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No head of this size was signed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Temporarily unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn cosign(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CosignatureDto>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Witness])?;
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "line",
        reason: reason.to_owned(),
    };
    let name = body
        .line
        .strip_prefix("\u{2014} ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(name, _)| name)
        .ok_or_else(|| invalid("a cosignature line is '— <witness> <base64>'"))?;
    let witness: &WitnessVerifier = state
        .witnesses
        .iter()
        .find(|w| w.name() == name)
        .ok_or_else(|| invalid("no witness of this name is trusted (EGOV_WITNESS_KEYS)"))?;
    let client = client(&state).await?;
    let signed = heads::at(&client, body.size)
        .await?
        .ok_or(ApiError::LogEntryNotFound)?;
    let time = witness
        .verify_line(&signed.head, &body.line)
        .map_err(|e| invalid(&e.to_string()))?;
    let at = i64::try_from(time)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .ok_or_else(|| invalid("the cosignature's time is out of range"))?;
    let line = format!("{}\n", body.line.trim_end_matches('\n'));
    let added = heads::add_cosignature(&client, body.size, name, &line, at).await?;
    tracing::info!(
        witness = name,
        size = body.size,
        added,
        "a witness cosigned a tree head"
    );
    Ok(if added {
        HttpResponse::Created().finish()
    } else {
        HttpResponse::Ok().finish()
    })
}
