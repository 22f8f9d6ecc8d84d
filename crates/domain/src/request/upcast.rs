//! Stored payloads of an older schema version, brought up to the current one on read, one version
//! at a time, so that every stream ever recorded can still be loaded.
//!
//! Version history:
//! - `ResultIssued` 1 -> 2: `sik_branch` added; results issued before it name no branch.
//! - `RequestSigned` 1 -> 2: `cms` added; signatures recorded before it kept only their digest.
//! - `OperatorSigned` 1 -> 2: `operator_iin` and `cms` added (the operator's signature is verified
//!   like a citizen's, against the operator's IIN).
//! - `SignatureVerified`, `SignatureRejected` 1 -> 2: `certificate.revocation` added; checks
//!   recorded before it did not keep the OCSP answer.

use serde_json::Value;

use super::event_type::EventType;

/// `payload`, stored at schema `version` for an event of type `kind`, in the current schema.
pub(super) fn upcast(kind: EventType, mut version: u32, mut payload: Value) -> Value {
    while version < kind.schema_version() {
        if let (1, Value::Object(map)) = (version, &mut payload) {
            match kind {
                EventType::ResultIssued => {
                    map.entry("sik_branch").or_insert(Value::Null);
                }
                EventType::RequestSigned => {
                    map.entry("cms").or_insert(Value::Null);
                }
                EventType::OperatorSigned => {
                    map.entry("operator_iin").or_insert(Value::Null);
                    map.entry("cms").or_insert(Value::Null);
                }
                EventType::SignatureVerified | EventType::SignatureRejected => {
                    if let Some(Value::Object(certificate)) = map.get_mut("certificate") {
                        certificate.entry("revocation").or_insert(Value::Null);
                    }
                }
                _ => {}
            }
        }
        version += 1;
    }
    payload
}
