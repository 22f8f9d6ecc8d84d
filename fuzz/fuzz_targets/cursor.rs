//! The audit feed's cursor (`TRANSACTION-POSITION`, from a query string): parsed or refused,
//! never a panic; a parsed one reads back as itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(cursor) = text.parse::<domain::Cursor>() {
        assert_eq!(cursor.to_string().parse::<domain::Cursor>().ok(), Some(cursor));
    }
});
