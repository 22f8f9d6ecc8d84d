//! The social-status check by a medical organisation (docs/domain.md 8): a lookup answered at once,
//! recorded as one event naming who looked up whom, from which organisation and why.
//!
//! Each check is its own stream (`SocialStatusChecked`, one event): it is a fact about a read of
//! a citizen's data, not a request the patient filed.

use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The stored type name of the event.
pub const EVENT_TYPE: &str = "SocialStatusChecked";
/// Its schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// What the registry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum CheckOutcome {
    /// The status, verbatim from the registry, and the line shown (docs/domain.md 8).
    Found {
        status: String,
        explanation: Option<String>,
        line: String,
    },
    /// The registry has no status for the IIN.
    NotFound,
    /// The registry did not answer in time; nothing was learnt.
    Unavailable,
}

/// A medical user looked up a patient's social status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialStatusChecked {
    /// The user, as the token names them.
    pub checker: String,
    /// The medical organisation of the token.
    pub organisation: Option<String>,
    pub patient: Iin,
    /// Why, as the client said.
    pub purpose: Option<String>,
    pub result: CheckOutcome,
}
