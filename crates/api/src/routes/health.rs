//! Liveness, readiness and metrics for orchestrators and operators.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` answers 200 only when the
//! database is reachable and every migration this build carries is applied, and 503 with a problem
//! document otherwise (the reason is logged, not shown). It also shows what the service depends on
//! besides the database: the Kafka relay, the read models' lag, each registry's circuit and
//! whether revocation checks get answers. Any of them failing makes the answer `degraded`, still
//! 200: filing and reading go on while a broker, a registry or a responder is away (the workflow
//! waits and retries within each step's limit), so the instance must stay in service. Messages
//! that Kafka-sourced projectors parked as not events (`kafka_parked`) degrade it too.

use actix_web::{get, web, HttpResponse};
use event_store::Database;
use projections::ReadModel;
use serde_json::json;

use projections::ProjectionError;

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

/// The service can do its work: 200 `ready`, or 200 `degraded` naming what is wrong outside the
/// database (the relay stuck, parked messages, read models behind, a registry's circuit open, the
/// revocation responders failing), or 503 without the database or its migrations.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = state.health_reads.readiness.get(|| ready(&state)).await;
    ready
        .map(|body| HttpResponse::Ok().json(body))
        .map_err(ApiError::NotReady)
}

/// Whether the service is ready: the body of a 200 `/readyz`, or why not.
async fn ready(state: &AppState) -> Result<serde_json::Value, String> {
    match event_store::migrations::current(&state.db).await {
        Ok(true) => Ok(readiness(state).await),
        Ok(false) => {
            tracing::warn!("not ready: migrations are not applied");
            Err("migrations are not applied".into())
        }
        Err(error) => {
            tracing::warn!(error.message = %error, error.cause_chain = ?error, "not ready: database unreachable");
            Err("database unreachable".into())
        }
    }
}

/// The body of a 200 `/readyz`: the state of each thing it watches, and `ready` or `degraded`.
async fn readiness(state: &AppState) -> serde_json::Value {
    let mut body = json!({});
    let mut wrong = Vec::new();
    if let Some(relay) = &state.relay {
        let relay = relay_state(&state.db, relay).await;
        match relay["state"].as_str() {
            Some("publishing") => {}
            state => wrong.push(format!("the Kafka relay is {}", state.unwrap_or("unknown"))),
        }
        body["relay"] = relay;
    }
    if let Some(parked) = parked(&state.db).await.filter(|n| *n > 0) {
        wrong.push("Kafka messages parked".to_owned());
        body["kafka_parked"] = json!(parked);
    }
    let read_models = read_models_state(&state.db, state.read_models_stale_after).await;
    match read_models["state"].as_str() {
        Some("behind") => wrong.push(format!("read models behind: {}", read_models["behind"])),
        Some("unknown") => wrong.push("read models' lag unknown".to_owned()),
        _ => {}
    }
    body["read_models"] = read_models;
    let circuits = state.outside.circuits();
    for (registry, _) in circuits.iter().filter(|(_, c)| **c == "open") {
        wrong.push(format!("the circuit of {registry} is open"));
    }
    body["registries"] = json!(circuits);
    if let Some(answering) = state.outside.verifier.revocation_answering() {
        if !answering {
            wrong.push("revocation checks get no answer (OCSP responder, CRLs)".to_owned());
        }
        body["revocation"] = json!(if answering { "answering" } else { "failing" });
    }
    body["status"] = json!(if wrong.is_empty() {
        "ready"
    } else {
        "degraded"
    });
    let _logged = state.readiness.observe(wrong);
    body
}

/// How many seconds each read model is behind ([`ReadModel::seconds_behind`]), on one connection.
async fn read_models_lag(db: &Database) -> Result<Vec<(ReadModel, f64)>, ProjectionError> {
    let client = db.pool().get().await?;
    let mut lags = Vec::with_capacity(ReadModel::ALL.len());
    for model in ReadModel::ALL {
        lags.push((model, model.seconds_behind(&client).await?));
    }
    Ok(lags)
}

/// The read models as `/readyz` shows them: `current`, or `behind` naming those that have not
/// applied the newest event for `stale_after` (fed from the log or from the topic), or `unknown`
/// when the lag cannot be read (logged).
async fn read_models_state(db: &Database, stale_after: std::time::Duration) -> serde_json::Value {
    let lags = match read_models_lag(db).await {
        Ok(lags) => lags,
        Err(error) => {
            tracing::warn!(error = %error, "cannot measure the read models' lag");
            return json!({ "state": "unknown" });
        }
    };
    let behind: Vec<&str> = lags
        .iter()
        .filter(|(_, seconds)| *seconds >= stale_after.as_secs_f64())
        .map(|(model, _)| model.name())
        .collect();
    let most = lags.iter().map(|(_, seconds)| *seconds).fold(0.0, f64::max);
    json!({
        "state": if behind.is_empty() { "current" } else { "behind" },
        "behind": behind,
        "seconds_behind": most,
    })
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
        let refreshed = state.health_reads.metrics.get(|| refresh(&state));
        tokio::select! {
            () = refreshed => {}
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
    match read_models_lag(&state.db).await {
        Ok(lags) => {
            for (model, seconds) in lags {
                state.metrics.set_projector_lag(model.name(), seconds);
            }
        }
        Err(error) => tracing::warn!(error = %error, "cannot measure the read models' lag"),
    }
    if let Some(parked) = parked(&state.db).await {
        state.metrics.set_kafka_parked(parked);
    }
    let latest = match state.db.pool().get().await {
        Ok(client) => projections::log_tree::heads::latest(&client).await,
        Err(error) => Err(error.into()),
    };
    match latest {
        Ok(Some(signed)) => {
            let age = (chrono::Utc::now() - signed.head.time).as_seconds_f64();
            state.metrics.set_tree_head(signed.head.size, age.max(0.0));
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(error = %error, "cannot read the latest tree head"),
    }
}
