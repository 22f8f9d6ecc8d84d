//! The registry simulator as its own process: its fixture, its answers, and faults injected at
//! start and switched at run time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/registry.json");
const AIDA: &str = "760324400005";
const GHOST: &str = "991231300003";
const DANA: &str = "900101400003";

struct Sim {
    child: Child,
    base: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the simulator on a port it picks itself and reads the port from its first line.
fn start(args: &[&str]) -> Sim {
    let mut command = Command::new(env!("CARGO_BIN_EXE_egov-registry-sim"));
    command
        .args(["--addr", "127.0.0.1:0", "--fixture", FIXTURE])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = command.spawn().expect("start the simulator");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the simulator's first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the simulator said {line:?}, not where it listens"));
    Sim {
        child,
        base: format!("http://{addr}"),
    }
}

async fn get(sim: &Sim, path: &str) -> (u16, Value) {
    let answer = reqwest::get(format!("{}{path}", sim.base))
        .await
        .expect("get");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_simulator_answers_from_its_fixture_with_records_not_found_and_bad_requests() {
    let sim = start(&[]);
    let (code, person) = get(&sim, &format!("/gcvp/persons/{AIDA}")).await;
    assert_eq!(
        (code, person["last_name"].as_str()),
        (200, Some("БАПАХОВА"))
    );
    let (code, sik) = get(&sim, &format!("/gcvp/sik/{AIDA}")).await;
    assert_eq!((code, sik["sik"].as_str()), (200, Some("DV6MH41VHFEX4009")));
    let (code, benefits) = get(
        &sim,
        &format!("/gcvp/benefits/{AIDA}?service=birth-childcare-benefit-info"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(benefits["records"][0]["decision_number"], "1045-77");
    assert_eq!(
        get(
            &sim,
            &format!("/gcvp/benefits/{AIDA}?service=age-benefit-info")
        )
        .await
        .0,
        404
    );
    assert_eq!(get(&sim, &format!("/gcvp/benefits/{AIDA}")).await.0, 400);
    let (code, statement) = get(
        &sim,
        &format!("/gcvp/fund-transactions/{AIDA}?from=2023-02-01&to=2023-12-31"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        statement["rows"].as_array().map(Vec::len),
        Some(2),
        "the period bounds the rows"
    );
    assert_eq!(statement["full_name"], "БАПАХОВА АИДА ГАЛИХАНОВНА");
    assert_eq!(
        get(
            &sim,
            &format!("/gcvp/fund-transactions/{AIDA}?from=yesterday")
        )
        .await
        .0,
        400
    );
    // Someone GTsVP knows but GBD FL does not; someone without a SIK.
    assert_eq!(get(&sim, &format!("/gcvp/persons/{GHOST}")).await.0, 200);
    assert_eq!(get(&sim, &format!("/gbdfl/persons/{GHOST}")).await.0, 404);
    assert_eq!(get(&sim, &format!("/gcvp/sik/{DANA}")).await.0, 404);
    // Unknown and malformed IINs.
    let (code, body) = get(&sim, "/gcvp/persons/900101300007").await;
    assert_eq!((code, body["error"].as_str()), (404, Some("not-found")));
    assert_eq!(get(&sim, "/gcvp/persons/900101300008").await.0, 400);
    let (code, poa) = get(&sim, "/enis/powers-of-attorney/ENIS-2024-000117").await;
    assert_eq!((code, poa["revoked"].as_bool()), (200, Some(false)));
    assert_eq!(get(&sim, "/enis/powers-of-attorney/ENIS-0").await.0, 404);
    let (code, status) = get(&sim, &format!("/mtszn/social-status/{AIDA}")).await;
    assert_eq!(
        (code, status["status"].as_str()),
        (200, Some("Многодетная мать"))
    );
}

#[tokio::test]
async fn faults_are_injected_at_start_and_switched_at_run_time() {
    let sim = start(&["--outage"]);
    let (code, body) = get(&sim, &format!("/gcvp/persons/{AIDA}")).await;
    assert_eq!((code, body["error"].as_str()), (503, Some("unavailable")));
    let http = reqwest::Client::new();
    let put = |faults: Value| {
        http.put(format!("{}/admin/faults", sim.base))
            .json(&faults)
            .send()
    };
    // Healed at run time.
    assert_eq!(
        put(json!({"outage": false})).await.expect("put").status(),
        200
    );
    assert_eq!(get(&sim, &format!("/gcvp/persons/{AIDA}")).await.0, 200);
    // Every answer fails.
    put(json!({"error_rate": 1.0})).await.expect("put");
    assert_eq!(get(&sim, &format!("/gcvp/sik/{AIDA}")).await.0, 503);
    // Latency is added.
    put(json!({"latency_ms": 300})).await.expect("put");
    let started = Instant::now();
    assert_eq!(get(&sim, &format!("/gcvp/sik/{AIDA}")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let (_, faults) = get(&sim, "/admin/faults").await;
    assert_eq!(
        faults,
        json!({"latency_ms": 300, "error_rate": 0.0, "outage": false})
    );
    // Nonsense is refused and changes nothing.
    assert_eq!(
        put(json!({"error_rate": 2})).await.expect("put").status(),
        400
    );
    assert_eq!(put(json!({"latency": 1})).await.expect("put").status(), 400);
    assert_eq!(get(&sim, "/admin/faults").await.1, faults);
}

#[test]
fn the_simulator_refuses_a_bad_fixture_or_fault_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"citizens": [{"iin": "900101300008", "last_name": "A", "first_name": "B", "birth_date": "1990-01-01"}]}"#).expect("write");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_egov-registry-sim"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run")
    };
    let output = run(&["--fixture", bad.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bad.json"));
    let output = run(&["--fixture", FIXTURE, "--error-rate", "1.5"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A SIK assignment under a key, and what the registry lists as done.
async fn assign(sim: &Sim, iin: &str, key: Option<&str>) -> Value {
    let mut call = reqwest::Client::new().post(format!("{}/gcvp/sik-assignment/{iin}", sim.base));
    if let Some(key) = key {
        call = call.header("Idempotency-Key", key);
    }
    let answer = call.send().await.expect("assign");
    assert_eq!(answer.status().as_u16(), 200);
    answer.json().await.expect("json")
}

#[tokio::test]
async fn a_sik_assignment_changes_the_registry_once_per_idempotency_key() {
    let sim = start(&[]);
    // DANA has no SIK: the first call registers one, its retry is answered alike and changes
    // nothing, a call under another key gets the duplicate of the code registered.
    let first = assign(&sim, DANA, Some("request-1")).await;
    assert_eq!(first["outcome"], "assigned");
    let retry = assign(&sim, DANA, Some("request-1")).await;
    assert_eq!(
        (&retry["outcome"], &retry["sik"]),
        (&first["outcome"], &first["sik"])
    );
    let other = assign(&sim, DANA, Some("request-2")).await;
    assert_eq!(
        (&other["outcome"], &other["sik"]),
        (&json!("duplicate"), &first["sik"])
    );
    // AIDA has one: a duplicate, once per key; a call without a key is an effect each time.
    assert_eq!(
        assign(&sim, AIDA, Some("request-3")).await["outcome"],
        "duplicate"
    );
    assign(&sim, AIDA, None).await;
    assign(&sim, AIDA, None).await;
    let (code, done) = get(&sim, "/admin/side-effects").await;
    assert_eq!(code, 200);
    let effects: Vec<(Value, Value, Value, Value)> = done["sik_assignments"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["key"].clone(),
                e["iin"].clone(),
                e["outcome"].clone(),
                e["calls"].clone(),
            )
        })
        .collect();
    assert_eq!(
        effects,
        vec![
            (json!("request-1"), json!(DANA), json!("assigned"), json!(2)),
            (
                json!("request-2"),
                json!(DANA),
                json!("duplicate"),
                json!(1)
            ),
            (
                json!("request-3"),
                json!(AIDA),
                json!("duplicate"),
                json!(1)
            ),
            (Value::Null, json!(AIDA), json!("duplicate"), json!(1)),
            (Value::Null, json!(AIDA), json!("duplicate"), json!(1)),
        ]
    );
}
