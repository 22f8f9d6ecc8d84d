//! Given/when/then tests of the lifecycle, and properties of `decide` and `evolve`.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::catalog::{Lookup, ServiceCode, SignIn, SignedIn, Step, CATALOG};
use crate::envelope::Channel;
use crate::identifiers::{Iin, RequestNumber};
use crate::messages::RequestStatus;
use crate::refusal::RefusalReason;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0)
        .single()
        .expect("time")
}

fn citizen() -> Iin {
    Iin::parse("900101300007").expect("valid IIN")
}

fn someone_else() -> Iin {
    Iin::parse("850715400109").expect("valid IIN")
}

struct Given(Request);
struct When(Result<Vec<RequestEvent>, DomainError>, Request);

fn given(events: &[RequestEvent]) -> Given {
    Given(events.iter().fold(Request::default(), evolve))
}

impl Given {
    fn when(self, command: Command) -> When {
        When(decide(&self.0, command, now()), self.0)
    }
}

impl When {
    #[track_caller]
    fn then(self, expected: &[RequestEvent]) -> Request {
        let events = self.0.expect("the command is accepted");
        assert_eq!(events, expected);
        events.iter().fold(self.1, evolve)
    }

    #[track_caller]
    fn then_err(self, expected: DomainError) {
        assert_eq!(self.0.expect_err("the command is refused"), expected);
    }

    #[track_caller]
    fn events(self) -> Vec<RequestEvent> {
        self.0.expect("the command is accepted")
    }
}

fn submit(service: ServiceCode, channel: Channel) -> Command {
    Command::Submit(Filing {
        request_id: Uuid::from_u128(1),
        number: RequestNumber::parse("20261123000001").expect("number"),
        service,
        applicant: citizen(),
        channel,
        form: if service == ServiceCode::SocialStatusCheck {
            json!({"patient_iin": "850715400109"})
        } else {
            json!({})
        },
        representative: None,
        operator_id: (channel == Channel::ServiceCentre).then(|| "op-17".to_owned()),
        organisation: (service == ServiceCode::SocialStatusCheck).then(|| "clinic-1".to_owned()),
        presented: None,
        sign_within: DEFAULT_SIGN_WITHIN,
    })
}

fn submitted(service: ServiceCode) -> Vec<RequestEvent> {
    given(&[]).when(submit(service, Channel::Portal)).events()
}

fn certificate(of: Iin) -> CertificateInfo {
    CertificateInfo {
        serial: "01ab".into(),
        issuer: "CN=NCA test".into(),
        not_before: now() - chrono::Duration::days(30),
        not_after: now() + chrono::Duration::days(300),
        subject_iin: Some(of),
        revocation: Some(RevocationStatus::Good),
    }
}

fn signed_and_verified(service: ServiceCode) -> Vec<RequestEvent> {
    let mut events = submitted(service);
    events.push(RequestEvent::Signed(RequestSigned {
        signature_sha256: "aa".into(),
        cms: Some("MA==".into()),
        deadline: None,
    }));
    events.push(RequestEvent::SignatureVerified(SignatureVerified {
        certificate: certificate(citizen()),
    }));
    events
}

/// Runs the service's lookups to the end, each found.
fn all_found(service: ServiceCode) -> Vec<RequestEvent> {
    let mut events = signed_and_verified(service);
    for lookup in service.service().lookups {
        events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
            lookup: *lookup,
            attempt: 1,
        }));
        events.push(RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
            lookup: *lookup,
            attempt: 1,
            data: json!({}),
        }));
    }
    events
}

fn refused(reason: RefusalReason) -> RequestEvent {
    RequestEvent::Refused(RequestRefused { reason })
}

/// `submit` with the organisation named as `organisation`.
fn naming(service: ServiceCode, organisation: Option<&str>) -> Command {
    match submit(service, Channel::Portal) {
        Command::Submit(filing) => Command::Submit(Filing {
            organisation: organisation.map(str::to_owned),
            ..filing
        }),
        other => other,
    }
}

#[test]
fn a_check_and_only_a_check_names_the_medical_organisation_it_is_filed_through() {
    given(&[])
        .when(naming(ServiceCode::SocialStatusCheck, None))
        .then_err(DomainError::OrganisationRequired);
    given(&[])
        .when(naming(ServiceCode::GcvpPensionInfo, Some("clinic-1")))
        .then_err(DomainError::OrganisationRequired);
    let [RequestEvent::Submitted(check)] = &given(&[])
        .when(naming(ServiceCode::SocialStatusCheck, Some("clinic-1")))
        .events()[..]
    else {
        panic!("one submission");
    };
    assert_eq!(check.organisation.as_deref(), Some("clinic-1"));
    // Seen through the sign-in of the organisation it names, no other, and not through the
    // filer's own.
    let acts = |sign_in, organisation| {
        SignedIn {
            sign_in,
            organisation,
        }
        .acts_on(check.service, check.organisation.as_deref())
    };
    assert!(acts(SignIn::MedicalOrganisation, Some("clinic-1")));
    assert!(!acts(SignIn::MedicalOrganisation, Some("clinic-2")));
    assert!(!acts(SignIn::MedicalOrganisation, None));
    assert!(!acts(SignIn::Citizen, Some("clinic-1")));
    // A check recorded before the organisation was kept reads back without one, and is no
    // organisation's; other submissions store no such field (their bytes are as before).
    let event = RequestEvent::Submitted(check.clone());
    let mut stored = event.payload();
    assert_eq!(stored["organisation"], "clinic-1");
    stored
        .as_object_mut()
        .expect("object")
        .remove("organisation");
    let Ok(RequestEvent::Submitted(old)) =
        RequestEvent::decode("RequestSubmitted", event.schema_version(), stored)
    else {
        panic!("a submission")
    };
    assert_eq!(old.organisation, None);
    let unnamed = SignedIn {
        sign_in: SignIn::MedicalOrganisation,
        organisation: None,
    };
    assert!(!unnamed.acts_on(old.service, old.organisation.as_deref()));
    let pension = submitted(ServiceCode::GcvpPensionInfo);
    assert!(pension[0].payload().get("organisation").is_none());
}

#[test]
fn every_portal_service_runs_from_submission_to_result() {
    for service in CATALOG
        .iter()
        .filter(|s| s.channels.contains(&Channel::Portal))
    {
        let state = given(&[])
            .when(submit(service.code, Channel::Portal))
            .events();
        let state = given(&state);
        assert_eq!(
            state.0.status(),
            Some(RequestStatus::AwaitingSignature),
            "{}",
            service.code
        );
        let state = given(&all_found(service.code));
        assert_eq!(state.0.status(), Some(RequestStatus::ForwardedToProvider));
        let sik_branch =
            (service.code == ServiceCode::SikAssignment).then_some(SikBranch::Assigned);
        let done = state
            .when(Command::IssueResult {
                document_number: "R-1".into(),
                document_sha256: "bb".into(),
                sik_branch,
            })
            .then(&[RequestEvent::ResultIssued(ResultIssued {
                document_number: "R-1".into(),
                document_sha256: "bb".into(),
                sik_branch,
            })]);
        assert_eq!(
            done.status(),
            Some(RequestStatus::Completed),
            "{}",
            service.code
        );
    }
}

#[test]
fn every_lookup_that_finds_nothing_ends_in_its_refusal() {
    for service in CATALOG
        .iter()
        .filter(|s| s.channels.contains(&Channel::Portal))
    {
        for (i, lookup) in service.lookups.iter().enumerate() {
            let mut events = signed_and_verified(service.code);
            for earlier in &service.lookups[..i] {
                events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
                    lookup: *earlier,
                    attempt: 1,
                }));
                events.push(RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
                    lookup: *earlier,
                    attempt: 1,
                    data: json!({}),
                }));
            }
            events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
                lookup: *lookup,
                attempt: 1,
            }));
            let end = given(&events)
                .when(Command::RecordLookup {
                    lookup: *lookup,
                    attempt: 1,
                    outcome: LookupOutcome::Failed(LookupFailure::NotFound),
                })
                .then(&[
                    RequestEvent::LookupFailed(RegistryLookupFailed {
                        lookup: *lookup,
                        attempt: 1,
                        failure: LookupFailure::NotFound,
                    }),
                    refused(command::refusal_for(*lookup)),
                ]);
            assert_eq!(
                end.status(),
                Some(RequestStatus::Refused),
                "{} {lookup:?}",
                service.code
            );
            assert!(
                service.refusals.contains(&command::refusal_for(*lookup)),
                "{}: refusal listed",
                service.code
            );
        }
    }
}

#[test]
fn an_unavailable_registry_is_retried_not_refused() {
    let mut events = signed_and_verified(ServiceCode::GcvpPensionInfo);
    events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::Iin,
        attempt: 1,
    }));
    let state = given(&events)
        .when(Command::RecordLookup {
            lookup: Lookup::Iin,
            attempt: 1,
            outcome: LookupOutcome::Failed(LookupFailure::TimedOut),
        })
        .then(&[RequestEvent::LookupFailed(RegistryLookupFailed {
            lookup: Lookup::Iin,
            attempt: 1,
            failure: LookupFailure::TimedOut,
        })]);
    assert_eq!(state.status(), Some(RequestStatus::ForwardedToProvider));
    assert!(decide(
        &state,
        Command::StartLookup {
            lookup: Lookup::Iin,
            attempt: 2
        },
        now()
    )
    .is_ok());
}

#[test]
fn each_signature_rejection_ends_in_the_refusal_domain_md_names() {
    let cases = [
        (
            SignatureRejection::Expired,
            RefusalReason::CertificateExpired,
        ),
        (
            SignatureRejection::Revoked,
            RefusalReason::CertificateRevoked,
        ),
        (
            SignatureRejection::NotTrusted,
            RefusalReason::SignatureInvalid,
        ),
        (
            SignatureRejection::Malformed,
            RefusalReason::SignatureInvalid,
        ),
        (
            SignatureRejection::IinMismatch,
            RefusalReason::CertificateIinMismatch,
        ),
    ];
    for (rejection, reason) in cases {
        let mut events = submitted(ServiceCode::PensionFundStatement);
        events.push(RequestEvent::Signed(RequestSigned {
            signature_sha256: "aa".into(),
            cms: Some("MA==".into()),
            deadline: None,
        }));
        given(&events)
            .when(Command::RecordSignatureCheck(SignatureCheck::Rejected {
                reason: rejection,
                certificate: None,
            }))
            .then(&[
                RequestEvent::SignatureRejected(SignatureRejected {
                    reason: rejection,
                    certificate: None,
                }),
                refused(reason),
            ]);
    }
}

#[test]
fn verification_is_refused_when_the_signer_is_not_the_applicant() {
    let mut events = submitted(ServiceCode::PensionFundStatement);
    events.push(RequestEvent::Signed(RequestSigned {
        signature_sha256: "aa".into(),
        cms: Some("MA==".into()),
        deadline: None,
    }));
    given(&events)
        .when(Command::RecordSignatureCheck(SignatureCheck::Verified(
            certificate(someone_else()),
        )))
        .then(&[
            RequestEvent::SignatureRejected(SignatureRejected {
                reason: SignatureRejection::IinMismatch,
                certificate: Some(certificate(someone_else())),
            }),
            refused(RefusalReason::CertificateIinMismatch),
        ]);
}

#[test]
fn commands_that_make_no_sense_in_the_state_are_typed_errors() {
    let signed = {
        let mut events = submitted(ServiceCode::SikAssignment);
        events.push(RequestEvent::Signed(RequestSigned {
            signature_sha256: "aa".into(),
            cms: Some("MA==".into()),
            deadline: None,
        }));
        events
    };
    given(&signed)
        .when(Command::Sign {
            signature_sha256: "aa".into(),
            cms: "MA==".into(),
        })
        .then_err(DomainError::NotAwaitingSignature);
    given(&signed)
        .when(Command::SubmitSurvey {
            quality: SurveyAnswer::Satisfied,
            information: SurveyAnswer::Satisfied,
        })
        .then_err(DomainError::SurveyBeforeEnd);
    given(&[])
        .when(Command::Sign {
            signature_sha256: "aa".into(),
            cms: "MA==".into(),
        })
        .then_err(DomainError::NotSubmitted);
    given(&submitted(ServiceCode::SikAssignment))
        .when(submit(ServiceCode::SikAssignment, Channel::Portal))
        .then_err(DomainError::AlreadySubmitted);
    let mut refused_events = signed.clone();
    refused_events.push(refused(RefusalReason::ProcessingError));
    given(&refused_events)
        .when(Command::StartLookup {
            lookup: Lookup::SikProcessing,
            attempt: 1,
        })
        .then_err(DomainError::RequestEnded);
    given(&signed_and_verified(ServiceCode::GcvpPensionInfo))
        .when(Command::StartLookup {
            lookup: Lookup::Sik,
            attempt: 1,
        })
        .then_err(DomainError::LookupOutOfOrder {
            expected: Some(Lookup::Iin),
            got: Lookup::Sik,
        });
    given(&signed_and_verified(ServiceCode::GcvpPensionInfo))
        .when(Command::IssueResult {
            document_number: "R".into(),
            document_sha256: "b".into(),
            sik_branch: None,
        })
        .then_err(DomainError::LookupsUnfinished);
}

#[test]
fn the_survey_is_taken_once_after_the_request_ends() {
    let mut events = all_found(ServiceCode::BasicPensionInfo);
    events.push(RequestEvent::ResultIssued(ResultIssued {
        document_number: "R".into(),
        document_sha256: "b".into(),
        sik_branch: None,
    }));
    let answer = Command::SubmitSurvey {
        quality: SurveyAnswer::Satisfied,
        information: SurveyAnswer::PartiallySatisfied,
    };
    let after = given(&events).when(answer.clone()).events();
    events.extend(after);
    given(&events)
        .when(answer)
        .then_err(DomainError::SurveyAlreadySubmitted);
}

#[test]
fn submission_checks_the_channel_the_form_and_sets_the_promised_deadline() {
    given(&[])
        .when(submit(ServiceCode::SikAssignment, Channel::ServiceCentre))
        .then_err(DomainError::ChannelNotOffered {
            service: ServiceCode::SikAssignment,
            channel: Channel::ServiceCentre,
        });
    let mut bad_form = submit(ServiceCode::PensionFundStatement, Channel::Portal);
    if let Command::Submit(Filing { form, .. }) = &mut bad_form {
        *form = json!({"period_start": "2026-01-10", "period_end": "2026-01-01"});
    }
    given(&[]).when(bad_form).then_err(DomainError::InvalidForm(
        crate::catalog::FormError::PeriodReversed,
    ));
    // REG 3537 «В течении 1 часа», counted from the receipt of the signed request (G4), not
    // from filing: signed three hours after filing, the hour runs from the signature.
    let mut events = submitted(ServiceCode::PensionFundStatement);
    let signed_at = now() + chrono::Duration::hours(3);
    let signed = decide(
        &given(&events).0,
        Command::Sign {
            signature_sha256: "aa".into(),
            cms: "MA==".into(),
        },
        signed_at,
    )
    .expect("signed");
    assert_eq!(
        signed,
        [RequestEvent::Signed(RequestSigned {
            signature_sha256: "aa".into(),
            cms: Some("MA==".into()),
            deadline: Some(signed_at + chrono::Duration::hours(1)),
        })],
        "«В течении 1 часа» from the signature"
    );
    events.extend(signed);
    let early = decide(
        &given(&events).0,
        Command::MarkServiceDeadlineMissed,
        signed_at + chrono::Duration::minutes(59),
    );
    assert_eq!(early, Err(DomainError::DeadlineNotReached));
    let late = decide(
        &given(&events).0,
        Command::MarkServiceDeadlineMissed,
        signed_at + chrono::Duration::hours(1),
    );
    assert!(matches!(
        late.as_deref(),
        Ok([RequestEvent::ServiceDeadlineMissed(_)])
    ));
}

/// docs/domain.md 3.6 (G4; KZ rules 4.5): an unsigned request is never late - no deadline has
/// started - and ends as abandoned once its time to sign is spent; a signed one never does.
#[test]
fn an_unsigned_request_is_never_late_and_ends_abandoned_after_its_time_to_sign() {
    let events = submitted(ServiceCode::DisabilityBenefitInfo);
    let Some(RequestEvent::Submitted(filed)) = events.first() else {
        panic!("submitted")
    };
    assert_eq!(filed.sign_by, now() + DEFAULT_SIGN_WITHIN);
    let state = given(&events).0;
    // Six minutes (the promise of services 1-8) and more pass unsigned: nothing is late.
    for after in [chrono::Duration::minutes(6), chrono::Duration::hours(23)] {
        assert_eq!(
            decide(&state, Command::MarkServiceDeadlineMissed, now() + after),
            Err(DomainError::DeadlineNotReached)
        );
        assert_eq!(
            decide(&state, Command::Abandon, now() + after),
            Err(DomainError::SignByNotReached)
        );
    }
    let abandoned = decide(&state, Command::Abandon, filed.sign_by).expect("abandoned");
    assert_eq!(
        abandoned,
        [RequestEvent::Abandoned(RequestAbandoned {
            sign_by: filed.sign_by
        })]
    );
    let ended = abandoned.iter().fold(state, evolve);
    assert_eq!(ended.status(), Some(RequestStatus::Abandoned));
    assert_eq!(
        decide(
            &ended,
            Command::Sign {
                signature_sha256: "aa".into(),
                cms: "MA==".into()
            },
            filed.sign_by
        ),
        Err(DomainError::RequestEnded),
        "an abandoned request takes no signature"
    );
    // No survey: there was no service to rate (docs/domain.md 7).
    assert_eq!(
        decide(
            &ended,
            Command::SubmitSurvey {
                quality: SurveyAnswer::Satisfied,
                information: SurveyAnswer::Satisfied,
            },
            filed.sign_by
        ),
        Err(DomainError::SurveyNotOffered)
    );
    // A signed request runs to its result or refusal; it is never abandoned.
    let signed = given(&signed_and_verified(ServiceCode::DisabilityBenefitInfo)).0;
    assert_eq!(
        decide(
            &signed,
            Command::Abandon,
            filed.sign_by + chrono::Duration::days(1)
        ),
        Err(DomainError::NotAwaitingSignature)
    );
}

#[test]
fn the_time_to_sign_is_the_filings_own_and_a_submission_of_version_1_is_upcast() {
    let mut short = submit(ServiceCode::SikAssignment, Channel::Portal);
    if let Command::Submit(filing) = &mut short {
        filing.sign_within = chrono::Duration::minutes(30);
    }
    let events = given(&[]).when(short).events();
    let Some(RequestEvent::Submitted(filed)) = events.first() else {
        panic!("submitted")
    };
    assert_eq!(filed.sign_by, now() + chrono::Duration::minutes(30));
    // Version 1 carried a deadline counted from filing: dropped, and the time to sign is the
    // default one from the receipt.
    let mut v1 = serde_json::to_value(filed).expect("serialises");
    let map = v1.as_object_mut().expect("object");
    map.remove("sign_by");
    map.insert("deadline".into(), json!("2026-11-24T06:00:00Z"));
    let upcast = RequestEvent::decode("RequestSubmitted", 1, v1.clone()).expect("upcast");
    let RequestEvent::Submitted(upcast) = upcast else {
        panic!("a submission")
    };
    assert_eq!(upcast.sign_by, filed.received_at + DEFAULT_SIGN_WITHIN);
    // What was promised then stays on record, and stays the request's deadline.
    let promised = "2026-11-24T06:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time");
    assert_eq!(upcast.promised_at_filing, Some(promised));
    let Request::Open(open) = given(&[RequestEvent::Submitted(upcast.clone())]).0 else {
        panic!("open")
    };
    assert_eq!(open.deadline, Some(promised));
    assert!(
        RequestEvent::decode("RequestSubmitted", 2, v1).is_err(),
        "a version 2 submission states its time to sign"
    );
}

#[test]
fn a_step_is_marked_late_once() {
    let mut events = signed_and_verified(ServiceCode::DisabilityBenefitInfo);
    let late = given(&events)
        .when(Command::MarkStepDeadlineMissed {
            step: Step::SignatureCheck,
        })
        .events();
    events.extend(late);
    given(&events)
        .when(Command::MarkStepDeadlineMissed {
            step: Step::SignatureCheck,
        })
        .then_err(DomainError::StepAlreadyLate(Step::SignatureCheck));
}

fn centre_submit(representative: bool) -> Command {
    let mut command = submit(ServiceCode::PensionFundStatement, Channel::ServiceCentre);
    if let Command::Submit(Filing {
        representative: r, ..
    }) = &mut command
    {
        *r = representative.then(|| Representative {
            iin: someone_else(),
            power_of_attorney_number: "N-123".into(),
            power_of_attorney_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15).expect("date"),
            notarised: true,
        });
    }
    command
}

/// The operator's signature, by the operator `someone_else()`.
fn operator_sign() -> Command {
    Command::OperatorSign {
        operator_id: "op-17".into(),
        operator_iin: someone_else(),
        signature_sha256: "cc".into(),
        cms: "MA==".into(),
    }
}

/// ENIS's record of the power of attorney `centre_submit(true)` presents.
fn valid_poa() -> serde_json::Value {
    json!({
        "number": "N-123", "date": "2026-01-15",
        "principal_iin": citizen(), "representative_iin": someone_else(),
        "valid_until": "2099-12-31", "revoked": false
    })
}

fn poa_found(data: serde_json::Value) -> [RequestEvent; 2] {
    [
        RequestEvent::LookupRequested(RegistryLookupRequested {
            lookup: Lookup::PowerOfAttorney,
            attempt: 1,
        }),
        RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
            lookup: Lookup::PowerOfAttorney,
            attempt: 1,
            data,
        }),
    ]
}

#[test]
fn a_power_of_attorney_that_does_not_hold_ends_in_poa_not_in_enis() {
    let mut events = given(&[]).when(centre_submit(true)).events();
    events.extend(found(Lookup::ApplicantIdentity));
    events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::PowerOfAttorney,
        attempt: 1,
    }));
    let answer = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut data = valid_poa();
        change(&mut data);
        given(&events)
            .when(Command::RecordLookup {
                lookup: Lookup::PowerOfAttorney,
                attempt: 1,
                outcome: LookupOutcome::Found(data),
            })
            .events()
    };
    assert_eq!(
        answer(&|_| {}).len(),
        1,
        "the presented, valid power of attorney holds"
    );
    for (what, change) in [
        (
            "expired",
            &(|d: &mut serde_json::Value| d["valid_until"] = json!("2020-01-01"))
                as &dyn Fn(&mut serde_json::Value),
        ),
        ("revoked", &|d: &mut serde_json::Value| {
            d["revoked"] = json!(true)
        }),
        ("another citizen's", &|d: &mut serde_json::Value| {
            d["principal_iin"] = json!(someone_else())
        }),
        ("given to someone else", &|d: &mut serde_json::Value| {
            d["representative_iin"] = json!(citizen())
        }),
        ("of another date", &|d: &mut serde_json::Value| {
            d["date"] = json!("2025-01-15")
        }),
        ("not a power of attorney", &|d: &mut serde_json::Value| {
            *d = json!({"x": 1})
        }),
    ] {
        let out = answer(change);
        assert_eq!(
            out.last(),
            Some(&refused(RefusalReason::PoaNotInEnis)),
            "{what}"
        );
    }
}

fn found(lookup: Lookup) -> [RequestEvent; 2] {
    [
        RequestEvent::LookupRequested(RegistryLookupRequested { lookup, attempt: 1 }),
        RequestEvent::LookupSucceeded(RegistryLookupSucceeded {
            lookup,
            attempt: 1,
            data: json!({}),
        }),
    ]
}

#[test]
fn a_representative_at_a_service_centre_is_checked_in_gbd_fl_and_enis_then_scanned_signed_and_served(
) {
    let mut events = given(&[]).when(centre_submit(true)).events();
    given(&events)
        .when(Command::StartLookup {
            lookup: Lookup::FundMovements,
            attempt: 1,
        })
        .then_err(DomainError::LookupOutOfOrder {
            expected: Some(Lookup::ApplicantIdentity),
            got: Lookup::FundMovements,
        });
    events.extend(found(Lookup::ApplicantIdentity));
    events.extend(found(Lookup::RepresentativeIdentity));
    events.extend(poa_found(valid_poa()));
    given(&events)
        .when(operator_sign())
        .then_err(DomainError::NoScans);
    given(&events)
        .when(Command::Sign {
            signature_sha256: "cc".into(),
            cms: "MA==".into(),
        })
        .then_err(DomainError::WrongChannel);
    events.extend(
        given(&events)
            .when(Command::ScanDocument {
                kind: crate::scans::ScanKind::IdentityDocument,
                sha256: "dd".into(),
                size: 10,
            })
            .events(),
    );
    given(&events)
        .when(Command::ScanDocument {
            kind: crate::scans::ScanKind::IdentityDocument,
            sha256: "dd".into(),
            size: 10,
        })
        .then_err(DomainError::AlreadyScanned);
    events.extend(given(&events).when(operator_sign()).events());
    // The document the operator signs carries the scan's digest.
    let Request::Open(open) = given(&events).0 else {
        panic!("open")
    };
    let document = String::from_utf8(open.document_to_sign()).expect("utf-8");
    assert!(document.contains("\"sha256\":\"dd\""), "{document}");
    assert!(
        document.contains("egov-events/centre-request/v1"),
        "{document}"
    );
    // Another certificate than the operator's: operator-signature-invalid.
    let out = given(&events)
        .when(Command::RecordSignatureCheck(SignatureCheck::Verified(
            certificate(citizen()),
        )))
        .events();
    assert_eq!(
        out.last(),
        Some(&refused(RefusalReason::OperatorSignatureInvalid))
    );
    // The operator signs with the operator's own certificate: no IIN match with the applicant.
    events.extend(
        given(&events)
            .when(Command::RecordSignatureCheck(SignatureCheck::Verified(
                certificate(someone_else()),
            )))
            .events(),
    );
    events.extend(found(Lookup::Iin));
    events.extend(found(Lookup::Sik));
    events.extend(found(Lookup::FundMovements));
    let done = given(&events)
        .when(Command::IssueResult {
            document_number: "R".into(),
            document_sha256: "b".into(),
            sik_branch: None,
        })
        .events();
    events.extend(done);
    assert_eq!(given(&events).0.status(), Some(RequestStatus::Completed));
}

#[test]
fn service_centre_checks_end_in_their_refusals() {
    let events = given(&[]).when(centre_submit(false)).events();
    let mut asked = events.clone();
    asked.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::ApplicantIdentity,
        attempt: 1,
    }));
    let not_found = Command::RecordLookup {
        lookup: Lookup::ApplicantIdentity,
        attempt: 1,
        outcome: LookupOutcome::Failed(LookupFailure::NotFound),
    };
    let out = given(&asked).when(not_found).events();
    assert_eq!(
        out.last(),
        Some(&refused(RefusalReason::ApplicantNotInGbdFl))
    );

    let mut events = given(&[]).when(centre_submit(true)).events();
    events.extend(found(Lookup::ApplicantIdentity));
    events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::PowerOfAttorney,
        attempt: 1,
    }));
    let out = given(&events)
        .when(Command::RecordLookup {
            lookup: Lookup::PowerOfAttorney,
            attempt: 1,
            outcome: LookupOutcome::Failed(LookupFailure::NotFound),
        })
        .events();
    assert_eq!(out.last(), Some(&refused(RefusalReason::PoaNotInEnis)));

    let mut events = given(&[]).when(centre_submit(false)).events();
    events.extend(found(Lookup::ApplicantIdentity));
    events.push(RequestEvent::DocumentsScanned(DocumentsScanned {
        kind: "identity".into(),
        sha256: "d".into(),
        size: 1,
    }));
    events.push(RequestEvent::OperatorSigned(OperatorSigned {
        operator_id: "op-17".into(),
        signature_sha256: "c".into(),
        operator_iin: Some(someone_else()),
        cms: Some("MA==".into()),
        deadline: None,
    }));
    let out = given(&events)
        .when(Command::RecordSignatureCheck(SignatureCheck::Rejected {
            reason: SignatureRejection::Revoked,
            certificate: None,
        }))
        .events();
    assert_eq!(
        out.last(),
        Some(&refused(RefusalReason::OperatorSignatureInvalid))
    );
}

#[test]
fn a_representative_is_refused_on_the_portal() {
    let mut command = centre_submit(true);
    if let Command::Submit(Filing {
        channel,
        operator_id,
        ..
    }) = &mut command
    {
        *channel = Channel::Portal;
        *operator_id = None;
    }
    given(&[])
        .when(command)
        .then_err(DomainError::RepresentativeOnlyAtServiceCentre);
}

#[test]
fn stored_events_decode_back_to_themselves() {
    let mut events = all_found(ServiceCode::PensionFundStatement);
    events.push(RequestEvent::ResultIssued(ResultIssued {
        document_number: "R".into(),
        document_sha256: "b".into(),
        sik_branch: None,
    }));
    for event in events {
        let back =
            RequestEvent::decode(event.event_type(), event.schema_version(), event.payload())
                .expect("decodes");
        assert_eq!(back, event);
    }
    assert!(matches!(
        RequestEvent::decode("RequestSigned", 4, json!({"signature_sha256": "a"})),
        Err(EventDecodeError::NewerSchema { .. })
    ));
    assert!(matches!(
        RequestEvent::decode("Nope", 1, json!({})),
        Err(EventDecodeError::UnknownType(_))
    ));
}

/// Any command, with small choices, to drive random sequences.
fn any_command() -> impl Strategy<Value = Command> {
    let lookup = prop::sample::select(vec![
        Lookup::Iin,
        Lookup::Sik,
        Lookup::BenefitData,
        Lookup::SikProcessing,
        Lookup::FundMovements,
        Lookup::ApplicantIdentity,
        Lookup::PowerOfAttorney,
        Lookup::SocialStatus,
    ]);
    let failure = prop::sample::select(vec![
        LookupFailure::NotFound,
        LookupFailure::Unavailable,
        LookupFailure::TimedOut,
    ]);
    prop_oneof![
        prop::sample::select(ServiceCode::ALL.to_vec()).prop_map(|s| submit(s, Channel::Portal)),
        Just(centre_submit(true)),
        Just(Command::Sign {
            signature_sha256: "a".into(),
            cms: "MA==".into(),
        }),
        Just(Command::ScanDocument {
            kind: crate::scans::ScanKind::IdentityDocument,
            sha256: "d".into(),
            size: 1
        }),
        Just(operator_sign()),
        Just(Command::RecordSignatureCheck(SignatureCheck::Verified(
            certificate(citizen())
        ))),
        Just(Command::RecordSignatureCheck(SignatureCheck::Rejected {
            reason: SignatureRejection::Expired,
            certificate: None
        })),
        lookup
            .clone()
            .prop_map(|lookup| Command::StartLookup { lookup, attempt: 1 }),
        lookup.clone().prop_map(|lookup| Command::RecordLookup {
            lookup,
            attempt: 1,
            outcome: LookupOutcome::Found(json!({}))
        }),
        (lookup, failure).prop_map(|(lookup, f)| Command::RecordLookup {
            lookup,
            attempt: 1,
            outcome: LookupOutcome::Failed(f)
        }),
        Just(Command::IssueResult {
            document_number: "R".into(),
            document_sha256: "b".into(),
            sik_branch: None,
        }),
        Just(Command::Refuse {
            reason: RefusalReason::ProcessingError
        }),
        Just(Command::MarkStepDeadlineMissed {
            step: Step::SignatureCheck
        }),
        Just(Command::MarkServiceDeadlineMissed),
        Just(Command::Abandon),
        Just(Command::SubmitSurvey {
            quality: SurveyAnswer::Satisfied,
            information: SurveyAnswer::NotSatisfied
        }),
    ]
}

proptest! {
    #[test]
    fn decided_events_always_move_the_state_and_replay_to_the_same_state(
        commands in prop::collection::vec(any_command(), 0..40)
    ) {
        let mut state = Request::default();
        let mut log = Vec::new();
        for command in commands {
            if let Ok(events) = decide(&state, command, now()) {
                prop_assert!(!events.is_empty(), "an accepted command records something");
                let before = state.clone();
                for event in &events {
                    state = evolve(state, event);
                }
                prop_assert_ne!(&before, &state, "accepted events change the state");
                log.extend(events);
            }
        }
        // Folding one event at a time and replaying the stream agree (evolve is deterministic).
        let replayed = log.iter().fold(Request::default(), evolve);
        prop_assert_eq!(replayed, state.clone());
        // Every state reached has a status, once anything was submitted.
        prop_assert_eq!(state.status().is_some(), !log.is_empty());
        // Read models fold `status_after` alone; it must agree with the whole state.
        let folded = log.iter().fold(None, |status, event| event.status_after().or(status));
        prop_assert_eq!(folded, state.status());
    }
}

#[test]
fn an_operator_signature_of_schema_version_1_is_upcast_to_version_2() {
    let v1 = json!({"operator_id": "op-17", "signature_sha256": "ab"});
    let event = RequestEvent::decode("OperatorSigned", 1, v1.clone()).expect("upcast");
    assert_eq!(
        event,
        RequestEvent::OperatorSigned(OperatorSigned {
            operator_id: "op-17".into(),
            signature_sha256: "ab".into(),
            operator_iin: None,
            cms: None,
            deadline: None,
        })
    );
    assert!(
        RequestEvent::decode("OperatorSigned", 2, v1).is_err(),
        "a version 2 operator signature names the operator's IIN and its container (or null)"
    );
    assert_eq!(event.schema_version(), 3);
}

#[test]
fn signatures_and_checks_of_schema_version_1_are_upcast_to_version_2() {
    let signed = RequestEvent::decode("RequestSigned", 1, json!({"signature_sha256": "ab"}))
        .expect("upcast");
    assert_eq!(
        signed,
        RequestEvent::Signed(RequestSigned {
            signature_sha256: "ab".into(),
            cms: None,
            deadline: None,
        })
    );
    assert!(
        RequestEvent::decode("RequestSigned", 2, json!({"signature_sha256": "ab"})).is_err(),
        "a version 2 signature names its container (or null)"
    );
    let mut v1 = certificate(citizen());
    v1.revocation = None;
    let mut payload = serde_json::to_value(&v1).expect("serialises");
    payload.as_object_mut().map(|m| m.remove("revocation"));
    let verified = RequestEvent::decode("SignatureVerified", 1, json!({"certificate": payload}))
        .expect("upcast");
    assert_eq!(
        verified,
        RequestEvent::SignatureVerified(SignatureVerified {
            certificate: v1.clone()
        })
    );
    let rejected = RequestEvent::decode(
        "SignatureRejected",
        1,
        json!({"reason": "revoked", "certificate": null}),
    )
    .expect("upcast");
    assert_eq!(
        rejected,
        RequestEvent::SignatureRejected(SignatureRejected {
            reason: SignatureRejection::Revoked,
            certificate: None
        })
    );
}

#[test]
fn a_result_issued_payload_of_schema_version_1_is_upcast_to_version_2() {
    // As stored before the SIK branch existed (docs/domain.md 10, D15).
    let v1 = json!({"document_number": "R-7", "document_sha256": "ab"});
    assert!(
        serde_json::from_value::<ResultIssued>(v1.clone()).is_err(),
        "the current payload cannot read version 1 without its upcaster"
    );
    let event = RequestEvent::decode("ResultIssued", 1, v1).expect("upcast");
    assert_eq!(
        event,
        RequestEvent::ResultIssued(ResultIssued {
            document_number: "R-7".into(),
            document_sha256: "ab".into(),
            sik_branch: None
        })
    );
    assert_eq!(event.schema_version(), 2);
}

#[test]
fn a_sik_result_names_its_branch_and_no_other_result_does() {
    given(&all_found(ServiceCode::SikAssignment))
        .when(Command::IssueResult {
            document_number: "R".into(),
            document_sha256: "b".into(),
            sik_branch: None,
        })
        .then_err(DomainError::SikBranchMismatch);
    given(&all_found(ServiceCode::AgeBenefitInfo))
        .when(Command::IssueResult {
            document_number: "R".into(),
            document_sha256: "b".into(),
            sik_branch: Some(SikBranch::Duplicate),
        })
        .then_err(DomainError::SikBranchMismatch);
}

/// REG 2756 and 2976-2978: the provider's AIS without the data asked for refuses with «в связи с
/// отсутствием запрошенных данных» (`no-data`); `processing-error` is for an AIS whose processing
/// failed - it never answered within the time allowed.
#[test]
fn a_sik_registry_without_the_persons_data_refuses_with_no_data() {
    let mut events = signed_and_verified(ServiceCode::SikAssignment);
    events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::SikProcessing,
        attempt: 1,
    }));
    given(&events)
        .when(Command::RecordLookup {
            lookup: Lookup::SikProcessing,
            attempt: 1,
            outcome: LookupOutcome::Failed(LookupFailure::NotFound),
        })
        .then(&[
            RequestEvent::LookupFailed(RegistryLookupFailed {
                lookup: Lookup::SikProcessing,
                attempt: 1,
                failure: LookupFailure::NotFound,
            }),
            refused(RefusalReason::NoData),
        ]);
}

#[test]
fn a_processing_error_when_the_step_time_is_spent_ends_in_its_refusal() {
    // REG 2976-2978: «4 - если в результате обработки произошла ошибка»; the workflow refuses once
    // retries have used up the step's time.
    let mut events = signed_and_verified(ServiceCode::SikAssignment);
    events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
        lookup: Lookup::SikProcessing,
        attempt: 1,
    }));
    events.push(RequestEvent::LookupFailed(RegistryLookupFailed {
        lookup: Lookup::SikProcessing,
        attempt: 1,
        failure: LookupFailure::Unavailable,
    }));
    let end = given(&events)
        .when(Command::Refuse {
            reason: RefusalReason::ProcessingError,
        })
        .then(&[refused(RefusalReason::ProcessingError)]);
    assert_eq!(end.status(), Some(RequestStatus::Refused));
}

/// Drives a request of `service` to the refusal `reason` the way the workflow would: a lookup
/// that finds nothing, a signature that is rejected, or (for refusals no check of the aggregate
/// produces: authorisation, the client's NCALayer, an invalid IIN) an explicit refusal.
fn refuse_with(service: ServiceCode, reason: RefusalReason) -> Request {
    let portal = service.service().channels.contains(&Channel::Portal);
    let channel = if portal {
        Channel::Portal
    } else {
        Channel::ServiceCentre
    };
    let mut events = given(&[]).when(submit(service, channel)).events();
    let lookup_for = |r: RefusalReason| {
        service
            .service()
            .lookups
            .iter()
            .copied()
            .find(|l| command::refusal_for(*l) == r)
    };
    let signature = match reason {
        RefusalReason::CertificateExpired => Some(SignatureRejection::Expired),
        RefusalReason::CertificateRevoked => Some(SignatureRejection::Revoked),
        RefusalReason::CertificateIinMismatch => Some(SignatureRejection::IinMismatch),
        RefusalReason::SignatureInvalid => Some(SignatureRejection::NotTrusted),
        _ => None,
    };
    let state = |events: &[RequestEvent]| given(events).0;
    if let Some(rejection) = signature {
        events.push(RequestEvent::Signed(RequestSigned {
            signature_sha256: "a".into(),
            cms: Some("MA==".into()),
            deadline: None,
        }));
        let out = decide(
            &state(&events),
            Command::RecordSignatureCheck(SignatureCheck::Rejected {
                reason: rejection,
                certificate: None,
            }),
            now(),
        )
        .expect("rejection accepted");
        events.extend(out);
        return state(&events);
    }
    let lookups = service.service().lookups;
    if let Some(target) = lookup_for(reason) {
        events.push(RequestEvent::Signed(RequestSigned {
            signature_sha256: "a".into(),
            cms: Some("MA==".into()),
            deadline: None,
        }));
        events.push(RequestEvent::SignatureVerified(SignatureVerified {
            certificate: certificate(citizen()),
        }));
        for lookup in lookups {
            events.push(RequestEvent::LookupRequested(RegistryLookupRequested {
                lookup: *lookup,
                attempt: 1,
            }));
            let outcome = if *lookup == target {
                LookupOutcome::Failed(LookupFailure::NotFound)
            } else {
                LookupOutcome::Found(json!({}))
            };
            let out = decide(
                &state(&events),
                Command::RecordLookup {
                    lookup: *lookup,
                    attempt: 1,
                    outcome,
                },
                now(),
            )
            .expect("answer accepted");
            events.extend(out);
            if *lookup == target {
                break;
            }
        }
        return state(&events);
    }
    let out = decide(&state(&events), Command::Refuse { reason }, now()).expect("refusal accepted");
    events.extend(out);
    state(&events)
}

#[test]
fn every_refusal_the_catalog_lists_for_a_portal_service_ends_its_request_with_that_reason() {
    for service in CATALOG
        .iter()
        .filter(|s| s.channels.contains(&Channel::Portal))
    {
        for reason in service.refusals {
            // The service-centre refusals belong to that channel's test below.
            if matches!(
                reason,
                RefusalReason::ApplicantNotInGbdFl
                    | RefusalReason::PoaNotInEnis
                    | RefusalReason::OperatorSignatureInvalid
            ) {
                continue;
            }
            let end = refuse_with(service.code, *reason);
            let Request::Closed(closed) = &end else {
                panic!("{} {reason}: request still open", service.code)
            };
            assert_eq!(
                closed.outcome,
                Outcome::Refused { reason: *reason },
                "{} {reason}",
                service.code
            );
        }
    }
}

#[test]
fn the_document_to_sign_is_canonical_and_changes_with_what_is_asked() {
    let submitted = |form: serde_json::Value| match &given(&[])
        .when(Command::Submit(Filing::on_portal(
            Uuid::from_u128(7),
            RequestNumber::parse("20261123000001").expect("number"),
            ServiceCode::PensionFundStatement,
            citizen(),
            form,
        )))
        .events()[0]
    {
        RequestEvent::Submitted(e) => e.clone(),
        other => panic!("expected a submission, got {other:?}"),
    };
    let all_time = submitted(json!({}));
    let bytes = all_time.document_to_sign();
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(
        text.starts_with("{\"applicant\":\"900101300007\",\"channel\":\"portal\""),
        "{text}"
    );
    assert!(!text.contains(' '), "no insignificant white space: {text}");
    // Rebuilt from the stored event, the bytes are the same.
    let stored = RequestEvent::decode(
        "RequestSubmitted",
        1,
        RequestEvent::Submitted(all_time.clone()).payload(),
    )
    .expect("decode");
    let RequestEvent::Submitted(stored) = stored else {
        panic!("decoded a submission")
    };
    assert_eq!(stored.document_to_sign(), bytes);
    let with_period = submitted(json!({"period_start": "2020-01-01", "period_end": "2020-12-31"}));
    assert_ne!(with_period.document_to_sign(), bytes);
}

/// REG 284-286 and 3591: a refused request ends with the provider's signed refusal document,
/// issued once; a completed or abandoned one never gets one.
#[test]
fn a_refused_request_gets_its_refusal_document_once() {
    let mut events = signed_and_verified(ServiceCode::PensionFundStatement);
    events.push(refused(RefusalReason::IinNotFound));
    let issue = || Command::IssueRefusal {
        document_number: "O20261123000001".into(),
        document_sha256: "ab".into(),
    };
    let state = given(&events)
        .when(issue())
        .then(&[RequestEvent::RefusalIssued(RefusalIssued {
            document_number: "O20261123000001".into(),
            document_sha256: "ab".into(),
        })]);
    let Request::Closed(closed) = &state else {
        panic!("ended")
    };
    assert_eq!(closed.document_number(), Some("O20261123000001"));
    assert_eq!(state.status(), Some(RequestStatus::Refused));
    events.push(RequestEvent::RefusalIssued(RefusalIssued {
        document_number: "O20261123000001".into(),
        document_sha256: "ab".into(),
    }));
    given(&events)
        .when(issue())
        .then_err(DomainError::RefusalAlreadyIssued);
    // A completed request, an open one: no refusal document.
    let mut completed = all_found(ServiceCode::PensionFundStatement);
    completed.push(RequestEvent::ResultIssued(ResultIssued {
        document_number: "R1".into(),
        document_sha256: "cd".into(),
        sik_branch: None,
    }));
    given(&completed)
        .when(issue())
        .then_err(DomainError::NotRefused);
    given(&signed_and_verified(ServiceCode::PensionFundStatement))
        .when(issue())
        .then_err(DomainError::NotRefused);
}

/// REG 3592 (table 2, step 11): the operator hands the applicant the result or the refusal, and
/// that is recorded; a portal request has no desk, and nothing is handed out before a document.
#[test]
fn the_operator_hands_out_the_document_of_a_centre_request_once_there_is_one() {
    let hand_out = || Command::HandOut {
        operator_id: "centre-1/850715400109".into(),
    };
    let centre = given(&[])
        .when(submit(
            ServiceCode::PensionFundStatement,
            Channel::ServiceCentre,
        ))
        .events();
    let mut refused_at_desk = centre.clone();
    refused_at_desk.push(refused(RefusalReason::ApplicantNotInGbdFl));
    given(&refused_at_desk)
        .when(hand_out())
        .then_err(DomainError::NoDocumentYet);
    refused_at_desk.push(RequestEvent::RefusalIssued(RefusalIssued {
        document_number: "O1".into(),
        document_sha256: "ab".into(),
    }));
    let handed = RequestEvent::DocumentHandedOut(DocumentHandedOut {
        operator_id: "centre-1/850715400109".into(),
        document_number: "O1".into(),
    });
    given(&refused_at_desk)
        .when(hand_out())
        .then(std::slice::from_ref(&handed));
    refused_at_desk.push(handed);
    given(&refused_at_desk)
        .when(hand_out())
        .then_err(DomainError::AlreadyHandedOut);
    given(&refused_at_desk)
        .when(Command::HandOut {
            operator_id: "centre-1/900101300007".into(),
        })
        .events();
    given(&centre)
        .when(hand_out())
        .then_err(DomainError::NoDocumentYet);
    let mut portal = signed_and_verified(ServiceCode::PensionFundStatement);
    portal.push(refused(RefusalReason::IinNotFound));
    portal.push(RequestEvent::RefusalIssued(RefusalIssued {
        document_number: "O2".into(),
        document_sha256: "ab".into(),
    }));
    given(&portal)
        .when(hand_out())
        .then_err(DomainError::WrongChannel);
}

/// A representative filing at the desk: the representative `someone_else()` presents their identity
/// document, for `citizen()`; `notarised` says whether the power of attorney is in ENIS.
fn represented_filing(notarised: bool) -> Command {
    let mut command = centre_submit(true);
    if let Command::Submit(filing) = &mut command {
        if let Some(r) = &mut filing.representative {
            r.notarised = notarised;
        }
        filing.presented = Some(Box::new(PresentedPerson {
            iin: someone_else(),
            surname: "Сериков".into(),
            given_name: "Болат".into(),
            patronymic: None,
            document_kind: "id-card".into(),
            document_number: "049871234".into(),
        }));
    }
    command
}

/// The answer of the check under way, recorded through `decide`.
fn answer_check(events: &mut Vec<RequestEvent>, lookup: Lookup, data: serde_json::Value) {
    events.extend(
        given(events)
            .when(Command::StartLookup { lookup, attempt: 1 })
            .events(),
    );
    let out = given(events)
        .when(Command::RecordLookup {
            lookup,
            attempt: 1,
            outcome: LookupOutcome::Found(data),
        })
        .events();
    events.extend(out);
}

/// REG 3153: GBD FL is asked for «данных потребителя» - the represented citizen - and, at the
/// desk, about the representative too; each answer is its own event naming whose record it is
/// (docs/domain.md 3.5).
#[test]
fn gbd_fl_is_asked_about_the_represented_citizen_and_the_representative_each_named() {
    let mut events = given(&[]).when(represented_filing(true)).events();
    let Some(RequestEvent::Submitted(filed)) = events.first().cloned() else {
        panic!("filed")
    };
    assert_eq!(filed.asked_about(Lookup::ApplicantIdentity), &citizen());
    assert_eq!(
        filed.asked_about(Lookup::RepresentativeIdentity),
        &someone_else()
    );
    // The represented citizen is not at the desk: GBD FL knowing them is the check.
    answer_check(
        &mut events,
        Lookup::ApplicantIdentity,
        json!({"last_name": "Бапахова"}),
    );
    assert_eq!(
        events.last(),
        Some(&RequestEvent::ApplicantIdentityVerified(
            ApplicantIdentityVerified {
                person: IdentityOf::Applicant,
                iin: Some(citizen()),
                attempt: 1,
                confirmed: Some(true),
                data: json!({"last_name": "Бапахова"}),
            }
        ))
    );
    // The representative must be the person their identity document names.
    let mut misnamed = events.clone();
    let wrong = json!({"last_name": "Иванов", "first_name": "Болат"});
    answer_check(&mut misnamed, Lookup::RepresentativeIdentity, wrong.clone());
    assert_eq!(
        &misnamed[misnamed.len() - 2..],
        [
            RequestEvent::ApplicantIdentityVerified(ApplicantIdentityVerified {
                person: IdentityOf::Representative,
                iin: Some(someone_else()),
                attempt: 1,
                confirmed: Some(false),
                data: wrong,
            }),
            refused(RefusalReason::RepresentativeNotInGbdFl),
        ]
    );
    answer_check(
        &mut events,
        Lookup::RepresentativeIdentity,
        json!({"last_name": "Сериков", "first_name": "Болат"}),
    );
    // Then ENIS, for a notarised power of attorney.
    given(&events)
        .when(Command::StartLookup {
            lookup: Lookup::PowerOfAttorney,
            attempt: 1,
        })
        .events();
}

/// REG 3150: a power of attorney that is not notarised is served without ENIS: the operator
/// checks the paper, scans it and attests it before signing.
#[test]
fn a_power_of_attorney_that_is_not_notarised_needs_its_scan_and_the_operators_attestation() {
    let mut events = given(&[]).when(represented_filing(false)).events();
    answer_check(&mut events, Lookup::ApplicantIdentity, json!({}));
    answer_check(
        &mut events,
        Lookup::RepresentativeIdentity,
        json!({"last_name": "Сериков", "first_name": "Болат"}),
    );
    // No ENIS check: the desk's checks are done, the request waits for the scans.
    let Request::Open(open) = given(&events).0 else {
        panic!("open")
    };
    assert_eq!(open.stage, Stage::AwaitingSignature { scans: 0 });
    assert!(!open.checks.contains(&Lookup::PowerOfAttorney));
    let attest = || Command::AttestPowerOfAttorney {
        operator_id: "op-17".into(),
    };
    let scan = |kind, sha256: &str| Command::ScanDocument {
        kind,
        sha256: sha256.into(),
        size: 10,
    };
    // An identity document scanned: nothing to attest yet, and no signature.
    events.extend(
        given(&events)
            .when(scan(crate::scans::ScanKind::IdentityDocument, "aa"))
            .events(),
    );
    given(&events)
        .when(attest())
        .then_err(DomainError::NothingToAttest);
    given(&events)
        .when(operator_sign())
        .then_err(DomainError::PowerOfAttorneyNotAttested);
    events.extend(
        given(&events)
            .when(scan(crate::scans::ScanKind::PowerOfAttorney, "bb"))
            .events(),
    );
    given(&events)
        .when(operator_sign())
        .then_err(DomainError::PowerOfAttorneyNotAttested);
    let attested = given(&events).when(attest()).events();
    assert_eq!(
        attested,
        [RequestEvent::PowerOfAttorneyAttested(
            PowerOfAttorneyAttested {
                operator_id: "op-17".into(),
                scan_sha256: "bb".into(),
            }
        )]
    );
    events.extend(attested);
    given(&events)
        .when(attest())
        .then_err(DomainError::AlreadyAttested);
    let signed = given(&events).when(operator_sign()).events();
    assert!(matches!(
        signed.as_slice(),
        [RequestEvent::OperatorSigned(_)]
    ));
    // A notarised one is ENIS's to confirm: nothing for the operator to attest.
    let mut notarised = given(&[]).when(represented_filing(true)).events();
    answer_check(&mut notarised, Lookup::ApplicantIdentity, json!({}));
    answer_check(
        &mut notarised,
        Lookup::RepresentativeIdentity,
        json!({"last_name": "Сериков", "first_name": "Болат"}),
    );
    answer_check(&mut notarised, Lookup::PowerOfAttorney, valid_poa());
    notarised.extend(
        given(&notarised)
            .when(scan(crate::scans::ScanKind::PowerOfAttorney, "cc"))
            .events(),
    );
    given(&notarised)
        .when(attest())
        .then_err(DomainError::NothingToAttest);
}

/// docs/domain.md 3.5: the desk's checks stored as generic lookup answers are read as their own
/// event types; a submission of version 2 took notarised powers of attorney only.
#[test]
fn desk_checks_stored_as_generic_answers_and_older_submissions_are_upcast() {
    let generic = |lookup: &str| json!({"lookup": lookup, "attempt": 2, "data": {"x": 1}});
    assert_eq!(
        RequestEvent::decode("RegistryLookupSucceeded", 1, generic("applicant-identity"))
            .expect("upcast"),
        RequestEvent::ApplicantIdentityVerified(ApplicantIdentityVerified {
            person: IdentityOf::PersonAtDesk,
            iin: None,
            attempt: 2,
            confirmed: None,
            data: json!({"x": 1}),
        })
    );
    assert_eq!(
        RequestEvent::decode("RegistryLookupSucceeded", 1, generic("power-of-attorney"))
            .expect("upcast"),
        RequestEvent::PowerOfAttorneyVerified(PowerOfAttorneyVerified {
            attempt: 2,
            confirmed: None,
            data: json!({"x": 1}),
        })
    );
    assert!(matches!(
        RequestEvent::decode("RegistryLookupSucceeded", 1, generic("iin")),
        Ok(RequestEvent::LookupSucceeded(_))
    ));
    let events = given(&[]).when(represented_filing(true)).events();
    // As stored at version 2: no `gbd_fl_asks`, and `notarised` (true) not written.
    let mut v2 = events[0].payload();
    v2.as_object_mut().expect("object").remove("gbd_fl_asks");
    assert!(v2["representative"].get("notarised").is_none(), "{v2}");
    let RequestEvent::Submitted(read) =
        RequestEvent::decode("RequestSubmitted", 2, v2.clone()).expect("upcast")
    else {
        panic!("a submission")
    };
    assert_eq!(read.representative.map(|r| r.notarised), Some(true));
    assert!(RequestEvent::decode("RequestSubmitted", 3, v2).is_err());
}

/// A representative's request filed before the consumer was asked about replays into the stage it
/// had: GBD FL about the person at the desk, then ENIS - and the bytes its operator signed stay
/// the same (the upgrade must not break a request in progress).
#[test]
fn a_representatives_request_filed_under_the_earlier_rule_replays_as_it_was() {
    let events = given(&[]).when(represented_filing(true)).events();
    let mut v2 = events[0].payload();
    let map = v2.as_object_mut().expect("object");
    map.remove("gbd_fl_asks");
    let RequestEvent::Submitted(old) =
        RequestEvent::decode("RequestSubmitted", 2, v2).expect("upcast")
    else {
        panic!("a submission")
    };
    assert_eq!(old.gbd_fl_asks, GbdFlAsks::PersonAtDesk);
    assert_eq!(old.asked_about(Lookup::ApplicantIdentity), &someone_else());
    let state = given(&[RequestEvent::Submitted(old.clone())]).0;
    let Request::Open(open) = &state else {
        panic!("open")
    };
    assert_eq!(
        open.checks,
        [Lookup::ApplicantIdentity, Lookup::PowerOfAttorney]
    );
    let document = String::from_utf8(old.document_to_sign()).expect("utf-8");
    assert!(!document.contains("notarised"), "{document}");
    // Its GBD FL answer is about the person at the desk, who must be named as presented.
    let mut events = vec![RequestEvent::Submitted(old)];
    answer_check(
        &mut events,
        Lookup::ApplicantIdentity,
        json!({"last_name": "Иванов", "first_name": "Болат"}),
    );
    assert_eq!(
        events.last(),
        Some(&refused(RefusalReason::ApplicantNotInGbdFl))
    );
}

/// docs/domain.md 3.6: once `sign_by` has passed nothing more is taken for the signature, even
/// before the workflow records the abandonment; and an unsigned request is never late, not even
/// one whose filing (under the earlier rule) promised a deadline.
#[test]
fn after_its_time_to_sign_a_request_takes_no_signature_and_unsigned_is_never_late() {
    let events = submitted(ServiceCode::PensionFundStatement);
    let Some(RequestEvent::Submitted(filed)) = events.first().cloned() else {
        panic!("submitted")
    };
    let state = given(&events).0;
    let sign = Command::Sign {
        signature_sha256: "aa".into(),
        cms: "MA==".into(),
    };
    assert_eq!(
        decide(&state, sign, filed.sign_by),
        Err(DomainError::SignByPassed)
    );
    let centre = given(&[]).when(represented_filing(false)).events();
    let sign_by = match centre.first() {
        Some(RequestEvent::Submitted(s)) => s.sign_by,
        _ => panic!("submitted"),
    };
    let mut at_desk = centre.clone();
    answer_check(&mut at_desk, Lookup::ApplicantIdentity, json!({}));
    answer_check(
        &mut at_desk,
        Lookup::RepresentativeIdentity,
        json!({"last_name": "Сериков", "first_name": "Болат"}),
    );
    let scan = Command::ScanDocument {
        kind: crate::scans::ScanKind::PowerOfAttorney,
        sha256: "bb".into(),
        size: 1,
    };
    assert_eq!(
        decide(&given(&at_desk).0, scan, sign_by),
        Err(DomainError::SignByPassed)
    );
    // Filed under the earlier rule with a deadline from filing, still unsigned past it.
    let mut old = filed;
    old.promised_at_filing = Some(now() + chrono::Duration::hours(1));
    let old = given(&[RequestEvent::Submitted(old)]).0;
    assert_eq!(
        decide(
            &old,
            Command::MarkServiceDeadlineMissed,
            now() + chrono::Duration::hours(2)
        ),
        Err(DomainError::DeadlineNotReached)
    );
}
