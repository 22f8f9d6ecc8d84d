//! Reads of a citizen's data by anyone but the citizen (DOMAIN.md, "who looked at my data"): each
//! is a fact, recorded as a `DataAccessed` event naming who read what about whom, in which role and
//! organisation, and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The stored type name of the event.
pub const EVENT_TYPE: &str = "DataAccessed";
/// Its schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// Someone read a citizen's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAccessed {
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
