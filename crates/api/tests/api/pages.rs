//! The pages and development mode's stand-ins for the portal's sign-in and NCALayer: served
//! with a strict policy, the stand-ins give a citizen only their own token and certificate, and
//! production does not route them at all.

use api::token::{DevKey, Role};
use base64::Engine;
use reqwest::header;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, ALICE, BOB};

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.http.post(format!("{}{path}", app.base)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::answer(request.send().await.expect("POST")).await
}

fn public_key() -> String {
    let group =
        openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).expect("curve");
    let key = openssl::ec::EcKey::generate(&group).expect("key");
    let der = openssl::pkey::PKey::from_ec_key(key)
        .expect("pkey")
        .public_key_to_der()
        .expect("spki");
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[tokio::test]
async fn the_citizens_page_and_its_files_are_served_built_in_under_a_strict_policy() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/centre", "text/html"),
        ("/audit", "text/html"),
        ("/analytics", "text/html"),
        ("/assets/uPlot.iife.min.js", "text/javascript"),
        ("/assets/centre.js", "text/javascript"),
        ("/assets/common.js", "text/javascript"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/cms.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let value = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(value(header::CONTENT_TYPE).starts_with(kind), "{path}");
        let policy = value(header::CONTENT_SECURITY_POLICY);
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(value(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
    // Only the files built in: no path reaches anything else.
    for path in [
        "/assets/nothing.js",
        "/assets/..%2FCargo.toml",
        "/assets/%2e%2e%2fsrc%2flib.rs",
        "/assets/",
    ] {
        let (status, body) = app.get(path, "").await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let response = app
        .http
        .delete(format!("{}/", app.base))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn the_development_stand_ins_give_only_a_persons_own_token_and_certificate() {
    let app = spawn_app().await;
    let (status, mode) = app.get("/api/v1/dev", "").await;
    assert_eq!((status, mode["mode"].as_str()), (200, Some("development")));
    assert!(mode["citizens"].is_array(), "{mode}");
    let (status, issued) = post(&app, "/api/v1/dev/token", None, json!({"iin": ALICE})).await;
    assert_eq!(status, 200, "{issued}");
    let token = issued["token"].as_str().expect("a token").to_owned();
    let (status, _) = app.get("/api/v1/requests", &token).await;
    assert_eq!(status, 200, "the token is a citizen's");
    // Bad input: a bad check digit (422, as everywhere), an unknown field, no IIN.
    for (body, expected) in [
        (json!({"iin": "900101300008"}), 422),
        (json!({"iin": ALICE, "role": "operator"}), 400),
        (
            json!({"iin": ALICE, "role": "operator", "centre": " "}),
            400,
        ),
        (
            json!({"iin": ALICE, "role": "operator", "centre": "C".repeat(65)}),
            400,
        ),
        (json!({"iin": ALICE, "centre": "TsON-1"}), 400),
        (
            json!({"iin": ALICE, "role": "auditor", "centre": "TsON-1"}),
            400,
        ),
        (json!({"iin": ALICE, "role": "medical"}), 400),
        (json!({"iin": ALICE, "role": "witness"}), 400),
        (json!({}), 400),
    ] {
        let (status, problem) = post(&app, "/api/v1/dev/token", None, body.clone()).await;
        assert_eq!(status, expected, "{body}: {problem}");
    }
    // An operator's token names the centre: the desk's routes take it.
    let body = json!({"iin": BOB, "role": "operator", "centre": "TsON-1"});
    let (status, issued) = post(&app, "/api/v1/dev/token", None, body).await;
    assert_eq!(status, 200, "{issued}");
    let desk = issued["token"].as_str().expect("a token");
    let (status, filed) = post(&app, "/api/v1/centre/requests", Some(desk), json!({})).await;
    assert_eq!(
        status, 400,
        "past the centre's identification, to the body: {filed}"
    );
    // Staff of the pages: an auditor reads the audit routes, an analyst the analytics.
    for (role, path) in [
        ("auditor", "/api/v1/audit/verify?all=true"),
        ("analyst", "/api/v1/analytics/requests"),
    ] {
        let body = json!({"iin": BOB, "role": role});
        let (_, issued) = post(&app, "/api/v1/dev/token", None, body).await;
        let token = issued["token"].as_str().expect("a token");
        let (status, answer) = app.get(path, token).await;
        assert_eq!(status, 200, "{role}: {answer}");
    }
    // The certificate: for the signed-in person alone, and for a real public key.
    let (status, _) = post(
        &app,
        "/api/v1/dev/certificate",
        None,
        json!({"public_key": public_key()}),
    )
    .await;
    assert_eq!(status, 401);
    let auditor = app.token(Role::Auditor, BOB, None);
    let (status, _) = post(
        &app,
        "/api/v1/dev/certificate",
        Some(&auditor),
        json!({"public_key": public_key()}),
    )
    .await;
    assert_eq!(status, 403);
    for body in [
        json!({"public_key": "not base64!"}),
        json!({"public_key": base64::engine::general_purpose::STANDARD.encode(b"junk")}),
        json!({"public_key": "A".repeat(100_000)}),
        json!({"public_key": public_key(), "name": "ТЕСТОВ\u{0}ТЕСТ"}),
        json!({"public_key": public_key(), "iin": BOB}),
    ] {
        let (status, problem) = post(&app, "/api/v1/dev/certificate", Some(&token), body).await;
        assert_eq!(status, 400, "{problem}");
    }
    let (status, issued) = post(
        &app,
        "/api/v1/dev/certificate",
        Some(&token),
        json!({"public_key": public_key()}),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let der = base64::engine::general_purpose::STANDARD
        .decode(issued["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let certificate = openssl::x509::X509::from_der(&der).expect("a certificate");
    let serial = certificate
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::SERIALNUMBER)
        .next()
        .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned());
    assert_eq!(serial.as_deref(), Some(format!("IIN{ALICE}").as_str()));
}

#[tokio::test]
async fn production_routes_no_development_stand_in() {
    let app = spawn_app_with(|s| {
        // Production with the tokens' key given as production is given it.
        let key = DevKey::load_or_create(&s.dev_key_path()).expect("key");
        let private = std::fs::read(key.path()).expect("read");
        let public = openssl::pkey::PKey::private_key_from_pem(&private)
            .and_then(|k| k.public_key_to_pem())
            .expect("public key");
        let path = s.dev_provider_dir().join("jwt-public.pem");
        std::fs::write(&path, public).expect("write");
        s.jwt_public_keys = vec![path];
        let log_key = s.dev_provider_dir().join("production-log-key");
        commands::results::log_key::create(&log_key, "egov-events.test/log").expect("log key");
        s.log_key = Some(log_key);
        s.mode = api::settings::Mode::Production;
    })
    .await;
    let citizen = app.citizen(ALICE);
    let (status, _) = app.get("/api/v1/requests", &citizen).await;
    assert_eq!(status, 200, "production serves");
    let (status, _) = app.get("/api/v1/dev", "").await;
    assert_eq!(status, 404);
    for path in ["/api/v1/dev/token", "/api/v1/dev/certificate"] {
        let body = json!({"iin": ALICE, "public_key": public_key()});
        let (status, _) = post(&app, path, Some(&citizen), body).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = app.get("/", "").await;
    assert_eq!(status, 200, "the page itself is served in production too");
}
