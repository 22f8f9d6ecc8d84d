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
use crate::request::{Open, Outcome, Request, RequestEvent, RequestInfo, Stage};

/// The longest a step may take when the step tables give it no limit.
pub const DEFAULT_STEP_LIMIT: Duration = Duration::seconds(120);

/// The next thing a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Record that the promised deadline, counted from the signed request's receipt, passed
    /// (docs/domain.md 2b), once.
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
    /// A registry never answered within its step's limit and the promised deadline: a processing
    /// error (docs/domain.md 5).
    Refuse(RefusalReason),
    /// Nobody signed the request by its `sign_by` time: it ends as abandoned (docs/domain.md 3.6).
    Abandon,
    /// Every lookup answered: compose, sign and issue the result.
    IssueResult,
    /// The request was refused: compose, sign and issue the refusal document (REG 284-286).
    IssueRefusal,
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

/// What `state` (folded from `history`) needs at `now`.
pub fn next(state: &Request, history: &[Timed<'_>], now: DateTime<Utc>) -> Next {
    let open = match state {
        // REG 284-286: a refusal is an answer signed by the provider, like a result.
        Request::Closed(closed)
            if matches!(closed.outcome, Outcome::Refused { .. })
                && closed.refusal_document.is_none() =>
        {
            return Next::IssueRefusal;
        }
        Request::Empty | Request::Closed(_) => return Next::Done,
        Request::Open(open) => open,
    };
    // The promised deadline runs from the signed request's receipt (docs/domain.md 10, G4).
    if open.deadline_passed(now).is_some() {
        return Next::MarkServiceDeadlineMissed;
    }
    match open.stage {
        _ if open.unsigned() && now >= open.info.sign_by => Next::Abandon,
        Stage::AwaitingSignature { .. } => Next::Wait {
            until: Some(open.info.sign_by),
        },
        Stage::AwaitingVerification => verification(open, history, now),
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
                    if let Some(mark) = late(open, Step::ResultIssue) {
                        return mark;
                    }
                }
                return Next::IssueResult;
            }
            lookup(open, &open.lookups, done, in_flight, history, now)
        }
    }
}

/// `step` marked late, unless it already is.
fn late(open: &Open, step: Step) -> Option<Next> {
    (!open.missed_steps.contains(&step)).then_some(Next::MarkStepDeadlineMissed(step))
}

/// The signature's verification: two steps of the tables, one after the other, each with its own
/// limit - the provider's check of the EDS (60 s on the portal, 10 s at a centre) from the receipt
/// of the signature, then NUC's check that the certificate is current (105 s) from the end of the
/// first step's time. Each is marked late on its own. When both are spent
/// without a verdict (the OCSP responder never answered) the signature is rejected: no "good" is
/// ever assumed (docs/national-rules.md 2.6), and the rules send an EDS that cannot be confirmed
/// to a refusal (REG 284).
fn verification(open: &Open, history: &[Timed<'_>], now: DateTime<Utc>) -> Next {
    let started = last_at(history, |e| {
        matches!(e, RequestEvent::Signed(_) | RequestEvent::OperatorSigned(_))
    })
    .unwrap_or(now);
    let checked = started + step_limit(&open.info, Step::SignatureCheck);
    let certified = checked + step_limit(&open.info, Step::CertificateCheck);
    if now >= checked {
        if let Some(mark) = late(open, Step::SignatureCheck) {
            return mark;
        }
    }
    if now >= certified {
        return late(open, Step::CertificateCheck).unwrap_or(Next::RejectUnverifiable);
    }
    Next::VerifySignature {
        step_deadline: certified,
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
    let limit = step_limit(&open.info, step);
    let mut step_deadline = started + limit;
    if now >= step_deadline {
        if let Some(mark) = late(open, step) {
            return mark;
        }
        // Late, and asked again within the promised deadline (docs/domain.md 10, D2), each
        // attempt within the step's own limit; once the deadline is spent (or where none runs,
        // as before the signature), a processing error (docs/domain.md 5).
        let Some(deadline) = open.deadline.filter(|d| now < *d) else {
            return Next::Refuse(RefusalReason::ProcessingError);
        };
        if in_flight != Some(lookup) {
            if let Some(due) = late_retry_due(history, step, lookup, limit) {
                if now < due {
                    return Next::Wait {
                        until: Some(due.min(deadline)),
                    };
                }
            }
        }
        step_deadline = (now + limit).min(deadline);
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

/// The longest pause between two attempts at a lookup that is already late.
pub const LATE_RETRY_MAX: Duration = Duration::minutes(10);

/// When a late lookup is next asked: after its last failure, a pause of the step's limit that
/// doubles with each attempt since the step was marked late, up to [`LATE_RETRY_MAX`] - so an
/// outage of hours costs dozens of attempts, not thousands. `None` when nothing failed since.
fn late_retry_due(
    history: &[Timed<'_>],
    step: Step,
    lookup: Lookup,
    limit: Duration,
) -> Option<DateTime<Utc>> {
    let marked = history
        .iter()
        .rposition(|t| matches!(t.event, RequestEvent::StepDeadlineMissed(m) if m.step == step))?;
    let since = &history[marked..];
    let failed = since
        .iter()
        .filter(|t| matches!(t.event, RequestEvent::LookupFailed(f) if f.lookup == lookup))
        .count();
    let last = since
        .iter()
        .rev()
        .find(|t| matches!(t.event, RequestEvent::LookupFailed(f) if f.lookup == lookup))?;
    let doublings = u32::try_from(failed.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let pause = limit
        .checked_mul(1i32 << doublings)
        .unwrap_or(LATE_RETRY_MAX)
        .min(LATE_RETRY_MAX);
    Some(last.at + pause)
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

    /// docs/domain.md 3.6 and 10, G4: an unsigned request waits for its signature until its
    /// `sign_by` time - never "late", as no deadline has started - and is then abandoned.
    #[test]
    fn a_request_waiting_for_its_signature_waits_until_its_time_to_sign_then_is_abandoned() {
        let stream = Stream::submitted(ServiceCode::DisabilityBenefitInfo);
        let sign_by = stream.state().info().map(|i| i.sign_by).expect("filed");
        // Services 1-8 promise 6 minutes; unsigned, that clock never started.
        for at in [t0() + secs(6 * 60), sign_by - secs(1)] {
            assert_eq!(
                stream.next(at),
                Next::Wait {
                    until: Some(sign_by)
                }
            );
        }
        assert_eq!(stream.next(sign_by), Next::Abandon);
        let mut ended = stream;
        ended.apply(sign_by, Command::Abandon);
        assert_eq!(ended.next(sign_by), Next::Done);
    }

    /// docs/domain.md 3.2-3.4, step 3 then steps 5-6: the provider's EDS check (60 s on the
    /// portal) and NUC's certificate check (105 s) each have their own limit, both from the
    /// signature's receipt; with no verdict after both, the signature is rejected.
    #[test]
    fn a_signature_is_verified_within_its_two_steps_and_rejected_when_both_are_spent() {
        let stream = Stream::submitted(ServiceCode::PensionFundStatement).signed(t0());
        let (check, certificate) = (secs(60), secs(60 + 105));
        assert_eq!(
            stream.next(t0() + secs(1)),
            Next::VerifySignature {
                step_deadline: t0() + certificate
            }
        );
        assert_eq!(
            stream.next(t0() + check),
            Next::MarkStepDeadlineMissed(Step::SignatureCheck)
        );
        let mut late = stream;
        late.apply(
            t0() + check,
            Command::MarkStepDeadlineMissed {
                step: Step::SignatureCheck,
            },
        );
        // Late, but the certificate check's own time still runs: verification goes on.
        assert_eq!(
            late.next(t0() + check),
            Next::VerifySignature {
                step_deadline: t0() + certificate
            }
        );
        assert_eq!(
            late.next(t0() + certificate),
            Next::MarkStepDeadlineMissed(Step::CertificateCheck)
        );
        late.apply(
            t0() + certificate,
            Command::MarkStepDeadlineMissed {
                step: Step::CertificateCheck,
            },
        );
        assert_eq!(late.next(t0() + certificate), Next::RejectUnverifiable);
    }

    /// Table 2 of the service centre (REG 3581): the operator's EDS is checked within 10 s.
    #[test]
    fn the_service_centres_signature_check_has_its_own_ten_seconds() {
        let info = Stream::submitted(ServiceCode::PensionFundStatement)
            .state()
            .info()
            .cloned()
            .expect("filed");
        let mut centre = info.clone();
        centre.channel = Channel::ServiceCentre;
        assert_eq!(step_limit(&info, Step::SignatureCheck), secs(60));
        assert_eq!(step_limit(&centre, Step::SignatureCheck), secs(10));
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
        // The step's 15 seconds spent without an answer: late (docs/domain.md 10, D2) ...
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
        // ... and asked again within the promised hour, each attempt with the step's 15 s.
        let again = at + secs(15);
        assert_eq!(
            stream.next(again),
            Next::Lookup {
                lookup: Lookup::Iin,
                attempt: 2,
                resume: false,
                step_deadline: again + secs(15)
            }
        );
        stream.apply(
            again,
            Command::StartLookup {
                lookup: Lookup::Iin,
                attempt: 2,
            },
        );
        stream.apply(
            again + secs(1),
            Command::RecordLookup {
                lookup: Lookup::Iin,
                attempt: 2,
                outcome: LookupOutcome::Failed(LookupFailure::TimedOut),
            },
        );
        // A late lookup's attempts are spaced: the step's limit after a failure, doubling.
        assert_eq!(
            stream.next(again + secs(2)),
            Next::Wait {
                until: Some(again + secs(16))
            }
        );
        // The promised hour spent: marked, then a processing error (docs/domain.md 5).
        let deadline = t0() + secs(3600);
        assert_eq!(stream.next(deadline), Next::MarkServiceDeadlineMissed);
        stream.apply(deadline, Command::MarkServiceDeadlineMissed);
        assert_eq!(
            stream.next(deadline),
            Next::Refuse(RefusalReason::ProcessingError)
        );
    }

    /// An outage of hours costs dozens of attempts, not thousands: the pause doubles per failure
    /// since the step was marked late, up to ten minutes.
    #[test]
    fn a_late_retry_waits_at_most_ten_minutes() {
        let failed = RequestEvent::LookupFailed(crate::request::RegistryLookupFailed {
            lookup: Lookup::Sik,
            attempt: 1,
            failure: LookupFailure::Unavailable,
        });
        let marked = RequestEvent::StepDeadlineMissed(crate::request::StepDeadlineMissed {
            step: Step::Lookup(Lookup::Sik),
        });
        let mut history = vec![Timed {
            at: t0(),
            event: &marked,
        }];
        for n in 0..30 {
            history.push(Timed {
                at: t0() + secs(n),
                event: &failed,
            });
        }
        let due = late_retry_due(&history, Step::Lookup(Lookup::Sik), Lookup::Sik, secs(15));
        assert_eq!(due, Some(t0() + secs(29) + LATE_RETRY_MAX));
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
        let deadline = match stream.state() {
            Request::Open(open) => open.deadline,
            _ => None,
        }
        .expect("a deadline from the signature");
        assert_eq!(stream.next(deadline), Next::MarkServiceDeadlineMissed);
        stream.apply(deadline, Command::MarkServiceDeadlineMissed);
        assert!(!matches!(
            stream.next(deadline),
            Next::MarkServiceDeadlineMissed
        ));
    }

    /// REG 284-286: once refused, the request needs its signed refusal document, then nothing.
    #[test]
    fn a_refused_request_needs_its_refusal_document_then_nothing() {
        let mut stream = Stream::submitted(ServiceCode::PensionFundStatement).signed(t0());
        stream.apply(
            t0(),
            Command::Refuse {
                reason: RefusalReason::ProcessingError,
            },
        );
        assert_eq!(stream.next(t0()), Next::IssueRefusal);
        stream.apply(
            t0(),
            Command::IssueRefusal {
                document_number: "O1".into(),
                document_sha256: "ab".into(),
            },
        );
        assert_eq!(stream.next(t0()), Next::Done);
    }

    /// An unsigned request filed under the earlier rule (a deadline promised at filing) is never
    /// marked late: it waits for its signature and is abandoned in its turn.
    #[test]
    fn an_unsigned_request_with_a_deadline_promised_at_filing_is_not_marked_late() {
        let mut stream = Stream::submitted(ServiceCode::PensionFundStatement);
        if let Some((_, RequestEvent::Submitted(filed))) = stream.events.first_mut() {
            filed.promised_at_filing = Some(t0() + secs(3600));
        }
        let sign_by = stream.state().info().map(|i| i.sign_by).expect("filed");
        assert_eq!(
            stream.next(t0() + secs(7200)),
            Next::Wait {
                until: Some(sign_by)
            }
        );
        assert_eq!(stream.next(sign_by), Next::Abandon);
    }
}
