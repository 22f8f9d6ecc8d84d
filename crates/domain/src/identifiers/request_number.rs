//! The portal's request number («Номер запроса»), e.g. `20101124307921` (REG 2930): the date of
//! receipt as `YYYYMMDD` and a six-digit number within that day (docs/domain.md 9 reads it so; the
//! system issues numbers in this shape).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::text_identifier;

/// A request number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestNumber(String);

/// Which rule a request number breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestNumberError {
    /// Not 14 characters.
    #[error("a request number has 14 digits, not {found} characters")]
    Length { found: usize },
    /// A character is not an ASCII digit.
    #[error("a request number holds only the digits 0-9")]
    NotAsciiDigits,
    /// The first eight digits are not a date `YYYYMMDD`.
    #[error("a request number starts with the date of receipt, YYYYMMDD")]
    BadDate,
    /// A number within the day above 999999, or a year outside 1000-9999.
    #[error("a request number's day number is at most 999999, its year four digits")]
    OutOfRange,
}

impl RequestNumber {
    /// The largest number within a day.
    pub const MAX_SEQUENCE: u32 = 999_999;

    /// Parses a request number.
    ///
    /// # Errors
    /// [`RequestNumberError`] naming the rule broken.
    pub fn parse(raw: &str) -> Result<Self, RequestNumberError> {
        let found = raw.chars().count();
        if found != 14 {
            return Err(RequestNumberError::Length { found });
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RequestNumberError::NotAsciiDigits);
        }
        let number = |range: std::ops::Range<usize>| {
            raw.get(range)
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or(RequestNumberError::BadDate)
        };
        let year = i32::try_from(number(0..4)?).map_err(|_| RequestNumberError::BadDate)?;
        NaiveDate::from_ymd_opt(year, number(4..6)?, number(6..8)?)
            .ok_or(RequestNumberError::BadDate)?;
        Ok(RequestNumber(raw.to_owned()))
    }

    /// The number of the `sequence`-th request received on `date`.
    ///
    /// # Errors
    /// [`RequestNumberError::OutOfRange`] past 999999 requests a day or outside years 1000-9999.
    pub fn new(date: NaiveDate, sequence: u32) -> Result<Self, RequestNumberError> {
        if sequence > Self::MAX_SEQUENCE || !(1000..=9999).contains(&date.year()) {
            return Err(RequestNumberError::OutOfRange);
        }
        Ok(RequestNumber(format!(
            "{}{sequence:06}",
            date.format("%Y%m%d")
        )))
    }

    /// The date of receipt.
    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(self.0.get(0..8)?, "%Y%m%d").ok()
    }

    /// The number within the day.
    pub fn sequence(&self) -> Option<u32> {
        self.0.get(8..)?.parse().ok()
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_identifier!(RequestNumber, RequestNumberError);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_number_reads_the_regulations_example() {
        let number = RequestNumber::parse("20101124307921").expect("REG 2930");
        assert_eq!(number.date(), NaiveDate::from_ymd_opt(2010, 11, 24));
        assert_eq!(number.sequence(), Some(307_921));
    }

    #[test]
    fn request_number_parse_names_the_broken_rule() {
        assert_eq!(
            RequestNumber::parse("2010112430792"),
            Err(RequestNumberError::Length { found: 13 })
        );
        assert_eq!(
            RequestNumber::parse("2010112430792x"),
            Err(RequestNumberError::NotAsciiDigits)
        );
        assert_eq!(
            RequestNumber::parse("20101324307921"),
            Err(RequestNumberError::BadDate)
        );
        assert_eq!(
            RequestNumber::parse("20110229000001"),
            Err(RequestNumberError::BadDate)
        );
    }

    #[test]
    fn request_number_new_refuses_a_seventh_digit_of_sequence() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        assert_eq!(
            RequestNumber::new(day, 1_000_000),
            Err(RequestNumberError::OutOfRange)
        );
        assert_eq!(
            RequestNumber::new(day, 7).map(String::from).as_deref(),
            Ok("20261123000007")
        );
    }

    proptest! {
        #[test]
        fn request_numbers_round_trip(days in 0i64..3_000_000, sequence in 0u32..=999_999) {
            let date = NaiveDate::from_ymd_opt(1000, 1, 1).expect("date") + chrono::Duration::days(days);
            prop_assume!(date.year() <= 9999);
            let number = RequestNumber::new(date, sequence).expect("in range");
            let parsed = RequestNumber::parse(number.as_str()).expect("parses");
            prop_assert_eq!(parsed.date(), Some(date));
            prop_assert_eq!(parsed.sequence(), Some(sequence));
        }

        #[test]
        fn request_number_parse_never_panics(s in "\\PC{0,20}") {
            let _ = RequestNumber::parse(&s);
        }
    }
}
