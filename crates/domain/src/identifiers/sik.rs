//! The social individual code (СИК): 16 upper-case Latin letters and digits, e.g.
//! `DV6MH41VHFEX4009` (REG 2995). The sources give no further rule; this is the format docs/domain.md 9
//! proposes.

use serde::{Deserialize, Serialize};

use super::text_identifier;

/// A social individual code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sik(String);

/// Which rule a SIK breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SikError {
    /// Not 16 characters.
    #[error("a SIK has 16 characters, not {found}")]
    Length { found: usize },
    /// A character is not A-Z or 0-9 (lower case included).
    #[error("a SIK holds only the upper-case letters A-Z and the digits 0-9")]
    BadCharacter,
}

impl Sik {
    /// Parses a SIK.
    ///
    /// # Errors
    /// [`SikError`] naming the rule broken.
    pub fn parse(raw: &str) -> Result<Self, SikError> {
        let found = raw.chars().count();
        if found != 16 {
            return Err(SikError::Length { found });
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(SikError::BadCharacter);
        }
        Ok(Sik(raw.to_owned()))
    }

    /// The SIK as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_identifier!(Sik, SikError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sik_parse_accepts_the_regulations_example() {
        assert_eq!(
            Sik::parse("DV6MH41VHFEX4009")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("DV6MH41VHFEX4009")
        );
    }

    #[test]
    fn sik_parse_names_the_broken_rule() {
        assert_eq!(
            Sik::parse("DV6MH41VHFEX400"),
            Err(SikError::Length { found: 15 })
        );
        assert_eq!(Sik::parse("dv6mh41vhfex4009"), Err(SikError::BadCharacter));
        assert_eq!(Sik::parse("DV6MH41VHFEX400-"), Err(SikError::BadCharacter));
        assert_eq!(Sik::parse("DV6MH41VHFEX400Ж"), Err(SikError::BadCharacter));
    }
}
