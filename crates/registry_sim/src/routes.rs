//! The registries' routes over the fixture: each answers 200 with the record, 404
//! `{"error": "not-found"}` when the registry has no such record, 503 for an injected fault, 400 for
//! a malformed identifier.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use domain::{Iin, ServiceCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use crate::effects::Effects;
use crate::faults::{check_faults, FaultSettings, Faults};
use crate::fixture::{self, Registry};

/// What the handlers share.
pub(crate) struct Sim {
    pub(crate) registry: Registry,
    pub(crate) faults: Faults,
    /// The SIK assignments done while running, by idempotency key.
    pub(crate) effects: Effects,
}

/// The simulator's routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/healthz",
        web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
    )
    .route("/admin/faults", web::get().to(get_faults))
    .route("/admin/faults", web::put().to(put_faults))
    .route("/admin/side-effects", web::get().to(get_side_effects))
    .service(
        web::scope("")
            .route("/gcvp/persons/{iin}", web::get().to(gcvp_person))
            .route("/gcvp/sik/{iin}", web::get().to(gcvp_sik))
            .route(
                "/gcvp/sik-assignment/{iin}",
                web::post().to(gcvp_sik_assignment),
            )
            .route("/gcvp/benefits/{iin}", web::get().to(gcvp_benefits))
            .route(
                "/gcvp/fund-transactions/{iin}",
                web::get().to(gcvp_fund_transactions),
            )
            .route("/gbdfl/persons/{iin}", web::get().to(gbdfl_person))
            .route(
                "/enis/powers-of-attorney/{number}",
                web::get().to(enis_power_of_attorney),
            )
            .route(
                "/mtszn/social-status/{iin}",
                web::get().to(mtszn_social_status),
            ),
    );
}

async fn get_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.get())
}

/// The SIK assignments done so far: `{"sik_assignments": [{key, iin, outcome, calls}]}`.
async fn get_side_effects(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sik_assignments": sim.effects.list() }))
}

async fn put_faults(sim: web::Data<Sim>, body: web::Json<FaultSettings>) -> HttpResponse {
    if let Err(reason) = check_faults(&body) {
        return HttpResponse::BadRequest().json(json!({"error": "bad-request", "detail": reason}));
    }
    sim.faults.set(*body);
    tracing::info!(faults = ?*body, "faults switched");
    HttpResponse::Ok().json(sim.faults.get())
}

/// Applies the injected faults: `Some(answer)` when the call fails.
async fn fault(sim: &Sim) -> Option<HttpResponse> {
    let faults = sim.faults.get();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let failed = faults.outage
        || (faults.error_rate > 0.0 && rand::thread_rng().gen_bool(faults.error_rate.min(1.0)));
    failed.then(|| HttpResponse::ServiceUnavailable().json(json!({"error": "unavailable"})))
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not-found"}))
}

fn bad_request(detail: impl ToString) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": "bad-request", "detail": detail.to_string()}))
}

/// The citizen of a path IIN, or the answer to give instead.
async fn citizen<'a>(sim: &'a Sim, raw: &str) -> Result<&'a fixture::Citizen, HttpResponse> {
    if let Some(answer) = fault(sim).await {
        return Err(answer);
    }
    let iin = Iin::parse(raw).map_err(bad_request)?;
    sim.registry
        .citizens
        .get(iin.as_str())
        .ok_or_else(not_found)
}

fn person(c: &fixture::Citizen) -> serde_json::Value {
    json!({
        "iin": c.iin, "last_name": c.last_name, "first_name": c.first_name,
        "patronymic": c.patronymic, "birth_date": c.birth_date,
    })
}

async fn gcvp_person(sim: web::Data<Sim>, iin: web::Path<String>) -> HttpResponse {
    match citizen(&sim, &iin).await {
        Ok(c) if c.in_gcvp => HttpResponse::Ok().json(person(c)),
        Ok(_) => not_found(),
        Err(answer) => answer,
    }
}

async fn gbdfl_person(sim: web::Data<Sim>, iin: web::Path<String>) -> HttpResponse {
    match citizen(&sim, &iin).await {
        Ok(c) if c.in_gbd_fl => HttpResponse::Ok().json(person(c)),
        Ok(_) => not_found(),
        Err(answer) => answer,
    }
}

async fn gcvp_sik(sim: web::Data<Sim>, iin: web::Path<String>) -> HttpResponse {
    match citizen(&sim, &iin).await {
        Ok(c) => match &c.sik {
            Some(sik) => HttpResponse::Ok().json(json!({
                "iin": c.iin, "sik": sik.sik, "branch": sik.branch,
                "registered_on": sik.registered_on, "issued_on": sik.issued_on,
            })),
            None => not_found(),
        },
        Err(answer) => answer,
    }
}

/// Assigns a SIK (service 9, REG 2967-2979): a citizen with a SIK gets its certificate again
/// ("duplicate"); one without gets a new code ("assigned"), derived from the IIN so that the
/// simulator stays deterministic. A retry with the same `Idempotency-Key` answers as the first call
/// and changes nothing (`GET /admin/side-effects` lists what the calls changed).
async fn gcvp_sik_assignment(
    sim: web::Data<Sim>,
    iin: web::Path<String>,
    request: actix_web::HttpRequest,
) -> HttpResponse {
    let c = match citizen(&sim, &iin).await {
        Ok(c) if c.in_gcvp => c,
        Ok(_) => return not_found(),
        Err(answer) => return answer,
    };
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty());
    let today = chrono::Utc::now().date_naive();
    let new = || {
        derived_sik(&c.iin).map(|sik| fixture::SikRecord {
            sik,
            branch: "РГКП \"Государственный центр по выплате пенсий\"".into(),
            registered_on: today,
            issued_on: today,
        })
    };
    let Some((record, outcome)) = sim.effects.assign(c.iin.as_str(), key, c.sik.as_ref(), new)
    else {
        return HttpResponse::InternalServerError().json(json!({"error": "cannot-derive-sik"}));
    };
    let mut answer = person(c);
    answer["outcome"] = json!(outcome);
    answer["sik"] = json!(record.sik);
    answer["branch"] = json!(record.branch);
    answer["registered_on"] = json!(record.registered_on);
    answer["issued_on"] = json!(record.issued_on);
    HttpResponse::Ok().json(answer)
}

/// A SIK for `iin`: 16 upper-case letters and digits from its SHA-256.
fn derived_sik(iin: &Iin) -> Option<domain::Sik> {
    use sha2::Digest;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let digest = sha2::Sha256::digest(iin.as_str().as_bytes());
    let text: String = digest
        .iter()
        .take(16)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    domain::Sik::parse(&text).ok()
}

#[derive(Deserialize)]
struct BenefitQuery {
    service: String,
}

async fn gcvp_benefits(
    sim: web::Data<Sim>,
    iin: web::Path<String>,
    query: Result<web::Query<BenefitQuery>, actix_web::Error>,
) -> HttpResponse {
    let service = match query.map(|q| q.service.parse::<ServiceCode>()) {
        Ok(Ok(service)) => service,
        _ => return bad_request("?service= names an information service, e.g. age-benefit-info"),
    };
    match citizen(&sim, &iin).await {
        Ok(c) => {
            let records: Vec<_> = c.benefits.iter().filter(|b| b.service == service).collect();
            if records.is_empty() {
                not_found()
            } else {
                HttpResponse::Ok()
                    .json(json!({"iin": c.iin, "service": service, "records": records}))
            }
        }
        Err(answer) => answer,
    }
}

#[derive(Deserialize)]
struct PeriodQuery {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

async fn gcvp_fund_transactions(
    sim: web::Data<Sim>,
    iin: web::Path<String>,
    query: Result<web::Query<PeriodQuery>, actix_web::Error>,
) -> HttpResponse {
    let Ok(period) = query else {
        return bad_request("?from= and ?to= are dates, YYYY-MM-DD");
    };
    match citizen(&sim, &iin).await {
        Ok(c) => {
            let Some(sik) = &c.sik else {
                return not_found();
            };
            let mut rows: Vec<_> = c
                .fund_transactions
                .iter()
                .filter(|t| period.from.is_none_or(|from| t.received_on >= from))
                .filter(|t| period.to.is_none_or(|to| t.received_on <= to))
                .collect();
            rows.sort_by_key(|t| t.received_on);
            let full_name = [
                Some(&c.last_name),
                Some(&c.first_name),
                c.patronymic.as_ref(),
            ]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
            HttpResponse::Ok().json(json!({
                "iin": c.iin, "full_name": full_name, "sik": sik.sik, "rows": rows,
            }))
        }
        Err(answer) => answer,
    }
}

async fn enis_power_of_attorney(sim: web::Data<Sim>, number: web::Path<String>) -> HttpResponse {
    if let Some(answer) = fault(&sim).await {
        return answer;
    }
    match sim.registry.powers_of_attorney.get(number.as_str()) {
        Some(poa) => HttpResponse::Ok().json(poa),
        None => not_found(),
    }
}

async fn mtszn_social_status(sim: web::Data<Sim>, iin: web::Path<String>) -> HttpResponse {
    match citizen(&sim, &iin).await {
        Ok(c) => match &c.social_status {
            Some(status) => HttpResponse::Ok().json(json!({
                "iin": c.iin, "status": status, "explanation": c.social_status_explanation,
            })),
            None => not_found(),
        },
        Err(answer) => answer,
    }
}
