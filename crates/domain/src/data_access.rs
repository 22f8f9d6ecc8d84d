//! Reads of a citizen's data by anyone but the citizen ("who looked at my data"): each is a fact
//! naming who read what about whom, in which role and organisation, and why. They are recorded in
//! `DataAccessed` events of up to [`MAX_READS_PER_EVENT`] reads each, so that recording a read costs
//! the log a small share of one event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The stored type name of the event.
pub const EVENT_TYPE: &str = "DataAccessed";
/// Its schema version.
pub const SCHEMA_VERSION: u32 = 1;
/// The most reads one event carries (about 300 bytes each, well inside an event's limit).
pub const MAX_READS_PER_EVENT: usize = 250;

/// Reads of citizens' data, in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAccessed {
    pub reads: Vec<DataRead>,
}

/// Someone read a citizen's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRead {
    /// The citizen whose data was read.
    pub subject: Iin,
    /// Who read it (the token's subject).
    pub reader: String,
    /// In which role (`operator`, `auditor`, `medical`, `analyst`).
    pub role: String,
    pub organisation: Option<String>,
    /// What was read, e.g. `request:20261123000001`, `result:20261123000001`.
    pub what: String,
    /// Why, as the client said (`X-Purpose`).
    pub purpose: Option<String>,
    /// When it was read (the events of a batch are recorded a little later).
    pub at: DateTime<Utc>,
}
