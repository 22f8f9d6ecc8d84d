//! Connections: the pool and the sessions it opens.
//!
//! One deadpool-postgres pool per process, built from [`DbSettings`]. Every pooled session runs
//! `SET ROLE` to the application's role (`egov_app` by default), which may read the event log and call
//! `append_events` but cannot change or insert rows itself: even a bug or an injected statement in
//! the service cannot rewrite history. The schema itself is the business of [`crate::migrations`].

use std::time::Duration;

use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

/// How to reach PostgreSQL and how to use it.
#[derive(Clone)]
pub struct DbSettings {
    /// The login (`postgres://user@host:port/db`); it owns the schema and runs the migrations.
    pub config: tokio_postgres::Config,
    /// The role pooled sessions switch to; `None` keeps the login user's rights (not advised).
    pub app_role: Option<String>,
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// How long a caller waits for a free connection before getting [`PoolError::Timeout`], so a
    /// saturated pool answers quickly instead of hanging.
    pub pool_wait: Duration,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for pooled sessions.
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for DbSettings {
    // The config holds the password, so only the harmless parts are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSettings")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .field("app_role", &self.app_role)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl DbSettings {
    /// Settings with the defaults of the README's table for a database URL.
    ///
    /// # Errors
    /// [`DbError::BadUrl`] when the URL is not a PostgreSQL connection string.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        let config: tokio_postgres::Config = url.parse().map_err(DbError::BadUrl)?;
        Ok(Self::from_config(config))
    }

    /// Settings with the defaults of the README's table for a parsed config.
    pub fn from_config(mut config: tokio_postgres::Config) -> Self {
        let connect_timeout = Duration::from_secs(5);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("egov");
        }
        Self {
            config,
            app_role: Some(APP_ROLE.to_owned()),
            pool_size: 16,
            pool_wait: Duration::from_secs(5),
            connect_timeout,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The role the migrations create for the service's sessions.
pub const APP_ROLE: &str = "egov_app";

/// Makes the rest of a transaction commit without waiting for its WAL to reach the disk (and so
/// without holding its transaction id, which every reader of the log waits for, during the
/// flush). Only for transactions that hold nothing but state derived from the log, which a crash
/// that loses the commit makes the writer derive again: projectors, the workflow feeder and its
/// tasks' claims and releases. Event appends always wait (docs/adr/0008).
pub const RELAXED_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// Runs one prepared statement in a transaction of its own that commits as [`RELAXED_COMMIT`]
/// says, in one round trip: BEGIN with the setting, the statement and COMMIT are sent together,
/// and PostgreSQL runs them in the order sent (when the statement fails, the COMMIT rolls back and
/// the statement's error is returned). Only for statements on derived state (see
/// [`RELAXED_COMMIT`]), such as the workflow's task claims and releases.
///
/// # Errors
/// The statement's error, or the connection's.
pub async fn query_relaxed(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    relaxed(client, client.query(statement, params)).await
}

/// As [`query_relaxed`], for a statement whose rows are not needed: how many it changed.
///
/// # Errors
/// As [`query_relaxed`].
pub async fn execute_relaxed(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    relaxed(client, client.execute(statement, params)).await
}

/// `statement` (a future of a prepared statement, which sends it on its first poll) between BEGIN
/// with [`RELAXED_COMMIT`] and COMMIT: `join!` polls in order, and each is sent on its first poll,
/// so they go out in that order, together.
async fn relaxed<T>(
    client: &tokio_postgres::Client,
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let (begun, relaxed, done, committed) = tokio::join!(
        client.batch_execute("BEGIN"),
        client.batch_execute(RELAXED_COMMIT),
        statement,
        client.batch_execute("COMMIT"),
    );
    begun?;
    relaxed?;
    let done = done?;
    committed?;
    Ok(done)
}

/// Failures to reach or prepare the database.
/// PostgreSQL failing under a layer that talks to it directly: no connection could be had, or a
/// statement failed. The layers' errors wrap it (`Db(#[from] DbFailure)`); the API answers 503.
#[derive(Debug, thiserror::Error)]
pub enum DbFailure {
    /// No connection could be had (server down, pool exhausted).
    #[error("the database is unavailable")]
    Unavailable(#[from] PoolError),
    /// A statement failed.
    #[error("database error while {doing}")]
    Statement {
        doing: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl DbFailure {
    /// The failure of a statement run while `doing`, for `map_err`.
    pub fn of(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> DbFailure + Copy {
        move |source| DbFailure::Statement { doing, source }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL does not parse.
    #[error("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:port/database)")]
    BadUrl(#[source] tokio_postgres::Error),
    /// The pool could not be built.
    #[error("cannot build the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// No connection could be had.
    #[error("cannot connect to PostgreSQL")]
    Unavailable(#[source] PoolError),
    /// A query of this module failed.
    #[error("database error while {doing}")]
    Query {
        doing: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// The pool and the settings it was built from (the event store's listener opens its own
/// connection with them).
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    settings: DbSettings,
}

impl Database {
    /// Builds the pool. Connections are opened lazily, so this succeeds while the server is down;
    /// call [`Database::ping`] to find out whether it is up.
    ///
    /// # Errors
    /// [`DbError::Pool`] when the pool cannot be built from the settings.
    pub fn connect(settings: DbSettings) -> Result<Self, DbError> {
        let manager = Manager::from_config(
            settings.config.clone(),
            NoTls,
            // Fast recycling checks only that the socket is open; a connection the server dropped
            // (a restart) is seen as closed and replaced, so the service reconnects by itself.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let setup = session_setup(&settings);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.pool_wait))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
                let setup = setup.clone();
                Box::pin(async move {
                    client
                        .batch_execute(&setup)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(DbError::Pool)?;
        Ok(Self { pool, settings })
    }

    /// The pool, for stores and read models.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The settings the pool was built from.
    pub fn settings(&self) -> &DbSettings {
        &self.settings
    }

    /// Whether the server answers, through a pooled session.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] or [`DbError::Query`] when it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        let client = self.pool.get().await.map_err(DbError::Unavailable)?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|source| DbError::Query {
                doing: "pinging the server",
                source,
            })?;
        Ok(())
    }
}

/// What the service's login (the session user, before `SET ROLE`) may do beyond the application's
/// role. The service should log in as a role that holds nothing itself and reaches the tables only
/// through `egov_app` (a `NOINHERIT` member: `RESET ROLE` leaves it with no rights at all); rights
/// to change the schema belong to the migrations' login alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRights {
    /// A superuser, or a role that may create roles or bypass row security.
    pub superuser: bool,
    /// The owner of the schema: it owns the event table or may create objects in `public`.
    pub owner: bool,
}

impl LoginRights {
    /// Whether the login holds rights that only the migrations should.
    pub fn beyond_runtime(self) -> bool {
        self.superuser || self.owner
    }
}

impl Database {
    /// What this pool's login may do (see [`LoginRights`]).
    ///
    /// # Errors
    /// [`DbError::Unavailable`] or [`DbError::Query`] when the server cannot be asked.
    pub async fn login_rights(&self) -> Result<LoginRights, DbError> {
        let client = self.pool.get().await.map_err(DbError::Unavailable)?;
        let row = client
            .query_one(
                "SELECT r.rolsuper OR r.rolcreaterole OR r.rolbypassrls, \
                        pg_has_role(session_user, d.datdba, 'MEMBER') \
                        OR has_schema_privilege(session_user, 'public', 'CREATE') \
                        OR coalesce(pg_has_role(session_user, c.relowner, 'MEMBER'), false) \
                   FROM pg_roles r \
                   JOIN pg_database d ON d.datname = current_database() \
                   LEFT JOIN pg_class c ON c.oid = to_regclass('public.events') \
                  WHERE r.rolname = session_user",
                &[],
            )
            .await
            .map_err(|source| DbError::Query {
                doing: "reading the login's rights",
                source,
            })?;
        Ok(LoginRights {
            superuser: row.get(0),
            owner: row.get(1),
        })
    }
}

/// Makes `login` a runtime login: a role that may log in, holds no rights of its own, and is a
/// `NOINHERIT` member of the application's role (so it has that role's rights only after
/// `SET ROLE`, and none after `RESET ROLE`). Run as a superuser (the application's role is created
/// too when the migrations have not yet made it); for the embedded cluster and tests, whose servers
/// trust local logins. A deployment creates its login (with a password) the same way.
///
/// # Errors
/// [`DbError::Query`] when the owner cannot connect or a statement fails.
pub async fn provision_runtime_login(
    owner: &tokio_postgres::Config,
    login: &str,
) -> Result<(), DbError> {
    let doing = "creating the runtime login";
    let (client, connection) = owner
        .connect(NoTls)
        .await
        .map_err(|source| DbError::Query { doing, source })?;
    let driver = tokio::spawn(connection);
    let quoted = format!("\"{}\"", login.replace('"', "\"\""));
    let statements = format!(
        "DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         DO $$ BEGIN CREATE ROLE {quoted} LOGIN NOINHERIT; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         ALTER ROLE {quoted} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS; \
         GRANT {APP_ROLE} TO {quoted};"
    );
    // Roles belong to the whole server: databases migrated side by side (tests) may provision the
    // same login at once, and the loser of such a race sees "tuple concurrently updated".
    let mut attempt = 0;
    let outcome = loop {
        match client.batch_execute(&statements).await {
            Err(error) if attempt < 5 && error.code().is_some() => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            done => break done,
        }
    };
    drop(client);
    let _ = driver.await;
    outcome.map_err(|source| DbError::Query { doing, source })
}

/// The statements every pooled session runs once when it opens.
fn session_setup(settings: &DbSettings) -> String {
    let mut setup = format!(
        "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
        settings.statement_timeout.as_millis(),
        settings.statement_timeout.as_millis(),
    );
    if let Some(role) = &settings.app_role {
        // Quoted as an identifier: the role name comes from configuration, not from a client.
        setup.push_str(&format!(" SET ROLE \"{}\";", role.replace('"', "\"\"")));
    }
    setup
}

#[cfg(test)]
mod tests {
    use super::{execute_relaxed, query_relaxed};
    use testkit::TestDb;

    async fn count(client: &tokio_postgres::Client) -> i64 {
        client
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .expect("count")
            .get(0)
    }

    #[tokio::test]
    async fn a_relaxed_statement_is_committed_and_its_session_left_clean_when_it_succeeds_or_fails()
    {
        let db = TestDb::empty().await;
        let client = db.superuser().await;
        let other = db.superuser().await;
        client
            .batch_execute("CREATE TABLE t (id integer PRIMARY KEY)")
            .await
            .expect("table");
        let insert = client
            .prepare("INSERT INTO t VALUES ($1) RETURNING id")
            .await
            .expect("prepare");

        let rows = query_relaxed(&client, &insert, &[&1i32])
            .await
            .expect("inserted");
        assert_eq!(
            rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(count(&other).await, 1, "committed: another session sees it");

        let duplicate = execute_relaxed(&client, &insert, &[&1i32]).await;
        let error = duplicate.expect_err("a duplicate key fails");
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        );

        // The failed transaction was ended: the session runs the next statement on its own, and
        // the setting did not outlive its transaction.
        assert_eq!(
            execute_relaxed(&client, &insert, &[&2i32])
                .await
                .expect("inserted"),
            1
        );
        assert_eq!(count(&other).await, 2);
        let setting: String = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(setting, "on");
        // A simple query starts its own transaction with its statement, unless one is open.
        let fresh = client
            .simple_query("SELECT now() = statement_timestamp()")
            .await
            .expect("query")
            .into_iter()
            .find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v == "t"),
                _ => None,
            });
        let no_transaction_was_open = fresh == Some(true);
        assert!(
            no_transaction_was_open,
            "no transaction is left open around the next statement"
        );
    }
}
