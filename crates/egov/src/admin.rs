//! The one-shot subcommands: `egov migrate`, `verify`, `replay --check`, `projections
//! run|rebuild|status` and, in development mode, `token`.

use std::process::ExitCode;

use anyhow::Context;
use api::settings::ProjectionSource;
use api::token::{Claims, DevKey, Role};
use api::Settings;
use domain::StreamId;
use event_store::EventStore;
use projections::{ReadModel, Through};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cli::ProjectionsCmd;

/// `egov migrate`: applies the migrations not yet applied, logged in as
/// `EGOV_MIGRATE_DATABASE_URL` (the schema's owner), or else as `DATABASE_URL`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = settings
        .migrate_database_url
        .as_deref()
        .or(settings.database_url.as_deref())
        .context("no database to migrate")?;
    let owner = event_store::DbSettings::from_url(url)?.config;
    let applied = event_store::migrate(&owner).await?;
    println!(
        "migrations applied: {}",
        if applied.is_empty() {
            "none (up to date)".into()
        } else {
            format!("{applied:?}")
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `egov log-key`: makes the log's signing key in `out` and prints its public key.
pub fn log_key(name: &str, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    if out.exists() {
        anyhow::bail!("{} exists; a log key is never replaced", out.display());
    }
    commands::results::log_key::create(out, name)?;
    let signer = commands::results::log_key::load(out)?;
    println!("{}", signer.verifier());
    Ok(ExitCode::SUCCESS)
}

/// `egov projections run|rebuild|status`.
pub async fn projections(
    settings: &Settings,
    what: ProjectionsCmd,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let db = api::app::open(settings).await?;
    match what {
        ProjectionsCmd::Run { source, only } => {
            let store = EventStore::new(db);
            let models = only.map_or(ReadModel::ALL.to_vec(), |model| vec![model]);
            let running = api::read_side::spawn(
                &store,
                source,
                settings.kafka.as_ref(),
                &models,
                tokio::sync::watch::channel(projections::Progress::default()).0,
                shutdown,
            )?;
            api::read_side::join(running).await;
        }
        ProjectionsCmd::Rebuild { model } => {
            let report = model.rebuild(&EventStore::new(db)).await?;
            eprintln!(
                "rebuilt {}: {} events in {:.2} s ({:.0} events/s), swap held the lock {:.1} ms",
                report.name,
                report.events,
                report.seconds,
                report.events_per_second,
                report.swap_ms
            );
            println!("{}", serde_json::to_string(&report)?);
        }
        ProjectionsCmd::Status => status(settings, &db).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `egov projections status`: each read model's lag (and the relay's and the Kafka offsets).
async fn status(settings: &Settings, db: &event_store::Database) -> anyhow::Result<()> {
    let mut lags = Vec::new();
    for model in ReadModel::ALL {
        lags.push(model.lag(db.pool()).await?);
    }
    let Some(kafka) = &settings.kafka else {
        println!("{}", serde_json::to_string(&lags)?);
        return Ok(());
    };
    let relay_name = projections::kafka::relay::checkpoint_name(&kafka.topic);
    let relay = projections::checkpoint::lag(db.pool(), &relay_name).await?;
    let mut offsets = serde_json::Map::new();
    for model in ReadModel::ALL {
        let stored =
            projections::kafka::source::offsets(db.pool(), model.name(), &kafka.topic).await?;
        offsets.insert(model.name().to_owned(), serde_json::to_value(stored)?);
    }
    println!(
        "{}",
        serde_json::json!({ "projectors": lags, "relay": relay, "kafka_offsets": offsets })
    );
    Ok(())
}

/// `egov replay --check`: every read model (or `only` one) replayed and compared; exit 4 when one
/// differs.
pub async fn replay_check(
    settings: &Settings,
    source: ProjectionSource,
    only: Option<ReadModel>,
) -> anyhow::Result<ExitCode> {
    let store = EventStore::new(api::app::open(settings).await?);
    let through = match source {
        ProjectionSource::Kafka => Through::End,
        ProjectionSource::Postgres | ProjectionSource::Off => Through::Checkpoint,
    };
    let mut reports = Vec::new();
    for model in only.map_or(ReadModel::ALL.to_vec(), |model| vec![model]) {
        reports.push(model.check(&store, through).await?);
    }
    println!("{}", serde_json::to_string_pretty(&reports)?);
    let mut consistent = true;
    for report in &reports {
        if report.is_consistent() {
            eprintln!(
                "{}: {} rows match the replay of {} events",
                report.name, report.rows, report.events
            );
        } else {
            consistent = false;
            for difference in &report.differences {
                eprintln!("DIFFERS: {} {}", report.name, difference.key);
            }
        }
    }
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}

/// `egov verify`: the hash chains of one stream, one request's, or all; exit 3 when one is broken.
/// It only reads: the database is not migrated first.
pub async fn verify(
    settings: &Settings,
    stream: Option<Uuid>,
    request: Option<String>,
) -> anyhow::Result<ExitCode> {
    let db = settings.db_settings()?.context("no database to verify")?;
    let store = EventStore::new(event_store::Database::connect(db)?);
    let stream = match request {
        Some(number) => {
            let parsed = domain::RequestNumber::parse(&number)
                .map_err(|e| anyhow::anyhow!("--request {number:?}: {e}"))?;
            let found = commands::Requests::new(store.clone()).find(&parsed).await?;
            Some(
                found
                    .ok_or_else(|| anyhow::anyhow!("no request has the number {number}"))?
                    .as_uuid(),
            )
        }
        None => stream,
    };
    let report = match stream {
        Some(id) => store.verify_stream(StreamId::from_uuid(id)).await?,
        None => store.verify_all().await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.is_intact() {
        eprintln!(
            "intact: {} events in {} streams",
            report.events, report.streams
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for broken in &report.breaks {
            eprintln!("BROKEN: {broken}");
        }
        Ok(ExitCode::from(3))
    }
}

/// `egov token`: a development token signed with the development key.
pub fn token(
    settings: &Settings,
    role: Role,
    sub: &str,
    ttl: &str,
    org: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !settings.jwt_public_keys.is_empty() {
        anyhow::bail!("EGOV_JWT_PUBLIC_KEYS is set: tokens come from the identity provider, not from `egov token`");
    }
    if settings.mode == api::settings::Mode::Production {
        anyhow::bail!("`egov token` is for EGOV_MODE=development only: in production tokens come from the identity provider");
    }
    let ttl = api::settings::parse_duration_with_hours(ttl).ok_or_else(|| {
        anyhow::anyhow!("--ttl {ttl:?}: expected a duration such as 1h, 30m or 90s")
    })?;
    let dev = DevKey::load_or_create(&settings.dev_key_path())?;
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        role,
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone(),
        exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        nbf: Some(now),
        iat: Some(now),
        org,
    };
    println!("{}", dev.sign(&claims)?);
    Ok(ExitCode::SUCCESS)
}
