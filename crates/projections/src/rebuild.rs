//! Rebuilding a read model from the first event, with no moment in which readers see it empty or
//! half-built.
//!
//! The events are applied into a shadow table (`<name>_rebuild`, created `LIKE` the live one, so
//! with the same columns, indexes and constraints) while the live table keeps serving and the live
//! projector keeps running. Then one transaction takes the projector's lock (the live projector
//! waits), applies what was appended meanwhile, renames the shadow table into place, drops the old
//! one and sets the checkpoint. Readers see the old table up to that commit and the new one after
//! it; a reader that arrives during the swap waits for it (milliseconds).

use std::time::{Duration, Instant};

use commands::EventStore;
use domain::Cursor;
use serde::Serialize;

use crate::{checkpoint, ProjectionError, Projector};

/// Events read from the log per batch.
const BATCH: u32 = 10_000;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebuildReport {
    pub name: String,
    /// Events read from the log.
    pub events: u64,
    /// The checkpoint the rebuilt read model stands at.
    pub cursor: Cursor,
    pub seconds: f64,
    /// Events per second over the whole rebuild.
    pub events_per_second: f64,
    /// How long the final swap held the projector's lock.
    pub swap_ms: f64,
}

/// Rebuilds the read model of `projector` from the first event and swaps it in.
///
/// # Errors
/// When reading the log or writing the shadow table fails; the live table is untouched then.
pub async fn rebuild<P: Projector>(
    store: &EventStore,
    projector: &P,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let name = projector.name();
    let live = projector.table();
    let shadow_name = format!("{name}_rebuild");
    let shadow = format!("{}.{shadow_name}", crate::SCHEMA);
    let mut client = store.database().pool().get().await?;
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {shadow}; CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL)"
        ))
        .await
        .map_err(ProjectionError::database("creating the shadow table"))?;
    tracing::info!(read_model = name, shadow = %shadow, "rebuilding from the first event");

    let mut cursor = Cursor::START;
    let mut events = 0u64;
    // Fill the shadow table while the live one serves.
    loop {
        let page = store.read_all(cursor, BATCH).await?;
        if page.events.is_empty() {
            break;
        }
        let tx = client
            .transaction()
            .await
            .map_err(ProjectionError::database("starting a rebuild batch"))?;
        projector.apply(&tx, &shadow, &page.events, None).await?;
        tx.commit()
            .await
            .map_err(ProjectionError::database("committing a rebuild batch"))?;
        events += page.events.len() as u64;
        cursor = page.next;
        if events % 100_000 < u64::from(BATCH) {
            tracing::info!(read_model = name, events, "rebuilding");
        }
    }

    // Swap: under the projector's lock, catch up and rename in one transaction.
    let swap_started = Instant::now();
    let tx = client
        .transaction()
        .await
        .map_err(ProjectionError::database("starting the swap"))?;
    checkpoint::lock(&tx, name).await?;
    loop {
        let page = store.read_all(cursor, BATCH).await?;
        if page.events.is_empty() {
            break;
        }
        projector.apply(&tx, &shadow, &page.events, None).await?;
        events += page.events.len() as u64;
        cursor = page.next;
    }
    tx.batch_execute(&format!(
        "ALTER TABLE {live} RENAME TO {name}_old; \
         ALTER TABLE {shadow} RENAME TO {name}; \
         DROP TABLE {schema}.{name}_old",
        schema = crate::SCHEMA
    ))
    .await
    .map_err(ProjectionError::database("swapping the rebuilt table in"))?;
    checkpoint::store(
        &tx,
        name,
        cursor,
        i64::try_from(events).unwrap_or(i64::MAX),
        true,
    )
    .await?;
    tx.commit()
        .await
        .map_err(ProjectionError::database("committing the swap"))?;
    let swap = swap_started.elapsed();
    let seconds = started.elapsed().as_secs_f64();
    let report = RebuildReport {
        name: name.to_owned(),
        events,
        cursor,
        seconds,
        events_per_second: events as f64 / seconds.max(Duration::from_micros(1).as_secs_f64()),
        swap_ms: swap.as_secs_f64() * 1000.0,
    };
    tracing::info!(
        read_model = name,
        events,
        seconds,
        swap_ms = report.swap_ms,
        "rebuilt and swapped in"
    );
    Ok(report)
}
