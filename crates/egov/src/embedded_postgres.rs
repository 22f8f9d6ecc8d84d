//! The embedded default: a private PostgreSQL cluster that `egov serve` starts when no
//! `DATABASE_URL` is given, from the system's PostgreSQL binaries, in `EGOV_DATA_DIR`.
//!
//! The cluster is created on the first start (`initdb`, trust authentication, reachable only on
//! 127.0.0.1 at a free port chosen at each start, no Unix socket) and reused on later starts, so its
//! data survives. [`EmbeddedPostgres::stop`] stops it; dropping the handle stops it too, so no
//! PostgreSQL process is left behind when `egov` ends, whichever way it ends short of SIGKILL (and
//! after a SIGKILL the next start adopts the cluster still running).
//!
//! PostgreSQL refuses to run as root. When `egov` runs as root the cluster's commands run as the
//! `postgres` system user (through `runuser`), the data directory is given to that user, and
//! directories above it that the user cannot enter get the search bit for others (never the read
//! bit), which the log reports.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The database the service uses inside the embedded cluster.
pub const DATABASE: &str = "egov";

/// The runtime login the service uses in the embedded cluster (see
/// [`event_store::provision_runtime_login`]); the superuser `postgres` applies the migrations.
pub const RUNTIME_LOGIN: &str = "egov_service";

/// The system user that runs the cluster when `egov` runs as root.
const SYSTEM_USER: &str = "postgres";

/// Failures to start or stop the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) found in {searched}. Install them \
         (Debian: `apt-get install postgresql`), point EGOV_PG_BINDIR at their directory, or set \
         DATABASE_URL to use an existing server"
    )]
    BinariesNotFound { searched: String },
    /// Running as root but there is no `postgres` user to run the cluster as.
    #[error(
        "PostgreSQL refuses to run as root and there is no '{SYSTEM_USER}' system user to run it as; \
         install PostgreSQL from the system's packages (which creates the user) or run egov as \
         another user"
    )]
    NoSystemUser,
    /// A file-system step failed.
    #[error("{doing} {path}")]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL command failed.
    #[error("`{command}` failed ({status}); its output:\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    /// The started cluster could not be reached.
    #[error("the embedded cluster started but cannot be reached")]
    Connect(#[source] tokio_postgres::Error),
}

/// A running embedded cluster.
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    as_system_user: bool,
    running: bool,
}

impl EmbeddedPostgres {
    /// Starts (creating it on first use) the cluster in `data_dir`, or adopts it if it is already
    /// running, and makes sure the service's database exists.
    ///
    /// # Errors
    /// [`EmbeddedError`] saying which step failed and, for missing binaries, how to install them.
    pub async fn start(data_dir: &Path, bindir: Option<&Path>) -> Result<Self, EmbeddedError> {
        let bindir = find_bindir(bindir)?;
        let as_system_user = running_as_root();
        if as_system_user && !system_user_exists() {
            return Err(EmbeddedError::NoSystemUser);
        }
        std::fs::create_dir_all(data_dir).map_err(|source| EmbeddedError::Io {
            doing: "cannot create the data directory",
            path: data_dir.to_owned(),
            source,
        })?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|source| EmbeddedError::Io {
                doing: "cannot resolve the data directory",
                path: data_dir.to_owned(),
                source,
            })?;
        let mut cluster = EmbeddedPostgres {
            data_dir,
            bindir,
            port: 0,
            as_system_user,
            running: false,
        };
        if as_system_user {
            cluster.hand_over_data_dir()?;
        }
        if !cluster.data_dir.join("PG_VERSION").exists() {
            tracing::info!(data_dir = %cluster.data_dir.display(), "creating the embedded PostgreSQL cluster");
            cluster.run(
                "initdb",
                &[
                    "-D",
                    &cluster.path(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
            )?;
        }
        match cluster.running_port() {
            Some(port) => {
                tracing::info!(
                    port,
                    "adopting the embedded PostgreSQL cluster that is already running"
                );
                cluster.port = port;
            }
            None => cluster.launch(None)?,
        }
        cluster.running = true;
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// Starts the cluster's server on 127.0.0.1, on `port` or else a free port. A free port is
    /// found by binding and letting go; should another process take it meanwhile, the server does
    /// not start and another port is tried.
    fn launch(&mut self, port: Option<u16>) -> Result<(), EmbeddedError> {
        let log = self
            .data_dir
            .join("postgres.log")
            .to_string_lossy()
            .into_owned();
        // Another free port is tried at most twice; a port asked for is tried once.
        let mut retries_left = if port.is_some() { 0 } else { 2 };
        loop {
            self.port = match port {
                Some(port) => port,
                None => free_port().map_err(|source| EmbeddedError::Io {
                    doing: "cannot find a free port for",
                    path: self.data_dir.clone(),
                    source,
                })?,
            };
            let options = format!("-p {} -h 127.0.0.1 -k ''", self.port);
            let args = [
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &self.path(),
                "-l",
                &log,
                "-o",
                &options,
            ];
            match self.run("pg_ctl", &args) {
                Ok(()) => break,
                Err(error) if retries_left > 0 && self.running_port().is_none() => {
                    retries_left -= 1;
                    tracing::warn!(port = self.port, error = %error, "the embedded PostgreSQL did not start; trying another port");
                }
                Err(error) => return Err(error),
            }
        }
        tracing::info!(port = self.port, data_dir = %self.data_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    /// Restarts the server on the same port after an immediate shutdown, as after a crash (the
    /// start recovers from the WAL): for fault tests.
    ///
    /// # Errors
    /// [`EmbeddedError::Command`] when `pg_ctl restart` fails.
    pub fn restart_immediately(&mut self) -> Result<(), EmbeddedError> {
        let log = self
            .data_dir
            .join("postgres.log")
            .to_string_lossy()
            .into_owned();
        let options = format!("-p {} -h 127.0.0.1 -k ''", self.port);
        let data_dir = self.path();
        self.run(
            "pg_ctl",
            &[
                "restart",
                "-w",
                "-t",
                "60",
                "-m",
                "immediate",
                "-D",
                &data_dir,
                "-l",
                &log,
                "-o",
                &options,
            ],
        )
    }

    /// Starts a streaming standby of this cluster in `data_dir` (emptied first), on `port` or
    /// else a free one: a base backup with the settings to follow this cluster, then the server.
    /// For the fault campaign's failover; the caller asks for synchronous replication.
    ///
    /// # Errors
    /// [`EmbeddedError`] saying which step failed.
    pub fn start_standby(
        &self,
        data_dir: &Path,
        port: Option<u16>,
    ) -> Result<EmbeddedPostgres, EmbeddedError> {
        let io = |doing| {
            move |source| EmbeddedError::Io {
                doing,
                path: data_dir.to_owned(),
                source,
            }
        };
        if data_dir.exists() {
            std::fs::remove_dir_all(data_dir)
                .map_err(io("cannot empty the standby's directory"))?;
        }
        std::fs::create_dir_all(data_dir).map_err(io("cannot create the standby's directory"))?;
        let mut standby = EmbeddedPostgres {
            data_dir: data_dir
                .canonicalize()
                .map_err(io("cannot resolve the standby's directory"))?,
            bindir: self.bindir.clone(),
            port: 0,
            as_system_user: self.as_system_user,
            running: false,
        };
        if standby.as_system_user {
            standby.hand_over_data_dir()?;
        }
        let source_port = self.port.to_string();
        standby.run(
            "pg_basebackup",
            &[
                "-D",
                &standby.path(),
                "-h",
                "127.0.0.1",
                "-p",
                &source_port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        // Under synchronous replication every commit waits while the standby is away, and a
        // standby whose primary restarted tries again only after `wal_retrieve_retry_interval`
        // (5 s by default): every commit then waited that long after each restart.
        let settings = standby.data_dir.join("postgresql.auto.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&settings)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, b"wal_retrieve_retry_interval = '200ms'\n")
            })
            .map_err(|source| EmbeddedError::Io {
                doing: "cannot set the standby's retry interval in",
                path: settings.clone(),
                source,
            })?;
        standby.launch(port)?;
        standby.running = true;
        Ok(standby)
    }

    /// Promotes this standby to a primary, waiting until it takes writes.
    ///
    /// # Errors
    /// [`EmbeddedError::Command`] when `pg_ctl promote` fails.
    pub fn promote(&self) -> Result<(), EmbeddedError> {
        self.run("pg_ctl", &["promote", "-w", "-t", "60", "-D", &self.path()])
    }

    /// Stops the server at once, without a checkpoint (`-m immediate`): its data directory is left
    /// as a crash leaves it. For the fault campaign, where this is the primary lost.
    ///
    /// # Errors
    /// [`EmbeddedError::Command`] when `pg_ctl stop` fails.
    pub fn crash(mut self) -> Result<(), EmbeddedError> {
        self.running = false;
        self.pg_ctl_stop("immediate")
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The URL of the service's database in the cluster.
    pub fn url(&self) -> String {
        self.url_as("postgres")
    }

    /// The service's database URL as `user` (the cluster trusts local logins).
    pub fn url_as(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The port the cluster listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the cluster (fast shutdown: open sessions are ended, committed data is kept).
    ///
    /// # Errors
    /// [`EmbeddedError::Command`] when `pg_ctl stop` fails.
    pub fn stop(mut self) -> Result<(), EmbeddedError> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<(), EmbeddedError> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        self.pg_ctl_stop("fast")?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    /// `pg_ctl stop` in `mode` (`fast`, `immediate`), waiting up to a minute.
    fn pg_ctl_stop(&self, mode: &str) -> Result<(), EmbeddedError> {
        self.run(
            "pg_ctl",
            &["stop", "-w", "-t", "60", "-m", mode, "-D", &self.path()],
        )
    }

    fn path(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    /// The port of a postmaster already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let status = self
            .command("pg_ctl", &["status", "-D", &self.path()])
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid: pid, data directory, start time, port, ...
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(EmbeddedError::Connect)?;
        let driver = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
            .await
            .map_err(EmbeddedError::Connect)?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await
                .map_err(EmbeddedError::Connect)?;
            tracing::info!(database = DATABASE, "created the service's database");
        }
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    /// Gives the data directory to the system user, and lets it reach the directory.
    fn hand_over_data_dir(&self) -> Result<(), EmbeddedError> {
        self.run_plain("chown", &["-R", &format!("{SYSTEM_USER}:"), &self.path()])?;
        let io = |doing| {
            move |source| EmbeddedError::Io {
                doing,
                path: PathBuf::new(),
                source,
            }
        };
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict the data directory"))?;
        for ancestor in self.data_dir.ancestors().skip(1) {
            let meta =
                std::fs::metadata(ancestor).map_err(io("cannot inspect a parent directory"))?;
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(mode | 0o001))
                    .map_err(io("cannot let the postgres user enter a parent directory"))?;
                tracing::warn!(
                    directory = %ancestor.display(),
                    "gave others the search (x) permission so that the postgres user can reach the data directory"
                );
            }
        }
        Ok(())
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let binary = self.bindir.join(program);
        if self.as_system_user {
            let mut command = Command::new("runuser");
            command
                .args(["-u", SYSTEM_USER, "--"])
                .arg(binary)
                .args(args);
            // The system user may not enter the caller's working directory.
            command.current_dir("/");
            command
        } else {
            let mut command = Command::new(binary);
            command.args(args);
            command
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), EmbeddedError> {
        checked(self.command(program, args), program, args)
    }

    fn run_plain(&self, program: &str, args: &[&str]) -> Result<(), EmbeddedError> {
        let mut command = Command::new(program);
        command.args(args);
        checked(command, program, args)
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(error) = self.stop_now() {
            tracing::error!(error.message = %error, "could not stop the embedded PostgreSQL");
        }
    }
}

fn checked(mut command: Command, program: &str, args: &[&str]) -> Result<(), EmbeddedError> {
    let shown = format!("{program} {}", args.join(" "));
    let output = command.output().map_err(|source| EmbeddedError::Io {
        doing: "cannot run",
        path: PathBuf::from(program),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(EmbeddedError::Command {
        command: shown,
        status: output.status.to_string(),
        output: text,
    })
}

/// The directory with `initdb` and `pg_ctl`: the configured one, else the newest
/// `/usr/lib/postgresql/N/bin` (Debian), else the `PATH`.
fn find_bindir(configured: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let has_binaries = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = configured {
        return if has_binaries(dir) {
            Ok(dir.to_owned())
        } else {
            Err(EmbeddedError::BinariesNotFound {
                searched: dir.display().to_string(),
            })
        };
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .map(|(_, dir)| dir)
        .chain(path_dirs)
        .find(|dir| has_binaries(dir))
        .ok_or_else(|| EmbeddedError::BinariesNotFound {
            searched: "/usr/lib/postgresql/*/bin and PATH".into(),
        })
}

/// Whether this process runs as root (effective uid 0), read from /proc to stay free of unsafe code.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

fn system_user_exists() -> bool {
    Command::new("id")
        .arg(SYSTEM_USER)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
