//! The canonical JSON the hash chain is computed over: any JSON value gives bytes that parse
//! back to the same value and are canonical themselves (the same bytes again).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let canonical = domain::hash_chain::canonical_json(&value);
    let back: serde_json::Value = serde_json::from_slice(&canonical).expect("canonical is JSON");
    assert_eq!(domain::hash_chain::canonical_json(&back), canonical);
});
