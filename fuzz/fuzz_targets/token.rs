//! Bearer tokens from anyone: any text is refused with a reason (no valid signature can be
//! guessed), never a panic, whatever its header, claims or length.
#![no_main]
use std::sync::OnceLock;

use api::token::{Authenticator, DevKey};
use libfuzzer_sys::fuzz_target;

fn authenticator() -> &'static Authenticator {
    static AUTHENTICATOR: OnceLock<Authenticator> = OnceLock::new();
    AUTHENTICATOR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("dir");
        let key = DevKey::load_or_create(&dir.path().join("key.pem")).expect("key");
        let verifying = key.verifying_key().expect("verifying key");
        Authenticator::new(vec![verifying], "egov-idp".into(), "egov-events".into())
    })
}

fuzz_target!(|text: &str| {
    assert!(authenticator().authenticate(text).is_err());
});
