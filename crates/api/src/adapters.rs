//! The adapters the service runs with in production, chosen from [`Settings`]: the OpenSSL
//! verifier with the configured trust anchors and OCSP responder (and CRLs), the registries over
//! HTTP, the scans in PostgreSQL, and the provider's key. Tests hand [`crate::App::build_with`]
//! fakes instead.

use std::sync::Arc;
use std::time::Duration;

use commands::adapters::nca::dev_ca::DevCaError;
use commands::adapters::nca::{DevCa, OpensslVerifier, SignatureVerifier, TrustAnchorError};
use commands::adapters::registries::{BreakerSettings, HttpRegistries, Registries, RetryPolicy};
use commands::adapters::scans::{PgScans, ScanStore};
use commands::results::{log_key, ProviderKey, ResultError};
use domain::tree_head::NoteSigner;
use event_store::Database;

use crate::settings::Mode;
use crate::Settings;

/// How long one OCSP exchange may take.
const OCSP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one registry call of the workflow may take (less when its step's time runs out
/// first).
const REGISTRY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The outside world as the service reaches it.
pub struct Adapters {
    /// Checks citizens' and operators' signatures.
    pub verifier: Arc<dyn SignatureVerifier>,
    /// The registries as the workflow asks them: one attempt per call, each recorded.
    pub registries: Arc<dyn Registries>,
    /// The registries for checks answered at once (the social status): retried within the
    /// check's deadline.
    pub checks: Arc<dyn Registries>,
    /// Where the service centres' scans are kept.
    pub scans: Arc<dyn ScanStore>,
    /// The key result documents are signed with.
    pub provider: ProviderKey,
    /// The key the log's tree heads are signed with.
    pub log: Arc<NoteSigner>,
    /// The development CA, in development mode only: the verifier trusts it, and the pages'
    /// development stand-ins issue its certificates.
    pub dev_ca: Option<Arc<DevCa>>,
}

/// Why the adapters cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("EGOV_TRUST_ANCHORS: {0}")]
    TrustAnchors(#[from] TrustAnchorError),
    #[error("no registries: set EGOV_REGISTRY_URL")]
    NoRegistries,
    #[error("cannot build an HTTP client for {what}: {source}")]
    Http {
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("the development CA: {0}")]
    DevCa(#[from] DevCaError),
    #[error("the signature verifier: {0}")]
    Verifier(#[from] commands::adapters::nca::NcaError),
    #[error("the provider's key: {0}")]
    ProviderKey(#[from] ResultError),
    #[error("the log's key: {0}")]
    LogKey(ResultError),
    #[error(transparent)]
    NotInProduction(#[from] crate::settings::NotInProduction),
}

impl Adapters {
    /// The production adapters of `settings`, over `db` (the scans' store).
    ///
    /// # Errors
    /// [`AdapterError`] when the trust anchors or the provider's key cannot be read, or no
    /// registry URL is set.
    pub fn production(settings: &Settings, db: &Database) -> Result<Adapters, AdapterError> {
        let registry_url = settings
            .registry_url
            .as_deref()
            .ok_or(AdapterError::NoRegistries)?;
        let http = |what| move |source| AdapterError::Http { what, source };
        let registries = HttpRegistries::new(
            registry_url,
            RetryPolicy::single_attempt(REGISTRY_ATTEMPT_TIMEOUT),
            BreakerSettings::default(),
        )
        .map_err(http("the registries"))?;
        let checks = HttpRegistries::new(
            registry_url,
            RetryPolicy::default(),
            BreakerSettings::default(),
        )
        .map_err(http("the registries"))?;
        let provider = match &settings.provider_key {
            Some((key, cert)) => ProviderKey::load(key, cert)?,
            None => {
                settings.development_only(
                    "EGOV_PROVIDER_KEY",
                    "signing result documents with a self-made development key",
                )?;
                ProviderKey::development(&settings.dev_provider_dir())?
            }
        };
        let dev_ca = development_ca(settings)?;
        Ok(Adapters {
            verifier: Arc::new(verifier(settings, dev_ca.clone())?),
            registries: Arc::new(registries),
            checks: Arc::new(checks),
            scans: Arc::new(PgScans::new(db.clone())),
            provider,
            log: Arc::new(log_signer(settings)?),
            dev_ca,
        })
    }
}

/// The log's signing key: `EGOV_LOG_KEY`, or in development one beside the data directory.
///
/// # Errors
/// A key that cannot be read, or none in production.
pub fn log_signer(settings: &Settings) -> Result<NoteSigner, AdapterError> {
    let signer = match &settings.log_key {
        Some(path) => log_key::load(path).map_err(AdapterError::LogKey)?,
        None => {
            settings.development_only(
                "EGOV_LOG_KEY",
                "signing the log's tree heads with a self-made development key",
            )?;
            log_key::development(&settings.dev_provider_dir()).map_err(AdapterError::LogKey)?
        }
    };
    tracing::info!(log = signer.name(), key = %signer.verifier(), "signing tree heads of this log");
    Ok(signer)
}

/// The development CA beside the data directory (made the first time), in development mode;
/// `None` in production.
///
/// # Errors
/// When the CA cannot be read or made.
pub fn development_ca(settings: &Settings) -> Result<Option<Arc<DevCa>>, AdapterError> {
    match settings.mode {
        Mode::Development => Ok(Some(Arc::new(DevCa::open_or_create(
            &settings.dev_ca_dir(),
        )?))),
        Mode::Production => Ok(None),
    }
}

/// The OpenSSL verifier with the configured trust anchors, OCSP responder and CRLs; with the
/// development CA (development mode) also trusting it, its OCSP answers coming from inside the
/// process.
fn verifier(
    settings: &Settings,
    dev_ca: Option<Arc<DevCa>>,
) -> Result<OpensslVerifier, AdapterError> {
    let mut anchors = match &settings.trust_anchors {
        Some(path) => {
            let anchors = OpensslVerifier::load_anchors(path)?;
            tracing::info!(anchors = anchors.len(), path = %path.display(), "trusting these certification authorities for signatures");
            anchors
        }
        None => {
            settings.development_only(
                "EGOV_TRUST_ANCHORS",
                "only the development CA is trusted (`egov dev-cert` issues its certificates)",
            )?;
            Vec::new()
        }
    };
    if let Some(ca) = &dev_ca {
        tracing::warn!(dir = %settings.dev_ca_dir().display(), "DEVELOPMENT MODE: trusting the development CA and answering OCSP for its certificates in-process");
        anchors.push(ca.certificate().clone());
    }
    let verifier = OpensslVerifier::new(anchors, settings.ocsp_url.clone(), OCSP_TIMEOUT)?
        .with_crls(settings.crl_urls.clone())
        .with_ocsp_max_age(settings.ocsp_max_age);
    Ok(match dev_ca {
        Some(ca) => verifier.with_local_responder(ca),
        None => verifier,
    })
}
