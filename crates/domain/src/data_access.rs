//! Reads of a citizen's data by anyone but the citizen ("who looked at my data"): each is a fact
//! naming who read what about whom, in which role and organisation, and why. They are recorded in
//! `DataAccessed` events of up to [`MAX_READS_PER_EVENT`] reads each, so that recording a read costs
//! the log a small share of one event. Stored, the reads are grouped by who read them and why
//! (schema version 2), so that an operator's many reads name the operator once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The stored type name of the event.
pub const EVENT_TYPE: &str = "DataAccessed";
/// Its schema version: 2 groups the reads by reader and purpose; 1 listed every read whole.
pub const SCHEMA_VERSION: u32 = 2;
/// The most reads one event carries (at most about 350 bytes each when no two share a reader,
/// so an event stays well inside the 256 KiB limit).
pub const MAX_READS_PER_EVENT: usize = 500;

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

/// The stored form of schema version 2.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    groups: Vec<Group>,
}

/// Reads by one reader, in one role and organisation, for one purpose.
#[derive(Debug, Serialize, Deserialize)]
struct Group {
    reader: String,
    role: String,
    organisation: Option<String>,
    purpose: Option<String>,
    reads: Vec<Read>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Read {
    subject: Iin,
    what: String,
    at: DateTime<Utc>,
}

impl DataAccessed {
    /// The payload to store (schema version [`SCHEMA_VERSION`]): the reads grouped by who read
    /// them and why, each group in the order of its first read.
    pub fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut groups: Vec<Group> = Vec::new();
        for read in &self.reads {
            let same = |g: &&mut Group| {
                g.reader == read.reader
                    && g.role == read.role
                    && g.organisation == read.organisation
                    && g.purpose == read.purpose
            };
            let entry = Read {
                subject: read.subject.clone(),
                what: read.what.clone(),
                at: read.at,
            };
            match groups.iter_mut().find(same) {
                Some(group) => group.reads.push(entry),
                None => groups.push(Group {
                    reader: read.reader.clone(),
                    role: read.role.clone(),
                    organisation: read.organisation.clone(),
                    purpose: read.purpose.clone(),
                    reads: vec![entry],
                }),
            }
        }
        serde_json::to_value(Stored { groups })
    }

    /// The reads of a stored payload of `schema_version` 1 or 2.
    pub fn from_payload(
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        if schema_version < 2 {
            return serde_json::from_value(payload);
        }
        let stored: Stored = serde_json::from_value(payload)?;
        let reads = stored
            .groups
            .into_iter()
            .flat_map(|group| {
                let Group {
                    reader,
                    role,
                    organisation,
                    purpose,
                    reads,
                } = group;
                reads.into_iter().map(move |read| DataRead {
                    subject: read.subject,
                    reader: reader.clone(),
                    role: role.clone(),
                    organisation: organisation.clone(),
                    what: read.what,
                    purpose: purpose.clone(),
                    at: read.at,
                })
            })
            .collect();
        Ok(DataAccessed { reads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn read(subject: &str, reader: &str, purpose: Option<&str>, minute: u32) -> DataRead {
        DataRead {
            subject: Iin::parse(subject).expect("iin"),
            reader: reader.into(),
            role: "operator".into(),
            organisation: Some("TsON-1".into()),
            what: format!("request:2026112300000{minute}"),
            purpose: purpose.map(str::to_owned),
            at: Utc
                .with_ymd_and_hms(2026, 11, 23, 9, minute, 0)
                .single()
                .expect("time"),
        }
    }

    #[test]
    fn reads_are_stored_grouped_by_reader_and_purpose_and_read_back_whole() {
        let reads = vec![
            read("760324400005", "op-1", Some("call"), 1),
            read("850715300003", "op-2", None, 2),
            read("620412300009", "op-1", Some("call"), 3),
        ];
        let accessed = DataAccessed {
            reads: reads.clone(),
        };
        let payload = accessed.to_payload().expect("payload");
        assert_eq!(payload["groups"].as_array().map(Vec::len), Some(2));
        assert_eq!(payload["groups"][0]["reader"], "op-1");
        assert_eq!(
            payload["groups"][0]["reads"].as_array().map(Vec::len),
            Some(2)
        );
        let back = DataAccessed::from_payload(SCHEMA_VERSION, payload).expect("decodes");
        // Grouped: op-1's reads first, then op-2's; every read whole.
        assert_eq!(
            back.reads,
            vec![reads[0].clone(), reads[2].clone(), reads[1].clone()]
        );
    }

    #[test]
    fn a_payload_of_schema_version_1_still_reads() {
        let reads = vec![read("760324400005", "op-1", None, 1)];
        let v1 = serde_json::json!({ "reads": reads });
        let back = DataAccessed::from_payload(1, v1).expect("decodes");
        assert_eq!(back.reads, reads);
    }
}
