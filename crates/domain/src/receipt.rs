//! Receipts: what a citizen keeps with a result or refusal document so that, later and offline,
//! with nothing but the log's public key, anyone can check that the document's event is in the log
//! the log signed - and, given a newer signed head, that the log has not been rewritten since.
//!
//! A receipt holds the issuing event as stored (so its leaf is recomputed from its own fields: the
//! canonical bytes and the chain hash), the event's leaf index, the RFC 9162 inclusion proof, and
//! the signed head (a checkpoint note) the proof is against.

use serde::{Deserialize, Serialize};

use crate::merkle::{self, Hash};
use crate::tree_head::{NoteError, NoteVerifier, TreeHead};
use crate::RecordedEvent;

/// The form a receipt declares.
pub const FORMAT: &str = "egov-events-receipt/1";

/// A receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    /// The request it is for.
    pub request: String,
    /// The event that issued the document (`ResultIssued` or `RefusalIssued`), as stored.
    pub event: RecordedEvent,
    /// The event's leaf index.
    pub index: u64,
    /// The tree size the proof is against: the signed head's.
    pub size: u64,
    /// The inclusion proof, base64 hashes.
    pub proof: Vec<String>,
    /// The signed head: a checkpoint note.
    pub head: String,
}

/// A newer signed head and the proof that it extends an older one (`GET /log/head?from=M`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewerHead {
    /// The newer checkpoint note.
    pub note: String,
    /// The consistency proof from the older size, when one was asked for.
    pub consistency: Option<Consistency>,
}

/// A consistency proof from `from` leaves to the head's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consistency {
    pub from: u64,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

/// What a receipt proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed head the event is proven in.
    pub head: TreeHead,
    /// The newer head proven to extend it, when one was given.
    pub newer: Option<TreeHead>,
    pub leaf: Hash,
}

/// Why a receipt does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a receipt of this form ({0})")]
    Format(String),
    #[error("the event is a {0}, not the issue of a result or refusal document")]
    NotADocument(String),
    #[error("the event issues document {document}, which is not request {request}'s")]
    OtherRequest { document: String, request: String },
    #[error("the signed head: {0}")]
    Head(NoteError),
    #[error("the newer head: {0}")]
    NewerHead(NoteError),
    #[error("the proof is for a tree of {proof} leaves, the signed head has {head}")]
    SizeMismatch { proof: u64, head: u64 },
    #[error("a hash of the proof is not 32 bytes of base64")]
    BadHash,
    #[error("the event (leaf {index}) is not in the signed head: the proof does not lead to it")]
    NotIncluded { index: u64 },
    #[error("the newer head ({newer} leaves) does not extend the receipt's ({older} leaves)")]
    Inconsistent { older: u64, newer: u64 },
    #[error("the newer head carries no consistency proof from {0} leaves")]
    NoConsistencyProof(u64),
}

fn hashes(texts: &[String]) -> Result<Vec<Hash>, ReceiptError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    texts
        .iter()
        .map(|text| {
            STANDARD
                .decode(text)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes).ok())
                .ok_or(ReceiptError::BadHash)
        })
        .collect()
}

impl Receipt {
    /// Checks the receipt with the log's key, and with `newer` that the log still extends it.
    ///
    /// # Errors
    /// [`ReceiptError`] naming what does not check out.
    pub fn verify(
        &self,
        key: &NoteVerifier,
        newer: Option<&NewerHead>,
    ) -> Result<Verified, ReceiptError> {
        if self.format != FORMAT {
            return Err(ReceiptError::Format(self.format.clone()));
        }
        self.document()?;
        let head = key.verify(&self.head).map_err(ReceiptError::Head)?;
        if head.size != self.size {
            return Err(ReceiptError::SizeMismatch {
                proof: self.size,
                head: head.size,
            });
        }
        let leaf = merkle::event_leaf(&self.event);
        let proof = hashes(&self.proof)?;
        if !merkle::verify_inclusion(self.index, head.size, &leaf, &proof, &head.root) {
            return Err(ReceiptError::NotIncluded { index: self.index });
        }
        let newer = match newer {
            None => None,
            Some(newer) => Some(extends(&head, key, newer)?),
        };
        Ok(Verified { head, newer, leaf })
    }
}

impl Receipt {
    /// The document the event issues: its number and SHA-256 (hex), when the event is the issue
    /// of the request's result or refusal document (`R` or `O` and the request's number).
    ///
    /// # Errors
    /// Another kind of event, or a document of another request.
    pub fn document(&self) -> Result<(&str, &str), ReceiptError> {
        let event_type = self.event.event_type.as_str();
        if !matches!(event_type, "ResultIssued" | "RefusalIssued") {
            return Err(ReceiptError::NotADocument(event_type.to_owned()));
        }
        let field = |name: &str| self.event.payload.get(name).and_then(|v| v.as_str());
        let number = field("document_number").unwrap_or_default();
        let of_request = number
            .strip_prefix('R')
            .or_else(|| number.strip_prefix('O'))
            .is_some_and(|rest| rest == self.request);
        if !of_request {
            return Err(ReceiptError::OtherRequest {
                document: number.to_owned(),
                request: self.request.clone(),
            });
        }
        Ok((number, field("document_sha256").unwrap_or_default()))
    }
}

/// The newer head, when it is signed and proven to extend `older`.
fn extends(
    older: &TreeHead,
    key: &NoteVerifier,
    newer: &NewerHead,
) -> Result<TreeHead, ReceiptError> {
    let head = key.verify(&newer.note).map_err(ReceiptError::NewerHead)?;
    let inconsistent = ReceiptError::Inconsistent {
        older: older.size,
        newer: head.size,
    };
    if head.size < older.size {
        return Err(inconsistent);
    }
    if head.size == older.size {
        return if head.root == older.root {
            Ok(head)
        } else {
            Err(inconsistent)
        };
    }
    let consistency = newer
        .consistency
        .as_ref()
        .filter(|c| c.from == older.size)
        .ok_or(ReceiptError::NoConsistencyProof(older.size))?;
    let proof = hashes(&consistency.proof)?;
    if merkle::verify_consistency(older.size, head.size, &proof, &older.root, &head.root) {
        Ok(head)
    } else {
        Err(inconsistent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree_head::NoteSigner;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use chrono::{TimeZone, Utc};

    fn event(n: u64) -> RecordedEvent {
        serde_json::from_value(serde_json::json!({
            "cursor": format!("{n}-{n}"),
            "stream_id": "0b3c5a9e-7f7e-4c5e-9a55-1d0c8a3f2b11",
            "stream_version": n,
            "event_id": format!("00000000-0000-4000-8000-{n:012}"),
            "event_type": "ResultIssued",
            "schema_version": 1,
            "payload": { "document_number": "R20261205000001", "document_sha256": format!("{n:064x}") },
            "metadata": {
                "actor": "system:workflow", "channel": "system",
                "correlation_id": "0b3c5a9e-7f7e-4c5e-9a55-1d0c8a3f2b11", "causation_id": null
            },
            "recorded_at": "2026-12-05T10:00:00.123456Z",
            "hash": format!("{:064x}", n),
        }))
        .expect("an event")
    }

    struct Log {
        signer: NoteSigner,
        events: Vec<RecordedEvent>,
    }

    impl Log {
        fn new(count: u64) -> Self {
            Self {
                signer: NoteSigner::from_seed("egov-events.test/log", [5; 32]).expect("signer"),
                events: (1..=count).map(event).collect(),
            }
        }

        fn leaves(&self, size: u64) -> Vec<Hash> {
            self.events[..size as usize]
                .iter()
                .map(merkle::event_leaf)
                .collect()
        }

        fn head(&self, size: u64) -> String {
            self.signer.sign(&TreeHead {
                origin: self.signer.name().into(),
                size,
                root: merkle::root(&self.leaves(size)),
                time: Utc
                    .with_ymd_and_hms(2026, 12, 5, 10, 0, 0)
                    .single()
                    .expect("time"),
            })
        }

        fn receipt(&self, index: u64, size: u64) -> Receipt {
            let proof =
                merkle::inclusion_proof(index as usize, &self.leaves(size)).expect("inside");
            Receipt {
                format: FORMAT.into(),
                request: "20261205000001".into(),
                event: self.events[index as usize].clone(),
                index,
                size,
                proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
                head: self.head(size),
            }
        }

        fn newer(&self, from: u64, size: u64) -> NewerHead {
            let proof =
                merkle::consistency_proof(from as usize, &self.leaves(size)).expect("sizes");
            NewerHead {
                note: self.head(size),
                consistency: Some(Consistency {
                    from,
                    proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
                }),
            }
        }
    }

    #[test]
    fn a_receipt_verifies_offline_and_against_a_newer_head_that_extends_it() {
        let log = Log::new(12);
        let key = log.signer.verifier();
        for index in 0..7 {
            let receipt = log.receipt(index, 7);
            let json = serde_json::to_string(&receipt).expect("json");
            let read: Receipt = serde_json::from_str(&json).expect("read back");
            let verified = read.verify(&key, None).expect("verifies");
            assert_eq!(verified.head.size, 7);
            let verified = read.verify(&key, Some(&log.newer(7, 12))).expect("extends");
            assert_eq!(verified.newer.map(|h| h.size), Some(12));
        }
    }

    #[test]
    fn an_altered_event_another_key_or_a_rewritten_log_is_named() {
        let log = Log::new(12);
        let key = log.signer.verifier();
        let mut altered = log.receipt(3, 7);
        altered.event.payload["document_sha256"] = "cd".into();
        assert_eq!(
            altered.verify(&key, None),
            Err(ReceiptError::NotIncluded { index: 3 })
        );
        let other = NoteSigner::from_seed("egov-events.test/log", [6; 32]).expect("signer");
        assert!(matches!(
            log.receipt(3, 7).verify(&other.verifier(), None),
            Err(ReceiptError::Head(_))
        ));
        // The log rewritten below the receipt's size: the newer head does not extend it.
        let mut rewritten = Log::new(12);
        rewritten.signer =
            NoteSigner::from_seed("egov-events.test/log", [5; 32]).expect("same key");
        rewritten.events[2].payload["document_sha256"] = "ef".into();
        assert_eq!(
            log.receipt(3, 7)
                .verify(&key, Some(&rewritten.newer(7, 12))),
            Err(ReceiptError::Inconsistent {
                older: 7,
                newer: 12
            })
        );
        // A dropped tail: a newer head smaller than the receipt's.
        assert_eq!(
            log.receipt(3, 7).verify(
                &key,
                Some(&NewerHead {
                    note: log.head(5),
                    consistency: None
                })
            ),
            Err(ReceiptError::Inconsistent { older: 7, newer: 5 })
        );
        // The receipt names another request than the document's, or proves another kind of event.
        let mut other = log.receipt(3, 7);
        other.request = "20261205000002".into();
        assert!(matches!(
            other.verify(&key, None),
            Err(ReceiptError::OtherRequest { .. })
        ));
        let mut other = log.receipt(3, 7);
        other.event.event_type = "RequestSubmitted".into();
        assert!(matches!(
            other.verify(&key, None),
            Err(ReceiptError::NotADocument(_))
        ));
        let mut bare = log.newer(7, 12);
        bare.consistency = None;
        assert_eq!(
            log.receipt(3, 7).verify(&key, Some(&bare)),
            Err(ReceiptError::NoConsistencyProof(7))
        );
    }
}
