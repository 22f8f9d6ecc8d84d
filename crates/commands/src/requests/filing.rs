//! A filing as the domain takes it, and a filing whose stream already holds a request (a retry
//! under the same idempotency key).

use chrono::{DateTime, Utc};
use domain::request::{Command, Filing, RequestInfo};
use domain::{RequestNumber, StreamId, StreamVersion};

use super::{CommandError, Submission, Submitted};

/// The domain's command for `submission`, filed in `stream_id` under `number`.
pub(super) fn submit_command(
    submission: &Submission,
    stream_id: StreamId,
    number: RequestNumber,
    sign_within: chrono::Duration,
) -> Command {
    Command::Submit(Filing {
        request_id: stream_id.as_uuid(),
        number,
        service: submission.service,
        applicant: submission.applicant.clone(),
        channel: submission.channel,
        form: submission.form.clone(),
        representative: submission.representative.clone(),
        operator_id: submission.operator_id.clone(),
        organisation: submission.organisation.clone(),
        presented: submission.presented.clone().map(Box::new),
        sign_within,
    })
}

/// A submission whose stream already holds a request: the same request again is a retry, anything
/// else reuses the key.
pub(super) fn replay_submission(
    submission: &Submission,
    stored: &RequestInfo,
    now: DateTime<Utc>,
    version: StreamVersion,
) -> Result<Submitted, CommandError> {
    let form = submission
        .service
        .service()
        .validate_form(&submission.form, domain::calendar::local_date(now));
    let same = submission.service == stored.service
        && submission.applicant == stored.applicant
        && submission.representative == stored.representative
        && submission.organisation == stored.organisation
        && submission.operator_id == stored.operator_id
        && form.as_ref().ok() == Some(&stored.form);
    if !same {
        return Err(CommandError::IdempotencyKeyReused {
            number: stored.number.clone(),
        });
    }
    Ok(Submitted {
        info: stored.clone(),
        version,
        replayed: true,
    })
}
