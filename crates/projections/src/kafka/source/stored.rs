//! What PostgreSQL keeps of the Kafka-sourced projectors for others to read: where each stands
//! in the topic's partitions, and how many messages they parked.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::ProjectionError;

/// Where the projector of `projector` stands in each partition of `topic`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PartitionOffset {
    pub partition: i32,
    /// The offset of the next message to apply.
    pub next_offset: i64,
    /// When the newest event applied from the partition was recorded in the log.
    pub last_recorded_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The stored offsets of `projector` on `topic`.
///
/// # Errors
/// When the database fails.
pub async fn offsets(
    pool: &Pool,
    projector: &str,
    topic: &str,
) -> Result<Vec<PartitionOffset>, ProjectionError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT partition, next_offset, last_recorded_at, updated_at \
               FROM projections.kafka_offsets WHERE projector = $1 AND topic = $2 \
              ORDER BY partition",
            &[&projector, &topic],
        )
        .await
        .map_err(ProjectionError::database("reading Kafka offsets"))?;
    Ok(rows
        .iter()
        .map(|row| PartitionOffset {
            partition: row.get(0),
            next_offset: row.get(1),
            last_recorded_at: row.get(2),
            updated_at: row.get(3),
        })
        .collect())
}

/// How many messages the Kafka-sourced projectors have parked (all projectors and topics).
///
/// # Errors
/// When the database fails.
pub async fn parked(pool: &Pool) -> Result<i64, ProjectionError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM projections.kafka_parked", &[])
        .await
        .map_err(ProjectionError::database("counting parked Kafka messages"))?;
    Ok(row.get(0))
}
