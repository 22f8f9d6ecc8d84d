//! What a request needs next, read from its events: the rules of the process manager, pure.
//!
//! The workflow (in `commands`) loads a request's stream with the time each event was recorded,
//! asks [`next`] what to do, does it (a signature check, a registry call, the result) and records
//! the outcome as the domain decides, then asks again - until the request waits for someone or
//! for a timer, or has ended. Because the answer is computed from the stream alone, a workflow
//! that crashed resumes exactly where the stream stands: a lookup that was asked but not answered
//! is asked again with the same attempt number (and so the same idempotency key), nothing is
//! skipped, and the domain refuses to record a second outcome for a step that has one.

use chrono::{DateTime, Duration, Utc};

use crate::catalog::{Lookup, Step};
use crate::envelope::Channel;
use crate::refusal::RefusalReason;
use crate::request::{Open, Request, RequestEvent, RequestInfo, Stage};

/// The longest a step may take when the step tables give it no limit.
pub const DEFAULT_STEP_LIMIT: Duration = Duration::seconds(120);

/// The next thing a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Record that the promised deadline passed (docs/domain.md 2b), once.
    MarkServiceDeadlineMissed,
    /// Record that a step took longer than its limit (docs/domain.md 3.2-3.4), once.
    MarkStepDeadlineMissed(Step),
    /// Verify the signature recorded last; the check's time is spent at `step_deadline`.
    VerifySignature { step_deadline: DateTime<Utc> },
    /// The verification could not finish within its step (the OCSP responder never answered): the
    /// signature is rejected, as no "good" may be assumed (docs/national-rules.md 2.6).
    RejectUnverifiable,
    /// Ask a registry. `resume` is set when this attempt was recorded as requested but its answer
    /// was not (a crash in between): it is asked again under the same attempt number.
    Lookup {
        lookup: Lookup,
        attempt: u32,
        resume: bool,
        step_deadline: DateTime<Utc>,
    },
    /// A registry never answered within its step's limit: a processing error (docs/domain.md 5).
    Refuse(RefusalReason),
    /// Every lookup answered: compose, sign and issue the result.
    IssueResult,
    /// Nothing to do before `until` (a timer), or until someone acts (`None`).
    Wait { until: Option<DateTime<Utc>> },
    /// The request has ended; nothing more happens on its own.
    Done,
}

/// A stored event with the time it was recorded.
#[derive(Debug, Clone, Copy)]
pub struct Timed<'a> {
    pub at: DateTime<Utc>,
    pub event: &'a RequestEvent,
}

/// The time limit of `step` for this request's service and channel.
pub fn step_limit(info: &RequestInfo, step: Step) -> Duration {
    let service = info.service.service();
    let table = match info.channel {
        Channel::ServiceCentre => service.centre_steps,
        Channel::Portal | Channel::System => service.steps,
    };
    table
        .iter()
        .find(|limit| limit.step == step)
        .map_or(DEFAULT_STEP_LIMIT, |limit| {
            Duration::seconds(i64::from(limit.seconds))
        })
}

/// The step a signature check is timed by: the certificate check (NUC's OCSP answer), the longer
/// of the two verification steps of the tables.
pub const VERIFICATION_STEP: Step = Step::CertificateCheck;

/// What `state` (folded from `history`) needs at `now`.
pub fn next(state: &Request, history: &[Timed<'_>], now: DateTime<Utc>) -> Next {
    let open = match state {
        Request::Empty | Request::Closed(_) => return Next::Done,
        Request::Open(open) => open,
    };
    let service_deadline = open.info.deadline.filter(|_| !open.service_deadline_missed);
    if service_deadline.is_some_and(|deadline| now >= deadline) {
        return Next::MarkServiceDeadlineMissed;
    }
    let late = |step: Step| -> Option<Next> {
        (!open.missed_steps.contains(&step)).then_some(Next::MarkStepDeadlineMissed(step))
    };
    match open.stage {
        Stage::AwaitingSignature { .. } => Next::Wait {
            until: service_deadline,
        },
        Stage::AwaitingVerification => {
            // The check started when the signature was recorded.
            let started = last_at(history, |e| {
                matches!(e, RequestEvent::Signed(_) | RequestEvent::OperatorSigned(_))
            })
            .unwrap_or(now);
            let step_deadline = started + step_limit(&open.info, VERIFICATION_STEP);
            if now >= step_deadline {
                return late(VERIFICATION_STEP).unwrap_or(Next::RejectUnverifiable);
            }
            Next::VerifySignature { step_deadline }
        }
        Stage::Checks { done, in_flight } => {
            lookup(open, &open.checks, done, in_flight, history, now)
        }
        Stage::Lookups { done, in_flight } => {
            if done >= open.lookups.len() && in_flight.is_none() {
                let answered = last_at(history, |e| {
                    matches!(
                        e,
                        RequestEvent::LookupSucceeded(_) | RequestEvent::SignatureVerified(_)
                    )
                })
                .unwrap_or(now);
                if now >= answered + step_limit(&open.info, Step::ResultIssue) {
                    if let Some(mark) = late(Step::ResultIssue) {
                        return mark;
                    }
                }
                return Next::IssueResult;
            }
            lookup(open, &open.lookups, done, in_flight, history, now)
        }
    }
}

fn lookup(
    open: &Open,
    list: &[Lookup],
    done: usize,
    in_flight: Option<Lookup>,
    history: &[Timed<'_>],
    now: DateTime<Utc>,
) -> Next {
    let Some(&lookup) = list.get(done) else {
        // The checks before the signature are all answered; the stage moves on by itself.
        return Next::Wait { until: None };
    };
    let asked =
        |e: &RequestEvent| matches!(e, RequestEvent::LookupRequested(r) if r.lookup == lookup);
    let attempts = history.iter().filter(|t| asked(t.event)).count();
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    // The step's time runs from its first attempt.
    let started = history
        .iter()
        .find(|t| asked(t.event))
        .map_or(now, |t| t.at);
    let step = Step::Lookup(lookup);
    let step_deadline = started + step_limit(&open.info, step);
    if now >= step_deadline {
        return match open.missed_steps.contains(&step) {
            false => Next::MarkStepDeadlineMissed(step),
            true => Next::Refuse(RefusalReason::ProcessingError),
        };
    }
    let resume = in_flight == Some(lookup);
    Next::Lookup {
        lookup,
        attempt: if resume {
            attempts
        } else {
            attempts.saturating_add(1)
        },
        resume,
        step_deadline,
    }
}

fn last_at(
    history: &[Timed<'_>],
    matches: impl Fn(&RequestEvent) -> bool,
) -> Option<DateTime<Utc>> {
    history
        .iter()
        .rev()
        .find(|t| matches(t.event))
        .map(|t| t.at)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::identifiers::{Iin, RequestNumber};
    use crate::request::{decide, evolve, Command, LookupFailure, LookupOutcome, SignatureCheck};
    use crate::ServiceCode;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0)
            .single()
            .expect("time")
    }

    /// A stream built by the domain itself, each event at its own time.
    struct Stream {
        events: Vec<(DateTime<Utc>, RequestEvent)>,
    }

    impl Stream {
        fn submitted(service: ServiceCode) -> Stream {
            let mut stream = Stream { events: Vec::new() };
            stream.apply(
                t0(),
                Command::Submit(crate::request::Filing::on_portal(
                    uuid::Uuid::from_u128(7),
                    RequestNumber::parse("20261123000007").expect("number"),
                    service,
                    Iin::parse("900101300007").expect("iin"),
                    json!({}),
                )),
            );
            stream
        }

        fn state(&self) -> Request {
            self.events
                .iter()
                .map(|(_, e)| e)
                .fold(Request::default(), evolve)
        }

        fn apply(&mut self, at: DateTime<Utc>, command: Command) {
            let events = decide(&self.state(), command, at).expect("accepted");
            self.events.extend(events.into_iter().map(|e| (at, e)));
        }

        fn next(&self, now: DateTime<Utc>) -> Next {
            let history: Vec<Timed<'_>> = self
                .events
                .iter()
                .map(|(at, event)| Timed { at: *at, event })
                .collect();
            next(&self.state(), &history, now)
        }

        fn signed(mut self, at: DateTime<Utc>) -> Stream {
            self.apply(
                at,
                Command::Sign {
                    signature_sha256: "ab".into(),
                    cms: "MA==".into(),
                },
            );
            self
        }
    }

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    #[test]
    fn a_request_waiting_for_its_signature_waits_for_the_citizen_or_its_deadline() {
        let stream = Stream::submitted(ServiceCode::SikAssignment);
        let deadline = match &stream.state() {
            Request::Open(open) => open.info.deadline,
            _ => None,
        };
        assert!(deadline.is_some(), "sik-assignment promises a deadline");
        assert_eq!(stream.next(t0()), Next::Wait { until: deadline });
    }

    #[test]
    fn a_signature_is_verified_within_the_certificate_check_and_rejected_when_it_is_spent() {
        let stream = Stream::submitted(ServiceCode::PensionFundStatement).signed(t0());
        let limit = secs(105);
        assert_eq!(
            stream.next(t0() + secs(1)),
            Next::VerifySignature {
                step_deadline: t0() + limit
            }
        );
        // The OCSP responder never answered: the step is marked late, then the signature is
        // rejected - never assumed good.
        assert_eq!(
            stream.next(t0() + limit),
            Next::MarkStepDeadlineMissed(Step::CertificateCheck)
        );
        let mut late = stream;
        late.apply(
            t0() + limit,
            Command::MarkStepDeadlineMissed {
                step: Step::CertificateCheck,
            },
        );
        assert_eq!(late.next(t0() + limit), Next::RejectUnverifiable);
    }

    fn verified(mut stream: Stream, at: DateTime<Utc>) -> Stream {
        let applicant = stream
            .state()
            .info()
            .map(|i| i.applicant.clone())
            .expect("submitted");
        stream.apply(
            at,
            Command::RecordSignatureCheck(SignatureCheck::Verified(
                crate::request::CertificateInfo {
                    serial: "01".into(),
                    issuer: "CN=test".into(),
                    not_before: at - secs(86_400),
                    not_after: at + secs(86_400),
                    subject_iin: Some(applicant),
                    revocation: Some(crate::request::RevocationStatus::Good),
                },
            )),
        );
        stream
    }

    #[test]
    fn lookups_run_in_order_and_a_crash_between_asking_and_answering_resumes_the_same_attempt() {
        let mut stream = verified(
            Stream::submitted(ServiceCode::PensionFundStatement).signed(t0()),
            t0(),
        );
        let at = t0() + secs(1);
        assert_eq!(
            stream.next(at),
            Next::Lookup {
                lookup: Lookup::Iin,
                attempt: 1,
                resume: false,
                step_deadline: at + secs(15)
            }
        );
        stream.apply(
            at,
            Command::StartLookup {
                lookup: Lookup::Iin,
                attempt: 1,
            },
        );
        // Asked, no answer recorded (the process died): the same attempt again, same step clock.
        assert_eq!(
            stream.next(at + secs(3)),
            Next::Lookup {
                lookup: Lookup::Iin,
                attempt: 1,
                resume: true,
                step_deadline: at + secs(15)
            }
        );
        stream.apply(
            at + secs(3),
            Command::RecordLookup {
                lookup: Lookup::Iin,
                attempt: 1,
                outcome: LookupOutcome::Failed(LookupFailure::Unavailable),
            },
        );
        // Unavailable is no answer: attempt 2 within the same step.
        assert_eq!(
            stream.next(at + secs(4)),
            Next::Lookup {
                lookup: Lookup::Iin,
                attempt: 2,
                resume: false,
                step_deadline: at + secs(15)
            }
        );
        // The step's 15 seconds spent without an answer: late, then a processing error.
        assert_eq!(
            stream.next(at + secs(15)),
            Next::MarkStepDeadlineMissed(Step::Lookup(Lookup::Iin))
        );
        stream.apply(
            at + secs(15),
            Command::MarkStepDeadlineMissed {
                step: Step::Lookup(Lookup::Iin),
            },
        );
        assert_eq!(
            stream.next(at + secs(15)),
            Next::Refuse(RefusalReason::ProcessingError)
        );
    }

    #[test]
    fn answered_lookups_lead_to_the_result_and_a_closed_request_needs_nothing() {
        let mut stream = verified(
            Stream::submitted(ServiceCode::PensionFundStatement).signed(t0()),
            t0(),
        );
        for lookup in [Lookup::Iin, Lookup::Sik, Lookup::FundMovements] {
            stream.apply(t0(), Command::StartLookup { lookup, attempt: 1 });
            stream.apply(
                t0(),
                Command::RecordLookup {
                    lookup,
                    attempt: 1,
                    outcome: LookupOutcome::Found(json!({})),
                },
            );
        }
        assert_eq!(stream.next(t0() + secs(1)), Next::IssueResult);
        // Issuing took longer than its 20 seconds: marked late, then issued all the same.
        assert_eq!(
            stream.next(t0() + secs(20)),
            Next::MarkStepDeadlineMissed(Step::ResultIssue)
        );
        stream.apply(
            t0() + secs(21),
            Command::IssueResult {
                document_number: "R1".into(),
                document_sha256: "00".into(),
                sik_branch: None,
            },
        );
        assert_eq!(stream.next(t0() + secs(22)), Next::Done);
    }

    #[test]
    fn the_promised_deadline_is_marked_once_when_it_passes_with_the_request_open() {
        let mut stream = Stream::submitted(ServiceCode::SikAssignment).signed(t0());
        let deadline = stream
            .state()
            .info()
            .and_then(|i| i.deadline)
            .expect("a deadline");
        assert_eq!(stream.next(deadline), Next::MarkServiceDeadlineMissed);
        stream.apply(deadline, Command::MarkServiceDeadlineMissed);
        assert!(!matches!(
            stream.next(deadline),
            Next::MarkServiceDeadlineMissed
        ));
    }
}
