//! The paper documents an operator scans at a service centre (docs/domain.md 3.4, REG 3147-3160,
//! 3154): which kinds there are and what a scan's bytes must be. The scans' digests go into the
//! request's events; the bytes are kept apart.

use serde::{Deserialize, Serialize};

/// The largest scan accepted, in bytes.
pub const MAX_SCAN_BYTES: usize = 10 * 1024 * 1024;

/// The most scans one request takes (all kinds together): a page each of the identity document,
/// the power of attorney and the application, with room to spare. Together with
/// [`MAX_SCAN_BYTES`] it bounds what one request may store.
pub const MAX_SCANS_PER_REQUEST: usize = 20;

/// The paper documents an operator scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanKind {
    /// The identity document of the person at the desk.
    IdentityDocument,
    /// The power of attorney a representative presents.
    PowerOfAttorney,
    /// The signed application.
    Application,
}

impl ScanKind {
    /// Every kind.
    pub const ALL: [ScanKind; 3] = [
        ScanKind::IdentityDocument,
        ScanKind::PowerOfAttorney,
        ScanKind::Application,
    ];

    /// The stable code, as stored in `DocumentsScanned` and named in the API's path.
    pub const fn code(self) -> &'static str {
        match self {
            ScanKind::IdentityDocument => "identity-document",
            ScanKind::PowerOfAttorney => "power-of-attorney",
            ScanKind::Application => "application",
        }
    }
}

crate::codes::code_enum!(ScanKind, UnknownScanKind, "scan kind");

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scan_kind_round_trips_through_its_code() {
        for kind in ScanKind::ALL {
            assert_eq!(kind.code().parse::<ScanKind>(), Ok(kind));
        }
        assert!("passport".parse::<ScanKind>().is_err());
    }

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
