//! What the SIK assignment did at the registry, call by call: the simulator keeps one effect per
//! `Idempotency-Key` (a code registered, or a duplicate certificate issued), so that a test can
//! count how often a request changed the registry. A call under a key seen before changes nothing
//! and is answered as the first was; a call without a key is an effect of its own each time.
//! The list grows by one small record per effect: fit for a simulator, not for production.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::fixture::SikRecord;

/// What one assignment call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A new code was registered for a citizen without one.
    Assigned,
    /// The citizen had a code: its certificate was issued again.
    Duplicate,
}

/// One change of the registry, with how many calls asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct Effect {
    /// The `Idempotency-Key` of the calls, when they sent one.
    pub key: Option<String>,
    pub iin: String,
    pub outcome: Outcome,
    /// Calls answered with this effect (the first, and every retry under its key).
    pub calls: u64,
    #[serde(skip)]
    record: SikRecord,
}

#[derive(Default)]
struct Ledger {
    effects: Vec<Effect>,
    /// Index into `effects` by key.
    by_key: HashMap<String, usize>,
    /// Codes registered while running, by IIN.
    registered: HashMap<String, SikRecord>,
}

/// The assignments done while running.
#[derive(Default)]
pub(crate) struct Effects(Mutex<Ledger>);

impl Effects {
    /// Assigns a SIK to `iin` under `key`: the answer of an earlier call under the same key, or a
    /// new effect - a duplicate of `known` or of a code registered earlier, or a code from `new`.
    /// `None` when `new` cannot make one.
    pub(crate) fn assign(
        &self,
        iin: &str,
        key: Option<&str>,
        known: Option<&SikRecord>,
        new: impl FnOnce() -> Option<SikRecord>,
    ) -> Option<(SikRecord, Outcome)> {
        // A poisoned lock only means a panic elsewhere while holding it; the ledger stays usable.
        let mut ledger = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&at) = key.and_then(|k| ledger.by_key.get(k)) {
            let effect = &mut ledger.effects[at];
            effect.calls += 1;
            return Some((effect.record.clone(), effect.outcome));
        }
        let (record, outcome) = match known.or_else(|| ledger.registered.get(iin)) {
            Some(record) => (record.clone(), Outcome::Duplicate),
            None => {
                let record = new()?;
                ledger.registered.insert(iin.to_owned(), record.clone());
                (record, Outcome::Assigned)
            }
        };
        if let Some(key) = key {
            let at = ledger.effects.len();
            ledger.by_key.insert(key.to_owned(), at);
        }
        ledger.effects.push(Effect {
            key: key.map(str::to_owned),
            iin: iin.to_owned(),
            outcome,
            calls: 1,
            record: record.clone(),
        });
        Some((record, outcome))
    }

    /// Every effect so far, in the order they happened.
    pub(crate) fn list(&self) -> Vec<Effect> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .effects
            .clone()
    }
}
