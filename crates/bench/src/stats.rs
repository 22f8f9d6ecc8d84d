//! Figures from measurements: percentiles, and the lags of events from append to read model.

use std::time::Duration;

/// The `q`-quantile of `latencies` in milliseconds (0 for none).
pub(crate) fn percentile_ms(latencies: &[Duration], q: f64) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    // Rounds q * last to the nearest index; both are small and non-negative.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((last as f64) * q).round() as usize;
    sorted
        .get(index.min(last))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The lags of the events recorded from `from` on, from the batches the projector reported.
#[derive(Default)]
pub(crate) struct EventLags {
    /// From recorded to committed in the read model, per event.
    pub lags: Vec<Duration>,
    /// From recorded to read by the projector, per event.
    pub waits: Vec<Duration>,
    /// From read to committed, per batch.
    pub applying: Vec<Duration>,
}

pub(crate) fn event_lags(
    batches: &mut tokio::sync::mpsc::UnboundedReceiver<projections::BatchApplied>,
    from: chrono::DateTime<chrono::Utc>,
) -> EventLags {
    let mut lags = EventLags::default();
    while let Ok(batch) = batches.try_recv() {
        let before = lags.lags.len();
        lags.lags.extend(batch.lags_since(from));
        lags.waits.extend(batch.waits_since(from));
        if lags.lags.len() > before {
            lags.applying.push(batch.applying());
        }
    }
    lags
}
