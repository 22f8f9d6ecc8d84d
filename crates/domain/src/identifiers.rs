//! Identifiers that cannot be wrong: each is a newtype built only by parsing, with a typed error
//! that names the broken rule, and serde going through the same parse.
//!
//! - [`Iin`]: the individual identification number, checked with the national check-digit
//!   algorithm (docs/national-rules.md 1.2);
//! - [`Sik`]: the social individual code (docs/domain.md 9);
//! - [`RequestNumber`]: the portal's request number, the date of receipt and a number within the day.

mod iin;
mod request_number;
mod sik;

pub use iin::{Iin, IinError, Sex};
pub use request_number::{RequestNumber, RequestNumberError};
pub use sik::{Sik, SikError};

/// Implements the text conversions every identifier has: `FromStr`, `Display`, `AsRef<str>`,
/// `TryFrom<String>` (so serde parses) and `From<Id> for String`.
macro_rules! text_identifier {
    ($id:ident, $error:ident) => {
        impl std::str::FromStr for $id {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $id::parse(s)
            }
        }

        impl TryFrom<String> for $id {
            type Error = $error;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                $id::parse(&raw)
            }
        }

        impl From<$id> for String {
            fn from(id: $id) -> String {
                id.0
            }
        }

        impl AsRef<str> for $id {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $id {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use text_identifier;
