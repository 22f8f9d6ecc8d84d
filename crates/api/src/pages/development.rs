//! Development mode's stand-ins for what the national portal and NCALayer give people in
//! production, so that the pages can be used (and tested in a browser) on a developer's machine:
//! a citizen's or an operator's token, and a signing certificate from the development CA for a key
//! the browser made (its private half never leaves the browser). These routes exist only in
//! development mode; in production they are not routed at all (404).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use base64::Engine;
use commands::adapters::nca::DevCa;
use domain::Iin;
use serde::Deserialize;
use serde_json::json;

use super::one_route;
use crate::problem::ApiError;
use crate::settings::Mode;
use crate::token::{Claims, DevKey, Principal, Role};
use crate::Settings;

/// How long a development token lasts.
const TOKEN_SECONDS: i64 = 3600;
/// The largest public key taken (an RSA-4096 SubjectPublicKeyInfo is about 550 bytes).
const MAX_PUBLIC_KEY: usize = 2048;

/// What the development routes need.
pub struct Development {
    key: DevKey,
    ca: Arc<DevCa>,
    issuer: String,
    audience: String,
    /// The citizens the sign-in offers to pick from.
    citizens: Vec<serde_json::Value>,
}

/// Why development mode's stand-ins cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum DevelopmentError {
    #[error("the development key: {0}")]
    Key(#[from] crate::token::KeyError),
}

impl Development {
    /// The stand-ins of `settings` in development mode (its development key beside the data
    /// directory, and `ca`, the development CA the verifier trusts); `None` in production, or
    /// without a development CA.
    ///
    /// # Errors
    /// [`DevelopmentError`] when the key cannot be read or made.
    pub fn in_development(
        settings: &Settings,
        ca: Option<Arc<DevCa>>,
    ) -> Result<Option<Self>, DevelopmentError> {
        let Some(ca) = ca.filter(|_| settings.mode == Mode::Development) else {
            return Ok(None);
        };
        Ok(Some(Self {
            key: DevKey::load_or_create(&settings.dev_key_path())?,
            ca,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            citizens: settings
                .test_citizens
                .iter()
                .map(|(iin, name)| json!({"iin": iin.as_str(), "name": name}))
                .collect(),
        }))
    }
}

/// The roles development mode signs tokens for: the people the pages are for (not the medical
/// users' or the witnesses', which have no page).
#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum PageRole {
    #[default]
    Citizen,
    Operator,
    Auditor,
    Analyst,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    iin: String,
    #[serde(default)]
    role: PageRole,
    /// The operator's service centre (`org` of the token); operators only.
    #[serde(default)]
    centre: Option<String>,
}

/// The largest service-centre code taken.
const MAX_CENTRE: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateBody {
    /// Base64 of the DER SubjectPublicKeyInfo (WebCrypto's `spki` export).
    public_key: String,
    /// SURNAME NAME for the certificate's CN.
    #[serde(default)]
    name: Option<String>,
}

/// `GET /api/v1/dev`: tells the pages that development mode's stand-ins are here, and which
/// synthetic citizens the registries know (to pick one to sign in as).
async fn mode(dev: web::Data<Development>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"mode": "development", "citizens": dev.citizens}))
}

/// `POST /api/v1/dev/token`: a token for an IIN, as the portal's sign-in would give a citizen's,
/// or the staff's sign-in an operator's (of a service centre), an auditor's or an analyst's.
async fn token(
    dev: web::Data<Development>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let iin = Iin::parse(&body.iin).map_err(|error| ApiError::InvalidIin {
        field: "iin",
        error,
    })?;
    let centre = |reason: &str| ApiError::InvalidParameter {
        field: "centre",
        reason: reason.to_owned(),
    };
    let (role, org) = match (body.role, body.centre.as_deref().map(str::trim)) {
        (PageRole::Citizen, None) => (Role::Citizen, None),
        (PageRole::Operator, Some(code))
            if !code.is_empty()
                && code.len() <= MAX_CENTRE
                && !code.chars().any(char::is_control) =>
        {
            (Role::Operator, Some(code.to_owned()))
        }
        (PageRole::Operator, _) => return Err(centre("an operator's service centre, 1-64 bytes")),
        (PageRole::Citizen | PageRole::Auditor | PageRole::Analyst, Some(_)) => {
            return Err(centre("only operators have a service centre"))
        }
        (PageRole::Auditor, None) => (Role::Auditor, None),
        (PageRole::Analyst, None) => (Role::Analyst, None),
    };
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: iin.as_str().to_owned(),
        role,
        iss: dev.issuer.clone(),
        aud: dev.audience.clone(),
        exp: now + TOKEN_SECONDS,
        nbf: Some(now),
        iat: Some(now),
        org,
    };
    let token = dev.key.sign(&claims).map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(json!({"token": token, "expires_in": TOKEN_SECONDS})))
}

/// `POST /api/v1/dev/certificate`: a signing certificate for the signed-in citizen's (or
/// operator's) own IIN, for the public key the browser sends.
async fn certificate(
    dev: web::Data<Development>,
    principal: Principal,
    body: web::Json<CertificateBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Citizen, Role::Operator])?;
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "public_key",
        reason: reason.to_owned(),
    };
    if body.public_key.len() > MAX_PUBLIC_KEY * 4 / 3 + 4 {
        return Err(invalid("too long"));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body.public_key)
        .map_err(|_| invalid("not base64"))?;
    let key = openssl::pkey::PKey::public_key_from_der(&der)
        .map_err(|_| invalid("not a DER SubjectPublicKeyInfo"))?;
    let name = body.name.as_deref().map_or("ТЕСТОВ ТЕСТ", str::trim);
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidParameter {
            field: "name",
            reason: "SURNAME NAME, at most 128 bytes".into(),
        });
    }
    let iin = Iin::parse(&principal.subject).map_err(|error| ApiError::InvalidIin {
        field: "sub",
        error,
    })?;
    let issued = dev
        .ca
        .issue_for(&iin, name, &key)
        .and_then(|cert| Ok(cert.to_der()?))
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Created().json(json!({
        "certificate": base64::engine::general_purpose::STANDARD.encode(issued)
    })))
}

/// The development routes under `/api/v1/dev`.
pub fn configure(cfg: &mut web::ServiceConfig, dev: web::Data<Development>) {
    cfg.app_data(dev)
        .service(one_route("/api/v1/dev", web::get().to(mode)))
        .service(one_route("/api/v1/dev/token", web::post().to(token)))
        .service(one_route(
            "/api/v1/dev/certificate",
            web::post().to(certificate),
        ));
}
