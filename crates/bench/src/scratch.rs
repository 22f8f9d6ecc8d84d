//! The scratch database each benchmark runs in: created for the run on the server of
//! `DATABASE_URL` (or the embedded cluster), migrated, and dropped afterwards whatever happened.

use tokio_postgres::NoTls;
use uuid::Uuid;

/// Why a benchmark could not run (any of them: the binary reports it and exits).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("database error while {0}")]
    Database(&'static str, #[source] tokio_postgres::Error),
    #[error("cannot prepare the scratch database")]
    Db(#[from] event_store::DbError),
    #[error("cannot migrate the scratch database")]
    Migration(#[from] event_store::MigrationError),
    #[error("an append failed during the run")]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Command(#[from] commands::CommandError),
    #[error(transparent)]
    Result(#[from] commands::results::ResultError),
    #[error("a read model failed")]
    Projection(#[from] projections::ProjectionError),
    #[error("the benchmark's signing key")]
    Key(#[from] api::token::KeyError),
    #[error("io error while {0}")]
    Io(&'static str, #[source] std::io::Error),
    #[error("pgbench failed: {0}")]
    Pgbench(String),
    #[error("wrk: {0}")]
    Wrk(String),
    #[error("a writer task ended abnormally")]
    Writer(#[source] tokio::task::JoinError),
    #[error("{0}")]
    Run(String),
}

/// A failure to run, from anything that says what went wrong.
pub(crate) fn failed(e: impl std::fmt::Display) -> BenchError {
    BenchError::Run(e.to_string())
}

/// An IO failure while `doing`.
pub(crate) fn io(doing: &'static str) -> impl Fn(std::io::Error) -> BenchError {
    move |e| BenchError::Io(doing, e)
}

/// Runs `work` against a database created for it on the server of `admin` (a login allowed to
/// create databases), and drops the database afterwards whatever `work` returned.
///
/// # Errors
/// [`BenchError::Database`] when the database cannot be created; `work`'s own error otherwise.
pub(crate) async fn in_scratch_database<T, F, Fut>(
    admin: &tokio_postgres::Config,
    work: F,
) -> Result<T, BenchError>
where
    F: FnOnce(tokio_postgres::Config) -> Fut,
    Fut: std::future::Future<Output = Result<T, BenchError>>,
{
    let name = format!("egov_bench_{}", Uuid::new_v4().simple());
    let admin_client = connect(admin).await?;
    admin_client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| BenchError::Database("creating the scratch database", e))?;
    let mut config = admin.clone();
    config.dbname(&name);
    let result = work(config).await;
    let _ = admin_client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    result
}

/// The scratch database migrated, and a pool of `pool_size` connections to it.
pub(crate) async fn migrated(
    config: &tokio_postgres::Config,
    pool_size: usize,
) -> Result<event_store::Database, BenchError> {
    event_store::migrate(config).await?;
    let mut settings = event_store::DbSettings::from_config(config.clone());
    settings.pool_size = pool_size;
    Ok(event_store::Database::connect(settings)?)
}

pub(crate) async fn connect(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, BenchError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| BenchError::Database("connecting", e))?;
    tokio::spawn(connection);
    Ok(client)
}

/// A libpq connection string (`host=.. port=.. ..`) from a tokio-postgres config: for pgbench,
/// and as the `DATABASE_URL` of an app served over the scratch database.
pub(crate) fn conninfo(config: &tokio_postgres::Config) -> String {
    let mut parts = Vec::new();
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        parts.push(format!("host={host}"));
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!(
            "password='{}'",
            String::from_utf8_lossy(password).replace('\'', "\\'")
        ));
    }
    if let Some(dbname) = config.get_dbname() {
        parts.push(format!("dbname={dbname}"));
    }
    parts.join(" ")
}
