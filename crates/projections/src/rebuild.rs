//! Rebuilding a read model from the first event, with no moment in which readers see it empty or
//! half-built.
//!
//! The events are applied into shadow tables (`<name>_rebuild<suffix>`, created `LIKE` the live
//! ones, so with the same columns, indexes and constraints) while the live tables keep serving and
//! the live projector keeps running. Then one transaction takes the projector's lock (the live
//! projector waits), applies what was appended meanwhile, swaps the shadow tables in and sets the
//! checkpoint. A table that only this service reads is renamed into place (a reader that arrives
//! during the swap waits for it, milliseconds); one read by views of other schemas gets the
//! shadow's rows in place of its own, so the views keep their table ([`Swap`]). Readers see the
//! old rows up to that commit and the new ones after it.

use std::time::{Duration, Instant};

use domain::Cursor;
use event_store::EventStore;
use serde::Serialize;

use crate::tables::{Swap, Table};
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

/// The live and the shadow name of each of a read model's tables, schema-qualified.
fn table_names(name: &str, tables: &[Table]) -> Vec<(String, String)> {
    tables
        .iter()
        .map(|t| {
            (
                format!("{}.{name}{}", crate::SCHEMA, t.suffix),
                format!("{}.{name}_rebuild{}", crate::SCHEMA, t.suffix),
            )
        })
        .collect()
}

/// Rebuilds the read model of `projector` (whose tables are `tables`, the main one first) from the
/// first event into shadow tables, and swaps them in as `swap` says.
///
/// # Errors
/// When reading the log or writing the shadow tables fails; the live tables are untouched then.
pub async fn rebuild<P: Projector>(
    store: &EventStore,
    projector: &P,
    tables: &[Table],
    swap: Swap,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let name = projector.name();
    let names = table_names(name, tables);
    let shadow = format!("{}.{name}_rebuild", crate::SCHEMA);
    let mut client = store.database().pool().get().await?;
    for (live, shadow) in &names {
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {shadow}; CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL)"
            ))
            .await
            .map_err(ProjectionError::database("creating a shadow table"))?;
    }
    tracing::info!(read_model = name, shadow = %shadow, "rebuilding from the first event");
    // Fill the shadow tables while the live ones serve.
    let (mut cursor, mut events) = fill(store, projector, &mut client, &shadow).await?;
    // Swap: under the projector's lock, catch up and swap in one transaction.
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
    tx.batch_execute(&swap_sql(&names, swap))
        .await
        .map_err(ProjectionError::database("swapping the rebuilt tables in"))?;
    let stored = i64::try_from(events).unwrap_or(i64::MAX);
    checkpoint::store(&tx, name, cursor, stored, true).await?;
    tx.commit()
        .await
        .map_err(ProjectionError::database("committing the swap"))?;
    let report = RebuildReport {
        name: name.to_owned(),
        events,
        cursor,
        seconds: started.elapsed().as_secs_f64(),
        events_per_second: events as f64
            / started
                .elapsed()
                .max(Duration::from_micros(1))
                .as_secs_f64(),
        swap_ms: swap_started.elapsed().as_secs_f64() * 1000.0,
    };
    tracing::info!(
        read_model = name,
        events,
        seconds = report.seconds,
        swap_ms = report.swap_ms,
        "rebuilt and swapped in"
    );
    Ok(report)
}

/// Applies the whole log, batch by batch, to the shadow tables (main one `shadow`); where it
/// ended and how many events it read.
async fn fill<P: Projector>(
    store: &EventStore,
    projector: &P,
    client: &mut deadpool_postgres::Object,
    shadow: &str,
) -> Result<(Cursor, u64), ProjectionError> {
    let (mut cursor, mut events) = (Cursor::START, 0u64);
    loop {
        let page = store.read_all(cursor, BATCH).await?;
        if page.events.is_empty() {
            return Ok((cursor, events));
        }
        let tx = client
            .transaction()
            .await
            .map_err(ProjectionError::database("starting a rebuild batch"))?;
        projector.apply(&tx, shadow, &page.events, None).await?;
        tx.commit()
            .await
            .map_err(ProjectionError::database("committing a rebuild batch"))?;
        events += page.events.len() as u64;
        cursor = page.next;
        if events % 100_000 < u64::from(BATCH) {
            tracing::info!(read_model = projector.name(), events, "rebuilding");
        }
    }
}

/// The statements that put each shadow table in its live table's place.
fn swap_sql(names: &[(String, String)], swap: Swap) -> String {
    names
        .iter()
        .map(|(live, shadow)| match swap {
            Swap::Rename => {
                let bare = live.rsplit('.').next().unwrap_or(live);
                format!(
                    "ALTER TABLE {live} RENAME TO {bare}_old; \
                     ALTER TABLE {shadow} RENAME TO {bare}; \
                     DROP TABLE {live}_old;"
                )
            }
            Swap::Copy => format!(
                "DELETE FROM {live}; INSERT INTO {live} SELECT * FROM {shadow}; DROP TABLE {shadow};"
            ),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
