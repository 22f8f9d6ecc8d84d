//! Rules of the service-centre channel (DOMAIN.md 3.4, REG 3147-3160) that need no IO: which
//! paper documents may be scanned and what a scan's bytes must be, and when a power of attorney
//! found in ENIS lets the representative act.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::identifiers::Iin;
use crate::request::{Representative, RequestInfo};

/// The largest scan accepted, in bytes.
pub const MAX_SCAN_BYTES: usize = 10 * 1024 * 1024;

/// The paper documents an operator scans.
pub const SCAN_KINDS: [&str; 3] = ["identity-document", "power-of-attorney", "application"];

/// What a scan is, judged by its bytes (never by what the client says it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFormat {
    Pdf,
    Jpeg,
    Png,
}

impl ScanFormat {
    /// Its media type.
    pub const fn media_type(self) -> &'static str {
        match self {
            ScanFormat::Pdf => "application/pdf",
            ScanFormat::Jpeg => "image/jpeg",
            ScanFormat::Png => "image/png",
        }
    }
}

/// The format of `bytes` by their signature, `None` when they are none of the accepted ones.
pub fn sniff(bytes: &[u8]) -> Option<ScanFormat> {
    if bytes.starts_with(b"%PDF-") {
        Some(ScanFormat::Pdf)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ScanFormat::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(ScanFormat::Png)
    } else {
        None
    }
}

/// A power of attorney as ENIS answers.
#[derive(Debug, Deserialize)]
struct EnisPowerOfAttorney {
    number: String,
    date: NaiveDate,
    principal_iin: Iin,
    representative_iin: Iin,
    valid_until: NaiveDate,
    #[serde(default)]
    revoked: bool,
}

/// Whether ENIS's answer `data` is the power of attorney presented for `info`, valid on `today`:
/// the same number and date, given by the citizen the request is for to the representative at
/// the desk, not revoked and not expired.
pub fn power_of_attorney_holds(
    data: &serde_json::Value,
    info: &RequestInfo,
    today: NaiveDate,
) -> bool {
    let Some(Representative {
        iin,
        power_of_attorney_number,
        power_of_attorney_date,
    }) = &info.representative
    else {
        return false;
    };
    let Ok(found) = EnisPowerOfAttorney::deserialize(data) else {
        return false;
    };
    found.number == *power_of_attorney_number
        && found.date == *power_of_attorney_date
        && found.principal_iin == info.applicant
        && found.representative_iin == *iin
        && !found.revoked
        && found.valid_until >= today
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_told_by_their_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(ScanFormat::Pdf));
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ScanFormat::Jpeg)
        );
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some(ScanFormat::Png)
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"<html>%PDF-"), None);
        assert_eq!(sniff(b""), None);
    }
}
