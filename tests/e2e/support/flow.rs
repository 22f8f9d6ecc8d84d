//! A served API with everything a request needs to reach its result: the registry simulator
//! (in-process, on a port of its own), a test CA with `openssl ocsp` as its responder, the
//! identity provider's keys, and a fresh database.

use std::time::{Duration, Instant};

use base64::Engine;
use registry_sim::{Background, FaultSettings, Simulator};
use serde_json::{json, Value};
use testkit::pki::{Issued, Pki, Responder};
use testkit::TestDb;

use super::portal::{Keys, AUDIENCE, ISSUER};
use super::process::Served;

/// The registries without faults.
pub fn healthy() -> FaultSettings {
    FaultSettings {
        latency_ms: 0,
        error_rate: 0.0,
        outage: false,
    }
}

/// A served API with the workflow, its simulator, its CA and OCSP responder.
pub struct Flow {
    pub served: Served,
    pub db: TestDb,
    pub keys: Keys,
    pub pki: Pki,
    pub responder: Option<Responder>,
    pub sim: Background,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
    pub env: Vec<(String, String)>,
    /// The service of each request filed through [`Flow::submit`], by number: its applicant acts
    /// on it through the sign-in that filed it ([`Flow::token`]).
    filed: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Flow {
    /// Starts everything; the simulator with `faults`, `egov serve` with `env`.
    pub async fn start(faults: FaultSettings, env: &[(&str, &str)]) -> Flow {
        let db = TestDb::empty().await;
        let keys = Keys::new();
        let pki = Pki::new();
        let sim = Simulator::spawn(faults).expect("the simulator starts");
        let data = tempfile::tempdir().expect("data dir");
        let mut all: Vec<(String, String)> = db
            .service_env()
            .await
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        all.extend([
            ("EGOV_JWT_PUBLIC_KEYS".into(), keys.setting()),
            ("EGOV_JWT_ISSUER".into(), ISSUER.into()),
            ("EGOV_JWT_AUDIENCE".into(), AUDIENCE.into()),
            ("EGOV_REGISTRY_URL".into(), sim.url().to_owned()),
            (
                "EGOV_TRUST_ANCHORS".into(),
                pki.anchors_file().display().to_string(),
            ),
            (
                "EGOV_DATA_DIR".into(),
                data.path().join("pg").display().to_string(),
            ),
            ("EGOV_WORKFLOW_LEASE".into(), "2s".into()),
            // The result documents are signed with the development provider key.
            ("EGOV_MODE".into(), "development".into()),
            ("EGOV_WRITES_PER_SECOND".into(), "100000".into()),
            ("EGOV_WRITE_BURST".into(), "100000".into()),
            ("EGOV_DAILY_FILINGS".into(), "100000".into()),
            ("EGOV_DAILY_FILINGS_OPERATOR".into(), "100000".into()),
        ]);
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let served = serve(&all).await;
        Flow {
            served,
            db,
            keys,
            pki,
            responder: None,
            sim,
            data,
            http: reqwest::Client::new(),
            env: all,
            filed: std::sync::Mutex::default(),
        }
    }

    /// Starts the OCSP responder over the certificates issued so far.
    pub fn start_responder(&mut self) {
        self.responder = Some(self.pki.responder());
    }

    /// Starts `egov serve` again with the same settings (after a crash).
    pub async fn restart(&mut self) {
        self.served = serve(&self.env).await;
    }

    /// The token with which `iin` acts on request `number`: that of the sign-in it was filed
    /// through (a medical user's for a social-status check), a citizen's for the others.
    pub fn token(&self, number: &str, iin: &str) -> String {
        let filed = self.filed.lock().expect("filed");
        let service = filed.get(number).map_or("", String::as_str);
        self.keys.filer(service, iin)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.base)
    }

    /// GET a path with a token; the status and the JSON body (or null).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        super::portal::get_json(&self.http, &self.url(path), token).await
    }

    /// Files a request; returns its number and the bytes to sign.
    pub async fn submit(&self, service: &str, iin: &str, form: Value) -> (String, Vec<u8>) {
        let answer = self
            .http
            .post(self.url("/api/v1/requests"))
            .bearer_auth(self.keys.filer(service, iin))
            .json(&json!({"service": service, "iin": iin, "form": form}))
            .send()
            .await
            .expect("submit");
        assert_eq!(answer.status(), 201, "{service} for {iin}");
        let body: Value = answer.json().await.expect("json");
        let number = body["number"].as_str().expect("number").to_owned();
        self.filed
            .lock()
            .expect("filed")
            .insert(number, service.to_owned());
        let document = base64::engine::general_purpose::STANDARD
            .decode(body["document_to_sign"].as_str().expect("document"))
            .expect("base64");
        (
            body["number"].as_str().expect("number").to_owned(),
            document,
        )
    }

    /// Signs `document` with `signer`'s key and sends the signature.
    pub async fn sign(&self, number: &str, iin: &str, cms: &[u8]) {
        let answer = self
            .http
            .post(self.url(&format!("/api/v1/requests/{number}/signature")))
            .bearer_auth(self.token(number, iin))
            .json(&json!({"cms": base64::engine::general_purpose::STANDARD.encode(cms)}))
            .send()
            .await
            .expect("sign");
        assert_eq!(answer.status(), 202, "signature of {number}");
    }

    pub async fn file_signed_by(
        &self,
        service: &str,
        iin: &str,
        form: Value,
        signer: &Issued,
    ) -> String {
        let (number, document) = self.submit(service, iin, form).await;
        let cms = self.pki.sign(signer, &document, true);
        self.sign(&number, iin, &cms).await;
        number
    }

    /// Waits until the request has ended; returns its status answer.
    pub async fn outcome(&self, number: &str, iin: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self
                .http
                .get(self.url(&format!("/api/v1/requests/{number}?wait=5")))
                .bearer_auth(self.token(number, iin))
                .send()
                .await
                .expect("status");
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            let code = body["status"]["code"].as_str().unwrap_or_default();
            if matches!(code, "completed" | "refused" | "abandoned") {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{number} did not end within {limit:?}: {body}"
            );
        }
    }

    /// The request's events: (type, payload), in stream order.
    pub async fn events(&self, number: &str) -> Vec<(String, Value)> {
        let client = self.db.superuser().await;
        let rows = client
            .query(
                "SELECT e.event_type, e.payload FROM events e
                   JOIN request_numbers n ON n.stream_id = e.stream_id
                  WHERE n.number = $1 ORDER BY e.stream_version",
                &[&number],
            )
            .await
            .expect("events");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }
}

/// Starts `egov serve` with `env` and waits until it is ready.
pub async fn serve(env: &[(String, String)]) -> Served {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut served = Served::start(&pairs);
    served.wait_ready(Duration::from_secs(60)).await;
    served
}
