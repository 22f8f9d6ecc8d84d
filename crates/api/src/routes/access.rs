//! Who may see a request, and the record of reads of citizens' data by anyone else.
//!
//! A citizen sees only requests where they are the applicant or the subject; anyone else's
//! answers exactly like an unknown number (404). Operators and auditors see requests, and every
//! such read of a citizen's data is recorded (`commands::read_audit`), because looking at a
//! citizen's data is itself a fact the citizen and auditors may ask about. A read is answered only
//! once its record is durable; a read that cannot be recorded is refused.

use commands::read_audit::{AuditError, ReadAudit, Reader};
use domain::catalog::ServiceCode;
use domain::request::RequestInfo;
use domain::{Iin, SignIn};
use projections::StatusRow;

use crate::problem::ApiError;
use crate::token::{Principal, Role};

/// Whether `principal` may see the request of `row`. A medical organisation's user sees the
/// social-status checks they filed themselves through the same organisation, nothing else
/// ([`medical_sees`]); a citizen what concerns them through their own sign-in (a check only as
/// its patient).
pub fn visible(principal: &Principal, row: &StatusRow) -> bool {
    match principal.role {
        Role::Citizen => principal.iin.as_ref().is_some_and(|iin| row.concerns(iin)),
        Role::Medical => medical_sees(
            principal,
            row.service,
            &row.iin,
            row.organisation.as_deref(),
        ),
        Role::Operator | Role::Auditor => true,
        Role::Analyst | Role::Witness => false,
    }
}

/// As [`visible`], for a request the status view does not have yet, told from its submission (a
/// representative sees it once the view has it, with their power of attorney checked).
pub fn visible_info(principal: &Principal, info: &RequestInfo) -> bool {
    match principal.role {
        Role::Citizen => principal.iin.as_ref().is_some_and(|iin| {
            (&info.applicant == iin && SignIn::Citizen.files(info.service))
                || info.subject() == Some(iin)
        }),
        Role::Medical => medical_sees(
            principal,
            info.service,
            &info.applicant,
            info.organisation.as_deref(),
        ),
        Role::Operator | Role::Auditor => true,
        Role::Analyst | Role::Witness => false,
    }
}

/// Whether a medical organisation's user sees a request of `service` filed by `applicant`
/// naming `organisation`: only a social-status check they filed themselves, through a sign-in
/// of the same organisation (the check is that organisation's record). Their own other requests
/// are read with their citizen's sign-in, not through the organisation's.
fn medical_sees(
    principal: &Principal,
    service: ServiceCode,
    applicant: &Iin,
    organisation: Option<&str>,
) -> bool {
    principal
        .signer()
        .is_ok_and(|(user, through)| &user == applicant && through.acts_on(service, organisation))
}

/// Whether `principal`'s read of `row` is a read of someone else's data, to be recorded: every
/// read but a citizen's of a request they filed or are the subject of. A representative's read
/// of the represented citizen's request is recorded as any other person's.
pub fn recorded(principal: &Principal, row: &StatusRow) -> bool {
    principal.role != Role::Citizen
        || principal
            .iin
            .as_ref()
            .is_none_or(|iin| &row.iin != iin && row.subject_iin.as_ref() != Some(iin))
}

/// Checks that `principal` may read citizens' data with `purpose`: an operator only as a named
/// service centre's operator and only saying why; a medical organisation's user only as a named
/// organisation's (every check they make is recorded with it); the others as their role allows.
///
/// # Errors
/// [`ApiError::OperatorUnidentified`] (403) for an operator's token without a centre;
/// [`ApiError::PurposeRequired`] (400) for an operator's read without `X-Purpose`;
/// [`ApiError::OrganisationUnidentified`] (403) for a medical token without an organisation.
pub fn may_read(principal: &Principal, purpose: Option<&str>) -> Result<(), ApiError> {
    let unnamed = principal
        .organisation
        .as_deref()
        .is_none_or(|organisation| organisation.trim().is_empty());
    match principal.role {
        Role::Operator if unnamed => Err(ApiError::OperatorUnidentified),
        Role::Operator if purpose.is_none() => Err(ApiError::PurposeRequired),
        Role::Medical if unnamed => Err(ApiError::OrganisationUnidentified),
        _ => Ok(()),
    }
}

/// The reader recorded for `principal`.
pub fn reader(principal: &Principal) -> Reader {
    Reader {
        id: principal.subject.clone(),
        role: principal.role.to_string(),
        organisation: principal.organisation.clone(),
        iin: principal.person(),
    }
}

/// Records a read of `row`'s citizens' data (its applicant, its subject and the representative
/// its answer names) by `principal`, unless the principal is one of them; `what` names what was
/// read (`request:<number>`, ...).
///
/// # Errors
/// As [`record_reads`].
pub async fn record_read(
    audit: &ReadAudit,
    principal: &Principal,
    row: &StatusRow,
    what: String,
    purpose: Option<String>,
) -> Result<(), ApiError> {
    let citizens: Vec<&Iin> = std::iter::once(&row.iin)
        .chain(row.subject_iin.as_ref())
        .chain(row.representative_iin.as_ref())
        .collect();
    record_reads(audit, principal, &citizens, what, purpose).await
}

/// Records a read of `citizens`' data by `principal` (not of the principal's own), and returns
/// once the record is durable.
///
/// # Errors
/// [`ApiError::InvalidParameter`] (400) for a record that cannot be stored as it is;
/// [`ApiError::Unavailable`] (503) when the log cannot take it now: the read is not answered.
pub async fn record_reads(
    audit: &ReadAudit,
    principal: &Principal,
    citizens: &[&Iin],
    what: String,
    purpose: Option<String>,
) -> Result<(), ApiError> {
    audit
        .record_reads(&reader(principal), citizens, what, purpose)
        .await
        .map_err(audit_error)
}

/// A read that could not be recorded, as the answer to the reader.
pub fn audit_error(error: AuditError) -> ApiError {
    match error {
        AuditError::Refused(record) => ApiError::InvalidParameter {
            field: if record.field == "purpose" {
                "X-Purpose"
            } else {
                "token"
            },
            reason: record.to_string(),
        },
        AuditError::Unavailable => ApiError::Unavailable,
        AuditError::Failed(reason) => ApiError::internal(reason),
    }
}
