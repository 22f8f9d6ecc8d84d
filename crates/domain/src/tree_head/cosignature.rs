//! Witness cosignatures of tree heads, as C2SP `tlog-cosignature` (v1) defines them and the
//! witness network uses them: the witness signs, with its own Ed25519 key,
//!
//! ```text
//! cosignature/v1
//! time <seconds since the epoch>
//! <the checkpoint's text>
//! ```
//!
//! and adds the line `— <witness name> base64(key id (4) || time (8, big-endian) || signature (64))`
//! to the note. The key id is SHA-256(name || "\n" || 0x04 || public key), first four bytes, and
//! the keys are written as signed-note keys with the algorithm byte 0x04.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use super::{
    hex, split_note, split_typed_key, typed_key_id, valid_name, NoteError, TreeHead, SIGNATURE_MARK,
};

/// The algorithm byte of a cosignature/v1 key.
const COSIGNATURE_V1: u8 = 0x04;

fn message(head: &TreeHead, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{}", head.body())
}

/// A witness's key.
pub struct WitnessSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WitnessSigner {
    /// A witness named `name` from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// A name with `+`, white space or nothing in it.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key("a name has no '+' or white space"));
        }
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `PRIVATE+KEY+name+id+base64(0x04 || seed)`.
    ///
    /// # Errors
    /// Any other text, or an id that is not the key's.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("a signer key starts with PRIVATE+KEY+"))?;
        let (name, id, bytes) = split_typed_key(rest, COSIGNATURE_V1)?;
        let seed = <[u8; 32]>::try_from(bytes).map_err(|_| NoteError::Key("not 32 bytes"))?;
        let signer = Self::from_seed(name, seed)?;
        if typed_key_id(name, COSIGNATURE_V1, &signer.key.verifying_key()) != id {
            return Err(NoteError::Key("the id is not the key's"));
        }
        Ok(signer)
    }

    /// The key as [`WitnessSigner::parse`] reads it (secret).
    pub fn to_private_text(&self) -> String {
        let mut bytes = vec![COSIGNATURE_V1];
        bytes.extend_from_slice(self.key.as_bytes());
        let id = typed_key_id(&self.name, COSIGNATURE_V1, &self.key.verifying_key());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex(&id),
            STANDARD.encode(bytes)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's public key.
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The cosignature line of `head` at `time` (seconds since the epoch), newline included.
    pub fn cosign(&self, head: &TreeHead, time: u64) -> String {
        let signature = self.key.sign(message(head, time).as_bytes());
        let mut bytes =
            typed_key_id(&self.name, COSIGNATURE_V1, &self.key.verifying_key()).to_vec();
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_MARK}{} {}\n", self.name, STANDARD.encode(bytes))
    }
}

/// A witness's public key: checks its cosignatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// Reads `name+id+base64(0x04 || key)`.
    ///
    /// # Errors
    /// Any other text, or an id that is not the key's.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, id, bytes) = split_typed_key(text.trim(), COSIGNATURE_V1)?;
        if !valid_name(name) {
            return Err(NoteError::Key("a name has no '+' or white space"));
        }
        let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| NoteError::Key("not 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::Key("not an Ed25519 point"))?;
        if typed_key_id(name, COSIGNATURE_V1, &key) != id {
            return Err(NoteError::Key("the id is not the key's"));
        }
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time of this witness's valid cosignature in `line` (`— name base64`) over `head`.
    ///
    /// # Errors
    /// A line of another key, or a signature that does not verify.
    pub fn verify_line(&self, head: &TreeHead, line: &str) -> Result<u64, NoteError> {
        let (name, bytes) = line
            .trim_end_matches('\n')
            .strip_prefix(SIGNATURE_MARK)
            .and_then(|l| l.split_once(' '))
            .ok_or(NoteError::Malformed("a signature line is '— name base64'"))?;
        let bytes = STANDARD
            .decode(bytes)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        let id = typed_key_id(&self.name, COSIGNATURE_V1, &self.key);
        if name != self.name || bytes.len() != 76 || bytes[..4] != id {
            return Err(NoteError::NotSigned(self.name.clone()));
        }
        let time = u64::from_be_bytes(bytes[4..12].try_into().unwrap_or_default());
        let signature = ed25519_dalek::Signature::from_slice(&bytes[12..])
            .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        self.key
            .verify(message(head, time).as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        Ok(time)
    }

    /// The time of this witness's valid cosignature among the signature lines of `note` over
    /// `head`.
    ///
    /// # Errors
    /// When the note carries none.
    pub fn verify_note(&self, head: &TreeHead, note: &str) -> Result<u64, NoteError> {
        let (_, lines) = split_note(note)?;
        lines
            .iter()
            .filter(|(name, _)| *name == self.name)
            .find_map(|(name, bytes)| {
                let line = format!("{SIGNATURE_MARK}{name} {}", STANDARD.encode(bytes));
                self.verify_line(head, &line).ok()
            })
            .ok_or_else(|| NoteError::NotSigned(self.name.clone()))
    }
}

impl std::fmt::Display for WitnessVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut bytes = vec![COSIGNATURE_V1];
        bytes.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex(&typed_key_id(&self.name, COSIGNATURE_V1, &self.key)),
            STANDARD.encode(bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::NoteSigner;
    use super::*;
    use chrono::{TimeZone, Utc};

    fn head(size: u64) -> TreeHead {
        TreeHead {
            origin: "egov-events.test/log".into(),
            size,
            root: crate::merkle::leaf_hash(&size.to_be_bytes()),
            time: Utc
                .with_ymd_and_hms(2026, 12, 5, 10, 0, 0)
                .single()
                .expect("time"),
        }
    }

    #[test]
    fn a_cosigned_note_keeps_the_logs_signature_and_carries_the_witnesss() {
        let log = NoteSigner::from_seed("egov-events.test/log", [1; 32]).expect("log");
        let witness = WitnessSigner::from_seed("auditors-office.test/witness", [2; 32]).expect("w");
        let key = WitnessVerifier::parse(&witness.verifier().to_string()).expect("key");
        let again = WitnessSigner::parse(&witness.to_private_text()).expect("private");
        assert_eq!(again.verifier(), key);
        let note = log.sign(&head(7));
        let line = witness.cosign(&head(7), 1_765_000_000);
        assert_eq!(key.verify_line(&head(7), &line), Ok(1_765_000_000));
        let cosigned = format!("{note}{line}");
        assert_eq!(
            log.verifier().verify(&cosigned),
            Ok(head(7)),
            "the log's own still checks"
        );
        assert_eq!(key.verify_note(&head(7), &cosigned), Ok(1_765_000_000));
        // Over another head, or with the log's key standing in for the witness's: refused.
        assert!(key.verify_line(&head(8), &line).is_err());
        assert!(key.verify_note(&head(7), &note).is_err());
        let other = WitnessSigner::from_seed("auditors-office.test/witness", [3; 32]).expect("w");
        assert!(other.verifier().verify_line(&head(7), &line).is_err());
        // A log key is not a witness key (the algorithm byte differs).
        assert!(WitnessVerifier::parse(&log.verifier().to_string()).is_err());
    }
}
