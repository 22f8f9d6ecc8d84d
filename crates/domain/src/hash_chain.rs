//! Tamper evidence: the canonical bytes of an event and the per-stream SHA-256 chain over them
//! (docs/architecture.md, guarantee 4).
//!
//! `hash(event) = SHA-256(hash(previous event of the stream) || canonical_bytes(event))`, with 32
//! zero bytes before the first event. The canonical bytes are a JSON object with the keys in
//! byte order and no white space:
//!
//! ```text
//! {"actor":..,"causation_id":..|null,"channel":..,"correlation_id":..,"event_id":..,
//!  "event_type":..,"payload":..,"recorded_at":"YYYY-MM-DDTHH:MM:SS.ffffffZ",
//!  "schema_version":N,"stream_id":..,"stream_version":N}
//! ```
//!
//! Object keys inside the payload are sorted too, and strings are escaped as `serde_json` escapes
//! them. Numbers are written by their decimal value, not by how they happen to be typed: PostgreSQL's
//! `jsonb` keeps a number as a decimal, so the float `1.5e17` comes back as the integer
//! `150000000000000000` and `-0.0` as `0.0`. A number is its significant digits with no leading or
//! trailing zeros and an exponent: written as a plain integer when the exponent is 0 to 20
//! (`150000000000000000`, `0`), otherwise as `DIGITSeEXPONENT` (`15e-1` for 1.5). The bytes are
//! therefore the same whether they are computed from the event about to be stored or from the row
//! read back, which is what lets an auditor recompute every hash from the events alone.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::envelope::{EventMetadata, RecordedEvent, StreamId, StreamVersion};
use crate::event_hash::EventHash;
pub use crate::event_hash::GENESIS_HASH;

/// The fields that the canonical bytes cover: everything of an event but its global position and
/// its own hash.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalEvent<'a> {
    pub stream_id: StreamId,
    pub stream_version: StreamVersion,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a Value,
    pub metadata: &'a EventMetadata,
    /// Must already be truncated to whole microseconds, as the store keeps it.
    pub recorded_at: DateTime<Utc>,
}

impl<'a> From<&'a RecordedEvent> for CanonicalEvent<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        CanonicalEvent {
            stream_id: event.stream_id,
            stream_version: event.stream_version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &event.payload,
            metadata: &event.metadata,
            recorded_at: event.recorded_at,
        }
    }
}

/// The canonical bytes of an event (see the module doc for their form).
pub fn canonical_bytes(event: CanonicalEvent<'_>) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    let meta = event.metadata;
    out.push_str("{\"actor\":");
    push_json_string(&mut out, &meta.actor.to_string());
    out.push_str(",\"causation_id\":");
    match meta.causation_id {
        Some(id) => push_uuid(&mut out, id),
        None => out.push_str("null"),
    }
    out.push_str(",\"channel\":");
    push_json_string(&mut out, meta.channel.as_str());
    out.push_str(",\"correlation_id\":");
    push_uuid(&mut out, meta.correlation_id);
    out.push_str(",\"event_id\":");
    push_uuid(&mut out, event.event_id);
    out.push_str(",\"event_type\":");
    push_json_string(&mut out, event.event_type);
    out.push_str(",\"payload\":");
    push_canonical_value(&mut out, event.payload);
    out.push_str(",\"recorded_at\":");
    push_json_string(
        &mut out,
        &event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    out.push_str(",\"schema_version\":");
    out.push_str(&event.schema_version.to_string());
    out.push_str(",\"stream_id\":");
    push_uuid(&mut out, event.stream_id.as_uuid());
    out.push_str(",\"stream_version\":");
    out.push_str(&event.stream_version.to_string());
    out.push('}');
    out.into_bytes()
}

/// The canonical JSON text of any value (the form the payload takes inside [`canonical_bytes`]):
/// object keys sorted, no insignificant white space, numbers by their decimal value. Documents
/// that people sign are built with it, so the same content always gives the same bytes.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    push_canonical_value(&mut out, value);
    out.into_bytes()
}

/// The link after `previous` for an event with these canonical bytes.
pub fn chain_hash(previous: &EventHash, canonical: &[u8]) -> EventHash {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(canonical);
    EventHash::from_bytes(hasher.finalize().into())
}

/// Where a stream's chain is broken: the first event that does not follow from the ones before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The stream that is broken.
    pub stream_id: StreamId,
    /// The version of the first event that does not check out.
    pub stream_version: StreamVersion,
    /// Its event id.
    pub event_id: Uuid,
    /// What is wrong with it.
    pub kind: ChainBreakKind,
}

/// Why an event does not check out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChainBreakKind {
    /// The stored hash differs from the one computed from the event and its predecessor: the event,
    /// or one before it, was altered.
    HashMismatch {
        stored: EventHash,
        computed: EventHash,
    },
    /// The versions are not 1, 2, 3, ...: an event was removed or inserted.
    VersionGap { expected: StreamVersion },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ChainBreakKind::HashMismatch { stored, computed } => write!(
                f,
                "stream {} event {} (version {}): stored hash {stored} but the event hashes to {computed}",
                self.stream_id, self.event_id, self.stream_version
            ),
            ChainBreakKind::VersionGap { expected } => write!(
                f,
                "stream {} event {}: version {} where {expected} was expected",
                self.stream_id, self.event_id, self.stream_version
            ),
        }
    }
}

/// Checks one stream's events one at a time, in version order from the stream's start, so that a
/// long stream can be checked page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    previous: EventHash,
    expected: StreamVersion,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            previous: GENESIS_HASH,
            expected: StreamVersion::EMPTY,
        }
    }
}

impl ChainVerifier {
    /// A verifier before the first event of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next event of the stream.
    ///
    /// # Errors
    /// A [`ChainBreak`] when the event is not the next version or its hash does not follow.
    pub fn push(&mut self, event: &RecordedEvent) -> Result<(), ChainBreak> {
        let expected = self.expected.advanced_by(1).unwrap_or(self.expected);
        let broken = |kind| ChainBreak {
            stream_id: event.stream_id,
            stream_version: event.stream_version,
            event_id: event.event_id,
            kind,
        };
        if event.stream_version != expected {
            return Err(broken(ChainBreakKind::VersionGap { expected }));
        }
        let computed = chain_hash(&self.previous, &canonical_bytes(event.into()));
        if computed != event.hash {
            return Err(broken(ChainBreakKind::HashMismatch {
                stored: event.hash,
                computed,
            }));
        }
        self.previous = computed;
        self.expected = expected;
        Ok(())
    }

    /// The hash of the last event checked (the genesis hash before any).
    pub fn head(&self) -> EventHash {
        self.previous
    }
}

/// Checks one stream's events, in version order, from the stream's start.
///
/// Returns the hash of the last event (the genesis hash for no events).
///
/// # Errors
/// The first event that does not check out, as a [`ChainBreak`].
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> Result<EventHash, ChainBreak> {
    let mut verifier = ChainVerifier::new();
    for event in events {
        verifier.push(event)?;
    }
    Ok(verifier.head())
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes only '"', '\\' and control characters; a string without them is written
    // as it is, which spares the hot append path an allocation per field.
    if s.chars()
        .all(|c| c != '"' && c != '\\' && !c.is_ascii_control())
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // serde_json's escaping is deterministic; serialising a &str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

fn push_uuid(out: &mut String, id: Uuid) {
    use fmt::Write;
    // A hyphenated UUID holds nothing to escape; writing to a String cannot fail.
    let _ = write!(out, "\"{}\"", id.hyphenated());
}

fn push_canonical_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_canonical_number(out, &n.to_string()),
        Value::String(s) => push_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here rather than relying on serde_json's map order, which a workspace feature
            // (`preserve_order`) could change under us.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, key);
                out.push(':');
                push_canonical_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Writes a JSON number (as `serde_json` prints it) by its decimal value; see the module doc.
fn push_canonical_number(out: &mut String, text: &str) {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let fraction_len = i64::try_from(fraction.len()).unwrap_or(0);
    let digits: String = whole
        .chars()
        .chain(fraction.chars())
        .skip_while(|c| *c == '0')
        .collect();
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        out.push('0');
        return;
    }
    let trailing_zeros = i64::try_from(digits.len() - significant.len()).unwrap_or(0);
    let exponent = exponent - fraction_len + trailing_zeros;
    if negative {
        out.push('-');
    }
    out.push_str(significant);
    match usize::try_from(exponent) {
        Ok(zeros) if zeros <= 20 => out.extend(std::iter::repeat_n('0', zeros)),
        _ => {
            out.push('e');
            out.push_str(&exponent.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Actor, Channel, Cursor};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn metadata() -> EventMetadata {
        EventMetadata {
            actor: Actor::parse("system:test").expect("valid actor"),
            channel: Channel::System,
            correlation_id: Uuid::from_u128(7),
            causation_id: None,
        }
    }

    fn stream(payloads: &[Value]) -> Vec<RecordedEvent> {
        let stream_id = StreamId::from_uuid(Uuid::from_u128(1));
        let recorded_at = Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid date");
        let mut previous = GENESIS_HASH;
        payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let version = u64::try_from(i).expect("small") + 1;
                let mut event = RecordedEvent {
                    cursor: Cursor::new(1, i64::try_from(version).expect("small")),
                    stream_id,
                    stream_version: StreamVersion::new(version),
                    event_id: Uuid::from_u128(100 + u128::from(version)),
                    event_type: "Tested".into(),
                    schema_version: 1,
                    payload: payload.clone(),
                    metadata: metadata(),
                    recorded_at,
                    hash: GENESIS_HASH,
                };
                event.hash = chain_hash(&previous, &canonical_bytes((&event).into()));
                previous = event.hash;
                event
            })
            .collect()
    }

    #[test]
    fn canonical_bytes_sort_keys_and_hide_nothing() {
        let events = stream(&[json!({"b": 1, "a": {"d": [true, null], "c": -0.0}})]);
        let bytes = String::from_utf8(canonical_bytes((&events[0]).into())).expect("utf-8");
        assert_eq!(
            bytes,
            concat!(
                r#"{"actor":"system:test","causation_id":null,"channel":"system","#,
                r#""correlation_id":"00000000-0000-0000-0000-000000000007","#,
                r#""event_id":"00000000-0000-0000-0000-000000000065","event_type":"Tested","#,
                r#""payload":{"a":{"c":0,"d":[true,null]},"b":1},"#,
                r#""recorded_at":"2026-11-23T10:00:00.000000Z","schema_version":1,"#,
                r#""stream_id":"00000000-0000-0000-0000-000000000001","stream_version":1}"#
            )
        );
    }

    #[test]
    fn canonical_numbers_depend_only_on_the_decimal_value() {
        let cases = [
            ("0", "0"),
            ("-0.0", "0"),
            ("0.0", "0"),
            ("1", "1"),
            ("1.0", "1"),
            ("-120", "-120"),
            ("1.5", "15e-1"),
            ("1.0889603360586787e17", "108896033605867870"),
            ("108896033605867870", "108896033605867870"),
            ("1e21", "1e21"),
            ("1000000000000000000000", "1e21"),
            ("0.30000000000000004", "30000000000000004e-17"),
            ("1e-7", "1e-7"),
            ("0.0000001", "1e-7"),
            ("18446744073709551615", "18446744073709551615"),
            ("1.7976931348623157e308", "17976931348623157e292"),
        ];
        for (text, canonical) in cases {
            let mut out = String::new();
            push_canonical_number(&mut out, text);
            assert_eq!(out, canonical, "{text}");
        }
    }

    #[test]
    fn verify_chain_accepts_an_untouched_stream() {
        let events = stream(&[json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        assert_eq!(verify_chain(&events), Ok(events[2].hash));
    }

    #[test]
    fn verify_chain_names_the_altered_event_when_a_payload_changes() {
        let mut events = stream(&[json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        events[1].payload = json!({"n": 20});
        let broken = verify_chain(&events).expect_err("altered payload");
        assert_eq!(broken.stream_version, StreamVersion::new(2));
        assert!(matches!(broken.kind, ChainBreakKind::HashMismatch { .. }));
    }

    #[test]
    fn verify_chain_names_the_gap_when_an_event_is_removed() {
        let mut events = stream(&[json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        events.remove(1);
        let broken = verify_chain(&events).expect_err("removed event");
        assert_eq!(broken.stream_version, StreamVersion::new(3));
        assert_eq!(
            broken.kind,
            ChainBreakKind::VersionGap {
                expected: StreamVersion::new(2)
            }
        );
    }

    #[test]
    fn event_hash_round_trips_through_hex() {
        let hash = chain_hash(&GENESIS_HASH, b"x");
        let json = serde_json::to_string(&hash).expect("serialise");
        assert_eq!(
            serde_json::from_str::<EventHash>(&json).expect("parse"),
            hash
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC*".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_strings_are_written_exactly_as_serde_json_writes_them(s in "\\PC*|[\\x00-\\x7f\"\\\\]*") {
            let mut out = String::new();
            push_json_string(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_string(&s).expect("serialise a string"));
        }

        #[test]
        fn canonical_payload_is_valid_json_that_reparses_to_the_same_value(payload in json_value()) {
            let mut out = String::new();
            push_canonical_value(&mut out, &payload);
            let reparsed: Value = serde_json::from_str(&out).expect("canonical JSON parses");
            let mut again = String::new();
            push_canonical_value(&mut again, &reparsed);
            prop_assert_eq!(out, again);
        }
    }
}
