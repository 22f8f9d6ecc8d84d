//! An event about to be appended, checked before it reaches the database.

use serde_json::Value;
use uuid::Uuid;

use crate::error::{InvalidEvent, StoreError};

/// An event about to be appended: its id, type, schema version and payload. The store adds the
/// stream version, metadata, recorded time and hash.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    pub(crate) schema_version: u32,
    pub(crate) payload: Value,
}

impl NewEvent {
    /// An event with a JSON object as payload.
    ///
    /// # Errors
    /// [`StoreError::InvalidEvent`] when the type is not a plain name, the schema version is 0, the
    /// payload is not an object or holds U+0000.
    pub fn new(
        event_id: Uuid,
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<Self, StoreError> {
        let invalid = |reason| StoreError::InvalidEvent { event_id, reason };
        let type_ok = !event_type.is_empty()
            && event_type.len() <= 100
            && event_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !type_ok {
            return Err(invalid(InvalidEvent::BadEventType));
        }
        if schema_version == 0 {
            return Err(invalid(InvalidEvent::BadSchemaVersion));
        }
        if !payload.is_object() {
            return Err(invalid(InvalidEvent::PayloadNotAnObject));
        }
        if holds_nul(&payload) {
            return Err(invalid(InvalidEvent::PayloadHasNul));
        }
        Ok(Self {
            event_id,
            event_type: event_type.to_owned(),
            schema_version,
            payload,
        })
    }

    /// An event whose payload arrives as JSON text (from a client or a file).
    ///
    /// # Errors
    /// [`InvalidEvent::InvalidJson`] when the text does not parse, and the errors of [`NewEvent::new`].
    pub fn from_json_text(
        event_id: Uuid,
        event_type: &str,
        schema_version: u32,
        payload: &str,
    ) -> Result<Self, StoreError> {
        let value: Value = serde_json::from_str(payload).map_err(|e| StoreError::InvalidEvent {
            event_id,
            reason: InvalidEvent::InvalidJson(e.to_string()),
        })?;
        Self::new(event_id, event_type, schema_version, value)
    }

    /// The event's id.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(result: Result<NewEvent, StoreError>) -> InvalidEvent {
        match result {
            Err(StoreError::InvalidEvent { reason, .. }) => reason,
            other => panic!("expected an invalid event, got {other:?}"),
        }
    }

    #[test]
    fn new_event_is_refused_when_the_payload_is_not_an_object() {
        let id = Uuid::from_u128(1);
        assert_eq!(
            reason(NewEvent::new(id, "A", 1, json!([1]))),
            InvalidEvent::PayloadNotAnObject
        );
    }

    #[test]
    fn new_event_is_refused_when_a_nested_string_holds_nul() {
        let id = Uuid::from_u128(1);
        let payload = json!({"a": [{"b": "x\u{0}y"}]});
        assert_eq!(
            reason(NewEvent::new(id, "A", 1, payload)),
            InvalidEvent::PayloadHasNul
        );
    }

    #[test]
    fn new_event_is_refused_when_the_text_is_not_json() {
        let id = Uuid::from_u128(1);
        let got = reason(NewEvent::from_json_text(id, "A", 1, "{\"a\": "));
        assert!(matches!(got, InvalidEvent::InvalidJson(_)), "{got:?}");
    }

    #[test]
    fn new_event_is_refused_when_type_or_schema_version_is_bad() {
        let id = Uuid::from_u128(1);
        assert_eq!(
            reason(NewEvent::new(id, "", 1, json!({}))),
            InvalidEvent::BadEventType
        );
        assert_eq!(
            reason(NewEvent::new(id, "a b", 1, json!({}))),
            InvalidEvent::BadEventType
        );
        assert_eq!(
            reason(NewEvent::new(id, "A", 0, json!({}))),
            InvalidEvent::BadSchemaVersion
        );
    }
}
