//! `egov replay --check`: a read model replayed from the log into a temporary table and compared
//! row by row with the stored one, so an auditor can trust (or distrust) what the views show.
//!
//! The check holds the projector's lock for its duration (the live projector waits, readers do
//! not), replays exactly the events up to the stored checkpoint, and rolls everything back: it
//! writes nothing.

use commands::EventStore;
use domain::Cursor;
use serde::Serialize;

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
    pub rows: i64,
    /// How many rows differ.
    pub differing: i64,
    /// The first of them (at most 100), by key.
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

/// Replays `projector` from the first event up to `through` and compares the result with the
/// stored rows, keyed by `key` (a column of the table).
///
/// # Errors
/// When reading the log or the tables fails.
pub async fn check<P: Projector>(
    store: &EventStore,
    projector: &P,
    key: &str,
    through: Through,
) -> Result<CheckReport, ProjectionError> {
    let name = projector.name();
    let live = projector.table();
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
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE {name}_check (LIKE {live} INCLUDING DEFAULTS) ON COMMIT DROP"
    ))
    .await
    .map_err(ProjectionError::database("creating the replay table"))?;
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
        projector.apply(&tx, &scratch, &upto, None).await?;
        events += upto.len() as u64;
        after = upto.last().map_or(cursor, |e| e.cursor);
    }
    let database = ProjectionError::database("comparing the replay with the stored rows");
    let rows: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {live}"), &[])
        .await
        .map_err(database)?
        .get(0);
    let differing_sql = format!(
        "FROM {live} s FULL JOIN {scratch} r ON s.{key} = r.{key}
         WHERE to_jsonb(s) IS DISTINCT FROM to_jsonb(r)"
    );
    let differing: i64 = tx
        .query_one(&format!("SELECT count(*) {differing_sql}"), &[])
        .await
        .map_err(database)?
        .get(0);
    let listed = tx
        .query(
            &format!(
                "SELECT coalesce(s.{key}, r.{key})::text, to_jsonb(s), to_jsonb(r) {differing_sql}
                 ORDER BY 1 LIMIT {MAX_LISTED}"
            ),
            &[],
        )
        .await
        .map_err(database)?;
    let differences = listed
        .iter()
        .map(|row| RowDifference {
            key: row.get(0),
            stored: row.get(1),
            replayed: row.get(2),
        })
        .collect();
    tx.rollback()
        .await
        .map_err(ProjectionError::database("ending a check"))?;
    Ok(CheckReport {
        name: name.to_owned(),
        cursor,
        events,
        rows,
        differing,
        differences,
    })
}
