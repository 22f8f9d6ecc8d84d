//! Driving one request: ask the domain what it needs, do it, record the outcome, again.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::catalog::Lookup;
use domain::request::{
    Command, LookupFailure, LookupOutcome, Request, RequestEvent, SignatureCheck,
    SignatureRejection, Stage,
};
use domain::workflow::{next, Next, Timed};
use domain::{Actor, RequestForm, StreamId};
use rand::Rng;
use uuid::Uuid;

use super::Workflow;
use crate::adapters::nca::{NcaError, SignatureToCheck};
use crate::adapters::registries::{LookupQuery, RegistryAnswer, RegistryError};
use crate::requests::{CommandError, Loaded};
use crate::results::ResultError;
use event_store::StoreError;

/// The most rounds in a row that record nothing before a drive lets go of a request (a guard
/// against a loop the domain and the workflow could disagree into). Waiting for a registry or an
/// OCSP responder is bounded by the step's time limit instead.
const MAX_STALLED_ROUNDS: usize = 16;

/// The namespace of the idempotency keys sent to registries (UUID v5).
const REGISTRY_CALL_NAMESPACE: Uuid = Uuid::from_u128(0x6567_6f76_2d72_6567_6973_7472_792d_6b65);

/// The idempotency key a registry gets with a lookup of the request in stream `stream`: one per
/// request and lookup for a call that changes the registry's records (every attempt at it the
/// same, so it takes effect once), one per attempt for a read (a new attempt is a new question).
pub fn registry_call_key(stream: Uuid, lookup: Lookup, attempt: u32) -> Uuid {
    let key = if lookup.changes_records() {
        format!("{stream}/{lookup:?}")
    } else {
        format!("{stream}/{lookup:?}/{attempt}")
    };
    Uuid::new_v5(&REGISTRY_CALL_NAMESPACE, key.as_bytes())
}

/// Why a request could not be driven now; the task is retried after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the signature verifier cannot run: {0}")]
    Verifier(String),
    #[error(transparent)]
    Result(#[from] ResultError),
    #[error(transparent)]
    Db(#[from] event_store::DbFailure),
    #[error("{0} rounds in a row recorded nothing; the request is left for a later drive")]
    Unsettled(usize),
}

impl WorkflowError {
    pub(super) fn database(
        doing: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> WorkflowError + Copy {
        move |source| WorkflowError::Db(event_store::DbFailure::of(doing)(source))
    }
}

impl Workflow {
    /// Drives the request until it waits or ends. Returns when it is next due (a timer), or
    /// `None` when nothing will happen until someone acts.
    ///
    /// # Errors
    /// [`WorkflowError`] when the store, the verifier or the document store fail; what was
    /// recorded stays recorded, and the next drive resumes from it.
    #[tracing::instrument(skip_all, fields(stream_id = %stream_id, worker = %self.worker_id))]
    pub async fn drive(&self, stream_id: StreamId) -> Result<Option<DateTime<Utc>>, WorkflowError> {
        // Named by worker, so that an auditor sees which process recorded each step.
        let actor = Actor::System {
            component: format!("workflow/{}", self.worker_id),
        };
        let mut stalled = 0;
        // Attempts at the revocation check in this drive, for the backoff between them.
        let mut ocsp_attempts = 0u32;
        let mut loaded = self.requests.load(stream_id).await?;
        while stalled < MAX_STALLED_ROUNDS {
            let history: Vec<Timed<'_>> = loaded
                .recorded_at
                .iter()
                .zip(&loaded.events)
                .map(|(at, event)| Timed { at: *at, event })
                .collect();
            let now = Utc::now();
            let command = match next(&loaded.state, &history, now) {
                Next::Done => return Ok(None),
                Next::Wait { until } => return Ok(until),
                Next::VerifySignature { step_deadline } => {
                    match self.verify(&loaded, &history).await? {
                        Some(check) => Command::RecordSignatureCheck(check),
                        None => {
                            // No answer on revocation: ask again until the step's time is spent.
                            ocsp_attempts = ocsp_attempts.saturating_add(1);
                            self.pause(ocsp_attempts, step_deadline).await;
                            continue;
                        }
                    }
                }
                Next::Lookup {
                    lookup,
                    attempt,
                    resume: true,
                    step_deadline,
                } => {
                    let outcome = self.call(&loaded, lookup, attempt, step_deadline).await;
                    let failed = matches!(
                        outcome,
                        LookupOutcome::Failed(LookupFailure::Unavailable | LookupFailure::TimedOut)
                    );
                    let command = Command::RecordLookup {
                        lookup,
                        attempt,
                        outcome,
                    };
                    if failed {
                        stalled = self.record(&mut loaded, command, &actor, stalled).await?;
                        self.pause(attempt, step_deadline).await;
                        continue;
                    }
                    command
                }
                Next::IssueResult => self.issue(&loaded).await?,
                Next::IssueRefusal => self.issue_refusal(&loaded).await?,
                Next::MarkServiceDeadlineMissed => Command::MarkServiceDeadlineMissed,
                Next::Abandon => {
                    tracing::info!(%stream_id, "nobody signed the request in time; it is abandoned");
                    Command::Abandon
                }
                Next::MarkStepDeadlineMissed(step) => late_step(stream_id, step),
                Next::Refuse(reason) => time_spent(stream_id, reason),
                Next::RejectUnverifiable => {
                    Command::RecordSignatureCheck(SignatureCheck::Rejected {
                        reason: SignatureRejection::RevocationUnknown,
                        certificate: None,
                    })
                }
                Next::Lookup {
                    lookup,
                    attempt,
                    resume: false,
                    ..
                } => Command::StartLookup { lookup, attempt },
            };
            stalled = self.record(&mut loaded, command, &actor, stalled).await?;
        }
        Err(WorkflowError::Unsettled(MAX_STALLED_ROUNDS))
    }

    /// Records a decision and brings `loaded` up to date: with what was appended, or by reading
    /// the stream again after a lost race (another writer appended first) or a command the domain
    /// no longer takes (someone else recorded the step) - neither is an error. Returns the count
    /// of rounds in a row that recorded nothing.
    async fn record(
        &self,
        loaded: &mut Loaded,
        command: Command,
        actor: &Actor,
        stalled: usize,
    ) -> Result<usize, WorkflowError> {
        let chains = matches!(
            command,
            Command::RecordSignatureCheck(SignatureCheck::Verified(_))
                | Command::RecordLookup {
                    outcome: LookupOutcome::Found(_),
                    ..
                }
        );
        let events = &loaded.events;
        let then = |after: &Request| chains.then(|| next_lookup(events, after)).flatten();
        match self
            .requests
            .record(loaded, command, then, actor, Utc::now())
            .await
        {
            Ok(appended) => {
                loaded.extend(appended, Utc::now());
                return Ok(0);
            }
            Err(CommandError::Store(StoreError::Conflict { .. })) => {}
            Err(CommandError::Rejected(error)) => {
                tracing::debug!(stream_id = %loaded.stream_id, error = %error, "the request moved on meanwhile");
            }
            Err(error) => return Err(error.into()),
        }
        *loaded = self.requests.load(loaded.stream_id).await?;
        Ok(stalled + 1)
    }

    /// A pause before the next attempt: exponential with full jitter, never past `until`.
    async fn pause(&self, attempt: u32, until: DateTime<Utc>) {
        let ceiling = self
            .settings
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.settings.retry_max);
        let pause = rand::thread_rng().gen_range(Duration::ZERO..=ceiling);
        let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(pause.min(left)).await;
    }

    /// The verifier's verdict on the last signature, or `None` when revocation cannot be learnt
    /// now (the OCSP responder is down): never a silent "good".
    async fn verify(
        &self,
        loaded: &Loaded,
        history: &[Timed<'_>],
    ) -> Result<Option<SignatureCheck>, WorkflowError> {
        let domain::request::Request::Open(open) = &loaded.state else {
            return Ok(None);
        };
        // The last signature: the citizen's (portal) or the operator's (service centre), with the
        // IIN its certificate must carry.
        let signed = history.iter().rev().find_map(|t| match t.event {
            RequestEvent::Signed(signed) => {
                Some((t.at, signed.cms.as_deref(), Some(&open.info.applicant)))
            }
            RequestEvent::OperatorSigned(signed) => {
                Some((t.at, signed.cms.as_deref(), signed.operator_iin.as_ref()))
            }
            _ => None,
        });
        let malformed = Some(SignatureCheck::Rejected {
            reason: SignatureRejection::Malformed,
            certificate: None,
        });
        let Some((received_at, Some(cms), Some(signer))) = signed else {
            // A version 1 event did not keep its container: nothing to verify.
            return Ok(malformed);
        };
        let Ok(cms) = base64::engine::general_purpose::STANDARD.decode(cms) else {
            return Ok(malformed);
        };
        let document = open.document_to_sign();
        let verdict = self
            .verifier
            .verify(SignatureToCheck {
                document: &document,
                cms: &cms,
                applicant: signer,
                received_at,
                request_received_at: open.info.received_at,
            })
            .await;
        match verdict {
            Ok(verdict) => Ok(Some(verdict.check)),
            Err(NcaError::RevocationUnknown(why)) => {
                tracing::warn!(stream_id = %loaded.stream_id, reason = %why, "revocation unknown; the check is retried");
                Ok(None)
            }
            Err(NcaError::Internal(why)) => Err(WorkflowError::Verifier(why)),
        }
    }

    /// One attempt at a lookup, under the idempotency key of [`registry_call_key`].
    async fn call(
        &self,
        loaded: &Loaded,
        lookup: Lookup,
        attempt: u32,
        step_deadline: DateTime<Utc>,
    ) -> LookupOutcome {
        let Some(info) = loaded.info() else {
            return LookupOutcome::Failed(LookupFailure::Unavailable);
        };
        let query = LookupQuery {
            lookup,
            iin: info.asked_about(lookup).clone(),
            service: info.service,
            period: match &info.form {
                RequestForm::Statement {
                    period: Some(period),
                } => Some((period.start, period.end)),
                _ => None,
            },
            power_of_attorney: info
                .representative
                .as_ref()
                .map(|r| r.power_of_attorney_number.clone()),
            idempotency_key: registry_call_key(loaded.stream_id.as_uuid(), lookup, attempt),
        };
        let left = (step_deadline - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let deadline = tokio::time::Instant::now() + left;
        match self.registries.lookup(&query, deadline).await {
            Ok(RegistryAnswer::Found(data)) => LookupOutcome::Found(data),
            Ok(RegistryAnswer::NotFound) => LookupOutcome::Failed(LookupFailure::NotFound),
            Err(RegistryError::TimedOut { .. }) => LookupOutcome::Failed(LookupFailure::TimedOut),
            Err(error) => {
                tracing::warn!(stream_id = %loaded.stream_id, lookup = ?lookup, attempt, error = %error, "registry unavailable");
                LookupOutcome::Failed(LookupFailure::Unavailable)
            }
        }
    }

    /// Composes the refusal document of a refused request, signs it, stores it (once) and says
    /// what to record (REG 284-286).
    async fn issue_refusal(&self, loaded: &Loaded) -> Result<Command, WorkflowError> {
        let (Some(info), Request::Closed(closed)) = (loaded.info(), &loaded.state) else {
            return Err(CommandError::NotFound.into());
        };
        let domain::request::Outcome::Refused { reason } = closed.outcome else {
            return Err(CommandError::NotFound.into());
        };
        // Issued at the refusal's own time, so a drive that resumes composes the same bytes.
        let refused_at = loaded
            .events
            .iter()
            .zip(&loaded.recorded_at)
            .rev()
            .find_map(|(e, at)| matches!(e, RequestEvent::Refused(_)).then_some(*at))
            .unwrap_or_else(Utc::now);
        let composed = domain::result::compose_refusal(info, reason, refused_at);
        let (number, sha256) = self.sign_and_store(loaded, &composed).await?;
        Ok(Command::IssueRefusal {
            document_number: number,
            document_sha256: sha256,
        })
    }

    /// Signs a composed document with the provider's key and stores it; the one stored first
    /// wins, so a request never gets two documents. Its number and digest.
    async fn sign_and_store(
        &self,
        loaded: &Loaded,
        composed: &domain::result::Composed,
    ) -> Result<(String, String), WorkflowError> {
        let bytes = composed.bytes();
        let signature = self.provider.sign(&bytes)?;
        let stored = self
            .documents
            .store(loaded.stream_id, &composed.number, &bytes, &signature)
            .await?;
        Ok((stored.number, stored.sha256))
    }

    /// Composes the result from the answers, signs it, stores it (once) and says what to record.
    async fn issue(&self, loaded: &Loaded) -> Result<Command, WorkflowError> {
        let Some(info) = loaded.info() else {
            return Err(CommandError::NotFound.into());
        };
        let answers = domain::result::answers(&loaded.events);
        let composed = match domain::result::compose(info, &answers, Utc::now()) {
            Ok(composed) => composed,
            Err(error) => {
                tracing::error!(stream_id = %loaded.stream_id, error = %error, "the registries' answers cannot make a result; refusing with a processing error");
                return Ok(Command::Refuse {
                    reason: domain::RefusalReason::ProcessingError,
                });
            }
        };
        let (document_number, document_sha256) = self.sign_and_store(loaded, &composed).await?;
        Ok(Command::IssueResult {
            document_number,
            document_sha256,
            sik_branch: composed.sik_branch,
        })
    }
}

/// Marks a step late, with a warning for the operator.
fn late_step(stream_id: StreamId, step: domain::catalog::Step) -> Command {
    tracing::warn!(stream_id = %stream_id, step = ?step, "a step took longer than its limit");
    Command::MarkStepDeadlineMissed { step }
}

/// Refuses because a step's time is spent, with a warning for the operator.
fn time_spent(stream_id: StreamId, reason: domain::RefusalReason) -> Command {
    tracing::warn!(stream_id = %stream_id, reason = %reason, "refusing: a step's time is spent");
    Command::Refuse { reason }
}

/// The lookup a verified signature or an answered lookup leads to (`after` is the state it left),
/// asked in the same append: it is what the next round would record first, and recording it with
/// the step before saves a round trip and a commit per lookup. Only a lookup never asked before
/// (attempt 1) is chained.
fn next_lookup(events: &[RequestEvent], after: &Request) -> Option<Command> {
    let Request::Open(open) = after else {
        return None;
    };
    let Stage::Lookups {
        done,
        in_flight: None,
    } = open.stage
    else {
        return None;
    };
    let lookup = *open.lookups.get(done)?;
    let asked_before = events
        .iter()
        .any(|e| matches!(e, RequestEvent::LookupRequested(r) if r.lookup == lookup));
    (!asked_before).then_some(Command::StartLookup { lookup, attempt: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sik_assignment_keeps_its_key_across_attempts_and_a_read_does_not() {
        let stream = Uuid::from_u128(7);
        let sik = |attempt| registry_call_key(stream, Lookup::SikProcessing, attempt);
        assert_eq!(sik(1), sik(2));
        let read = |attempt| registry_call_key(stream, Lookup::FundMovements, attempt);
        assert_ne!(read(1), read(2));
        // Each request has keys of its own.
        assert_ne!(
            sik(1),
            registry_call_key(Uuid::from_u128(8), Lookup::SikProcessing, 1)
        );
    }
}
