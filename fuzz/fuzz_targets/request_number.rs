//! A request number from any text: parsed or refused, never a panic; a parsed one reads back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(number) = domain::RequestNumber::parse(text) {
        let again = domain::RequestNumber::parse(number.as_str()).expect("reads back");
        assert_eq!(again, number);
    }
});
