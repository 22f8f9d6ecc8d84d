//! What `/metrics` reads at each scrape from the registries' adapters and the workflow: calls,
//! retries, failures, refusals and open circuits per registry, and lease takeovers - the counters
//! an operator needs to see a registry outage or a dead worker.

use std::sync::Arc;

use commands::adapters::registries::{Registries, RegistryFigures};
use commands::workflow::Workflow;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
    /// Who asks: `workflow` (one attempt per recorded call) or `social-status` (retried within
    /// the check's deadline).
    caller: String,
}

/// The adapters and the workflow whose figures each scrape reads.
#[derive(Clone)]
pub struct Operations {
    /// The registries by who calls them.
    pub registries: Vec<(&'static str, Arc<dyn Registries>)>,
    /// The workflow this process runs, if it runs one.
    pub workflow: Option<Arc<Workflow>>,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations")
            .field(
                "callers",
                &self.registries.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            )
            .field("workflow", &self.workflow.is_some())
            .finish()
    }
}

/// A counter per registry: its name, its help, and the figure it shows.
type Counted = (&'static str, &'static str, fn(&RegistryFigures) -> u64);

const COUNTERS: [Counted; 4] = [
    (
        "registry_attempts",
        "Calls sent to a registry (every attempt), by registry and caller",
        |f| f.attempts,
    ),
    (
        "registry_retries",
        "Attempts after a lookup's first one",
        |f| f.retries,
    ),
    (
        "registry_failures",
        "Attempts that got no answer (timed out, refused, a 5xx)",
        |f| f.failures,
    ),
    (
        "registry_refused_by_circuit",
        "Lookups refused at once because the registry's circuit was open",
        |f| f.refused_open,
    ),
];

impl Collector for Operations {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures: Vec<(RegistryLabels, RegistryFigures)> = self
            .registries
            .iter()
            .flat_map(|(caller, registries)| {
                registries.figures().into_iter().map(|f| {
                    let labels = RegistryLabels {
                        registry: f.registry.name().to_owned(),
                        caller: (*caller).to_owned(),
                    };
                    (labels, f)
                })
            })
            .collect();
        for (name, help, value) in COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, f) in &figures {
                ConstCounter::new(value(f)).encode(family.encode_family(labels)?)?;
            }
        }
        let mut open = encoder.encode_descriptor(
            "registry_circuit_open",
            "1 while a registry's circuit is open (its lookups are refused at once)",
            None,
            MetricType::Gauge,
        )?;
        for (labels, f) in &figures {
            ConstGauge::new(i64::from(f.circuit_open)).encode(open.encode_family(labels)?)?;
        }
        if let Some(workflow) = &self.workflow {
            let takeovers = ConstCounter::new(workflow.takeovers());
            takeovers.encode(encoder.encode_descriptor(
                "workflow_lease_takeovers",
                "Workflow tasks this process claimed after another claim on them ran out",
                None,
                takeovers.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
