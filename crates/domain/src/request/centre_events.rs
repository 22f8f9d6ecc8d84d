//! The events and facts of the service-centre channel (docs/domain.md 3.4-3.5, REG 3147-3160): the
//! person at the desk and the representative, the GBD FL and ENIS checks, the scans, the
//! attestation of a power of attorney that is not notarised, and the handing out.

use serde::{Deserialize, Serialize};

use crate::identifiers::Iin;

/// The person at a service centre's desk, as their identity document names them (REG 3149).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentedPerson {
    pub iin: Iin,
    pub surname: String,
    pub given_name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    /// The kind of identity document, e.g. `id-card`, `passport`.
    pub document_kind: String,
    pub document_number: String,
}

impl PresentedPerson {
    /// Whether the names and the document are given.
    pub fn is_complete(&self) -> bool {
        [
            &self.surname,
            &self.given_name,
            &self.document_kind,
            &self.document_number,
        ]
        .iter()
        .all(|s| !s.trim().is_empty())
    }

    /// Whether GBD FL's record `data` (`last_name`, `first_name`, `patronymic`) names this person,
    /// letter case aside.
    pub fn named_in(&self, data: &serde_json::Value) -> bool {
        let same = |ours: Option<&str>, field: &str| {
            let theirs = data
                .get(field)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            ours.unwrap_or("").trim().to_lowercase() == theirs.trim().to_lowercase()
        };
        same(Some(&self.surname), "last_name")
            && same(Some(&self.given_name), "first_name")
            && same(self.patronymic.as_deref(), "patronymic")
    }
}

/// A representative acting under a power of attorney (service centre only). A notarised one is
/// checked in ENIS; one that is not is served without ENIS's data: the operator checks the paper,
/// scans it and attests it (REG 3150, docs/domain.md 3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    pub iin: Iin,
    pub power_of_attorney_number: String,
    pub power_of_attorney_date: chrono::NaiveDate,
    /// Schema version 3 of `RequestSubmitted`: whether the power of attorney is notarised (and so
    /// in ENIS). Earlier submissions took notarised ones only. Written only when `false`, so that
    /// the bytes an operator signed for an earlier request (`document_to_sign` carries the
    /// representative) stay the same.
    #[serde(default = "notarised", skip_serializing_if = "is_notarised")]
    pub notarised: bool,
}

fn notarised() -> bool {
    true
}

fn is_notarised(notarised: &bool) -> bool {
    *notarised
}

/// Whom GBD FL is asked about at the service centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GbdFlAsks {
    /// The rule of requests filed before schema version 3 of `RequestSubmitted`: only the person
    /// at the desk (the representative, when there is one). Kept for them, so that a request in
    /// progress at an upgrade replays into the stage it had.
    PersonAtDesk,
    /// REG 3153: the applicant - the consumer the request is for - and the representative at the
    /// desk too, when there is one.
    ApplicantAndRepresentative,
}

/// Whose record GBD FL was asked for at the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityOf {
    /// The consumer the request is for (REG 3153: «данных потребителя»).
    Applicant,
    /// The representative at the desk.
    Representative,
    /// Whoever stood at the desk: how checks were recorded before both were asked (upcast).
    PersonAtDesk,
}

/// GBD FL answered a check of a person at the service centre (docs/domain.md 3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicantIdentityVerified {
    pub person: IdentityOf,
    /// The IIN asked about (`None` in events upcast from the generic lookup answer).
    #[serde(deserialize_with = "Option::deserialize")]
    pub iin: Option<Iin>,
    pub attempt: u32,
    /// Whether the record confirmed what was presented (`None` when upcast: not recorded).
    #[serde(deserialize_with = "Option::deserialize")]
    pub confirmed: Option<bool>,
    /// What GBD FL answered, as it answered.
    pub data: serde_json::Value,
}

/// ENIS answered the check of a notarised power of attorney (docs/domain.md 3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerOfAttorneyVerified {
    pub attempt: u32,
    /// Whether it is the one presented and holds (`None` when upcast: not recorded).
    #[serde(deserialize_with = "Option::deserialize")]
    pub confirmed: Option<bool>,
    /// What ENIS answered, as it answered.
    pub data: serde_json::Value,
}

/// The operator checked a power of attorney that is not notarised - not in ENIS - against the
/// paper presented, and attests it (REG 3150); its scan is the one named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerOfAttorneyAttested {
    pub operator_id: String,
    /// SHA-256 (hex) of the scan of the power of attorney.
    pub scan_sha256: String,
}

/// The operator at the service centre handed the result or the refusal to the person at the desk
/// (REG 3592, table 2 step 11). Each handing out is recorded (a lost paper is printed again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentHandedOut {
    pub operator_id: String,
    pub document_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentsScanned {
    /// What the paper is (identity document, power of attorney, ...).
    pub kind: String,
    /// SHA-256 (hex) of the scan; the bytes are stored apart, never in the event.
    pub sha256: String,
    pub size: u64,
}
