//! The simulator's fixture: synthetic citizens as JSON (the format is in README.md, "The registry
//! simulator"). Identifiers are checked when the file is read, so a fixture with a mistyped IIN
//! or SIK is refused at start, not served.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use domain::{Iin, ServiceCode, Sik};
use serde::{Deserialize, Serialize};

/// The whole fixture file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub citizens: Vec<Citizen>,
    #[serde(default)]
    pub powers_of_attorney: Vec<PowerOfAttorney>,
}

/// One synthetic citizen and what each registry knows of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    pub iin: Iin,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    pub birth_date: NaiveDate,
    /// Whether GBD FL (the state database of individuals) has the person; AIS GTsVP may know
    /// people GBD FL does not, for tests of the service-centre identity check.
    #[serde(default = "yes")]
    pub in_gbd_fl: bool,
    /// Whether AIS GTsVP has the IIN at all (the `iin` lookup).
    #[serde(default = "yes")]
    pub in_gcvp: bool,
    #[serde(default)]
    pub sik: Option<SikRecord>,
    /// Benefit and pension records, by the information service they answer.
    #[serde(default)]
    pub benefits: Vec<Benefit>,
    /// Movements on the contributor's transit accounts (the pension-fund statement).
    #[serde(default)]
    pub fund_transactions: Vec<FundTransaction>,
    /// The social status line of the MTSZN state database, if the person has one.
    #[serde(default)]
    pub social_status: Option<String>,
    /// The explanation about compulsory social health insurance shown under the status line.
    #[serde(default)]
    pub social_status_explanation: Option<String>,
}

fn yes() -> bool {
    true
}

/// A registered social individual code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SikRecord {
    pub sik: Sik,
    pub branch: String,
    pub registered_on: NaiveDate,
    pub issued_on: NaiveDate,
}

/// A decision on a benefit or pension (the fields of docs/domain.md 6.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// The information service this record answers, e.g. `age-benefit-info`.
    pub service: ServiceCode,
    pub issuer: String,
    pub decision_number: String,
    pub decision_date: NaiveDate,
    /// Tenge, as a decimal string, e.g. `"45210.00"`.
    pub amount_kzt: String,
    pub assigned_from: NaiveDate,
    #[serde(default)]
    pub paid_until: Option<NaiveDate>,
    /// For a refusal to assign: its reason as the provider wrote it.
    #[serde(default)]
    pub refusal_reason: Option<String>,
    /// Service 2 has two decisions: `pension` (the default) and `basic-pension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<String>,
    /// Service 1: the monthly child-care amount (tenge, decimal string) beside the lump sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_amount_kzt: Option<String>,
    /// Service 4: the disability group and the period the expert opinion set it for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability_until: Option<NaiveDate>,
}

/// A movement on a transit account (the columns of docs/domain.md 6.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundTransaction {
    pub received_on: NaiveDate,
    pub sent_on: NaiveDate,
    pub document_number: String,
    pub document_date: NaiveDate,
    /// Payment purpose code (КНП).
    pub knp: String,
    pub sender: String,
    pub recipient: String,
    /// Tenge, as a decimal string.
    pub amount_kzt: String,
}

/// A notarised power of attorney in ENIS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerOfAttorney {
    pub number: String,
    pub date: NaiveDate,
    pub principal_iin: Iin,
    pub representative_iin: Iin,
    pub valid_until: NaiveDate,
    #[serde(default)]
    pub revoked: bool,
}

/// Why a fixture cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read the fixture {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the fixture {path} is not valid: {reason}")]
    Invalid { path: String, reason: String },
}

/// A loaded fixture, indexed.
#[derive(Debug, Default)]
pub struct Registry {
    pub citizens: HashMap<String, Citizen>,
    pub powers_of_attorney: HashMap<String, PowerOfAttorney>,
}

/// The fixture shipped with the project (`fixtures/registry.json`), compiled in so that the
/// embedded default works from any directory.
const BUILT_IN: &str = include_str!("../../../fixtures/registry.json");

impl Registry {
    /// The shipped fixture.
    ///
    /// # Errors
    /// Never for a released build: a test loads it.
    pub fn built_in() -> Result<Registry, FixtureError> {
        Registry::from_json(BUILT_IN).map_err(|reason| FixtureError::Invalid {
            path: "fixtures/registry.json (built in)".into(),
            reason,
        })
    }

    /// Reads and checks a fixture file.
    ///
    /// # Errors
    /// [`FixtureError`] naming the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Registry, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Registry::from_json(&text).map_err(|reason| FixtureError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses and checks fixture JSON.
    ///
    /// # Errors
    /// What is wrong, as text.
    pub fn from_json(text: &str) -> Result<Registry, String> {
        let fixture: Fixture = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut registry = Registry::default();
        for citizen in fixture.citizens {
            let amounts = citizen
                .benefits
                .iter()
                .map(|b| &b.amount_kzt)
                .chain(citizen.fund_transactions.iter().map(|t| &t.amount_kzt));
            if let Some(bad) = amounts.into_iter().find(|a| !is_amount(a)) {
                return Err(format!(
                    "{}: amount {bad:?} is not a decimal such as 45210.00",
                    citizen.iin
                ));
            }
            let key = citizen.iin.as_str().to_owned();
            if registry.citizens.insert(key.clone(), citizen).is_some() {
                return Err(format!("the IIN {key} appears twice"));
            }
        }
        for poa in fixture.powers_of_attorney {
            let key = poa.number.clone();
            if registry
                .powers_of_attorney
                .insert(key.clone(), poa)
                .is_some()
            {
                return Err(format!("the power of attorney {key} appears twice"));
            }
        }
        Ok(registry)
    }
}

/// `123`, `123.4`, `123.45`.
fn is_amount(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fixture_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/registry.json");
        let registry = Registry::load(Path::new(path)).expect("the shipped fixture is valid");
        assert!(registry.citizens.len() >= 5);
        assert!(!registry.powers_of_attorney.is_empty());
        assert_eq!(
            Registry::built_in().expect("built in").citizens.len(),
            registry.citizens.len()
        );
    }

    #[test]
    fn a_fixture_is_refused_when_an_iin_or_amount_is_wrong() {
        let base = |iin: &str, amount: &str| {
            format!(
                r#"{{"citizens": [{{"iin": "{iin}", "last_name": "A", "first_name": "B", "birth_date": "1990-01-01",
                  "fund_transactions": [{{"received_on": "2020-01-01", "sent_on": "2020-01-01", "document_number": "1",
                  "document_date": "2020-01-01", "knp": "010", "sender": "S", "recipient": "R", "amount_kzt": "{amount}"}}]}}]}}"#
            )
        };
        assert!(Registry::from_json(&base("900101300007", "100.50")).is_ok());
        assert!(
            Registry::from_json(&base("900101300008", "100.50")).is_err(),
            "check digit"
        );
        assert!(
            Registry::from_json(&base("900101300007", "1e5")).is_err(),
            "amount"
        );
        let twice = r#"{"citizens": [
            {"iin": "900101300007", "last_name": "A", "first_name": "B", "birth_date": "1990-01-01"},
            {"iin": "900101300007", "last_name": "A", "first_name": "B", "birth_date": "1990-01-01"}]}"#;
        assert!(Registry::from_json(twice)
            .expect_err("duplicate")
            .contains("twice"));
    }
}
