//! Test support: each test gets a fresh database on the server named by `TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), migrated, and dropped when the test ends,
//! so tests run in parallel and never touch anyone's data.
//!
//! [`pki`] is a test certification authority in the national profile with `openssl ocsp` as its
//! responder, for tests and benchmarks that need real signatures; [`port`] hands out ports for
//! servers that cannot report the one they bound.

pub mod pki;
pub mod port;

use std::time::Duration;

use event_store::{Database, DbSettings};
use tokio_postgres::{Client, Config, NoTls};

/// The server tests run against when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin connection settings from `TEST_DATABASE_URL`.
///
/// # Panics
/// When `TEST_DATABASE_URL` does not parse: a test setup error.
pub fn admin_config() -> Config {
    let url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into());
    url.parse().expect("TEST_DATABASE_URL is a PostgreSQL URL")
}

/// Connects and drives the connection on a spawned task.
///
/// # Panics
/// When the server cannot be reached: the test cannot run.
pub async fn connect(config: &Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!("cannot connect to the test server ({e}); is PostgreSQL running? see README.md")
    });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The runtime login services started by tests log in as: it holds no rights of its own and is a
/// `NOINHERIT` member of the application's role (roles are the server's, shared by all tests).
pub const RUNTIME_LOGIN: &str = "egov_test_service";

/// A database that exists for one test.
pub struct TestDb {
    name: String,
    admin: Config,
    config: Config,
}

impl TestDb {
    /// Creates a fresh database with a random name, without migrating it.
    ///
    /// # Panics
    /// When the database cannot be created.
    pub async fn empty() -> TestDb {
        let admin = admin_config();
        let name = format!("egov_test_{}", uuid::Uuid::new_v4().simple());
        connect(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let mut config = admin.clone();
        config.dbname(&name);
        TestDb {
            name,
            admin,
            config,
        }
    }

    /// Creates a fresh database and applies the migrations.
    ///
    /// # Panics
    /// When the database cannot be created or migrated.
    pub async fn migrated() -> TestDb {
        let db = TestDb::empty().await;
        event_store::migrate(&db.config)
            .await
            .expect("migrate the test database");
        db
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection settings as the login (super)user.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database's URL as the owner (the login superuser), for `egov migrate` and
    /// `EGOV_MIGRATE_DATABASE_URL`.
    pub fn url(&self) -> String {
        self.url_as(self.config.get_user().unwrap_or("postgres"))
    }

    /// The environment a service started over this database gets, as in production: `DATABASE_URL`
    /// logs in as the runtime login [`RUNTIME_LOGIN`] (created here if the server lacks it) and
    /// `EGOV_MIGRATE_DATABASE_URL` as the owner.
    ///
    /// # Panics
    /// When the login cannot be created.
    pub async fn service_env(&self) -> [(&'static str, String); 2] {
        event_store::provision_runtime_login(&self.config, RUNTIME_LOGIN)
            .await
            .expect("create the runtime login");
        [
            ("DATABASE_URL", self.url_as(RUNTIME_LOGIN)),
            ("EGOV_MIGRATE_DATABASE_URL", self.url()),
        ]
    }

    /// A connection as the runtime login [`RUNTIME_LOGIN`], before any `SET ROLE`.
    ///
    /// # Panics
    /// When the login cannot be created or cannot connect.
    pub async fn runtime_login(&self) -> Client {
        event_store::provision_runtime_login(&self.config, RUNTIME_LOGIN)
            .await
            .expect("create the runtime login");
        let config: Config = self.url_as(RUNTIME_LOGIN).parse().expect("a URL");
        connect(&config).await
    }

    fn url_as(&self, user: &str) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let password = self
            .config
            .get_password()
            .filter(|_| Some(user) == self.config.get_user())
            .map(|p| format!(":{}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        format!("postgres://{user}{password}@{host}:{port}/{}", self.name)
    }

    /// A pool over the database, as the service builds it (sessions as the application role).
    ///
    /// # Panics
    /// When the pool cannot be built.
    pub fn database(&self) -> Database {
        let mut settings = DbSettings::from_config(self.config.clone());
        settings.pool_size = 20;
        settings.pool_wait = Duration::from_secs(10);
        Database::connect(settings).expect("build the pool")
    }

    /// A connection as the login (super)user, bypassing the application role.
    pub async fn superuser(&self) -> Client {
        connect(&self.config).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which must not be blocked on itself: a thread with
        // its own runtime drops the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok((client, connection)) = admin.connect(NoTls).await {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            }
        });
        let _ = dropped.join();
    }
}
