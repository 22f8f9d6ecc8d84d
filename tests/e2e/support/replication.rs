//! A PostgreSQL primary with a streaming standby under synchronous replication, as the failover
//! tests and the fault campaign run them (both servers from `egov::embedded_postgres`), and the
//! URL that names both so that a client finds whichever takes writes.

use std::time::{Duration, Instant};

use egov::embedded_postgres::{EmbeddedPostgres, DATABASE};

/// A primary and its standby, started on free ports in `dir` (`a` and `b`), synchronous
/// replication on.
pub async fn pair(dir: &std::path::Path) -> (EmbeddedPostgres, EmbeddedPostgres) {
    let primary = EmbeddedPostgres::start(&dir.join("a"), None)
        .await
        .expect("the primary starts");
    let standby = tokio::task::block_in_place(|| primary.start_standby(&dir.join("b"), None))
        .expect("the standby starts");
    synchronous(primary.port(), true).await;
    (primary, standby)
}

/// The service's database on both servers: a client tries them in turn and keeps the one that
/// takes writes.
pub fn url(primary: &EmbeddedPostgres, standby: &EmbeddedPostgres) -> String {
    format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{DATABASE}?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    )
}

/// A superuser's connection to the server on `port`.
pub async fn superuser_at(port: u16) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname(DATABASE);
    testkit::connect(&config).await
}

/// Turns synchronous replication on the primary at `port` on (a commit waits until a standby has
/// it on disk) or off; with it on, waits until the standby is a synchronous one.
pub async fn synchronous(port: u16, on: bool) {
    let db = superuser_at(port).await;
    let names = if on { "*" } else { "" };
    db.batch_execute(&format!(
        "ALTER SYSTEM SET synchronous_standby_names = '{names}'"
    ))
    .await
    .expect("synchronous_standby_names");
    db.batch_execute("SELECT pg_reload_conf()")
        .await
        .expect("reload");
    if !on {
        return;
    }
    let started = Instant::now();
    loop {
        let sync: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                &[],
            )
            .await
            .expect("pg_stat_replication")
            .get(0);
        if sync > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the standby did not become synchronous"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
