//! Command handlers for requests: load the stream, let the domain decide, append what it decided.
//!
//! Each handler is one round of optimistic concurrency: load the request's events, fold them with
//! `evolve`, call `decide`, append at the version it loaded. When another writer got there first,
//! the handler loads again and decides again, a few times, before it gives up with
//! [`CommandError::Busy`].
//!
//! Retries from clients stay single: a submission with an `Idempotency-Key` lives in a stream whose
//! id is derived from the caller and the key, and every event id a handler writes is derived from
//! what it records, so a resent command appends nothing and answers as the first time did.

mod desk;
mod error;
mod filing;
mod numbers;

use chrono::{DateTime, SubsecRound, Utc};
use domain::request::{
    decide, evolve, Command, DomainError, Request, RequestEvent, RequestInfo, SurveyAnswer,
};
use domain::{
    Actor, Channel, EventMetadata, Iin, RecordedEvent, RequestNumber, ServiceCode, SignedIn,
    StreamId, StreamVersion,
};
use serde_json::Value;
use uuid::Uuid;

pub use error::CommandError;
use filing::{replay_submission, submit_command};

use event_store::{EventStore, NewEvent, StoreError};

/// How many times a handler decides again after losing a race for a stream.
const ATTEMPTS: usize = 5;

/// The namespace of the ids derived from callers' idempotency keys (UUID v5).
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6567_6f76_2d65_7665_6e74_732d_6964_656d);

/// A request to file, as a portal client sends it (the API has parsed the service and the IIN).
#[derive(Debug, Clone)]
pub struct Submission {
    pub service: ServiceCode,
    pub applicant: Iin,
    pub form: Value,
    /// Who files it, and through which channel.
    pub actor: Actor,
    pub channel: Channel,
    /// The client's `Idempotency-Key`: the same key from the same actor through the same
    /// organisation returns the same request.
    pub idempotency_key: Option<String>,
    /// At a service centre: who acts for the citizen, under which power of attorney.
    pub representative: Option<domain::request::Representative>,
    /// At a service centre: the operator who files it.
    pub operator_id: Option<String>,
    /// A social-status check: the medical organisation whose user files it.
    pub organisation: Option<String>,
    /// At a service centre: the person at the desk, as their identity document names them.
    pub presented: Option<domain::request::PresentedPerson>,
    /// How many requests the actor may file in a day (a new number each); past it the filing is
    /// refused with [`CommandError::DailyLimitReached`].
    pub daily_limit: u32,
}

/// How many requests a citizen may file in a day unless configured otherwise.
pub const DEFAULT_DAILY_FILINGS: u32 = 50;

impl Submission {
    /// A citizen filing for themself on the portal, without an idempotency key or a daily limit
    /// (the API sets the limit of the principal's role).
    #[must_use]
    pub fn on_portal(service: ServiceCode, applicant: Iin, form: Value) -> Self {
        Self {
            service,
            actor: Actor::Citizen {
                iin: applicant.clone(),
            },
            applicant,
            form,
            channel: Channel::Portal,
            idempotency_key: None,
            representative: None,
            operator_id: None,
            organisation: None,
            presented: None,
            daily_limit: u32::MAX,
        }
    }

    /// The stream a filing under an idempotency key goes to: the same key from the same actor
    /// through the same organisation (the service centre and operator filing it, the medical
    /// organisation of a check) is the same request. A key is its client's: the same person
    /// signed in through another organisation is another client, whose key files its own request
    /// and never answers with the first one (nor names it).
    fn keyed_stream(&self) -> Option<StreamId> {
        let key = self.idempotency_key.as_deref()?;
        let name = match self.operator_id.as_deref().or(self.organisation.as_deref()) {
            Some(through) => format!("{}\n{through}\n{key}", self.actor),
            // A citizen's own keys derive as they always have, so a retry across this rule's
            // introduction still finds its request (an operator's or a medical user's files anew).
            None => format!("{}\n{key}", self.actor),
        };
        Some(StreamId::from_uuid(Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            name.as_bytes(),
        )))
    }
}

/// A request as the handlers see it: its submission and where it stands.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub stream_id: StreamId,
    pub state: Request,
    pub version: StreamVersion,
    /// The stream's events, decoded (a resent command is recognised among them).
    pub events: Vec<RequestEvent>,
    /// When each event was recorded (same order as `events`), for the workflow's timers.
    pub recorded_at: Vec<DateTime<Utc>>,
}

impl Loaded {
    /// The submission, once there is one.
    pub fn info(&self) -> Option<&RequestInfo> {
        self.state.info()
    }

    /// Folds events this process has just appended at `version` into the loaded request, as a
    /// reload would (their recorded time is taken as `at`), so a caller that acts step after step
    /// does not read the stream again after each of its own appends.
    pub fn extend(&mut self, appended: Appended, at: DateTime<Utc>) {
        for event in appended.events {
            self.state = evolve(std::mem::take(&mut self.state), &event);
            self.events.push(event);
            self.recorded_at.push(at);
        }
        self.version = appended.version;
    }

    /// Whether `actor` may act on this request as its filer (sign it, answer its survey): the
    /// applicant, not the subject, for a citizen; operators and the system for any request.
    pub fn actionable_by(&self, actor: &Actor) -> bool {
        let Some(info) = self.info() else {
            return false;
        };
        match actor {
            Actor::Citizen { iin } => &info.applicant == iin,
            Actor::Operator { .. } | Actor::System { .. } => true,
        }
    }

    /// Whether `actor` acts on this request on the portal (signs it, answers its survey) signed
    /// in as `through`: as its filer ([`Loaded::actionable_by`]), through the sign-in it was
    /// filed through ([`SignedIn::acts_on`]).
    pub fn portal_actionable_by(&self, actor: &Actor, through: SignedIn<'_>) -> bool {
        self.actionable_by(actor)
            && self
                .info()
                .is_some_and(|info| through.acts_on(info.service, info.organisation.as_deref()))
    }

    /// Whether the request was filed at service centre `centre`: only its operators add scans
    /// to it and sign it.
    pub fn filed_at(&self, centre: &str) -> bool {
        self.info().and_then(|info| info.centre()) == Some(centre)
    }
}

/// What [`Requests::record`] appended.
#[derive(Debug, Clone)]
pub struct Appended {
    pub version: StreamVersion,
    pub events: Vec<RequestEvent>,
}

/// The answer to a submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub info: RequestInfo,
    pub version: StreamVersion,
    /// `true` when this was a retry answered with the request filed the first time.
    pub replayed: bool,
}

/// The answer to a command on a filed request (a signature, a survey).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub info: RequestInfo,
    pub version: StreamVersion,
    /// `true` when the same command was recorded before: nothing was appended.
    pub replayed: bool,
    /// The request as it stands after the command, so that a handler answers from it without
    /// reading the stream again.
    pub state: Request,
}

/// The command handlers for requests. Cheap to clone.
#[derive(Clone)]
pub struct Requests {
    store: EventStore,
    /// How long a filed request waits for its signature (docs/domain.md 3.6).
    sign_within: chrono::Duration,
}

impl Requests {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            sign_within: domain::request::DEFAULT_SIGN_WITHIN,
        }
    }

    /// The handlers, with requests filed from now on waiting `sign_within` for their signature.
    #[must_use]
    pub fn with_sign_within(mut self, sign_within: std::time::Duration) -> Self {
        self.sign_within =
            chrono::Duration::from_std(sign_within).unwrap_or(domain::request::DEFAULT_SIGN_WITHIN);
        self
    }

    /// The event store the handlers write to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Files a request (portal step 1).
    ///
    /// # Errors
    /// [`CommandError::Rejected`] when the domain refuses it (unknown form field, channel not
    /// offered, ...); [`CommandError::IdempotencyKeyReused`] when the key was used for a different
    /// request; store errors as they come.
    #[tracing::instrument(skip_all, fields(service = %submission.service))]
    pub async fn submit(&self, submission: Submission) -> Result<Submitted, CommandError> {
        let stream_id = submission
            .keyed_stream()
            .unwrap_or_else(|| StreamId::from_uuid(Uuid::now_v7()));
        for _ in 0..ATTEMPTS {
            let loaded = self.load(stream_id).await?;
            // Whole microseconds, as PostgreSQL keeps times: the deadline reads back as decided.
            let now = Utc::now().trunc_subsecs(6);
            if let Some(info) = loaded.info() {
                return replay_submission(&submission, info, now, loaded.version);
            }
            // Decide once with a stand-in number, so that a bad form costs no number.
            let today = domain::calendar::local_date(now);
            let stand_in = RequestNumber::new(today, RequestNumber::MAX_SEQUENCE)
                .map_err(|_| CommandError::NumbersExhausted)?;
            decide(
                &Request::Empty,
                submit_command(&submission, stream_id, stand_in, self.sign_within),
                now,
            )?;
            let number = numbers::allocate(&self.store, stream_id, today, &submission).await?;
            let events = decide(
                &Request::Empty,
                submit_command(&submission, stream_id, number, self.sign_within),
                now,
            )?;
            match self
                .append(
                    stream_id,
                    StreamVersion::EMPTY,
                    &events,
                    &submission.actor,
                    submission.channel,
                )
                .await
            {
                Ok(outcome) => {
                    let RequestEvent::Submitted(info) = &events[0] else {
                        return Err(CommandError::Corrupt {
                            stream_id,
                            reason: "a submission recorded no RequestSubmitted".into(),
                        });
                    };
                    if outcome.already_stored {
                        continue; // a concurrent retry of the same key stored it; answer with it
                    }
                    tracing::info!(number = %info.number, stream_id = %stream_id, "request submitted");
                    return Ok(Submitted {
                        info: info.clone(),
                        version: outcome.version(),
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(CommandError::Busy)
    }

    /// Records the citizen's signature over `document_to_sign` (portal step 2), made signed in
    /// as `through`. Verification follows in the workflow; here the signature is recorded as
    /// received.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request, one `actor` did not file or one not
    /// filed through the sign-in `through`; [`CommandError::Rejected`] when the request is not
    /// waiting for a signature.
    #[tracing::instrument(skip_all, fields(number = %number))]
    pub async fn sign(
        &self,
        number: &RequestNumber,
        signature: &[u8],
        actor: &Actor,
        through: SignedIn<'_>,
    ) -> Result<Recorded, CommandError> {
        use base64::Engine as _;
        let signature_sha256 = crate::sha256_hex(signature);
        let cms = base64::engine::general_purpose::STANDARD.encode(signature);
        self.act(
            number,
            |loaded| loaded.portal_actionable_by(actor, through),
            || Command::Sign {
                signature_sha256: signature_sha256.clone(),
                cms: cms.clone(),
            },
            |event| matches!(event, RequestEvent::Signed(s) if s.signature_sha256 == signature_sha256),
            actor,
        )
        .await
    }

    /// The document the applicant signs on the portal (step 2), while their request waits for
    /// the signature: a signing that failed after filing (the signing tool was not running, say)
    /// is made again over the same bytes.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one `actor` may not sign signed
    /// in as `through`; [`CommandError::Rejected`] when it does not wait for the applicant's signature.
    pub async fn document_to_sign(
        &self,
        number: &RequestNumber,
        actor: &Actor,
        through: SignedIn<'_>,
    ) -> Result<Vec<u8>, CommandError> {
        let stream_id = self.find(number).await?.ok_or(CommandError::NotFound)?;
        let loaded = self.load(stream_id).await?;
        if !loaded.portal_actionable_by(actor, through) {
            return Err(CommandError::NotFound);
        }
        loaded
            .state
            .portal_document_to_sign()
            .ok_or(CommandError::Rejected(DomainError::NotAwaitingSignature))
    }

    /// Records the citizen's answers to the survey (docs/domain.md 7), once per request, after it ended.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one `actor` did not file;
    /// [`CommandError::Rejected`] before the request ended or when other answers were recorded.
    #[tracing::instrument(skip_all, fields(number = %number))]
    pub async fn survey(
        &self,
        number: &RequestNumber,
        quality: SurveyAnswer,
        information: SurveyAnswer,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        self.act(
            number,
            // Only the applicant answers the survey of their request, through their own sign-in.
            |loaded| {
                matches!(actor, Actor::Citizen { .. })
                    && loaded.portal_actionable_by(actor, SignedIn::CITIZEN)
            },
            || Command::SubmitSurvey {
                quality,
                information,
            },
            |event| {
                matches!(event, RequestEvent::SurveySubmitted(s) if s.quality == quality && s.information == information)
            },
            actor,
        )
        .await
    }

    /// One command on a filed request: load it, check that `actor` may act on it, decide, append
    /// at the loaded version, and decide again when another writer got there first. A command the
    /// domain refuses because it was recorded before (`recorded_before` finds its event) is a
    /// resend, answered as the first time.
    async fn act(
        &self,
        number: &RequestNumber,
        may_act: impl Fn(&Loaded) -> bool,
        command: impl Fn() -> Command,
        recorded_before: impl Fn(&RequestEvent) -> bool,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        let stream_id = self.find(number).await?.ok_or(CommandError::NotFound)?;
        for _ in 0..ATTEMPTS {
            let loaded = self.load(stream_id).await?;
            if !may_act(&loaded) {
                return Err(CommandError::NotFound);
            }
            let info = loaded.info().cloned().ok_or(CommandError::NotFound)?;
            let events = match decide(&loaded.state, command(), Utc::now()) {
                Ok(events) => events,
                Err(_) if loaded.events.iter().any(&recorded_before) => {
                    return Ok(Recorded {
                        info,
                        version: loaded.version,
                        replayed: true,
                        state: loaded.state,
                    })
                }
                Err(error) => return Err(error.into()),
            };
            match self
                .append(stream_id, loaded.version, &events, actor, info.channel)
                .await
            {
                Ok(outcome) => {
                    tracing::info!(stream_id = %stream_id, event = events.first().map(RequestEvent::event_type), "recorded");
                    return Ok(Recorded {
                        info,
                        version: outcome.version(),
                        replayed: outcome.already_stored,
                        state: events.iter().fold(loaded.state, evolve),
                    });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(CommandError::Busy)
    }

    /// The stream of the request with this number, if one was filed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn find(&self, number: &RequestNumber) -> Result<Option<StreamId>, CommandError> {
        numbers::find(&self.store, number).await
    }

    /// Loads a request: its events folded with `evolve`.
    ///
    /// # Errors
    /// [`CommandError::Corrupt`] when a stored event cannot be read as a request event.
    pub async fn load(&self, stream_id: StreamId) -> Result<Loaded, CommandError> {
        let recorded = self.recorded(stream_id).await?;
        let version = recorded
            .last()
            .map_or(StreamVersion::EMPTY, |e| e.stream_version);
        let events = recorded.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let state = events.iter().fold(Request::default(), evolve);
        Ok(Loaded {
            stream_id,
            state,
            version,
            events,
            recorded_at: recorded.iter().map(|e| e.recorded_at).collect(),
        })
    }

    /// A request's events as stored (envelope, payload, hash), in stream order.
    ///
    /// # Errors
    /// Store errors.
    pub async fn recorded(&self, stream_id: StreamId) -> Result<Vec<RecordedEvent>, CommandError> {
        const PAGE: u32 = 1000;
        let mut events = Vec::new();
        loop {
            let after = events
                .last()
                .map_or(StreamVersion::EMPTY, |e: &RecordedEvent| e.stream_version);
            let page = self.store.read_stream(stream_id, after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            events.extend(page);
            if !full {
                return Ok(events);
            }
        }
    }

    /// Records what the domain decides for `command` on a loaded request, at the loaded version
    /// (the workflow's way in: it has just loaded the stream to know what to do). `then` sees the
    /// state the command leads to and may name the next command, which is decided on that state
    /// and recorded in the same append (skipped if the domain refuses it).
    ///
    /// # Errors
    /// [`CommandError::Rejected`] when the domain refuses `command` (nothing is recorded); a store
    /// conflict when another writer appended since `loaded` was read (load again and ask again).
    pub async fn record(
        &self,
        loaded: &Loaded,
        command: Command,
        then: impl FnOnce(&Request) -> Option<Command>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Appended, CommandError> {
        let info = loaded.info().ok_or(CommandError::NotFound)?;
        let mut events = decide(&loaded.state, command, now)?;
        let state = events.iter().fold(loaded.state.clone(), evolve);
        if let Some(next) = then(&state) {
            if let Ok(more) = decide(&state, next, now) {
                events.extend(more);
            }
        }
        let outcome = self
            .append(
                loaded.stream_id,
                loaded.version,
                &events,
                actor,
                info.channel,
            )
            .await?;
        Ok(Appended {
            version: outcome.version(),
            events,
        })
    }

    async fn append(
        &self,
        stream_id: StreamId,
        expected: StreamVersion,
        events: &[RequestEvent],
        actor: &Actor,
        channel: Channel,
    ) -> Result<event_store::AppendOutcome, StoreError> {
        let mut new_events = Vec::with_capacity(events.len());
        for (offset, event) in (1u64..).zip(events) {
            // Derived from where the event lands and what it says: a resend of the same decision
            // gets the same ids, so the store answers it with the original positions.
            let payload = event.payload();
            let version = expected.get().saturating_add(offset);
            let name = format!("{stream_id}/{version}/{}/{payload}", event.event_type());
            let event_id = Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, name.as_bytes());
            new_events.push(NewEvent::new(
                event_id,
                event.event_type(),
                event.schema_version(),
                payload,
            )?);
        }
        let metadata = EventMetadata {
            actor: actor.clone(),
            channel,
            correlation_id: stream_id.as_uuid(),
            causation_id: None,
        };
        self.store
            .append(stream_id, expected, &new_events, &metadata)
            .await
    }
}

fn decode(event: &RecordedEvent) -> Result<RequestEvent, CommandError> {
    RequestEvent::decode(
        &event.event_type,
        event.schema_version,
        event.payload.clone(),
    )
    .map_err(|error| CommandError::Corrupt {
        stream_id: event.stream_id,
        reason: format!(
            "event {} ({}): {error}",
            event.stream_version, event.event_type
        ),
    })
}
