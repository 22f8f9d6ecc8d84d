//! Signed tree heads in the checkpoint form of Go's transparency logs (sumdb's signed notes, the
//! C2SP `tlog-checkpoint` and `signed-note` specifications, used by Go's checksum database, Rekor
//! and the witness network), so that any verifier of those can read them:
//!
//! ```text
//! egov-events.kz/log            <- the log's origin
//! 1234                          <- tree size
//! q8WPw7aSc3ZbmQ2...=           <- tree head, base64
//! Time: 2026-12-05T10:00:00Z    <- extension line: when the head was signed
//!
//! — egov-events.kz/log Az3gbQ...  <- a signature: key name, base64(key id (4) || Ed25519 (64))
//! ```
//!
//! The key id is the first four bytes of SHA-256(name || "\n" || 0x01 || public key). Keys are
//! written as the signed-note tools write them: `name+id+base64(0x01 || key)` for a verifier,
//! `PRIVATE+KEY+name+id+base64(0x01 || seed)` for a signer.
//!
//! Signing is computation only (the caller holds the key); nothing here reads a file or a clock.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

pub mod cosignature;

/// The algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIGNATURE_MARK: &str = "\u{2014} ";
/// The extension line that carries the signing time.
const TIME: &str = "Time: ";

/// A tree head: the log, its size, its head, and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// The log's name (its origin line), which is also its key's name.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Whole seconds.
    pub time: DateTime<Utc>,
}

/// A note or key that is not in the form this module writes, or a signature that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a checkpoint: {0}")]
    Malformed(&'static str),
    #[error("not a key of a signed note: {0}")]
    Key(&'static str),
    #[error("the note carries no signature of the key {0}")]
    NotSigned(String),
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
}

impl TreeHead {
    /// The note's text: the lines that are signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{TIME}{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root),
            self.time.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// Reads the text of a note back: exactly the four lines [`TreeHead::body`] writes, so that a
    /// head has one text (a cosignature signs it, and no other wording of the same head passes).
    ///
    /// # Errors
    /// When a line is missing, extra or not of its form.
    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        let mut lines = body
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("the text does not end with a newline"))?
            .split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Malformed("no origin line"))?;
        let size = lines
            .next()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(NoteError::Malformed("the size is not a whole number"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(NoteError::Malformed("the head is not 32 bytes of base64"))?;
        let time = lines
            .find_map(|line| line.strip_prefix(TIME))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or(NoteError::Malformed("no Time line"))?
            .with_timezone(&Utc);
        let head = Self {
            origin: origin.to_owned(),
            size,
            root,
            time,
        };
        if head.body() != body {
            return Err(NoteError::Malformed(
                "not the checkpoint's own text (extra lines, or another way of writing a field)",
            ));
        }
        Ok(head)
    }
}

fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519, key)
}

/// The id of a key of algorithm `alg`: SHA-256(name || "\n" || alg || key), first four bytes.
fn typed_key_id(name: &str, alg: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([alg]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['+', ' ', '\n', '\t'])
}

/// The log's signing key and its name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` from a 32-byte Ed25519 seed.
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

    /// Reads `PRIVATE+KEY+name+id+base64(0x01 || seed)`.
    ///
    /// # Errors
    /// Any other text, or an id that is not the key's.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("a signer key starts with PRIVATE+KEY+"))?;
        let (name, id, bytes) = split_key(rest)?;
        let seed = <[u8; 32]>::try_from(bytes).map_err(|_| NoteError::Key("not 32 bytes"))?;
        let signer = Self::from_seed(name, seed)?;
        if key_id(name, &signer.key.verifying_key()) != id {
            return Err(NoteError::Key("the id is not the key's"));
        }
        Ok(signer)
    }

    /// The key as [`NoteSigner::parse`] reads it (secret: for the key file only).
    pub fn to_private_text(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        let id = key_id(&self.name, &self.key.verifying_key());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex(&id),
            STANDARD.encode(bytes)
        )
    }

    /// The verifier's key text, to publish.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `head` signed: its body and this key's signature line.
    pub fn sign(&self, head: &TreeHead) -> String {
        self.sign_text(&head.body())
    }

    /// Any note's `body` (lines ending with a newline) signed.
    fn sign_text(&self, body: &str) -> String {
        let signature = self.key.sign(body.as_bytes());
        let mut line = key_id(&self.name, &self.key.verifying_key()).to_vec();
        line.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n{SIGNATURE_MARK}{} {}\n",
            self.name,
            STANDARD.encode(line)
        )
    }
}

fn split_key(text: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    split_typed_key(text, ED25519)
}

/// As [`split_key`], for a key of algorithm `alg`.
fn split_typed_key(text: &str, alg: u8) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    // The key's base64 may hold '+' itself: the name and the id end at the first two.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("a key is name+id+key"));
    };
    let id = unhex4(id).ok_or(NoteError::Key("the id is not 8 hex digits"))?;
    let bytes = STANDARD
        .decode(key)
        .map_err(|_| NoteError::Key("the key is not base64"))?;
    match bytes.split_first() {
        Some((&first, key)) if first == alg => Ok((name, id, key.to_vec())),
        _ => Err(NoteError::Key("not a key of this kind")),
    }
}

/// A log's public key: checks its signed heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads `name+id+base64(0x01 || key)`.
    ///
    /// # Errors
    /// Any other text, or an id that is not the key's.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, id, bytes) = split_key(text.trim())?;
        if !valid_name(name) {
            return Err(NoteError::Key("a name has no '+' or white space"));
        }
        let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| NoteError::Key("not 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::Key("not an Ed25519 point"))?;
        if key_id(name, &key) != id {
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

    /// Checks a signed note: the head it states, when it carries this key's valid signature and
    /// names this key's log. Other signatures (a witness's) are left to their own keys.
    ///
    /// # Errors
    /// A note that is not a checkpoint, of another log, or without this key's valid signature.
    pub fn verify(&self, note: &str) -> Result<TreeHead, NoteError> {
        let head = TreeHead::parse_body(self.verify_text(note)?)?;
        if head.origin != self.name {
            return Err(NoteError::NotSigned(self.name.clone()));
        }
        Ok(head)
    }

    /// The signed text of any note that carries this key's valid signature.
    fn verify_text<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let (body, signatures) = split_note(note)?;
        let id = key_id(&self.name, &self.key);
        let mut found = false;
        for (name, bytes) in signatures {
            if name != self.name || bytes.get(..4) != Some(&id[..]) {
                continue;
            }
            found = true;
            let signature = bytes
                .get(4..)
                .and_then(|s| ed25519_dalek::Signature::from_slice(s).ok());
            if let Some(signature) = signature {
                if self.key.verify(body.as_bytes(), &signature).is_ok() {
                    return Ok(body);
                }
            }
        }
        Err(if found {
            NoteError::BadSignature(self.name.clone())
        } else {
            NoteError::NotSigned(self.name.clone())
        })
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex(&key_id(&self.name, &self.key)),
            STANDARD.encode(bytes)
        )
    }
}

/// A signature line: the key's name and the decoded bytes (key id, then the signature).
type SignatureLine<'n> = (&'n str, Vec<u8>);

/// The signed text and its signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let cut = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (body, rest) = note.split_at(cut + 1);
    let mut signatures = Vec::new();
    for line in rest[1..].lines() {
        let (name, bytes) = line
            .strip_prefix(SIGNATURE_MARK)
            .and_then(|l| l.split_once(' '))
            .ok_or(NoteError::Malformed("a signature line is '— name base64'"))?;
        let bytes = STANDARD
            .decode(bytes)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        signatures.push((name, bytes));
    }
    Ok((body, signatures))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex4(text: &str) -> Option<[u8; 4]> {
    if text.len() != 8 {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn head() -> TreeHead {
        TreeHead {
            origin: "egov-events.test/log".into(),
            size: 1234,
            root: crate::merkle::leaf_hash(b"x"),
            time: Utc
                .with_ymd_and_hms(2026, 12, 5, 10, 0, 0)
                .single()
                .expect("time"),
        }
    }

    fn signer() -> NoteSigner {
        NoteSigner::from_seed("egov-events.test/log", [7; 32]).expect("signer")
    }

    #[test]
    fn a_signed_head_verifies_with_the_published_key_and_reads_back_the_same() {
        let note = signer().sign(&head());
        assert!(note.starts_with("egov-events.test/log\n1234\n"), "{note}");
        assert!(
            note.contains("\n\n\u{2014} egov-events.test/log "),
            "{note}"
        );
        let verifier = NoteVerifier::parse(&signer().verifier().to_string()).expect("key");
        assert_eq!(verifier.verify(&note), Ok(head()));
        let again = NoteSigner::parse(&signer().to_private_text()).expect("private");
        assert_eq!(again.sign(&head()), note, "Ed25519 signs deterministically");
    }

    #[test]
    fn an_altered_head_another_key_or_no_signature_is_refused() {
        let note = signer().sign(&head());
        let verifier = signer().verifier();
        let grown = note.replacen("\n1234\n", "\n1235\n", 1);
        assert_eq!(
            verifier.verify(&grown),
            Err(NoteError::BadSignature("egov-events.test/log".into()))
        );
        let other = NoteSigner::from_seed("egov-events.test/log", [8; 32]).expect("signer");
        assert!(matches!(
            other.verifier().verify(&note),
            Err(NoteError::NotSigned(_))
        ));
        let bare = head().body() + "\n";
        assert!(matches!(
            verifier.verify(&bare),
            Err(NoteError::NotSigned(_))
        ));
        assert!(matches!(
            verifier.verify("egov-events.test/log\n12x\n"),
            Err(NoteError::Malformed(_))
        ));
        // The same head written otherwise (an extra line, a leading zero) is not its text.
        for other in [
            head().body().replace("Time:", "Extra: x\nTime:"),
            head().body().replace("\n1234\n", "\n01234\n"),
        ] {
            assert!(
                matches!(TreeHead::parse_body(&other), Err(NoteError::Malformed(_))),
                "{other}"
            );
        }
    }

    #[test]
    fn the_key_id_is_the_signed_note_tools_one() {
        // The verifier key of Go's golang.org/x/mod/sumdb/note documentation and its example
        // signature (note_test.go): our id and check agree with theirs.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let verifier = NoteVerifier::parse(vkey).expect("Go's key parses");
        assert_eq!(verifier.to_string(), vkey);
        assert_eq!(verifier.name(), "PeterNeumann");
        assert!(NoteVerifier::parse(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
        let signer = NoteSigner::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .expect("Go's signer key parses");
        assert_eq!(signer.verifier(), verifier);
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = signer.sign_text(text);
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            "byte for byte the note Go's note.Sign makes"
        );
        assert_eq!(verifier.verify_text(&note), Ok(text));
    }
}
