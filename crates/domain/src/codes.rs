//! Closed sets of codes (service codes, refusal reasons, statuses): every such enum has `ALL` and a
//! `code()`; this gives each the same `Display` and `FromStr`, with an error that names the unknown
//! code.

/// Implements `Display` and `FromStr` for a code enum with `ALL` and `code()`, and declares the
/// error `FromStr` returns.
macro_rules! code_enum {
    ($ty:ident, $error:ident, $what:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        #[doc = concat!("A text that is no ", $what, " code.")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("no {what} has the code {code:?}", what = $what, code = self.0)]
        pub struct $error(pub String);

        impl std::str::FromStr for $ty {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .into_iter()
                    .find(|c| c.code() == s)
                    .ok_or_else(|| $error(s.to_owned()))
            }
        }
    };
}
pub(crate) use code_enum;
