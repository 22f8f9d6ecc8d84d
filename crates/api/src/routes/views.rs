//! The JSON views of a request that several routes answer with: its status and texts, its refusal,
//! and the request as the status view has it.

use chrono::{DateTime, Utc};
use domain::{Messages, RequestStatus, Texts};
use projections::StatusRow;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::TextsSchema;

/// A status with its texts.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    /// `awaiting-signature`, `submitted`, `forwarded-to-provider`, `completed` or `refused`.
    pub code: String,
    #[schema(value_type = TextsSchema)]
    pub text: Texts,
}

/// The refusal reason of a refused request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalDto {
    pub code: String,
    #[schema(value_type = TextsSchema)]
    pub text: Texts,
    /// The regulation's own wording of the refusal, in Russian, with the lines it is quoted from
    /// (absent for the project's own reasons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<RefusalSourceDto>,
}

/// Where the rules word a refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalSourceDto {
    /// The regulation's wording, quoted exactly.
    pub wording: String,
    /// The regulation lines, e.g. `REG 298, 3562`.
    pub lines: String,
}

/// Step 3: a request as the status view has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDto {
    pub number: String,
    pub id: Uuid,
    pub service: String,
    pub iin: String,
    pub channel: String,
    /// At a service centre: the centre and the operator (IIN) who filed it.
    pub service_centre: Option<ServiceCentreDto>,
    pub status: StatusDto,
    pub refusal: Option<RefusalDto>,
    pub deadline: Option<DateTime<Utc>>,
    pub result_ready: bool,
    /// The promised deadline passed while the request was open.
    pub deadline_missed: bool,
    /// The steps that took longer than their limit, e.g. `lookup:sik`, `certificate-check`.
    pub late_steps: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub last_change: DateTime<Utc>,
    pub version: i64,
}

/// Where a request was filed in person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceCentreDto {
    pub centre: String,
    pub operator: String,
    /// The representative who acted for the citizen, if one did.
    pub representative_iin: Option<String>,
}

/// A status with its texts.
pub fn status_dto(status: RequestStatus) -> StatusDto {
    StatusDto {
        code: status.code().to_owned(),
        text: Messages::shared().status(status).texts.clone(),
    }
}

/// A refusal reason with its texts.
pub fn refusal_dto(reason: domain::RefusalReason) -> RefusalDto {
    RefusalDto {
        code: reason.code().to_owned(),
        text: Messages::shared().refusal(reason).texts.clone(),
        source: reason.source().map(|(wording, lines)| RefusalSourceDto {
            wording: wording.to_owned(),
            lines: lines.to_owned(),
        }),
    }
}

/// The request of a status view row.
pub fn request_dto(row: &StatusRow) -> RequestDto {
    RequestDto {
        number: row.number.to_string(),
        id: row.stream_id,
        service: row.service.code().to_owned(),
        iin: row.iin.as_str().to_owned(),
        channel: row.channel.as_str().to_owned(),
        service_centre: row.operator_id.as_ref().map(|id| {
            let (centre, operator) = id.split_once('/').unwrap_or(("", id.as_str()));
            ServiceCentreDto {
                centre: centre.to_owned(),
                operator: operator.to_owned(),
                representative_iin: row
                    .representative_iin
                    .as_ref()
                    .map(|i| i.as_str().to_owned()),
            }
        }),
        status: StatusDto {
            code: row.status.code().to_owned(),
            text: row.status_text.clone(),
        },
        refusal: row.refusal_reason.map(refusal_dto),
        deadline: row.deadline,
        result_ready: row.result_ready,
        deadline_missed: row.service_deadline_missed,
        late_steps: row.late_steps.clone(),
        received_at: row.received_at,
        last_change: row.last_change,
        version: row.version,
    }
}
