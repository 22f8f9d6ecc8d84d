//! A citizen's signature container (CMS SignedData, DER) and the certificates in it: any bytes
//! are read or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = commands::adapters::nca::signer_of(bytes);
});
