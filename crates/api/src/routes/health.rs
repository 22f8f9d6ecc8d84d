//! Liveness and readiness for orchestrators and operators.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` answers 200 only when the
//! database is reachable and every migration this build carries is applied, and 503 with a problem
//! document otherwise (the reason is logged, not shown).

use actix_web::{get, web, HttpResponse};
use commands::Database;
use serde_json::json;

use crate::problem::ApiError;

/// The process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The service can do its work.
#[get("/readyz")]
pub async fn readyz(db: web::Data<Database>) -> Result<HttpResponse, ApiError> {
    match db.migrations_current().await {
        Ok(true) => Ok(HttpResponse::Ok().json(json!({ "status": "ready" }))),
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
