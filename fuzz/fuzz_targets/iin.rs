//! An IIN from any text: parsed or refused with a reason, never a panic; a parsed one has 12
//! digits and reads back as itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(iin) = domain::Iin::parse(text) {
        assert_eq!(iin.as_str().len(), 12);
        assert!(iin.as_str().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(domain::Iin::parse(iin.as_str()).ok(), Some(iin));
    }
});
