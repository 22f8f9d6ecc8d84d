//! Reads of a citizen's data by anyone but the citizen ("who looked at my data"): each is a fact
//! naming who read what about whom, in which role and organisation, and why. They are recorded in
//! `DataAccessed` events of up to [`MAX_READS_PER_EVENT`] reads each, so that recording a read costs
//! the log a small share of one event. Stored, the reads are grouped by who read them and why, so
//! that an operator's many reads name the operator once, and each read is a short array (schema
//! version 3).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The stored type name of the event.
pub const EVENT_TYPE: &str = "DataAccessed";
/// Its schema version: 3 stores each read of a group as `[subject, what, microseconds]`; 2 groups
/// the reads by reader and purpose; 1 listed every read whole.
pub const SCHEMA_VERSION: u32 = 3;
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

/// The stored type name of a bulk read of the log (a page of the audit feed).
pub const LOG_READ_EVENT_TYPE: &str = "LogRead";
/// Its schema version.
pub const LOG_READ_SCHEMA_VERSION: u32 = 1;

/// An auditor read a range of the global log through the audit feed: every event in it, with
/// whatever citizens' data they hold. Recorded before the first byte of the page is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRead {
    pub reader: String,
    pub role: String,
    pub organisation: Option<String>,
    pub purpose: Option<String>,
    /// The range read: after this cursor (exclusive) ...
    pub after: String,
    /// ... through this one (inclusive).
    pub through: String,
    /// How many events the range holds.
    pub events: u64,
    pub at: DateTime<Utc>,
}

/// The most bytes of a reader's id, an organisation, or what was read, that a record takes.
pub const MAX_NAME_BYTES: usize = 200;
/// The most bytes of a purpose a record takes (500 characters of up to four bytes).
pub const MAX_PURPOSE_BYTES: usize = 2_000;

/// The bytes of reads an event holds at most, by [`DataRead::stored_bytes_bound`]: the store's
/// limit on an event (256 KiB) with room for the envelope.
pub const EVENT_READ_BYTES: usize = 256 * 1024 - 8 * 1024;

/// Why a read cannot be recorded as it is: a field that is not plain text of bounded length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be at most {max} bytes of text without control characters")]
pub struct RecordError {
    pub field: &'static str,
    pub max: usize,
}

/// What a record's grouping costs on its own: the keys, braces and times of a group of one read.
const GROUP_OVERHEAD: usize = 160;

/// `text` as a record field: at most `max` bytes, no control characters.
fn plain(field: &'static str, text: &str, max: usize) -> Result<(), RecordError> {
    if text.len() <= max && !text.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(RecordError { field, max })
    }
}

/// Who read, in which organisation and why, as every record names them.
fn check_reader(
    reader: &str,
    role: &str,
    organisation: Option<&str>,
    purpose: Option<&str>,
) -> Result<(), RecordError> {
    plain("reader", reader, MAX_NAME_BYTES)?;
    plain("role", role, MAX_NAME_BYTES)?;
    if let Some(organisation) = organisation {
        plain("organisation", organisation, MAX_NAME_BYTES)?;
    }
    if let Some(purpose) = purpose {
        plain("purpose", purpose, MAX_PURPOSE_BYTES)?;
    }
    Ok(())
}

impl LogRead {
    /// Refuses a record that could not be stored and read back as it is.
    ///
    /// # Errors
    /// [`RecordError`] naming the first field that is too long or holds a control character.
    pub fn check(&self) -> Result<(), RecordError> {
        check_reader(
            &self.reader,
            &self.role,
            self.organisation.as_deref(),
            self.purpose.as_deref(),
        )
    }
}

impl DataRead {
    /// Refuses a record that could not be stored and read back as it is.
    ///
    /// # Errors
    /// [`RecordError`] naming the first field that is too long or holds a control character.
    pub fn check(&self) -> Result<(), RecordError> {
        check_reader(
            &self.reader,
            &self.role,
            self.organisation.as_deref(),
            self.purpose.as_deref(),
        )?;
        plain("what", &self.what, MAX_NAME_BYTES)
    }

    /// An upper bound of the bytes this read adds to a stored payload, as if it formed a group
    /// of its own (grouping only saves bytes). JSON escapes at most double a checked string.
    pub fn stored_bytes_bound(&self) -> usize {
        let text = |t: &str| 2 + 2 * t.len();
        let optional = |t: &Option<String>| t.as_deref().map_or(4, text);
        GROUP_OVERHEAD
            + text(&self.reader)
            + text(&self.role)
            + text(&self.what)
            + text(self.subject.as_str())
            + optional(&self.organisation)
            + optional(&self.purpose)
    }
}

impl DataAccessed {
    /// `reads` in events that each stay within [`EVENT_READ_BYTES`] and [`MAX_READS_PER_EVENT`],
    /// in order. Checked reads (at most a few KiB each) fit many to an event.
    pub fn pack(reads: Vec<DataRead>) -> Vec<DataAccessed> {
        let mut events = Vec::new();
        let mut current = Vec::new();
        let mut bytes = 0;
        for read in reads {
            let size = read.stored_bytes_bound();
            if !current.is_empty()
                && (bytes + size > EVENT_READ_BYTES || current.len() == MAX_READS_PER_EVENT)
            {
                events.push(DataAccessed {
                    reads: std::mem::take(&mut current),
                });
                bytes = 0;
            }
            bytes += size;
            current.push(read);
        }
        if !current.is_empty() {
            events.push(DataAccessed { reads: current });
        }
        events
    }
}

/// The stored form of schema versions 2 and 3.
#[derive(Debug, Serialize, Deserialize)]
struct Stored<R> {
    groups: Vec<Group<R>>,
}

/// Reads by one reader, in one role and organisation, for one purpose; in version 3 with the time
/// of its first read, which the reads' times count from.
#[derive(Debug, Serialize, Deserialize)]
struct Group<R> {
    reader: String,
    role: String,
    organisation: Option<String>,
    purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
    reads: Vec<R>,
}

/// A read of version 2: `{"subject", "what", "at"}`.
#[derive(Debug, Serialize, Deserialize)]
struct ReadV2 {
    subject: Iin,
    what: String,
    at: DateTime<Utc>,
}

/// A read of version 3: `[subject, what, microseconds after the group's first read]`, about half
/// the bytes of version 2's object (every read is stored, hashed and parsed by the database).
#[derive(Debug, Serialize, Deserialize)]
struct Read(Iin, String, i64);

impl DataAccessed {
    /// The payload to store (schema version [`SCHEMA_VERSION`]): the reads grouped by who read
    /// them and why, each group in the order of its first read. Times are kept to the
    /// microsecond (as the database keeps them).
    pub fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut groups: Vec<Group<Read>> = Vec::new();
        for read in &self.reads {
            let same = |g: &Group<Read>| {
                g.reader == read.reader
                    && g.role == read.role
                    && g.organisation == read.organisation
                    && g.purpose == read.purpose
            };
            // Whole microseconds, so that a read's offset from its group's first read is exact.
            let at = read
                .at
                .duration_trunc(TimeDelta::microseconds(1))
                .unwrap_or(read.at);
            let index = match groups.iter().position(same) {
                Some(index) => index,
                None => {
                    groups.push(Group {
                        reader: read.reader.clone(),
                        role: read.role.clone(),
                        organisation: read.organisation.clone(),
                        purpose: read.purpose.clone(),
                        since: Some(at),
                        reads: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            let since = group.since.unwrap_or(at);
            let offset = (at - since).num_microseconds().unwrap_or(i64::MAX);
            group
                .reads
                .push(Read(read.subject.clone(), read.what.clone(), offset));
        }
        serde_json::to_value(Stored { groups })
    }

    /// The reads of a stored payload of `schema_version` 1, 2 or 3.
    pub fn from_payload(
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        if schema_version < 2 {
            return serde_json::from_value(payload);
        }
        let reads = if schema_version == 2 {
            let stored: Stored<ReadV2> = serde_json::from_value(payload)?;
            flatten(stored, |read, _| Ok((read.subject, read.what, read.at)))?
        } else {
            let stored: Stored<Read> = serde_json::from_value(payload)?;
            flatten(stored, |Read(subject, what, offset), since| {
                let at = since
                    .and_then(|since| since.checked_add_signed(TimeDelta::microseconds(offset)))
                    .ok_or_else(|| {
                        serde::de::Error::custom(
                            "a read of schema version 3 without its group's `since`, or out of range",
                        )
                    })?;
                Ok((subject, what, at))
            })?
        };
        Ok(DataAccessed { reads })
    }
}

/// The reads of `stored`, each group's fields repeated on each of its reads (`read` gives a
/// read's subject, what and time, from the group's first-read time).
fn flatten<R>(
    stored: Stored<R>,
    read: impl Fn(R, Option<DateTime<Utc>>) -> Result<(Iin, String, DateTime<Utc>), serde_json::Error>,
) -> Result<Vec<DataRead>, serde_json::Error> {
    let mut all = Vec::new();
    for group in stored.groups {
        for r in group.reads {
            let (subject, what, at) = read(r, group.since)?;
            all.push(DataRead {
                subject,
                reader: group.reader.clone(),
                role: group.role.clone(),
                organisation: group.organisation.clone(),
                what,
                purpose: group.purpose.clone(),
                at,
            });
        }
    }
    Ok(all)
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
    fn each_read_is_stored_as_a_short_array_timed_from_its_groups_first_read_to_the_microsecond() {
        let mut first = read("760324400005", "op-1", None, 5);
        first.at += TimeDelta::nanoseconds(1_234_567);
        let mut earlier = read("850715300003", "op-1", None, 4);
        earlier.at += TimeDelta::nanoseconds(999);
        let payload = DataAccessed {
            reads: vec![first.clone(), earlier.clone()],
        }
        .to_payload()
        .expect("payload");
        let group = &payload["groups"][0];
        assert_eq!(group["since"], "2026-11-23T09:05:00.001234Z");
        assert_eq!(
            group["reads"][1],
            serde_json::json!(["850715300003", "request:20261123000004", -60_001_234])
        );
        let back = DataAccessed::from_payload(SCHEMA_VERSION, payload).expect("decodes");
        let micros = |at: DateTime<Utc>| at.duration_trunc(TimeDelta::microseconds(1)).expect("µs");
        assert_eq!(
            back.reads.iter().map(|r| r.at).collect::<Vec<_>>(),
            vec![micros(first.at), micros(earlier.at)]
        );
        assert_eq!(back.reads[1].subject, earlier.subject);
        assert_eq!(back.reads[1].reader, "op-1");
    }

    #[test]
    fn a_payload_of_schema_version_3_is_refused_when_a_read_has_no_time_to_count_from_or_overflows()
    {
        let group = |since: serde_json::Value, offset: i64| {
            serde_json::json!({ "groups": [{
                "reader": "op-1", "role": "operator", "organisation": null, "purpose": null,
                "since": since, "reads": [["760324400005", "request:20261123000001", offset]],
            }]})
        };
        assert!(DataAccessed::from_payload(3, group(serde_json::Value::Null, 0)).is_err());
        assert!(
            DataAccessed::from_payload(3, group("2026-11-23T09:01:00Z".into(), i64::MAX)).is_err()
        );
        assert!(DataAccessed::from_payload(3, group("2026-11-23T09:01:00Z".into(), 5)).is_ok());
    }

    #[test]
    fn a_payload_of_schema_version_2_still_reads() {
        let v2 = serde_json::json!({ "groups": [{
            "reader": "op-1", "role": "operator", "organisation": "TsON-1", "purpose": "call",
            "reads": [{ "subject": "760324400005", "what": "request:20261123000001",
                        "at": "2026-11-23T09:01:00Z" }],
        }]});
        let back = DataAccessed::from_payload(2, v2).expect("decodes");
        assert_eq!(
            back.reads,
            vec![read("760324400005", "op-1", Some("call"), 1)]
        );
    }

    #[test]
    fn a_payload_of_schema_version_1_still_reads() {
        let reads = vec![read("760324400005", "op-1", None, 1)];
        let v1 = serde_json::json!({ "reads": reads });
        let back = DataAccessed::from_payload(1, v1).expect("decodes");
        assert_eq!(back.reads, reads);
    }

    #[test]
    fn the_worst_reads_are_packed_into_events_within_the_store_limit_and_none_is_left_out() {
        // Every read its own group: distinct purposes of 500 quotes (each escaped), the longest
        // reader and organisation.
        let reads: Vec<DataRead> = (0..1_200)
            .map(|n| DataRead {
                reader: "r".repeat(MAX_NAME_BYTES),
                organisation: Some("\\".repeat(MAX_NAME_BYTES / 2)),
                purpose: Some(format!("{n}{}", "\"".repeat(499))),
                ..read("760324400005", "op-1", None, 1)
            })
            .collect();
        for read in &reads {
            read.check().expect("a read the edge lets through");
        }
        let events = DataAccessed::pack(reads.clone());
        assert!(events.len() > 1);
        let mut back = Vec::new();
        for event in events {
            let payload = event.to_payload().expect("payload");
            let bytes = crate::hash_chain::canonical_json(&payload).len();
            assert!(bytes <= EVENT_READ_BYTES, "{bytes} bytes");
            back.extend(
                DataAccessed::from_payload(SCHEMA_VERSION, payload)
                    .expect("reads")
                    .reads,
            );
        }
        assert_eq!(back.len(), reads.len());
        assert_eq!(back[1_199].purpose, reads[1_199].purpose);
    }

    #[test]
    fn a_read_with_a_control_character_or_an_overlong_field_is_refused() {
        let good = read("760324400005", "op-1", Some("call"), 1);
        assert_eq!(good.check(), Ok(()));
        let nul = DataRead {
            reader: "op\u{0}1".into(),
            ..good.clone()
        };
        assert_eq!(nul.check().map_err(|e| e.field), Err("reader"));
        let long = DataRead {
            purpose: Some("я".repeat(MAX_PURPOSE_BYTES)),
            ..good.clone()
        };
        assert_eq!(long.check().map_err(|e| e.field), Err("purpose"));
        let newline = DataRead {
            organisation: Some("TsON\n1".into()),
            ..good
        };
        assert_eq!(newline.check().map_err(|e| e.field), Err("organisation"));
    }
}
