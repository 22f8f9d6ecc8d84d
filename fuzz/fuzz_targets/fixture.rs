//! The registry simulator's fixture (citizens, SIKs, benefits, powers of attorney): any text is
//! loaded or refused with a message, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = registry_sim::fixture::Registry::from_json(text);
});
