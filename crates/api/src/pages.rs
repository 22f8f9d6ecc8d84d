//! The pages people use, served by `egov serve` itself: static files built into the binary (no
//! CDN; they work offline) that talk to the JSON API with the person's bearer token. The
//! citizen's page is at `/`, the service centre's desk at `/centre`, the auditor's view at
//! `/audit` and the analyst's charts at `/analytics`. In development mode only,
//! [`development`] adds the routes the pages need to stand in for the portal's and the
//! centres' sign-in and for NCALayer.

pub mod development;

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::problem::ApiError;

/// What the pages may load and talk to: themselves, the API, and NCALayer's local WebSocket
/// (production signing); nothing from elsewhere, and no framing by other sites.
const POLICY: &str = "default-src 'self'; connect-src 'self' wss://127.0.0.1:13579; \
img-src 'self' data: blob:; frame-src blob:; object-src 'none'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// The files under `/assets/`, by name: (content type, bytes).
fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    const JS: &str = "text/javascript; charset=utf-8";
    Some(match name {
        "app.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/web/app.css"),
        ),
        "app.js" => (JS, include_bytes!("../assets/web/app.js")),
        "analytics.js" => (JS, include_bytes!("../assets/web/analytics.js")),
        "audit.js" => (JS, include_bytes!("../assets/web/audit.js")),
        "centre.js" => (JS, include_bytes!("../assets/web/centre.js")),
        "common.js" => (JS, include_bytes!("../assets/web/common.js")),
        "cms.js" => (JS, include_bytes!("../assets/web/cms.js")),
        "i18n.js" => (JS, include_bytes!("../assets/web/i18n.js")),
        // uPlot 1.6.32, vendored (assets/web/vendor/uplot/README.md).
        "uPlot.iife.min.js" => (
            JS,
            include_bytes!("../assets/web/vendor/uplot/uPlot.iife.min.js"),
        ),
        "uPlot.min.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/web/vendor/uplot/uPlot.min.css"),
        ),
        _ => return None,
    })
}

fn page(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // Small files, built in: revalidated each time, so a new binary is seen at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// A page's own parts, put into the shell (header, language switch, notice, sign-in).
struct Page {
    /// The heading's key in the page's words, and its Russian text before the script runs.
    title: &'static str,
    heading: &'static str,
    script: &'static str,
    /// More for the head (a vendored library's files).
    head: &'static str,
    /// The fields of development mode's sign-in (the form is hidden in production).
    dev_signin: &'static str,
    body: &'static str,
}

impl Page {
    fn compose(&self) -> String {
        include_str!("../assets/web/shell.html")
            .replace("{{title}}", self.title)
            .replace("{{heading}}", self.heading)
            .replace("{{script}}", self.script)
            .replace("{{head}}", self.head)
            .replace("{{dev-signin}}", self.dev_signin)
            .replace("{{body}}", self.body)
    }
}

/// The pages by path: the citizen's page, the service centre's desk, the auditor's view of a
/// request's history, the analyst's charts.
const PAGES: [(&str, Page); 4] = [
    (
        "/",
        Page {
            title: "title",
            heading: "Государственные услуги: социальная сфера",
            script: "app.js",
            head: "",
            dev_signin: include_str!("../assets/web/citizen-signin.html"),
            body: include_str!("../assets/web/citizen.html"),
        },
    ),
    (
        "/centre",
        Page {
            title: "deskTitle",
            heading: "Рабочее место оператора ЦОН",
            script: "centre.js",
            head: "",
            dev_signin: include_str!("../assets/web/centre-signin.html"),
            body: include_str!("../assets/web/centre.html"),
        },
    ),
    (
        "/audit",
        Page {
            title: "auditTitle",
            heading: "Аудит заявок",
            script: "audit.js",
            head: "",
            dev_signin: include_str!("../assets/web/audit-signin.html"),
            body: include_str!("../assets/web/audit.html"),
        },
    ),
    (
        "/analytics",
        Page {
            title: "analyticsTitle",
            heading: "Аналитика услуг",
            script: "analytics.js",
            head: "<link rel=\"stylesheet\" href=\"/assets/uPlot.min.css\">\n\
                   <script src=\"/assets/uPlot.iife.min.js\"></script>\n",
            dev_signin: include_str!("../assets/web/analytics-signin.html"),
            body: include_str!("../assets/web/analytics.html"),
        },
    ),
];

/// Each of [`PAGES`] put into the shell, once.
static COMPOSED: LazyLock<Vec<String>> =
    LazyLock::new(|| PAGES.iter().map(|(_, parts)| parts.compose()).collect());

const HTML: &str = "text/html; charset=utf-8";

/// `GET /assets/{name}`: a file of the pages.
async fn file(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (content_type, body) = asset(&name).ok_or(ApiError::RouteNotFound)?;
    Ok(page(content_type, body))
}

/// A resource of one route; other methods get 405 with a problem answer.
pub(crate) fn one_route(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(crate::routes::method_not_allowed))
}

/// The pages' routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (index, (path, _)) in PAGES.iter().enumerate() {
        let served = move || async move { page(HTML, COMPOSED[index].as_bytes()) };
        cfg.service(one_route(path, web::get().to(served)));
    }
    cfg.service(one_route("/assets/{name}", web::get().to(file)));
}
