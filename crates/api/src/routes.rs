//! The HTTP routes, one module per area, and the OpenAPI document generated from them.
//!
//! What several areas share has modules of its own, which import no handler: [`input`] (headers,
//! path parameters and signatures parsed at the edge), [`access`] (who may see a request, and the
//! record of reads), [`views`] (the JSON of a request).

pub mod access;
pub mod analytics;
pub mod audit;
pub mod centre;
pub mod health;
pub mod input;
pub mod log;
pub mod me;
pub mod requests;
pub mod results;
pub mod services;
pub mod social_status;
pub mod status;
pub mod views;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ApiError;

/// The OpenAPI 3 document of `/api/v1`, built from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "egov-events", description = "Social e-government services of Kazakhstan: file, sign and follow requests."),
    paths(services::list, requests::submit, requests::document, requests::sign, requests::survey, status::status, requests::history, results::result, results::receipt, social_status::check, audit::events, audit::state_at, audit::verify, audit::feed, me::data_access, analytics::view, centre::submit, centre::scan, centre::sign, centre::papers::attest, centre::papers::hand_out, log::head, log::inclusion, log::consistency, log::witness::leaves, log::witness::cosign),
    components(schemas(crate::problem::Problem, crate::problem::TextsSchema)),
    modifiers(&BearerAuth),
    tags((name = "services", description = "The catalog"), (name = "requests", description = "A citizen's requests"), (name = "social-status", description = "The social-status check of medical organisations"), (name = "audit", description = "Auditors: streams, replayed states, hash chains, the global log"), (name = "me", description = "A citizen's own view: who looked at their data"), (name = "analytics", description = "Analysts: aggregates per service and day, without personal data"), (name = "service-centre", description = "Operators at public service centres: file for a citizen or a representative, scan, sign"), (name = "log", description = "The verifiable log: signed tree heads, inclusion and consistency proofs"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// A known path asked with a method it does not have.
pub async fn method_not_allowed() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed)
}

/// No route matched.
pub async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::RouteNotFound)
}

/// The routes under `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi))
            .default_service(web::to(method_not_allowed)),
    )
    .configure(services::configure)
    .configure(requests::configure)
    .configure(results::configure)
    .configure(social_status::configure)
    .configure(audit::configure)
    .configure(me::configure)
    .configure(analytics::configure)
    .configure(centre::configure)
    .configure(log::configure);
}
