//! Attacks on the running binary that only show from outside the process: a production-like setup
//! that would quietly fall back to development stand-ins (issue 23, finding 12).

use std::process::Stdio;
use std::time::{Duration, Instant};

use testkit::TestDb;

use crate::support::process::egov;

/// Runs `egov serve` with `envs`, expecting it to refuse to start; its stderr.
fn refused_to_serve(envs: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().expect("data dir");
    let mut command = egov();
    command
        .arg("serve")
        .env("EGOV_HTTP_ADDR", "127.0.0.1:0")
        .env("EGOV_DATA_DIR", data.path().join("pg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("egov serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("egov serve started with {envs:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "egov serve succeeded with {envs:?}");
    stderr
}

/// Finding 12: `EGOV_JWT_PUBLIC_KEYS=","` silently meant development mode, and the development
/// provider key and the registry simulator were used with only a warning when `DATABASE_URL` was
/// set. With a database and no `EGOV_MODE=development`, each stand-in now stops the start,
/// naming what is missing.
#[tokio::test]
async fn a_production_setup_refuses_each_development_stand_in() {
    let db = TestDb::empty().await;
    let url = db.url();
    let pki = testkit::pki::Pki::new();
    let anchors = pki.anchors_file().display().to_string();
    let base = [("DATABASE_URL", url.as_str())];
    // A provider key of its own, made as development makes one, given as production is given it.
    let provider = tempfile::tempdir().expect("provider dir");
    commands::results::ProviderKey::development(provider.path()).expect("a provider key");
    let key = provider
        .path()
        .join("provider-key.pem")
        .display()
        .to_string();
    let cert = provider
        .path()
        .join("provider-cert.pem")
        .display()
        .to_string();
    let registry = ("EGOV_REGISTRY_URL", "http://127.0.0.1:9");
    let provider_key = [
        ("EGOV_PROVIDER_KEY", key.as_str()),
        ("EGOV_PROVIDER_CERT", cert.as_str()),
    ];
    let cases: [(Vec<(&str, &str)>, &str); 5] = [
        (vec![("EGOV_JWT_PUBLIC_KEYS", ",")], "EGOV_JWT_PUBLIC_KEYS"),
        (vec![], "EGOV_REGISTRY_URL"),
        (vec![registry], "EGOV_PROVIDER_KEY"),
        (
            [&[registry], &provider_key[..]].concat(),
            "EGOV_TRUST_ANCHORS",
        ),
        (
            [
                &[registry, ("EGOV_TRUST_ANCHORS", &anchors)],
                &provider_key[..],
            ]
            .concat(),
            "EGOV_JWT_PUBLIC_KEYS",
        ),
    ];
    for (extra, named) in cases {
        let envs: Vec<(&str, &str)> = base.iter().copied().chain(extra.iter().copied()).collect();
        let stderr = refused_to_serve(&envs);
        assert!(
            stderr.contains(named),
            "{envs:?} should name {named}:\n{stderr}"
        );
    }
    // Production never starts the embedded cluster.
    let stderr = refused_to_serve(&[("EGOV_MODE", "production")]);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    // Nor does `egov token` sign anything in production.
    let token = egov()
        .args(["token", "--role", "citizen", "--sub", "900101300007"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("egov token");
    assert!(!token.status.success());
    assert!(String::from_utf8_lossy(&token.stderr).contains("EGOV_MODE=development"));
}
