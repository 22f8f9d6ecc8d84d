//! `egov replay --check`: a read model replayed from the log into temporary tables and compared
//! row by row with the stored ones, so an auditor can trust (or distrust) what the views show.
//!
//! The check holds the projector's lock for its duration (the live projector waits, readers do
//! not), replays exactly the events up to the stored checkpoint, and rolls everything back: it
//! writes nothing.

use domain::Cursor;
use event_store::EventStore;
use serde::Serialize;

use crate::tables::{Table, Unpacked};
use crate::{checkpoint, ProjectionError, Projector};

/// Events read from the log per batch.
const BATCH: u32 = 10_000;
/// The most differing rows a report lists (the count goes on).
const MAX_LISTED: i64 = 100;

/// A row that differs between the stored read model and its replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowDifference {
    pub key: String,
    /// The stored row (`None`: missing from the stored read model).
    pub stored: Option<serde_json::Value>,
    /// The replayed row (`None`: the stored read model has a row the log does not make).
    pub replayed: Option<serde_json::Value>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub name: String,
    /// The checkpoint the stored read model stands at, up to which the log was replayed.
    pub cursor: Cursor,
    pub events: u64,
    /// Rows stored (in all its tables).
    pub rows: i64,
    /// How many rows differ.
    pub differing: i64,
    /// The first of them (at most 100 per table), by key.
    pub differences: Vec<RowDifference>,
}

impl CheckReport {
    pub fn is_consistent(&self) -> bool {
        self.differing == 0
    }
}

/// How far [`check`] replays the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Through {
    /// Up to the projector's checkpoint (a read model fed from the log).
    Checkpoint,
    /// To the end of the log: a read model fed from Kafka has no place in the log's order, so it
    /// is checked once it has caught up.
    End,
}

/// Replays `projector` (whose tables are `tables`, the main one first) from the first event up to
/// `through` into temporary tables, and compares each with the stored one row by row, by its key.
///
/// # Errors
/// When reading the log or the tables fails.
pub async fn check<P: Projector>(
    store: &EventStore,
    projector: &P,
    tables: &[Table],
    through: Through,
) -> Result<CheckReport, ProjectionError> {
    let name = projector.name();
    let scratch = format!("pg_temp.{name}_check");
    let mut client = store.database().pool().get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(ProjectionError::database("starting a check"))?;
    let checkpoint = checkpoint::lock(&tx, name).await?;
    let cursor = match through {
        Through::Checkpoint => checkpoint,
        Through::End => Cursor::new(i64::MAX, i64::MAX),
    };
    for table in tables {
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {name}_check{suffix} (LIKE {schema}.{name}{suffix} INCLUDING ALL) ON COMMIT DROP",
            suffix = table.suffix,
            schema = crate::SCHEMA,
        ))
        .await
        .map_err(ProjectionError::database("creating a replay table"))?;
    }
    let events = replay(store, projector, &tx, &scratch, cursor).await?;
    let mut report = CheckReport {
        name: name.to_owned(),
        cursor,
        events,
        rows: 0,
        differing: 0,
        differences: Vec::new(),
    };
    for table in tables {
        compare(&tx, name, table, tables.len() > 1, &mut report).await?;
    }
    tx.rollback()
        .await
        .map_err(ProjectionError::database("ending a check"))?;
    Ok(report)
}

/// Applies the log up to `cursor` to the scratch tables; how many events it read.
async fn replay<P: Projector>(
    store: &EventStore,
    projector: &P,
    tx: &deadpool_postgres::Transaction<'_>,
    scratch: &str,
    cursor: Cursor,
) -> Result<u64, ProjectionError> {
    let mut after = Cursor::START;
    let mut events = 0u64;
    while after < cursor {
        let page = store.read_all(after, BATCH).await?;
        let upto: Vec<_> = page
            .events
            .into_iter()
            .filter(|e| e.cursor <= cursor)
            .collect();
        if upto.is_empty() {
            break;
        }
        projector.apply(tx, scratch, &upto, None).await?;
        events += upto.len() as u64;
        after = upto.last().map_or(cursor, |e| e.cursor);
    }
    Ok(events)
}

/// Compares one stored table with its replay and adds what differs to `report` (keys are prefixed
/// with the table's name when a read model has several tables). A table of packed rows is compared
/// as its function unpacks them.
async fn compare(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    table: &Table,
    named: bool,
    report: &mut CheckReport,
) -> Result<(), ProjectionError> {
    let stored = format!("{}.{name}{}", crate::SCHEMA, table.suffix);
    let replayed = format!("pg_temp.{name}_check{}", table.suffix);
    let (live, scratch, keys, suffix) = match table.unpacked {
        None => (stored, replayed, table.key, table.suffix),
        Some(Unpacked {
            function,
            label,
            key,
        }) => (
            format!("{function}('{stored}')"),
            format!("{function}('{replayed}')"),
            key,
            label,
        ),
    };
    let columns = keys.join(", ");
    let key = keys
        .iter()
        .map(|k| format!("coalesce(s.{k}, r.{k})::text"))
        .collect::<Vec<_>>()
        .join(" || '/' || ");
    let label = if named {
        format!("'{name}{suffix}:' || ")
    } else {
        String::new()
    };
    let database = ProjectionError::database("comparing the replay with the stored rows");
    let rows: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {live}"), &[])
        .await
        .map_err(database)?
        .get(0);
    let differing_sql = format!(
        "FROM {live} s FULL JOIN {scratch} r ON ({s}) = ({r})
         WHERE to_jsonb(s) IS DISTINCT FROM to_jsonb(r)",
        s = keys
            .iter()
            .map(|k| format!("s.{k}"))
            .collect::<Vec<_>>()
            .join(", "),
        r = keys
            .iter()
            .map(|k| format!("r.{k}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let differing: i64 = tx
        .query_one(&format!("SELECT count(*) {differing_sql}"), &[])
        .await
        .map_err(database)?
        .get(0);
    let listed = tx
        .query(
            &format!(
                "SELECT {label}{key}, to_jsonb(s), to_jsonb(r) {differing_sql}
                 ORDER BY 1 LIMIT {MAX_LISTED}"
            ),
            &[],
        )
        .await
        .map_err(database)?;
    tracing::debug!(table = %live, key = %columns, rows, differing, "compared with the replay");
    report.rows += rows;
    report.differing += differing;
    report
        .differences
        .extend(listed.iter().map(|row| RowDifference {
            key: row.get(0),
            stored: row.get(1),
            replayed: row.get(2),
        }));
    Ok(())
}
