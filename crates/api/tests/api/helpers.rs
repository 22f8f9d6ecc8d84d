//! `TestApp`: the app served in-process for one test.

use std::sync::Arc;
use std::time::Duration;

use api::token::{Claims, DevKey, Role};
use api::{Adapters, App, Settings};
use commands::adapters::nca::fake::FakeVerifier;
use commands::adapters::registries::fake::FakeRegistries;
use commands::adapters::scans::fake::InMemoryScans;
use commands::results::ProviderKey;
use serde_json::{json, Value};
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

pub const ALICE: &str = "900101300007";
pub const BOB: &str = "850715400109";

/// A served app and its fakes; the app stops when this is dropped.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub verifier: Arc<FakeVerifier>,
    pub registries: Arc<FakeRegistries>,
    pub scans: Arc<InMemoryScans>,
    key: DevKey,
    settings: Settings,
    stop: CancellationToken,
    // Dropped last: the app's pool points at it.
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Spawns the app with the workflow (over the fakes) and every read model.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As [`spawn_app`], with the settings changed by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::migrated().await;
    let dir = tempfile::tempdir().expect("scratch dir");
    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    // As in production: the runtime login, and the owner for the migrations.
    let [(_, runtime), (_, owner)] = db.service_env().await;
    settings.database_url = Some(runtime);
    settings.migrate_database_url = Some(owner);
    settings.writes_per_second = std::num::NonZeroU32::MAX;
    settings.write_burst = std::num::NonZeroU32::MAX;
    settings.daily_filings = u32::MAX;
    settings.daily_filings_staff = u32::MAX;
    settings.http_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    settings.data_dir = dir.path().join("pg");
    settings.workflow_lease = Duration::from_secs(5);
    configure(&mut settings);
    let verifier = Arc::new(FakeVerifier::new());
    let registries = Arc::new(FakeRegistries::new());
    let scans = Arc::new(InMemoryScans::new());
    let adapters = Adapters {
        verifier: verifier.clone(),
        registries: registries.clone(),
        checks: registries.clone(),
        scans: scans.clone(),
        provider: ProviderKey::development(&settings.dev_provider_dir()).expect("provider key"),
        log: std::sync::Arc::new(api::adapters::log_signer(&settings).expect("log key")),
        dev_ca: api::adapters::development_ca(&settings).expect("development CA"),
    };
    if std::env::var_os("TEST_LOG").is_some() {
        api::telemetry::init(api::settings::LogFormat::Text);
    }
    let app = App::build_with(&settings, adapters)
        .await
        .expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    // Development mode: the app trusts the development key beside its data directory.
    let key = DevKey::load_or_create(&settings.dev_key_path()).expect("development key");
    TestApp {
        base,
        http: reqwest::Client::new(),
        verifier,
        registries,
        scans,
        key,
        settings,
        stop,
        _db: db,
        _dir: dir,
    }
}

impl TestApp {
    /// The app's database.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    /// `GET` with `headers`; the answer as it came.
    pub async fn get_with(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("GET")
    }

    /// A token for `role` and `sub`, of organisation `org`, valid for an hour.
    pub fn token(&self, role: Role, sub: &str, org: Option<&str>) -> String {
        let now = chrono::Utc::now().timestamp();
        self.key
            .sign(&Claims {
                sub: sub.into(),
                role,
                iss: self.settings.jwt_issuer.clone(),
                aud: self.settings.jwt_audience.clone(),
                exp: now + 3600,
                nbf: Some(now),
                iat: Some(now),
                org: org.map(str::to_owned),
            })
            .expect("sign a token")
    }

    pub fn citizen(&self, iin: &str) -> String {
        self.token(Role::Citizen, iin, None)
    }

    /// The status and the JSON body (or null) of an answer.
    pub async fn answer(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// As [`TestApp::get`], with `headers` sent too.
    pub async fn get_json_with(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        Self::answer(self.get_with(path, token, headers).await).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        Self::answer(response).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        Self::answer(response).await
    }

    /// `POST /api/v1/requests` as the citizen `iin`.
    pub async fn submit(&self, service: &str, iin: &str, form: Value) -> (u16, Value) {
        let body = json!({"service": service, "iin": iin, "form": form});
        self.post("/api/v1/requests", &self.citizen(iin), &body)
            .await
    }

    /// `POST /api/v1/requests/{number}/signature` with `cms` (base64 of its bytes).
    pub async fn sign(&self, number: &str, iin: &str, cms: &[u8]) -> (u16, Value) {
        use base64::Engine;
        let body = json!({"cms": base64::engine::general_purpose::STANDARD.encode(cms)});
        let path = format!("/api/v1/requests/{number}/signature");
        self.post(&path, &self.citizen(iin), &body).await
    }

    /// `GET /api/v1/requests/{number}` held until its status is `code` (or 20 s pass).
    pub async fn until_status(&self, number: &str, iin: &str, code: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let path = format!("/api/v1/requests/{number}?wait=2");
            let (status, body) = self.get(&path, &self.citizen(iin)).await;
            if status == 200 && body["status"]["code"] == code {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{number} never became {code}: {status} {body}"
            );
        }
    }
}
