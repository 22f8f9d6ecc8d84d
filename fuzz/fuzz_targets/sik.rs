//! A social individual code from any text: parsed or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(sik) = domain::Sik::parse(text) {
        let shown = format!("{sik:?}");
        assert!(!shown.is_empty());
    }
});
