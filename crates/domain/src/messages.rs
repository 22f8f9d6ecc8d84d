//! Texts people read, in Russian, Kazakh and English, kept as data (`data/messages.json`, compiled
//! in) rather than string literals in code, so that a reviewer can replace any text without a code
//! change: the statuses of a request, the refusal reasons, and the errors a person is told about
//! (every problem answer of the API carries one). The Russian texts quote the regulations where
//! they have one; the rest, and all Kazakh and English texts, are marked as translations awaiting
//! review (docs/domain.md 4).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::refusal::RefusalReason;

const BUILT_IN: &str = include_str!("../data/messages.json");

/// The process's messages, set once (see [`Messages::shared`]).
static SHARED_MESSAGES: std::sync::OnceLock<Messages> = std::sync::OnceLock::new();

/// The status of a request as people see it (docs/domain.md 4, the proposed status model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    /// Filled in, not yet signed.
    AwaitingSignature,
    /// Signed and received: «Запрос передан в обработку».
    Submitted,
    /// The signature checked out and the provider is working on it: «Запрос передан в ИС ГО».
    ForwardedToProvider,
    /// The result is issued.
    Completed,
    /// Refused, with a reason.
    Refused,
    /// Nobody signed it in time; it ended without a result or a refusal (docs/domain.md 3.6).
    Abandoned,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [RequestStatus; 6] = [
        RequestStatus::AwaitingSignature,
        RequestStatus::Submitted,
        RequestStatus::ForwardedToProvider,
        RequestStatus::Completed,
        RequestStatus::Refused,
        RequestStatus::Abandoned,
    ];

    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            RequestStatus::AwaitingSignature => "awaiting-signature",
            RequestStatus::Submitted => "submitted",
            RequestStatus::ForwardedToProvider => "forwarded-to-provider",
            RequestStatus::Completed => "completed",
            RequestStatus::Refused => "refused",
            RequestStatus::Abandoned => "abandoned",
        }
    }
}

crate::codes::code_enum!(RequestStatus, UnknownStatus, "request status");

/// An error a person is told about, by the text that explains it (several failures may share one
/// text: every way an IIN's check digit can be wrong reads the same to a citizen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorMessage {
    Unavailable,
    SessionExpired,
    SignIn,
    Forbidden,
    ForeignIin,
    RequestNotFound,
    NotFound,
    MethodNotAllowed,
    UnreadableData,
    InvalidParameter,
    UnknownService,
    IinLength,
    IinNotDigits,
    IinCheckDigit,
    FormFieldMissing,
    FormDate,
    FormIin,
    FormPeriod,
    FormInvalid,
    SignatureUnreadable,
    IdempotencyKeyReused,
    NotAwaitingSignature,
    RequestEnded,
    /// The time to sign the request is spent (docs/domain.md 3.6).
    SignByPassed,
    ChannelNotOffered,
    SurveyBeforeEnd,
    SurveyAlreadySubmitted,
    ActionUnavailable,
    Busy,
    PayloadTooLarge,
    JsonRequired,
    ResultNotReady,
    SocialStatusNotFound,
    OperatorUnidentified,
    OrganisationUnidentified,
    UnsupportedScan,
    RegistryUnavailable,
    PurposeRequired,
    TooManyScans,
    TooManyRequests,
    RequestTimeout,
    DailyLimitReached,
    Internal,
}

impl ErrorMessage {
    /// Every error message.
    pub const ALL: [ErrorMessage; 43] = [
        ErrorMessage::Unavailable,
        ErrorMessage::SessionExpired,
        ErrorMessage::SignIn,
        ErrorMessage::Forbidden,
        ErrorMessage::ForeignIin,
        ErrorMessage::RequestNotFound,
        ErrorMessage::NotFound,
        ErrorMessage::MethodNotAllowed,
        ErrorMessage::UnreadableData,
        ErrorMessage::InvalidParameter,
        ErrorMessage::UnknownService,
        ErrorMessage::IinLength,
        ErrorMessage::IinNotDigits,
        ErrorMessage::IinCheckDigit,
        ErrorMessage::FormFieldMissing,
        ErrorMessage::FormDate,
        ErrorMessage::FormIin,
        ErrorMessage::FormPeriod,
        ErrorMessage::FormInvalid,
        ErrorMessage::SignatureUnreadable,
        ErrorMessage::IdempotencyKeyReused,
        ErrorMessage::NotAwaitingSignature,
        ErrorMessage::RequestEnded,
        ErrorMessage::SignByPassed,
        ErrorMessage::ChannelNotOffered,
        ErrorMessage::SurveyBeforeEnd,
        ErrorMessage::SurveyAlreadySubmitted,
        ErrorMessage::ActionUnavailable,
        ErrorMessage::Busy,
        ErrorMessage::PayloadTooLarge,
        ErrorMessage::JsonRequired,
        ErrorMessage::ResultNotReady,
        ErrorMessage::SocialStatusNotFound,
        ErrorMessage::OperatorUnidentified,
        ErrorMessage::OrganisationUnidentified,
        ErrorMessage::UnsupportedScan,
        ErrorMessage::RegistryUnavailable,
        ErrorMessage::PurposeRequired,
        ErrorMessage::TooManyScans,
        ErrorMessage::TooManyRequests,
        ErrorMessage::RequestTimeout,
        ErrorMessage::DailyLimitReached,
        ErrorMessage::Internal,
    ];

    /// The stable code, the key of its texts in `data/messages.json`.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorMessage::Unavailable => "unavailable",
            ErrorMessage::SessionExpired => "session-expired",
            ErrorMessage::SignIn => "sign-in",
            ErrorMessage::Forbidden => "forbidden",
            ErrorMessage::ForeignIin => "foreign-iin",
            ErrorMessage::RequestNotFound => "request-not-found",
            ErrorMessage::NotFound => "not-found",
            ErrorMessage::MethodNotAllowed => "method-not-allowed",
            ErrorMessage::UnreadableData => "unreadable-data",
            ErrorMessage::InvalidParameter => "invalid-parameter",
            ErrorMessage::UnknownService => "unknown-service",
            ErrorMessage::IinLength => "iin-length",
            ErrorMessage::IinNotDigits => "iin-not-digits",
            ErrorMessage::IinCheckDigit => "iin-check-digit",
            ErrorMessage::FormFieldMissing => "form-field-missing",
            ErrorMessage::FormDate => "form-date",
            ErrorMessage::FormIin => "form-iin",
            ErrorMessage::FormPeriod => "form-period",
            ErrorMessage::FormInvalid => "form-invalid",
            ErrorMessage::SignatureUnreadable => "signature-unreadable",
            ErrorMessage::IdempotencyKeyReused => "idempotency-key-reused",
            ErrorMessage::NotAwaitingSignature => "not-awaiting-signature",
            ErrorMessage::RequestEnded => "request-ended",
            ErrorMessage::SignByPassed => "sign-by-passed",
            ErrorMessage::ChannelNotOffered => "channel-not-offered",
            ErrorMessage::SurveyBeforeEnd => "survey-before-end",
            ErrorMessage::SurveyAlreadySubmitted => "survey-already-submitted",
            ErrorMessage::ActionUnavailable => "action-unavailable",
            ErrorMessage::Busy => "busy",
            ErrorMessage::PayloadTooLarge => "payload-too-large",
            ErrorMessage::JsonRequired => "json-required",
            ErrorMessage::ResultNotReady => "result-not-ready",
            ErrorMessage::SocialStatusNotFound => "social-status-not-found",
            ErrorMessage::OperatorUnidentified => "operator-unidentified",
            ErrorMessage::OrganisationUnidentified => "organisation-unidentified",
            ErrorMessage::UnsupportedScan => "unsupported-scan",
            ErrorMessage::RegistryUnavailable => "registry-unavailable",
            ErrorMessage::PurposeRequired => "purpose-required",
            ErrorMessage::TooManyScans => "too-many-scans",
            ErrorMessage::TooManyRequests => "too-many-requests",
            ErrorMessage::RequestTimeout => "request-timeout",
            ErrorMessage::DailyLimitReached => "daily-limit-reached",
            ErrorMessage::Internal => "internal",
        }
    }
}

crate::codes::code_enum!(ErrorMessage, UnknownErrorMessage, "error message");

/// One text in the three languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Texts {
    pub ru: String,
    pub kk: String,
    pub en: String,
}

/// A message: its texts, where the Russian one is quoted from, and whether it was reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(flatten)]
    pub texts: Texts,
    /// The regulation line the Russian text is quoted from, if any.
    pub source: Option<String>,
    /// Whether the texts without a source were checked by a reviewer.
    pub reviewed: bool,
}

/// A message file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagesError {
    /// Not the expected JSON shape.
    #[error("the messages are not valid: {0}")]
    Invalid(String),
    /// A key that is no status, refusal or error code.
    #[error("no status, refusal or error has the code {0:?}")]
    Unknown(String),
    /// A status, refusal or error without texts, or with an empty one.
    #[error("the message for {0:?} is missing or has an empty text")]
    Missing(String),
}

#[derive(Deserialize)]
struct MessagesFile {
    statuses: BTreeMap<String, Message>,
    refusals: BTreeMap<String, Message>,
    errors: BTreeMap<String, Message>,
}

/// Every status, refusal and error text.
#[derive(Debug, Clone)]
pub struct Messages {
    statuses: BTreeMap<RequestStatus, Message>,
    refusals: BTreeMap<RefusalReason, Message>,
    errors: BTreeMap<ErrorMessage, Message>,
}

/// The section of a message file keyed by the codes of `T`, every code of `all` present with
/// non-empty texts in all three languages.
fn section<T>(
    raw: BTreeMap<String, Message>,
    all: &[T],
) -> Result<BTreeMap<T, Message>, MessagesError>
where
    T: std::str::FromStr + Ord + Copy + std::fmt::Display,
{
    let section = raw
        .into_iter()
        .map(|(code, message)| {
            let key = code
                .parse::<T>()
                .map_err(|_| MessagesError::Unknown(code))?;
            Ok((key, message))
        })
        .collect::<Result<BTreeMap<_, _>, MessagesError>>()?;
    let complete = |m: Option<&Message>| {
        m.is_some_and(|m| {
            [&m.texts.ru, &m.texts.kk, &m.texts.en]
                .iter()
                .all(|t| !t.trim().is_empty())
        })
    };
    match all.iter().find(|key| !complete(section.get(key))) {
        Some(missing) => Err(MessagesError::Missing(missing.to_string())),
        None => Ok(section),
    }
}

impl Messages {
    /// The texts compiled into the binary.
    ///
    /// # Panics
    /// Never in a released build: the compiled-in file is checked by a test.
    pub fn built_in() -> Self {
        Self::from_json(BUILT_IN).expect("the compiled-in messages are complete (tested)")
    }

    /// The process's messages: those [`Messages::install`]ed at start (`EGOV_MESSAGES`), else
    /// the compiled-in ones.
    pub fn shared() -> &'static Self {
        SHARED_MESSAGES.get_or_init(Self::built_in)
    }

    /// Makes `self` the process's messages, before anything has used them: a reviewer's
    /// corrected text is a data file given at start, not a rebuild.
    ///
    /// # Errors
    /// Gives the messages back when the process already uses some.
    pub fn install(self) -> Result<(), Self> {
        SHARED_MESSAGES.set(self)
    }

    /// Messages from JSON of the shape of `data/messages.json`; every status, refusal and error
    /// must have non-empty texts in all three languages.
    ///
    /// # Errors
    /// [`MessagesError`] naming what is wrong or missing.
    pub fn from_json(text: &str) -> Result<Self, MessagesError> {
        let file: MessagesFile =
            serde_json::from_str(text).map_err(|e| MessagesError::Invalid(e.to_string()))?;
        Ok(Self {
            statuses: section(file.statuses, &RequestStatus::ALL)?,
            refusals: section(file.refusals, &RefusalReason::ALL)?,
            errors: section(file.errors, &ErrorMessage::ALL)?,
        })
    }

    /// The texts of a status.
    pub fn status(&self, status: RequestStatus) -> &Message {
        // Every status has a message: from_json refuses files where one is missing.
        &self.statuses[&status]
    }

    /// The texts of a refusal reason.
    pub fn refusal(&self, reason: RefusalReason) -> &Message {
        // Every reason has a message: from_json refuses files where one is missing.
        &self.refusals[&reason]
    }

    /// The texts of an error.
    pub fn error(&self, error: ErrorMessage) -> &Message {
        // Every error has a message: from_json refuses files where one is missing.
        &self.errors[&error]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_messages_cover_every_status_and_refusal_in_three_languages() {
        let messages = Messages::built_in();
        for status in RequestStatus::ALL {
            assert!(!messages.status(status).texts.kk.is_empty(), "{status}");
        }
        for reason in RefusalReason::ALL {
            assert!(!messages.refusal(reason).texts.en.is_empty(), "{reason}");
        }
        for error in ErrorMessage::ALL {
            assert!(!messages.error(error).texts.ru.is_empty(), "{error}");
        }
    }

    #[test]
    fn the_regulations_wording_is_kept_where_it_exists() {
        let messages = Messages::built_in();
        let submitted = messages.status(RequestStatus::Submitted);
        assert_eq!(submitted.texts.ru, "Запрос передан в обработку");
        assert_eq!(submitted.source.as_deref(), Some("REG 3536"));
        assert_eq!(
            messages.status(RequestStatus::ForwardedToProvider).texts.ru,
            "Запрос передан в ИС ГО"
        );
        assert!(
            !messages.status(RequestStatus::Completed).reviewed,
            "our own texts await review"
        );
    }

    #[test]
    fn a_message_file_missing_a_refusal_is_refused_by_name() {
        let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("json");
        file["refusals"]
            .as_object_mut()
            .expect("object")
            .remove("no-data");
        let error = Messages::from_json(&file.to_string()).expect_err("incomplete");
        assert_eq!(error, MessagesError::Missing("no-data".into()));
        let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("json");
        file["statuses"]["typo"] = file["statuses"]["submitted"].clone();
        assert_eq!(
            Messages::from_json(&file.to_string()).expect_err("unknown"),
            MessagesError::Unknown("typo".into())
        );
        let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("json");
        file["errors"]["busy"]["kk"] = serde_json::json!(" ");
        assert_eq!(
            Messages::from_json(&file.to_string()).expect_err("empty"),
            MessagesError::Missing("busy".into())
        );
    }

    /// A reviewer's text is a data change; the texts in use are never swapped under a reader.
    #[test]
    fn a_message_file_replaces_a_text_and_the_texts_in_use_stay() {
        let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("shipped");
        file["statuses"]["completed"]["ru"] = serde_json::json!("Готово");
        let reviewed = Messages::from_json(&file.to_string()).expect("valid");
        assert_eq!(reviewed.status(RequestStatus::Completed).texts.ru, "Готово");
        let _in_use = Messages::shared();
        assert!(reviewed.install().is_err(), "the texts in use stay");
    }
}
