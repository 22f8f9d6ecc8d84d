//! The social-status check of a medical organisation (docs/domain.md 8): the MTSZN registry is asked at
//! once and the check is recorded as a `SocialStatusChecked` event in a stream of its own, naming
//! who looked up whom, from which organisation and why - whatever the registry answered.

use std::sync::Arc;

use domain::catalog::Lookup;
use domain::social_status::{CheckOutcome, SocialStatusChecked, EVENT_TYPE, SCHEMA_VERSION};
use domain::{Actor, Channel, EventMetadata, Iin, ServiceCode, StreamId, StreamVersion};
use uuid::Uuid;

use crate::adapters::registries::{LookupQuery, Registries, RegistryAnswer};
use event_store::{EventStore, NewEvent, StoreError};

/// A check to make.
#[derive(Debug, Clone)]
pub struct StatusCheck {
    /// Who asks (recorded as the event's actor).
    pub actor: Actor,
    /// The user's name for the record (the token's subject).
    pub checker: String,
    pub organisation: Option<String>,
    pub patient: Iin,
    pub purpose: Option<String>,
}

/// Makes and records checks.
#[derive(Clone)]
pub struct SocialStatusChecks {
    store: EventStore,
    registries: Arc<dyn Registries>,
}

impl SocialStatusChecks {
    /// Checks asked of `registries` (which retry within the check's deadline: the answer is
    /// given at once) and recorded in `store`.
    pub fn new(store: EventStore, registries: Arc<dyn Registries>) -> Self {
        Self { store, registries }
    }

    /// Asks the registry (until `deadline`) and records the check with its outcome.
    ///
    /// # Errors
    /// Store errors: then nothing is recorded and no answer is given, so no unrecorded look at a
    /// citizen's data is ever shown.
    pub async fn check(
        &self,
        check: StatusCheck,
        deadline: tokio::time::Instant,
    ) -> Result<SocialStatusChecked, StoreError> {
        let stream_id = StreamId::from_uuid(Uuid::now_v7());
        let query = LookupQuery {
            lookup: Lookup::SocialStatus,
            iin: check.patient.clone(),
            service: ServiceCode::SocialStatusCheck,
            period: None,
            power_of_attorney: None,
            idempotency_key: stream_id.as_uuid(),
        };
        let result = match self.registries.lookup(&query, deadline).await {
            Ok(RegistryAnswer::Found(answer)) => match answer["status"].as_str() {
                Some(status) => CheckOutcome::Found {
                    line: domain::result::status_line(&check.patient, status),
                    status: status.to_owned(),
                    explanation: answer["explanation"].as_str().map(str::to_owned),
                },
                None => {
                    tracing::warn!("the social-status answer has no status");
                    CheckOutcome::Unavailable
                }
            },
            Ok(RegistryAnswer::NotFound) => CheckOutcome::NotFound,
            Err(error) => {
                tracing::warn!(error = %error, "the social-status registry did not answer");
                CheckOutcome::Unavailable
            }
        };
        let event = SocialStatusChecked {
            checker: check.checker,
            organisation: check.organisation,
            patient: check.patient,
            purpose: check.purpose,
            result,
        };
        let payload = serde_json::to_value(&event).unwrap_or(serde_json::Value::Null);
        let new_event = NewEvent::new(Uuid::now_v7(), EVENT_TYPE, SCHEMA_VERSION, payload)?;
        let metadata = EventMetadata {
            actor: check.actor,
            channel: Channel::Portal,
            correlation_id: stream_id.as_uuid(),
            causation_id: None,
        };
        self.store
            .append(stream_id, StreamVersion::EMPTY, &[new_event], &metadata)
            .await?;
        Ok(event)
    }
}
