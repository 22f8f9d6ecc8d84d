//! Liveness, readiness and metrics for orchestrators and operators.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` answers 200 only when the
//! database is reachable and every migration this build carries is applied, and 503 with a problem
//! document otherwise (the reason is logged, not shown). With a Kafka relay it also shows the
//! relay's state; a stuck relay makes the answer `degraded`, still 200: commands and reads go on
//! while the broker is away (the events wait in PostgreSQL), so the instance must stay in service.
//! Messages that Kafka-sourced projectors parked as not events (`kafka_parked`) degrade it too.

use actix_web::{get, web, HttpResponse};
use event_store::Database;
use projections::ReadModel;
use serde_json::json;

use crate::db_watch::DbWatch;
use crate::problem::ApiError;
use crate::state::{AppState, RelayWatch};

/// The Kafka relay as `/readyz` shows it: `publishing` (caught up or moving), `stuck` (events wait
/// and its checkpoint has not moved for [`RelayWatch::stuck_after`]) or `unknown`.
async fn relay_state(db: &Database, relay: &RelayWatch) -> serde_json::Value {
    let lag = match projections::checkpoint::lag(db.pool(), &relay.name).await {
        Ok(lag) => lag,
        Err(error) => {
            tracing::warn!(relay = %relay.name, error = %error, "cannot measure the relay's lag");
            return json!({ "state": "unknown" });
        }
    };
    let still = lag.updated_at.map_or(lag.seconds_behind, |moved| {
        (chrono::Utc::now() - moved).num_milliseconds() as f64 / 1000.0
    });
    let stuck =
        lag.events_behind > 0 && still.min(lag.seconds_behind) >= relay.stuck_after.as_secs_f64();
    if stuck {
        tracing::warn!(relay = %relay.name, events_behind = lag.events_behind, seconds_behind = lag.seconds_behind, "the Kafka relay is stuck: is the broker reachable?");
    }
    json!({
        "state": if stuck { "stuck" } else { "publishing" },
        "events_behind": lag.events_behind,
        "seconds_behind": lag.seconds_behind,
    })
}

/// How many messages Kafka-sourced projectors parked (`None` when it cannot be read, logged).
async fn parked(db: &Database) -> Option<i64> {
    match projections::kafka::source::parked(db.pool()).await {
        Ok(parked) => Some(parked),
        Err(error) => {
            tracing::warn!(error = %error, "cannot count the parked Kafka messages");
            None
        }
    }
}

/// The process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The service can do its work.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match event_store::migrations::current(&state.db).await {
        Ok(true) => {
            let relay = match &state.relay {
                Some(relay) => Some(relay_state(&state.db, relay).await),
                None => None,
            };
            let parked = parked(&state.db).await;
            let degraded = relay
                .as_ref()
                .is_some_and(|r| r["state"] != json!("publishing"))
                || parked.is_some_and(|n| n > 0);
            let mut body = json!({ "status": if degraded { "degraded" } else { "ready" } });
            if let Some(relay) = relay {
                body["relay"] = relay;
            }
            if let Some(parked) = parked.filter(|n| *n > 0) {
                body["kafka_parked"] = json!(parked);
            }
            Ok(HttpResponse::Ok().json(body))
        }
        Ok(false) => {
            tracing::warn!("not ready: migrations are not applied");
            Err(ApiError::NotReady("migrations are not applied".into()))
        }
        Err(error) => {
            tracing::warn!(error.message = %error, error.cause_chain = ?error, "not ready: database unreachable");
            Err(ApiError::NotReady("database unreachable".into()))
        }
    }
}

/// `GET /metrics`: Prometheus text format, with each read model's and the relay's lag measured now
/// (while the database is away, the last ones measured).
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    database: web::Data<DbWatch>,
) -> Result<HttpResponse, ApiError> {
    // Needed most while the database is away: then the figures are the last ones read.
    if database.is_up() {
        // Cancel safe: the refresh only reads, and what it has set stays set.
        tokio::select! {
            () = refresh(&state) => {}
            () = database.away() => {}
        }
    }
    state.metrics.set_long_polls(state.polls.held());
    state
        .metrics
        .set_read_audit_queued(state.read_audit.queued());
    let body = state.metrics.encode().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body))
}

/// Reads the figures `/metrics` takes from the database: the lags, the parked messages.
async fn refresh(state: &AppState) {
    if let Some(relay) = &state.relay {
        match projections::checkpoint::lag(state.db.pool(), &relay.name).await {
            Ok(lag) => state.metrics.set_relay_lag(&lag),
            Err(error) => {
                tracing::warn!(relay = %relay.name, error = %error, "cannot measure the relay's lag")
            }
        }
    }
    for model in ReadModel::ALL {
        match model.lag(state.db.pool()).await {
            Ok(lag) => state.metrics.set_projector_lag(model.name(), &lag),
            Err(error) => {
                tracing::warn!(projector = model.name(), error = %error, "cannot measure projector lag")
            }
        }
    }
    if let Some(parked) = parked(&state.db).await {
        state.metrics.set_kafka_parked(parked);
    }
}
