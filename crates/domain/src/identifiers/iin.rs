//! The IIN (ИИН): 12 ASCII digits, the last a check digit (docs/national-rules.md 1.1-1.4).
//!
//! Only length, ASCII digits and the check digit decide validity. The birth date and sex that the
//! first seven digits encoded until 2013 are exposed as hints and never used to refuse a number:
//! Government resolution No. 853 of 26.08.2013 removed that binding (docs/national-rules.md 1.3); the registry is
//! the source of a person's birth date and sex.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::text_identifier;

/// A valid IIN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iin(String);

/// Which rule an IIN breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IinError {
    /// Not 12 characters (white space counts: signed data is never trimmed).
    #[error("an IIN has 12 digits, not {found} characters")]
    Length { found: usize },
    /// A character is not one of the ASCII digits 0-9 (other scripts' digits included).
    #[error("an IIN holds only the digits 0-9")]
    NotAsciiDigits,
    /// Both weight passes give 10: such a number is never issued.
    #[error("no check digit exists for the first 11 digits of this IIN")]
    NoCheckDigit,
    /// The 12th digit is not the computed check digit.
    #[error("the IIN's check digit is {found}, expected {expected}")]
    BadCheckDigit { expected: u8, found: u8 },
}

/// Sex as the pre-2013 seventh digit encoded it (a hint only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

/// First-pass weights 1..11 and second-pass weights 3..11, 1, 2 (docs/national-rules.md 1.2).
const FIRST_PASS: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const SECOND_PASS: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

/// The check digit of 11 digits (each 0-9), or `None` when both passes give 10.
pub(crate) fn check_digit(digits: &[u8; 11]) -> Option<u8> {
    let weighted = |weights: &[u32; 11]| {
        digits
            .iter()
            .zip(weights)
            .map(|(&d, &w)| u32::from(d) * w)
            .sum::<u32>()
            % 11
    };
    let first = weighted(&FIRST_PASS);
    let check = if first == 10 {
        weighted(&SECOND_PASS)
    } else {
        first
    };
    // check < 10 here, so it fits a u8.
    (check < 10).then(|| u8::try_from(check).unwrap_or(u8::MAX))
}

impl Iin {
    /// Parses an IIN: exactly 12 ASCII digits whose last is the check digit of the first 11.
    ///
    /// # Errors
    /// [`IinError`] naming the first rule broken: length, digits, check digit.
    pub fn parse(raw: &str) -> Result<Self, IinError> {
        let found = raw.chars().count();
        if found != 12 {
            return Err(IinError::Length { found });
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IinError::NotAsciiDigits);
        }
        let digits: Vec<u8> = raw.bytes().map(|b| b - b'0').collect();
        let (body, last) = digits.split_at(11);
        let body: &[u8; 11] = body.try_into().map_err(|_| IinError::Length { found })?;
        let found_digit = last.first().copied().ok_or(IinError::Length { found })?;
        match check_digit(body) {
            None => Err(IinError::NoCheckDigit),
            Some(expected) if expected != found_digit => Err(IinError::BadCheckDigit {
                expected,
                found: found_digit,
            }),
            Some(_) => Ok(Iin(raw.to_owned())),
        }
    }

    /// The IIN as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The birth date the first seven digits encoded under the pre-2013 rules, when they form a
    /// real date with a century digit 1-6. A hint only: take the birth date from the registry.
    pub fn birth_date_hint(&self) -> Option<NaiveDate> {
        let digit = |i: usize| self.0.as_bytes().get(i).map(|b| u32::from(b - b'0'));
        let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
        let century = match digit(6)? {
            1 | 2 => 1800,
            3 | 4 => 1900,
            5 | 6 => 2000,
            _ => return None,
        };
        let year = i32::try_from(century + two(0)?).ok()?;
        NaiveDate::from_ymd_opt(year, two(2)?, two(4)?)
    }

    /// The sex the seventh digit encoded under the pre-2013 rules (odd male, even female, for
    /// digits 1-6). A hint only: take the sex from the registry.
    pub fn sex_hint(&self) -> Option<Sex> {
        match self.0.as_bytes().get(6)? {
            b'1' | b'3' | b'5' => Some(Sex::Male),
            b'2' | b'4' | b'6' => Some(Sex::Female),
            _ => None,
        }
    }
}

text_identifier!(Iin, IinError);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The test vectors of docs/national-rules.md 1.4: input and whether it is valid (format and checksum only).
    const VECTORS: &[(&str, Result<(), IinError>, &str)] = &[
        ("900101300007", Ok(()), "pass 1"),
        ("850715400109", Ok(()), "pass 1"),
        ("001231500001", Ok(()), "pass 1"),
        ("050228600008", Ok(()), "pass 1"),
        ("770308300003", Ok(()), "pass 1"),
        ("000229500018", Ok(()), "leap day"),
        ("900101300811", Ok(()), "needs second pass"),
        ("850715400004", Ok(()), "needs second pass"),
        ("001231500205", Ok(()), "needs second pass"),
        ("050228600908", Ok(()), "needs second pass"),
        (
            "900101300008",
            Err(IinError::BadCheckDigit {
                expected: 7,
                found: 8,
            }),
            "wrong check digit",
        ),
        (
            "850715400005",
            Err(IinError::BadCheckDigit {
                expected: 4,
                found: 5,
            }),
            "wrong 2nd-pass digit",
        ),
        (
            "900101300810",
            Err(IinError::BadCheckDigit {
                expected: 1,
                found: 0,
            }),
            "sum % 11 % 10 trap",
        ),
        (
            "900101300800",
            Err(IinError::NoCheckDigit),
            "both passes 10",
        ),
        (
            "900101300807",
            Err(IinError::NoCheckDigit),
            "both passes 10",
        ),
        (
            "850715400030",
            Err(IinError::NoCheckDigit),
            "both passes 10",
        ),
        (
            "90010130000",
            Err(IinError::Length { found: 11 }),
            "too short",
        ),
        (
            "9001013000070",
            Err(IinError::Length { found: 13 }),
            "too long",
        ),
        (
            " 900101300007",
            Err(IinError::Length { found: 13 }),
            "leading space is not trimmed",
        ),
        ("90010130000A", Err(IinError::NotAsciiDigits), "letter"),
        ("9001-0130007", Err(IinError::NotAsciiDigits), "hyphen"),
        (
            "٩٠٠١٠١٣٠٠٠٠٧",
            Err(IinError::NotAsciiDigits),
            "Arabic-Indic digits",
        ),
        ("", Err(IinError::Length { found: 0 }), "empty"),
        (
            "000229300015",
            Ok(()),
            "1900-02-29 does not exist: a hint, not a refusal",
        ),
        ("900230300019", Ok(()), "30 February: a hint, not a refusal"),
        ("901301300017", Ok(()), "month 13: a hint, not a refusal"),
        ("900101000018", Ok(()), "7th digit 0: a hint, not a refusal"),
        ("900101700012", Ok(()), "7th digit 7: a hint, not a refusal"),
        (
            "123456789011",
            Err(IinError::BadCheckDigit {
                expected: 3,
                found: 1,
            }),
            "NCA test certificates",
        ),
    ];

    #[test]
    fn iin_parse_matches_every_vector_of_kz_md() {
        for (input, expected, note) in VECTORS {
            assert_eq!(
                Iin::parse(input).map(|_| ()),
                *expected,
                "{input:?}: {note}"
            );
        }
    }

    #[test]
    fn iin_hints_read_the_pre_2013_digits_but_never_refuse() {
        let iin = Iin::parse("850715400109").expect("valid");
        assert_eq!(iin.birth_date_hint(), NaiveDate::from_ymd_opt(1985, 7, 15));
        assert_eq!(iin.sex_hint(), Some(Sex::Female));
        let odd = Iin::parse("900230300019").expect("valid despite 30 February");
        assert_eq!(odd.birth_date_hint(), None);
        assert_eq!(odd.sex_hint(), Some(Sex::Male));
        assert_eq!(Iin::parse("900101700012").expect("valid").sex_hint(), None);
    }

    #[test]
    fn iin_goes_through_parse_in_json() {
        let iin: Iin = serde_json::from_str("\"900101300007\"").expect("valid IIN");
        assert_eq!(
            serde_json::to_string(&iin).expect("serialise"),
            "\"900101300007\""
        );
        assert!(serde_json::from_str::<Iin>("\"900101300008\"").is_err());
    }

    /// The algorithm of docs/national-rules.md 1.2 written out once more, plainly, to test the parser against.
    fn reference_accepts(s: &str) -> bool {
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let d: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
        let mut c = (0..11).map(|i| (i as u32 + 1) * d[i]).sum::<u32>() % 11;
        if c == 10 {
            let w = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
            c = (0..11).map(|i| w[i] * d[i]).sum::<u32>() % 11;
            if c == 10 {
                return false;
            }
        }
        d[11] == c
    }

    proptest! {
        #[test]
        fn iin_parse_never_panics(s in "\\PC{0,16}") {
            let _ = Iin::parse(&s);
        }

        #[test]
        fn iin_parse_accepts_exactly_what_the_algorithm_accepts(s in "[0-9]{12}") {
            prop_assert_eq!(Iin::parse(&s).is_ok(), reference_accepts(&s));
        }

        #[test]
        fn a_valid_iin_round_trips_and_any_other_check_digit_is_refused(body in "[0-9]{11}") {
            let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
            let digits: [u8; 11] = digits.try_into().expect("11 digits");
            if let Some(check) = check_digit(&digits) {
                let valid = format!("{body}{check}");
                let iin = Iin::parse(&valid).expect("computed check digit");
                prop_assert_eq!(iin.to_string(), valid);
                for other in (0..10u8).filter(|d| *d != check) {
                    let changed = format!("{body}{other}");
                    prop_assert!(Iin::parse(&changed).is_err(), "{} accepted", changed);
                }
            } else {
                prop_assert_eq!(Iin::parse(&format!("{body}0")), Err(IinError::NoCheckDigit));
            }
        }
    }
}
