//! The embedded default: `egov serve` without DATABASE_URL runs its own PostgreSQL cluster.

use std::time::Duration;

use crate::support::process::{alive, postmaster, Served};

#[tokio::test]
async fn serve_without_a_database_url_runs_a_private_cluster_that_keeps_its_data_and_stops_with_egov(
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("pg");
    let data = data_dir.to_string_lossy().into_owned();

    let mut first = Served::start(&[("EGOV_DATA_DIR", &data)]);
    first.wait_ready(Duration::from_secs(120)).await;
    let (pid, port) = postmaster(&data_dir).expect("the cluster runs in EGOV_DATA_DIR");
    assert!(alive(pid));
    testkit::connect(&cluster_config(port))
        .await
        .batch_execute("CREATE TABLE survives_restart (note text); INSERT INTO survives_restart VALUES ('kept')")
        .await
        .expect("write to the embedded cluster");
    assert!(first.terminate(), "egov exits cleanly on SIGTERM");
    assert!(!alive(pid), "no PostgreSQL process is left behind");
    assert!(
        postmaster(&data_dir).is_none(),
        "the cluster was shut down cleanly"
    );

    let mut second = Served::start(&[("EGOV_DATA_DIR", &data)]);
    second.wait_ready(Duration::from_secs(120)).await;
    let (pid, port) = postmaster(&data_dir).expect("the cluster runs again");
    let note: String = testkit::connect(&cluster_config(port))
        .await
        .query_one("SELECT note FROM survives_restart", &[])
        .await
        .expect("the data survived")
        .get(0);
    assert_eq!(note, "kept");
    assert!(second.terminate());
    assert!(!alive(pid), "no PostgreSQL process is left behind");
}

/// The service's database in the embedded cluster listening on `port`.
fn cluster_config(port: u16) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("egov");
    config
}

#[test]
fn serve_explains_how_to_install_postgresql_when_no_binaries_are_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = crate::support::process::egov()
        .arg("serve")
        .env("EGOV_DATA_DIR", dir.path().join("pg"))
        .env("EGOV_PG_BINDIR", dir.path())
        .output()
        .expect("run egov");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}
