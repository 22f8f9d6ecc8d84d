//! The workflow as the binary runs it: the adapters chosen from [`Settings`] (the OpenSSL
//! verifier with the configured trust anchors and OCSP responder, the registries over HTTP with
//! one attempt per call, the provider's key) and the process manager over them.

use std::sync::Arc;
use std::time::Duration;

use commands::nca::{OpensslVerifier, TrustAnchorError};
use commands::registries::{BreakerSettings, HttpRegistries, RetryPolicy};
use commands::results::ProviderKey;
use commands::workflow::{Workflow, WorkflowSettings};
use commands::Requests;

use crate::Settings;

/// The workflow of the binary.
pub type AppWorkflow = Workflow<OpensslVerifier, HttpRegistries>;

/// Why the workflow cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WorkerSetupError {
    #[error("EGOV_TRUST_ANCHORS: {0}")]
    TrustAnchors(#[from] TrustAnchorError),
    #[error("cannot build an HTTP client for {what}: {source}")]
    Http {
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("the provider's key: {0}")]
    ProviderKey(#[from] commands::results::ResultError),
}

/// How long one OCSP exchange may take.
const OCSP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one registry call may take (less when its step's time runs out first).
const REGISTRY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the workflow from the settings, over the registries at `registry_url`.
///
/// # Errors
/// [`WorkerSetupError`] when the trust anchors or the provider's key cannot be read.
pub fn build(
    settings: &Settings,
    requests: Requests,
    registry_url: &str,
) -> Result<Arc<AppWorkflow>, WorkerSetupError> {
    let anchors = match &settings.trust_anchors {
        Some(path) => {
            let anchors = OpensslVerifier::load_anchors(path)?;
            tracing::info!(anchors = anchors.len(), path = %path.display(), "trusting these certification authorities for signatures");
            anchors
        }
        None => {
            tracing::warn!("EGOV_TRUST_ANCHORS is not set: no certification authority is trusted, so every signature is refused (signature-invalid); set it to the NCA's CA certificates");
            Vec::new()
        }
    };
    let verifier = OpensslVerifier::new(anchors, settings.ocsp_url.clone(), OCSP_TIMEOUT)
        .map_err(|source| WorkerSetupError::Http {
            what: "OCSP",
            source,
        })?
        .with_crls(settings.crl_urls.clone());
    let registries = HttpRegistries::new(
        registry_url,
        RetryPolicy::single_attempt(REGISTRY_ATTEMPT_TIMEOUT),
        BreakerSettings::default(),
    )
    .map_err(|source| WorkerSetupError::Http {
        what: "the registries",
        source,
    })?;
    let provider = match &settings.provider_key {
        Some((key, cert)) => ProviderKey::load(key, cert)?,
        None => ProviderKey::development(&settings.dev_provider_dir())?,
    };
    Ok(Workflow::new(
        requests,
        verifier,
        registries,
        provider,
        WorkflowSettings {
            concurrency: settings.workflow_concurrency,
            lease: settings.workflow_lease,
            ..WorkflowSettings::default()
        },
    ))
}
