//! Faults injected into the registries' answers: added latency, a share of 503 answers, a full
//! outage. Set at start, switched at run time through `PUT /admin/faults`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Faults to inject, switchable at run time.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    /// The share of answers that are 503, as f64 bits.
    error_rate: AtomicU64,
    outage: AtomicBool,
}

/// The faults as JSON (`GET` and `PUT /admin/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub outage: bool,
}

impl Faults {
    /// Faults as configured.
    pub fn new(settings: FaultSettings) -> Self {
        let faults = Faults::default();
        faults.set(settings);
        faults
    }

    pub(crate) fn set(&self, settings: FaultSettings) {
        self.latency_ms.store(settings.latency_ms, Ordering::SeqCst);
        self.error_rate
            .store(settings.error_rate.to_bits(), Ordering::SeqCst);
        self.outage.store(settings.outage, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: self.latency_ms.load(Ordering::SeqCst),
            error_rate: f64::from_bits(self.error_rate.load(Ordering::SeqCst)),
            outage: self.outage.load(Ordering::SeqCst),
        }
    }
}

/// Checks fault settings: latency up to 10 minutes, error rate a share between 0 and 1.
///
/// # Errors
/// What is out of range.
pub fn check_faults(settings: &FaultSettings) -> Result<(), String> {
    if !(0.0..=1.0).contains(&settings.error_rate) {
        return Err(format!(
            "error_rate {} is not between 0 and 1",
            settings.error_rate
        ));
    }
    if settings.latency_ms > 600_000 {
        return Err(format!("latency_ms {} is over 600000", settings.latency_ms));
    }
    Ok(())
}
