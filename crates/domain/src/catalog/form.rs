//! A request's form: what each service's form holds, and its validation at the edge
//! (docs/domain.md 2b; the statement's period, REG 3452-3470; the patient of a social-status check).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Service, ServiceCode};
use crate::identifiers::{Iin, IinError};

/// What a validated request form holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RequestForm {
    /// Nothing besides the applicant's IIN (services 1-9).
    Empty,
    /// The pension-fund statement, for a period or for all time.
    Statement { period: Option<Period> },
    /// The social-status check of a patient.
    PatientStatus { patient: Iin },
}

/// A period of dates, start not after end (REG 3452-3470).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Why a request form is refused; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The form is not a JSON object.
    #[error("the form is a JSON object")]
    NotAnObject,
    /// A field this service does not have.
    #[error("the form has no field {0:?}")]
    UnknownField(String),
    /// A required field is missing.
    #[error("the field {0:?} is required")]
    Missing(&'static str),
    /// A date field is not `YYYY-MM-DD`.
    #[error("the field {0:?} is a date, YYYY-MM-DD")]
    BadDate(&'static str),
    /// An IIN field does not hold a valid IIN.
    #[error("the field {field:?} is not a valid IIN: {error}")]
    BadIin {
        field: &'static str,
        error: IinError,
    },
    /// Only one end of the period is given.
    #[error("a period needs both its start and its end")]
    HalfPeriod,
    /// The period starts after it ends.
    #[error("the period starts after it ends")]
    PeriodReversed,
    /// The period reaches into the future.
    #[error("the period ends in the future")]
    PeriodInFuture,
}

impl Service {
    /// Validates a request form for this service; `today` is the local date of receipt.
    ///
    /// # Errors
    /// [`FormError`] naming the field and the rule broken.
    pub fn validate_form(&self, form: &Value, today: NaiveDate) -> Result<RequestForm, FormError> {
        let fields = match form {
            Value::Object(map) => map,
            Value::Null => &serde_json::Map::new(),
            _ => return Err(FormError::NotAnObject),
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !self.form.iter().any(|f| f.key == k.as_str()))
        {
            return Err(FormError::UnknownField(unknown.clone()));
        }
        let date = |key: &'static str| -> Result<Option<NaiveDate>, FormError> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| FormError::BadDate(key)),
                Some(_) => Err(FormError::BadDate(key)),
            }
        };
        match self.code {
            ServiceCode::PensionFundStatement => {
                // REG 3452-3470: the period is optional («Указать период»); when given, both dates.
                let period = match (date("period_start")?, date("period_end")?) {
                    (None, None) => None,
                    (Some(start), Some(end)) => {
                        if start > end {
                            return Err(FormError::PeriodReversed);
                        }
                        if end > today {
                            return Err(FormError::PeriodInFuture);
                        }
                        Some(Period { start, end })
                    }
                    _ => return Err(FormError::HalfPeriod),
                };
                Ok(RequestForm::Statement { period })
            }
            ServiceCode::SocialStatusCheck => {
                let raw = match fields.get("patient_iin") {
                    Some(Value::String(s)) => s,
                    Some(_) => {
                        return Err(FormError::BadIin {
                            field: "patient_iin",
                            error: IinError::NotAsciiDigits,
                        })
                    }
                    None => return Err(FormError::Missing("patient_iin")),
                };
                let patient = Iin::parse(raw).map_err(|error| FormError::BadIin {
                    field: "patient_iin",
                    error,
                })?;
                Ok(RequestForm::PatientStatus { patient })
            }
            _ => Ok(RequestForm::Empty),
        }
    }
}
