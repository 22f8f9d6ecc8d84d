//! What handlers read from a request besides its body, parsed once at the edge into domain types:
//! IINs, request numbers, signatures, the `Idempotency-Key` and `X-Purpose` headers, page limits.
//! Each refusal is the problem answer the client gets.

use actix_web::HttpRequest;
use base64::Engine;
use domain::{Iin, RequestNumber};

use crate::problem::ApiError;

/// The largest signature container accepted. The container is kept in the `RequestSigned` event
/// (base64, a third larger), well inside the store's limit on one event; a real NCALayer CMS with
/// its chain is a few kilobytes.
pub const MAX_CMS_BYTES: usize = 64 * 1024;

/// The most characters a purpose (`X-Purpose`) may have.
pub const MAX_PURPOSE_CHARS: usize = 500;

/// The IIN in `field`.
///
/// # Errors
/// [`ApiError::InvalidIin`] naming the field and what is wrong with the number.
pub fn iin(field: &'static str, raw: &str) -> Result<Iin, ApiError> {
    Iin::parse(raw).map_err(|error| ApiError::InvalidIin { field, error })
}

/// The request number of a path. A malformed number names no request, so it answers like an
/// unknown one.
///
/// # Errors
/// [`ApiError::RequestNotFound`].
pub fn request_number(raw: &str) -> Result<RequestNumber, ApiError> {
    RequestNumber::parse(raw).map_err(|_| ApiError::RequestNotFound)
}

/// `Idempotency-Key`: 1-255 visible ASCII characters, when given.
///
/// # Errors
/// [`ApiError::InvalidParameter`] for a key that is empty, too long or not ASCII.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "Idempotency-Key",
        reason: reason.to_owned(),
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?;
    if key.is_empty() || key.len() > 255 {
        return Err(invalid("must be 1-255 characters"));
    }
    Ok(Some(key.to_owned()))
}

/// `Idempotent-Replayed`: whether a resend was answered with what the first send recorded.
pub fn replayed_header(replayed: bool) -> (&'static str, &'static str) {
    (
        "Idempotent-Replayed",
        if replayed { "true" } else { "false" },
    )
}

/// Base64 (white space ignored, as NCALayer may wrap lines) of a DER CMS ContentInfo.
///
/// # Errors
/// [`ApiError::InvalidSignatureEncoding`] for anything else, or a container over
/// [`MAX_CMS_BYTES`].
pub fn cms(text: &str) -> Result<Vec<u8>, ApiError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ApiError::InvalidSignatureEncoding)?;
    if der.is_empty() || der.len() > MAX_CMS_BYTES {
        return Err(ApiError::InvalidSignatureEncoding);
    }
    openssl::cms::CmsContentInfo::from_der(&der).map_err(|_| ApiError::InvalidSignatureEncoding)?;
    Ok(der)
}

/// The purpose a client gives for a read (`X-Purpose`, UTF-8), at most 500 printable characters.
///
/// # Errors
/// [`ApiError::InvalidParameter`] for a purpose that is too long or not text.
pub fn purpose(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("x-purpose") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value.as_bytes())
        .ok()
        .map(str::trim)
        .filter(|t| t.chars().count() <= MAX_PURPOSE_CHARS && !t.chars().any(char::is_control))
        .ok_or(ApiError::InvalidParameter {
            field: "X-Purpose",
            reason: "at most 500 printable characters".into(),
        })?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The longest name or document field taken from a client.
const MAX_PLAIN_CHARS: usize = 100;

/// `value` as a name or a document's field: 1 to 100 characters of text without control
/// characters (it is recorded in events and printed on documents).
///
/// # Errors
/// [`ApiError::InvalidParameter`] naming `field`.
pub fn plain(field: &'static str, value: String) -> Result<String, ApiError> {
    let count = value.chars().count();
    if (1..=MAX_PLAIN_CHARS).contains(&count) && !value.chars().any(char::is_control) {
        Ok(value)
    } else {
        Err(ApiError::InvalidParameter {
            field,
            reason: format!("1 to {MAX_PLAIN_CHARS} characters of text"),
        })
    }
}

/// A power of attorney's number as ENIS is asked for it: 1 to 64 letters, digits and `-`
/// (docs/domain.md 3.4); anything else could address another endpoint of the registries.
///
/// # Errors
/// [`ApiError::InvalidParameter`] for `power_of_attorney.number`.
pub fn power_of_attorney_number(number: String) -> Result<String, ApiError> {
    if commands::adapters::registries::power_of_attorney_number_is_plain(&number) {
        Ok(number)
    } else {
        Err(ApiError::InvalidParameter {
            field: "power_of_attorney.number",
            reason: "1 to 64 letters, digits and '-'".into(),
        })
    }
}

/// The page size of a list (`limit`): 1 to 100, 20 when not given.
///
/// # Errors
/// [`ApiError::InvalidParameter`] outside that range.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(20);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::InvalidParameter {
            field: "limit",
            reason: "1 to 100".into(),
        })
    }
}

/// Cuts `rows` (read with one more than `limit`) to the page; the cursor of its last row when more
/// follow.
pub fn page<T>(rows: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    if more {
        rows.last().map(cursor)
    } else {
        None
    }
}
