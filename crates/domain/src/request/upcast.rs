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
//! - `RequestSubmitted` 1 -> 2: the promised `deadline`, counted from filing, becomes
//!   `promised_at_filing` - what was promised then stays on record, though today's clock starts at
//!   the signature (docs/domain.md 10, G4); `sign_by` is added as the receipt plus
//!   [`DEFAULT_SIGN_WITHIN`], the time the rule shipped with.
//! - `RequestSigned`, `OperatorSigned` 2 -> 3: `deadline` added; signatures recorded before it
//!   promised none from their receipt (`None`).
//! - `RequestSubmitted` 2 -> 3: `gbd_fl_asks` added: earlier requests asked GBD FL about the person
//!   at the desk only (`person-at-desk`), and keep that rule so they replay into the stage they had.
//!   `representative.notarised` came too, `true` when absent (written only when `false`): earlier
//!   representatives came with a notarised power of attorney only.
//! - `RegistryLookupSucceeded` of the service centre's checks: read as `ApplicantIdentityVerified`
//!   (whoever stood at the desk) and `PowerOfAttorneyVerified` (events.rs, `desk_check`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::event_type::EventType;
use crate::catalog::DEFAULT_SIGN_WITHIN;

/// `payload`, stored at schema `version` for an event of type `kind`, in the current schema.
pub(super) fn upcast(kind: EventType, mut version: u32, mut payload: Value) -> Value {
    while version < kind.schema_version() {
        if let Value::Object(map) = &mut payload {
            one_version_up(kind, version, map);
        }
        version += 1;
    }
    payload
}

/// The payload of `kind` at `version`, brought to `version + 1`.
fn one_version_up(kind: EventType, version: u32, map: &mut Map<String, Value>) {
    match (kind, version) {
        (EventType::ResultIssued, 1) => {
            map.entry("sik_branch").or_insert(Value::Null);
        }
        (EventType::RequestSigned, 1) => {
            map.entry("cms").or_insert(Value::Null);
        }
        (EventType::OperatorSigned, 1) => {
            map.entry("operator_iin").or_insert(Value::Null);
            map.entry("cms").or_insert(Value::Null);
        }
        (EventType::SignatureVerified | EventType::SignatureRejected, 1) => {
            if let Some(Value::Object(certificate)) = map.get_mut("certificate") {
                certificate.entry("revocation").or_insert(Value::Null);
            }
        }
        (EventType::RequestSubmitted, 1) => {
            if let Some(promised) = map.remove("deadline").filter(|d| !d.is_null()) {
                map.insert("promised_at_filing".into(), promised);
            }
            let sign_by = map
                .get("received_at")
                .and_then(Value::as_str)
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&Utc) + DEFAULT_SIGN_WITHIN);
            // A payload without a readable receipt stays without `sign_by` and fails to decode,
            // naming the field, rather than getting an invented time.
            if let Some(sign_by) = sign_by {
                map.insert("sign_by".into(), Value::String(sign_by.to_rfc3339()));
            }
        }
        (EventType::RequestSigned | EventType::OperatorSigned, 2) => {
            map.entry("deadline").or_insert(Value::Null);
        }
        (EventType::RequestSubmitted, 2) => {
            map.entry("gbd_fl_asks")
                .or_insert(Value::String("person-at-desk".into()));
        }
        _ => {}
    }
}
