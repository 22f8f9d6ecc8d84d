//! `egov receipt verify`: a receipt checked offline, with nothing but the log's public key
//! (`domain::receipt`): no database, no network, no settings.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::receipt::{NewerHead, Receipt};
use domain::tree_head::NoteVerifier;

/// The exit code of a receipt that does not check out.
pub const NOT_VERIFIED: u8 = 5;

/// Checks the receipt in `file` with `key` (the key's text, or a file holding it), and with `head`
/// that a newer signed head extends it. Prints what was proven, or what was not (exit 5).
pub fn verify(file: &Path, key: &str, head: Option<&Path>) -> anyhow::Result<ExitCode> {
    let key = match NoteVerifier::parse(key) {
        Ok(key) => key,
        Err(_) => {
            let text = std::fs::read_to_string(key)
                .with_context(|| format!("{key} is neither a log key nor a file holding one"))?;
            NoteVerifier::parse(&text).with_context(|| format!("{key} holds no log key"))?
        }
    };
    let receipt: Receipt = read_json(file, "a receipt")?;
    let newer: Option<NewerHead> = head.map(|h| read_json(h, "a signed head")).transpose()?;
    match receipt.verify(&key, newer.as_ref()) {
        Ok(verified) => {
            println!(
                "receipt of request {}: event {} ({} of {}) is leaf {} of the log {}",
                receipt.request,
                receipt.event.event_id,
                receipt.event.event_type,
                receipt.event.recorded_at.to_rfc3339(),
                receipt.index,
                key.name()
            );
            println!(
                "  in the signed head of {} events at {}, head {}",
                verified.head.size,
                verified.head.time.to_rfc3339(),
                STANDARD.encode(verified.head.root)
            );
            if let Ok((number, sha256)) = receipt.document() {
                println!(
                    "  document {number}, SHA-256 {sha256} (the PDF's QR code shows the same)"
                );
            }
            if let Some(newer) = verified.newer {
                println!(
                    "  and the newer signed head of {} events at {} extends it: nothing before it was rewritten or dropped",
                    newer.size,
                    newer.time.to_rfc3339()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("the receipt does NOT verify: {error}");
            Ok(ExitCode::from(NOT_VERIFIED))
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not {what}", path.display()))
}
