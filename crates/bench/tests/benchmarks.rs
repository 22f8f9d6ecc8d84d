//! `egov-bench` as its users run it: each benchmark, shortened, against the test server, ends with
//! one JSON line carrying its figures.

use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// One benchmark at a time, as their users run them: run side by side on two cores, one starved
/// another so far that pgbench once finished no transaction in its second.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `egov-bench` with `args` against the test server; the JSON of its last line.
fn run(args: &[&str]) -> Value {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| testkit::DEFAULT_TEST_DATABASE_URL.to_owned());
    let out = Command::new(env!("CARGO_BIN_EXE_egov-bench"))
        .args(args)
        .env("DATABASE_URL", admin)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run egov-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "egov-bench {args:?}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).expect("the last line is JSON")
}

fn positive(report: &Value, keys: &[&str]) {
    for key in keys {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key} is not a positive figure: {report}"
        );
    }
}

#[test]
fn bench_workflow_carries_requests_to_their_results_and_prints_its_figures_as_json() {
    let report = run(&[
        "workflow",
        "--seconds",
        "1",
        "--clients",
        "8",
        "--concurrency",
        "8",
    ]);
    assert!(
        report["completed"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert_eq!(report["refused"], 0, "{report}");
    positive(&report, &["requests_per_s", "p50_ms", "p99_ms"]);
    assert!(report["steps"]["verify_ms"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
}

#[test]
fn bench_read_serves_status_reads_through_the_app_and_prints_its_figures_as_json() {
    let report = run(&[
        "read",
        "--requests",
        "500",
        "--keys",
        "50",
        "--seconds",
        "1",
        "--connections",
        "4",
    ]);
    positive(
        &report,
        &[
            "rebuild_events_per_s",
            "status_requests_per_s",
            "healthz_requests_per_s",
            "operator_requests_per_s",
            "feed_events_per_s",
        ],
    );
    assert_eq!(report["status_non_2xx"], 0, "{report}");
    assert_eq!(report["events"], 2500, "{report}");
}

#[test]
fn bench_append_measures_the_store_against_pgbench_and_prints_its_figures_as_json() {
    let report = run(&["append", "--seconds", "1", "--writers", "4"]);
    positive(
        &report,
        &[
            "single_events_per_s",
            "batch_events_per_s",
            "reader_events_per_s",
            "pgbench_single_tps",
            "single_ratio",
        ],
    );
}
