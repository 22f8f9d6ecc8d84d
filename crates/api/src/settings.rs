//! Configuration, read once from the environment into typed values. Raw strings stop here: a bad
//! value stops startup with a message naming the variable and the form it expects. Every variable
//! and its default is in README.md's table.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use event_store::{DbError, DbSettings};
mod kafka;
use kafka::kafka_settings;

/// Everything `egov` is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `EGOV_MODE`: development conveniences (the development token and provider keys, the
    /// registry simulator, `egov token`) only in development; production refuses to start without
    /// the real thing. Defaults to development without `DATABASE_URL` (the embedded cluster),
    /// production with it.
    pub mode: Mode,
    /// `DATABASE_URL`: the PostgreSQL server, as the service's runtime login (a member of
    /// `egov_app` holding nothing itself); `None` starts the embedded cluster.
    pub database_url: Option<String>,
    /// `EGOV_MIGRATE_DATABASE_URL`: the same database as the schema's owner, who applies the
    /// migrations at start; `None` leaves them to `egov migrate` (in development, `DATABASE_URL`
    /// applies them).
    pub migrate_database_url: Option<String>,
    /// `EGOV_HTTP_ADDR`: where `egov serve` listens.
    pub http_addr: SocketAddr,
    /// `EGOV_DATA_DIR`: the embedded cluster's data directory.
    pub data_dir: PathBuf,
    /// `EGOV_PG_BINDIR`: where the PostgreSQL server binaries are; `None` searches the usual places.
    pub pg_bindir: Option<PathBuf>,
    /// `EGOV_DB_POOL_SIZE`: most connections to the database.
    pub db_pool_size: usize,
    /// `EGOV_DB_STATEMENT_TIMEOUT`: PostgreSQL's statement_timeout for the service's sessions.
    pub db_statement_timeout: Duration,
    /// `EGOV_DB_ROLE`: the role the service's sessions switch to (`none` to keep the login's).
    pub db_role: Option<String>,
    /// `EGOV_LOG_FORMAT`: how logs are written.
    pub log_format: LogFormat,
    /// `EGOV_JWT_PUBLIC_KEYS`: comma-separated PEM or JWKS (`.json`) files that tokens are checked
    /// against; unset, development mode trusts the development key ([`Settings::dev_key_path`]) and
    /// production refuses to start.
    pub jwt_public_keys: Vec<PathBuf>,
    /// `EGOV_JWT_ISSUER`: the `iss` tokens must carry.
    pub jwt_issuer: String,
    /// `EGOV_JWT_AUDIENCE`: the `aud` tokens must carry.
    pub jwt_audience: String,
    /// `EGOV_REGISTRY_URL`: the registries' HTTP endpoint; `None` starts the registry simulator
    /// in-process with the shipped fixture.
    pub registry_url: Option<String>,
    /// `EGOV_CALENDAR`: a working-day calendar file (the shape of the shipped
    /// `crates/domain/data/kz-calendar.json`) used instead of the compiled-in one.
    pub calendar: Option<PathBuf>,
    /// `EGOV_MESSAGES`: a message file (the shape of the shipped `crates/domain/data/messages.json`)
    /// used instead of the compiled-in texts.
    pub messages: Option<PathBuf>,
    /// `EGOV_TRUST_ANCHORS`: the CA certificates citizens' signatures must chain to (a PEM file
    /// or a directory of them). Unset: no signature can be trusted, and every one is refused.
    pub trust_anchors: Option<PathBuf>,
    /// `EGOV_OCSP_URL`: the OCSP responder to ask instead of the one in the certificate's AIA.
    pub ocsp_url: Option<String>,
    /// `EGOV_OCSP_MAX_AGE`: how old an OCSP answer without a nextUpdate may be.
    pub ocsp_max_age: Duration,
    /// `EGOV_CRL_URLS`: CRLs (comma-separated http(s) URLs or files) asked when OCSP gives no
    /// answer.
    pub crl_urls: Vec<String>,
    /// `EGOV_PROVIDER_KEY` and `EGOV_PROVIDER_CERT`: the key and certificate result documents are
    /// signed with (PEM). Unset: a development key beside the data directory.
    pub provider_key: Option<(PathBuf, PathBuf)>,
    /// `EGOV_LOG_KEY`: the file of the key the log's tree heads are signed with (a signed-note
    /// signer key, `PRIVATE+KEY+name+id+key`; `egov log-key` makes one). Unset: a development key
    /// beside the data directory.
    pub log_key: Option<PathBuf>,
    /// `EGOV_TREE_HEAD_EVERY`: how often the tree's head is signed while the log grows.
    pub tree_head_every: Duration,
    /// `EGOV_WITNESS_KEYS`: the witnesses whose cosignatures of tree heads the log keeps and
    /// serves (comma-separated cosignature keys, `name+id+base64(0x04 || key)`).
    pub witness_keys: Vec<domain::tree_head::cosignature::WitnessVerifier>,
    /// `EGOV_WORKFLOW`: whether `egov serve` runs the workflow too (`on`, the default, or `off`
    /// when separate `egov worker` processes drive requests).
    pub workflow: bool,
    /// `EGOV_WORKFLOW_CONCURRENCY`: requests one process drives at once.
    pub workflow_concurrency: usize,
    /// `EGOV_WRITES_PER_SECOND` and `EGOV_WRITE_BURST`: how fast one principal may write (filings,
    /// signatures, scans, surveys), and how many writes it may make at once after a pause.
    pub writes_per_second: NonZeroU32,
    pub write_burst: NonZeroU32,
    /// `EGOV_DAILY_FILINGS` and `EGOV_DAILY_FILINGS_OPERATOR`: how many requests a citizen, and an
    /// operator or medical user, may file in a day.
    pub daily_filings: u32,
    pub daily_filings_staff: u32,
    /// `EGOV_BODY_DEADLINE`: how long a request with a body may take from its head to its answer.
    pub body_deadline: Duration,
    /// `EGOV_SIGN_WITHIN`: how long a filed request waits for its signature before it ends as
    /// abandoned (docs/domain.md 3.6); 24h by default, from 10s to 720h.
    pub sign_within: Duration,
    /// `EGOV_DB_STALL_AFTER`: a database that does not answer the probe for this long counts as
    /// away, and requests needing it are answered 503 until it answers (`crate::db_watch`).
    pub db_stall_after: Duration,
    /// `EGOV_WORKFLOW_LEASE`: how long a worker holds a request without renewing; after a crash,
    /// another worker takes it over this long after the last renewal.
    pub workflow_lease: Duration,
    /// `EGOV_KAFKA_BROKERS` and the other `EGOV_KAFKA_*`: the Kafka cluster the relay publishes the
    /// log to; `None` (no brokers) runs on PostgreSQL alone.
    pub kafka: Option<projections::kafka::KafkaSettings>,
    /// `EGOV_KAFKA_STUCK_AFTER`: `/readyz` calls the relay stuck when events wait and its
    /// checkpoint has not moved for this long.
    pub kafka_stuck_after: Duration,
    /// `EGOV_READ_MODELS_STALE_AFTER`: `/readyz` calls the read models behind when one has not
    /// applied the log's newest event for this long.
    pub read_models_stale_after: Duration,
    /// `EGOV_PROJECTIONS`: where `egov serve`'s projectors read the events from.
    pub projections: ProjectionSource,
    /// `EGOV_READ_MODELS`: which read models `egov serve` keeps (comma-separated names; all by
    /// default), so that several processes can share them.
    pub read_models: Vec<projections::ReadModel>,
    /// Not a variable: the simulator's citizens (IIN, name) development sign-in offers.
    pub test_citizens: Vec<(domain::Iin, String)>,
}

/// Whether development conveniences may stand in for what production must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// A stand-in that only development mode takes, asked for in production.
#[derive(Debug, thiserror::Error)]
#[error("{variable} is not set, and EGOV_MODE=production takes no stand-in for it: {what}")]
pub struct NotInProduction {
    pub variable: &'static str,
    pub what: &'static str,
}

impl Settings {
    /// Allows the development stand-in for `variable` (described by `what`), with a warning, or
    /// refuses it in production.
    ///
    /// # Errors
    /// [`NotInProduction`] in production.
    pub fn development_only(
        &self,
        variable: &'static str,
        what: &'static str,
    ) -> Result<(), NotInProduction> {
        match self.mode {
            Mode::Development => {
                tracing::warn!(variable, "DEVELOPMENT MODE: {variable} is not set; {what}");
                Ok(())
            }
            Mode::Production => Err(NotInProduction { variable, what }),
        }
    }
}

/// Where projectors read the events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProjectionSource {
    /// The event log in PostgreSQL (the gap-free cursor).
    Postgres,
    /// The Kafka topic the relay publishes, in a consumer group.
    Kafka,
    /// Not in this process (`egov projections run` elsewhere).
    Off,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for development.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// `EGOV_MODE`, by default development without `DATABASE_URL` (the embedded cluster) and
/// production with it; production without `DATABASE_URL` is refused (the embedded cluster trusts
/// every local login).
fn mode(env: &Env<'_>) -> Result<Mode, SettingsError> {
    let database = (env.get)("DATABASE_URL").is_some();
    let default = if database {
        Mode::Production
    } else {
        Mode::Development
    };
    let mode = env.choice(
        "EGOV_MODE",
        "development or production",
        default,
        &[
            ("development", Some(Mode::Development)),
            ("production", Some(Mode::Production)),
        ],
    )?;
    if mode == Mode::Production && !database {
        return Err(SettingsError {
            variable: "DATABASE_URL",
            value: String::new(),
            expected: "a PostgreSQL URL: EGOV_MODE=production does not start the embedded cluster",
        });
    }
    Ok(mode)
}

/// A variable with a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is not valid: expected {expected}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] naming the first variable whose value cannot be used.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (tests pass a map).
    ///
    /// # Errors
    /// As [`Settings::from_env`].
    // Kept whole: one struct literal in which each variable stands beside its default and the
    // form it takes, as README's table lists them; split, a reader would look in two places.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env {
            get: &|name: &str| lookup(name).filter(|v| !v.trim().is_empty()),
        };
        let get = env.get;
        let mode = mode(&env)?;
        let kafka = kafka_settings(&get, mode)?;
        let projections = env.choice(
            "EGOV_PROJECTIONS",
            "postgres, off, or kafka (with EGOV_KAFKA_BROKERS set)",
            ProjectionSource::Postgres,
            &[
                ("postgres", Some(ProjectionSource::Postgres)),
                ("off", Some(ProjectionSource::Off)),
                ("kafka", kafka.is_some().then_some(ProjectionSource::Kafka)),
            ],
        )?;
        let list = |name| -> Vec<String> {
            get(name).map_or_else(Vec::new, |raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
        };
        Ok(Settings {
            read_models: env.parsed(
                "EGOV_READ_MODELS",
                "read model names separated by commas: request_status, data_access, analytics",
                projections::ReadModel::ALL.to_vec(),
                |raw| {
                    raw.split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .map(|name| name.parse().ok())
                        .collect()
                },
            )?,
            kafka_stuck_after: env.duration(
                "EGOV_KAFKA_STUCK_AFTER",
                "a duration of at least 1s, such as 60s",
                Duration::from_secs(60),
            )?,
            read_models_stale_after: env.duration(
                "EGOV_READ_MODELS_STALE_AFTER",
                "a duration of at least 1s, such as 30s",
                Duration::from_secs(30),
            )?,
            test_citizens: Vec::new(),
            kafka,
            projections,
            trust_anchors: get("EGOV_TRUST_ANCHORS").map(PathBuf::from),
            calendar: get("EGOV_CALENDAR").map(PathBuf::from),
            messages: get("EGOV_MESSAGES").map(PathBuf::from),
            ocsp_url: get("EGOV_OCSP_URL").map(|u| u.trim().to_owned()),
            ocsp_max_age: env.duration(
                "EGOV_OCSP_MAX_AGE",
                "a duration of at least 1s, such as 60m or 3600s",
                commands::adapters::nca::DEFAULT_OCSP_MAX_AGE,
            )?,
            crl_urls: list("EGOV_CRL_URLS"),
            provider_key: provider_key(&get)?,
            log_key: get("EGOV_LOG_KEY").map(PathBuf::from),
            witness_keys: list("EGOV_WITNESS_KEYS")
                .iter()
                .map(|key| {
                    domain::tree_head::cosignature::WitnessVerifier::parse(key).map_err(|_| {
                        SettingsError {
                            variable: "EGOV_WITNESS_KEYS",
                            value: key.clone(),
                            expected: "witness keys name+id+base64 (as `egov witness` prints \
                                       its own), separated by commas",
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
            tree_head_every: env.parsed(
                "EGOV_TREE_HEAD_EVERY",
                "a duration from 100ms to 10m, such as 5s",
                Duration::from_secs(5),
                |raw| {
                    parse_duration(raw).filter(|d| {
                        (Duration::from_millis(100)..=Duration::from_secs(600)).contains(d)
                    })
                },
            )?,
            workflow: env.choice(
                "EGOV_WORKFLOW",
                "on or off",
                true,
                &[("on", Some(true)), ("off", Some(false))],
            )?,
            workflow_concurrency: env.parsed(
                "EGOV_WORKFLOW_CONCURRENCY",
                "a whole number from 1 to 1024",
                128,
                |raw| raw.parse().ok().filter(|n| (1..=1024).contains(n)),
            )?,
            writes_per_second: env.parsed(
                "EGOV_WRITES_PER_SECOND",
                "a whole number from 1 to 100000",
                NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
                |raw| raw.parse().ok().filter(|n: &NonZeroU32| n.get() <= 100_000),
            )?,
            write_burst: env.parsed(
                "EGOV_WRITE_BURST",
                "a whole number from 1 to 100000",
                NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
                |raw| raw.parse().ok().filter(|n: &NonZeroU32| n.get() <= 100_000),
            )?,
            daily_filings: env.parsed(
                "EGOV_DAILY_FILINGS",
                "a whole number from 1 to 100000",
                commands::requests::DEFAULT_DAILY_FILINGS,
                |raw| raw.parse().ok().filter(|n| (1..=100_000).contains(n)),
            )?,
            daily_filings_staff: env.parsed(
                "EGOV_DAILY_FILINGS_OPERATOR",
                "a whole number from 1 to 100000",
                1000,
                |raw| raw.parse().ok().filter(|n| (1..=100_000).contains(n)),
            )?,
            body_deadline: env.duration(
                "EGOV_BODY_DEADLINE",
                "a duration of at least 1s, such as 120s",
                crate::limits::DEFAULT_BODY_DEADLINE,
            )?,
            sign_within: env.parsed(
                "EGOV_SIGN_WITHIN",
                "a duration from 10s to 720h, such as 24h",
                Duration::from_secs(24 * 3600),
                |raw| {
                    parse_duration_with_hours(raw).filter(|d| {
                        (Duration::from_secs(10)..=Duration::from_secs(720 * 3600)).contains(d)
                    })
                },
            )?,
            db_stall_after: env.parsed(
                "EGOV_DB_STALL_AFTER",
                "a duration from 100ms to 60s, such as 800ms",
                crate::db_watch::DEFAULT_STALL_AFTER,
                |raw| {
                    parse_duration(raw).filter(|d| {
                        (Duration::from_millis(100)..=Duration::from_secs(60)).contains(d)
                    })
                },
            )?,
            workflow_lease: env.duration(
                "EGOV_WORKFLOW_LEASE",
                "a duration of at least 1s, such as 30s",
                Duration::from_secs(30),
            )?,
            jwt_public_keys: match list("EGOV_JWT_PUBLIC_KEYS") {
                keys if keys.is_empty() && get("EGOV_JWT_PUBLIC_KEYS").is_some() => {
                    return Err(SettingsError {
                        variable: "EGOV_JWT_PUBLIC_KEYS",
                        value: get("EGOV_JWT_PUBLIC_KEYS").unwrap_or_default(),
                        expected: "PEM or JWKS files separated by commas, at least one",
                    })
                }
                keys => keys.into_iter().map(PathBuf::from).collect(),
            },
            registry_url: get("EGOV_REGISTRY_URL")
                .map(|u| u.trim().trim_end_matches('/').to_owned()),
            jwt_issuer: get("EGOV_JWT_ISSUER").unwrap_or_else(|| "egov-idp".into()),
            jwt_audience: get("EGOV_JWT_AUDIENCE").unwrap_or_else(|| "egov-events".into()),
            mode,
            database_url: get("DATABASE_URL"),
            migrate_database_url: get("EGOV_MIGRATE_DATABASE_URL"),
            http_addr: env.parsed(
                "EGOV_HTTP_ADDR",
                "a socket address such as 127.0.0.1:8080",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
                |raw| raw.parse().ok(),
            )?,
            data_dir: get("EGOV_DATA_DIR")
                .map_or_else(|| PathBuf::from("./.egov/pg"), PathBuf::from),
            pg_bindir: get("EGOV_PG_BINDIR").map(PathBuf::from),
            db_pool_size: env.parsed(
                "EGOV_DB_POOL_SIZE",
                "a whole number from 1 to 1000",
                16,
                |raw| raw.parse().ok().filter(|n| (1..=1000).contains(n)),
            )?,
            db_statement_timeout: env.parsed(
                "EGOV_DB_STATEMENT_TIMEOUT",
                "a duration such as 30s or 500ms",
                Duration::from_secs(30),
                parse_duration,
            )?,
            db_role: match get("EGOV_DB_ROLE") {
                Some(raw) if raw.trim() == "none" => None,
                Some(raw) => Some(raw.trim().to_owned()),
                None => Some(event_store::db::APP_ROLE.to_owned()),
            },
            log_format: env.choice(
                "EGOV_LOG_FORMAT",
                "text or json",
                LogFormat::Text,
                &[
                    ("text", Some(LogFormat::Text)),
                    ("json", Some(LogFormat::Json)),
                ],
            )?,
        })
    }
}

/// The environment as settings read it: a lookup of non-empty values, and the forms of value.
struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// `name` parsed by `parse` (given the trimmed value), `default` when unset.
    fn parsed<T>(
        &self,
        name: &'static str,
        expected: &'static str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, SettingsError> {
        match (self.get)(name) {
            Some(raw) => parse(raw.trim()).ok_or(SettingsError {
                variable: name,
                value: raw,
                expected,
            }),
            None => Ok(default),
        }
    }

    /// `name` as a duration of at least a second.
    fn duration(
        &self,
        name: &'static str,
        expected: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        self.parsed(name, expected, default, |raw| {
            parse_duration(raw).filter(|d| *d >= Duration::from_secs(1))
        })
    }

    /// `name` as one of `options` (`None` marks an option not allowed now).
    fn choice<T: Copy>(
        &self,
        name: &'static str,
        expected: &'static str,
        default: T,
        options: &[(&str, Option<T>)],
    ) -> Result<T, SettingsError> {
        self.parsed(name, expected, default, |raw| {
            options
                .iter()
                .find(|(option, _)| *option == raw)
                .and_then(|(_, value)| *value)
        })
    }
}

/// `EGOV_PROVIDER_KEY` and `EGOV_PROVIDER_CERT`: both or neither.
fn provider_key(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(PathBuf, PathBuf)>, SettingsError> {
    match (get("EGOV_PROVIDER_KEY"), get("EGOV_PROVIDER_CERT")) {
        (Some(key), Some(cert)) => Ok(Some((PathBuf::from(key), PathBuf::from(cert)))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(SettingsError {
            variable: "EGOV_PROVIDER_CERT",
            value: String::new(),
            expected: "the certificate of EGOV_PROVIDER_KEY (PEM); set both or neither",
        }),
        (None, Some(_)) => Err(SettingsError {
            variable: "EGOV_PROVIDER_KEY",
            value: String::new(),
            expected: "the private key of EGOV_PROVIDER_CERT (PEM); set both or neither",
        }),
    }
}

impl Settings {
    /// How to reach the database of `DATABASE_URL` with the pool settings of `EGOV_DB_*`; `None`
    /// without a URL (the binary then starts the embedded cluster and sets it).
    ///
    /// # Errors
    /// [`DbError::BadUrl`] when the URL is not a PostgreSQL URL.
    pub fn db_settings(&self) -> Result<Option<DbSettings>, DbError> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        let mut db = DbSettings::from_url(url)?;
        db.pool_size = self.db_pool_size;
        db.statement_timeout = self.db_statement_timeout;
        db.app_role.clone_from(&self.db_role);
        Ok(Some(db))
    }

    /// How the migrations log in: `EGOV_MIGRATE_DATABASE_URL`, or in development `DATABASE_URL`;
    /// `None` in production without the former (the migrations are then `egov migrate`'s).
    ///
    /// # Errors
    /// [`DbError::BadUrl`] when the URL is not a PostgreSQL URL.
    pub fn migration_config(&self) -> Result<Option<tokio_postgres::Config>, DbError> {
        let url = match (&self.migrate_database_url, self.mode) {
            (Some(url), _) => url,
            (None, Mode::Development) => match &self.database_url {
                Some(url) => url,
                None => return Ok(None),
            },
            (None, Mode::Production) => return Ok(None),
        };
        Ok(Some(DbSettings::from_url(url)?.config))
    }

    /// The development signing key: beside the data directory (not in it, so that `initdb` finds
    /// the directory empty), e.g. `./.egov/dev-jwt-es256.pem` for the default `./.egov/pg`.
    pub fn dev_key_path(&self) -> PathBuf {
        let parent = self
            .data_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        parent.join("dev-jwt-es256.pem")
    }

    /// Where the development provider key lives (beside the data directory, like the JWT key).
    pub fn dev_provider_dir(&self) -> PathBuf {
        self.dev_key_path()
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
    }

    /// Where development mode's certification authority lives (`egov dev-cert`; beside the data
    /// directory, like the development keys).
    pub fn dev_ca_dir(&self) -> PathBuf {
        self.dev_provider_dir().join("dev-ca")
    }
}

/// Parses durations as [`parse_duration`] does, and also `1h` (token lifetimes).
pub fn parse_duration_with_hours(raw: &str) -> Option<Duration> {
    match raw.trim().strip_suffix('h') {
        Some(hours) => hours
            .parse::<u64>()
            .ok()?
            .checked_mul(3600)
            .map(Duration::from_secs),
        None => parse_duration(raw),
    }
}

/// Parses `30s`, `500ms`, `2m` or a bare number of seconds. Written here rather than taken from
/// `humantime`, which refuses the bare number of seconds the README documents; the forms are few.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Settings read from `vars` alone (shared with the `EGOV_KAFKA_*` tests).
    pub(super) fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn settings_take_the_documented_defaults_when_nothing_is_set() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.http_addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(s.data_dir, PathBuf::from("./.egov/pg"));
        assert!(s.database_url.is_none());
        assert_eq!(s.db_pool_size, 16);
        assert_eq!(s.db_statement_timeout, Duration::from_secs(30));
        assert_eq!(s.db_role.as_deref(), Some("egov_app"));
        assert_eq!(s.log_format, LogFormat::Text);
        assert!(s.jwt_public_keys.is_empty());
        assert!(s.registry_url.is_none());
        assert!(s.kafka.is_none());
        assert_eq!(s.projections, ProjectionSource::Postgres);
        assert_eq!(s.read_models, projections::ReadModel::ALL);
        assert_eq!(s.dev_key_path(), PathBuf::from("./.egov/dev-jwt-es256.pem"));
    }

    #[test]
    fn read_models_are_chosen_by_name_and_an_unknown_one_is_refused() {
        let s = settings(&[("EGOV_READ_MODELS", "request_status, analytics")]).expect("valid");
        assert_eq!(
            s.read_models,
            [
                projections::ReadModel::RequestStatus,
                projections::ReadModel::Analytics
            ]
        );
        let error = settings(&[("EGOV_READ_MODELS", "request_status,status")]).expect_err("bad");
        assert_eq!(error.variable, "EGOV_READ_MODELS");
    }

    #[test]
    fn kafka_settings_take_their_defaults_and_overrides() {
        let s = settings(&[
            ("EGOV_KAFKA_BROKERS", " 127.0.0.1:9092 "),
            ("EGOV_PROJECTIONS", "kafka"),
        ])
        .expect("kafka");
        let kafka = s.kafka.expect("brokers set");
        assert_eq!(kafka.brokers, "127.0.0.1:9092");
        assert_eq!(kafka.topic, "egov.request-events");
        assert_eq!(kafka.partitions, 6);
        assert_eq!(
            kafka.group("request_status"),
            "egov-projections.request_status"
        );
        assert_eq!(s.projections, ProjectionSource::Kafka);
        let s = settings(&[
            ("EGOV_KAFKA_BROKERS", "a:1,b:2"),
            ("EGOV_KAFKA_TOPIC", "egov.test_1"),
            ("EGOV_KAFKA_PARTITIONS", "12"),
            ("EGOV_KAFKA_SESSION_TIMEOUT", "6s"),
        ])
        .expect("overrides");
        let kafka = s.kafka.expect("brokers set");
        assert_eq!(
            (kafka.topic.as_str(), kafka.partitions),
            ("egov.test_1", 12)
        );
        assert_eq!(kafka.session_timeout, Duration::from_secs(6));
    }

    #[test]
    fn settings_name_the_variable_when_a_value_is_bad() {
        for (variable, value) in [
            ("EGOV_HTTP_ADDR", "localhost"),
            ("EGOV_DB_POOL_SIZE", "0"),
            ("EGOV_DB_STATEMENT_TIMEOUT", "soon"),
            ("EGOV_LOG_FORMAT", "xml"),
            ("EGOV_WORKFLOW", "maybe"),
            ("EGOV_WORKFLOW_CONCURRENCY", "0"),
            ("EGOV_WORKFLOW_LEASE", "100ms"),
            ("EGOV_KAFKA_STUCK_AFTER", "0s"),
            ("EGOV_READ_MODELS_STALE_AFTER", "soon"),
            // Reading the projections from Kafka needs a broker.
            ("EGOV_PROJECTIONS", "kafka"),
        ] {
            let error = settings(&[(variable, value)]).expect_err(variable);
            assert_eq!(error.variable, variable);
        }
        for (variable, value) in [
            ("EGOV_KAFKA_TOPIC", "events/all"),
            ("EGOV_KAFKA_PARTITIONS", "0"),
            ("EGOV_KAFKA_REPLICATION", "x"),
            ("EGOV_KAFKA_SESSION_TIMEOUT", "10ms"),
        ] {
            let error = settings(&[("EGOV_KAFKA_BROKERS", "127.0.0.1:9092"), (variable, value)])
                .expect_err(variable);
            assert_eq!(error.variable, variable);
        }
        // Half a provider key names the half that is missing.
        let error = settings(&[("EGOV_PROVIDER_CERT", "cert.pem")]).expect_err("half a key");
        assert_eq!(error.variable, "EGOV_PROVIDER_KEY");
    }

    #[test]
    fn development_mode_is_only_had_by_asking_or_by_the_embedded_default() {
        let url = ("DATABASE_URL", "postgres://egov@db/egov");
        assert_eq!(settings(&[]).expect("defaults").mode, Mode::Development);
        assert_eq!(settings(&[url]).expect("a database").mode, Mode::Production);
        let asked = settings(&[url, ("EGOV_MODE", "development")]).expect("asked for");
        assert_eq!(asked.mode, Mode::Development);
        // Production never starts the embedded cluster.
        let error = settings(&[("EGOV_MODE", "production")]).expect_err("no database");
        assert_eq!(error.variable, "DATABASE_URL");
        // A variable set to nothing usable is an error, not a fall back to development.
        for value in [",", " , ,"] {
            let error = settings(&[url, ("EGOV_JWT_PUBLIC_KEYS", value)]).expect_err(value);
            assert_eq!(error.variable, "EGOV_JWT_PUBLIC_KEYS");
        }
        let error = settings(&[("EGOV_MODE", "dev")]).expect_err("a mode");
        assert_eq!(error.variable, "EGOV_MODE");
        let production = settings(&[url]).expect("production");
        let refused = production.development_only("EGOV_REGISTRY_URL", "the simulator");
        assert_eq!(
            refused.map_err(|e| e.variable).err(),
            Some("EGOV_REGISTRY_URL")
        );
    }

    #[test]
    fn the_database_stall_bound_is_taken_within_its_range_and_refused_outside_it() {
        let stall = |raw: &str| settings(&[("EGOV_DB_STALL_AFTER", raw)]).map(|s| s.db_stall_after);
        assert_eq!(
            settings(&[]).expect("defaults").db_stall_after,
            Duration::from_millis(800)
        );
        assert_eq!(stall("250ms").expect("taken"), Duration::from_millis(250));
        assert_eq!(stall("5s").expect("taken"), Duration::from_secs(5));
        for bad in ["50ms", "2m", "soon"] {
            let error = stall(bad).expect_err(bad).to_string();
            assert!(error.contains("EGOV_DB_STALL_AFTER"), "{bad}: {error}");
        }
    }

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("1h"), None);
    }
}
