//! A running `egov serve` in production mode (its own token keys) and a portal client for it.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};
use testkit::TestDb;

use super::process::Served;

pub const ISSUER: &str = "test-idp";
pub const AUDIENCE: &str = "egov-events";
pub const ALICE: &str = "900101300007";
pub const BOB: &str = "850715400109";

/// The identity provider's keys: an EC key given as PEM, an RSA key given in a JWKS.
pub struct Keys {
    pub ec: PKey<Private>,
    pub rsa: PKey<Private>,
    pub dir: tempfile::TempDir,
}

impl Keys {
    pub fn new() -> Keys {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
        let ec = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");
        let rsa = PKey::from_rsa(Rsa::generate(2048).expect("rsa key")).expect("pkey");
        let dir = tempfile::tempdir().expect("key dir");
        std::fs::write(
            dir.path().join("ec.pem"),
            ec.public_key_to_pem().expect("pem"),
        )
        .expect("write");
        let n = rsa.rsa().expect("rsa").n().to_vec();
        let e = rsa.rsa().expect("rsa").e().to_vec();
        let b64 = |bytes: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(&n), "e": b64(&e)}]});
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).expect("write");
        Keys { ec, rsa, dir }
    }

    /// The value of EGOV_JWT_PUBLIC_KEYS.
    pub fn setting(&self) -> String {
        format!(
            "{},{}",
            self.dir.path().join("ec.pem").display(),
            self.dir.path().join("jwks.json").display()
        )
    }

    /// Standard claims for `role` and `sub`, valid for an hour.
    pub fn claims(role: &str, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"sub": sub, "role": role, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, "nbf": now - 5, "iat": now})
    }

    pub fn es256(&self, claims: &Value) -> String {
        let key = EncodingKey::from_ec_pem(&self.ec.private_key_to_pem_pkcs8().expect("pem"))
            .expect("key");
        encode(&Header::new(Algorithm::ES256), claims, &key).expect("sign")
    }

    pub fn rs256(&self, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(&self.rsa.private_key_to_pem_pkcs8().expect("pem"))
            .expect("key");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        encode(&header, claims, &key).expect("sign")
    }

    pub fn citizen(&self, iin: &str) -> String {
        self.es256(&Self::claims("citizen", iin))
    }

    /// A medical organisation's user, named by their IIN (they log in with their own EDS).
    pub fn medical(&self, iin: &str, organisation: &str) -> String {
        let mut claims = Self::claims("medical", iin);
        claims["org"] = json!(organisation);
        self.es256(&claims)
    }

    /// The token that files `service` for `iin`: a medical user's for the social-status check,
    /// which only they file, a citizen's for the others.
    pub fn filer(&self, service: &str, iin: &str) -> String {
        if service == "social-status-check" {
            self.medical(iin, "clinic-1")
        } else {
            self.citizen(iin)
        }
    }
}

/// A served API over a fresh database.
pub struct Portal {
    // Dropped in this order: the server stops before its database is dropped.
    pub served: Served,
    pub db: TestDb,
    pub keys: Keys,
    pub http: reqwest::Client,
}

impl Portal {
    /// The API over a fresh database, with write limits no test reaches by accident.
    pub async fn start() -> Portal {
        Portal::start_with(&[]).await
    }

    /// As [`Portal::start`], with `extra` settings (the write limits, say) over the defaults.
    pub async fn start_with(extra: &[(&str, &str)]) -> Portal {
        let db = TestDb::empty().await;
        let keys = Keys::new();
        let [(database, url), (migrate, owner)] = db.service_env().await;
        let setting = keys.setting();
        let data_dir = keys.dir.path().join("pg").display().to_string();
        let mut env = vec![
            (database, url.as_str()),
            (migrate, owner.as_str()),
            ("EGOV_JWT_PUBLIC_KEYS", &setting),
            ("EGOV_JWT_ISSUER", ISSUER),
            ("EGOV_JWT_AUDIENCE", AUDIENCE),
            // The API and the status view on their own: no workflow moves the requests on (and
            // no registry to ask: the simulator of development mode).
            ("EGOV_WORKFLOW", "off"),
            ("EGOV_MODE", "development"),
            ("EGOV_DATA_DIR", &data_dir),
            ("EGOV_WRITES_PER_SECOND", "100000"),
            ("EGOV_WRITE_BURST", "100000"),
            ("EGOV_DAILY_FILINGS", "100000"),
        ];
        env.extend_from_slice(extra);
        let mut served = Served::start(&env);
        served.wait_ready(Duration::from_secs(60)).await;
        Portal {
            served,
            db,
            keys,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.base)
    }

    /// Files a pension-fund statement for `iin` and returns the answer's JSON.
    pub async fn submit(&self, iin: &str) -> Value {
        let answer = self
            .http
            .post(self.url("/api/v1/requests"))
            .bearer_auth(self.keys.citizen(iin))
            .json(&json!({"service": "pension-fund-statement", "iin": iin, "form": {}}))
            .send()
            .await
            .expect("submit");
        assert_eq!(answer.status(), 201);
        answer.json().await.expect("json")
    }

    /// GET a path with a token; returns status and body (JSON or Null).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        get_json(&self.http, &self.url(path), token).await
    }
}

/// GET `url` with a bearer token; the status and the JSON body (or null).
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let answer = http.get(url).bearer_auth(token).send().await.expect("get");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A CMS SignedData (attached, DER) over `content`, by a self-signed certificate for `iin`.
pub fn cms_signature(content: &[u8], iin: &str) -> Vec<u8> {
    testkit::pki::self_signed_cms(content, iin)
}

/// The `ETag` header of an answer.
pub fn etag_of(answer: &reqwest::Response) -> String {
    answer
        .headers()
        .get("etag")
        .expect("etag")
        .to_str()
        .expect("ascii")
        .to_owned()
}
