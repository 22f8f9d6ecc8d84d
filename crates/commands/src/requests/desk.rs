//! The steps an operator records at the service centre's desk (docs/domain.md 3.4, REG
//! 3147-3160): the scans, the attestation of a power of attorney that is not notarised, the
//! operator's signature, and the handing out of the document. Each only on a request filed at the
//! operator's own centre.

use domain::request::{Command, RequestEvent};
use domain::scans::ScanKind;
use domain::{Actor, Iin, RequestNumber};

use super::{CommandError, Recorded, Requests};

impl Requests {
    /// One step at the desk: [`Requests::act`] on a request filed at `centre` only - another
    /// centre's request, or a portal one, answers as an unknown number.
    async fn at_desk(
        &self,
        number: &RequestNumber,
        centre: &str,
        command: impl Fn() -> Command,
        recorded_before: impl Fn(&RequestEvent) -> bool,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        self.act(
            number,
            |loaded| loaded.filed_at(centre),
            command,
            recorded_before,
            actor,
        )
        .await
    }

    /// Records a paper document scanned at the service centre `centre` (its digest and size; the
    /// bytes are stored apart). The same scan sent again is recorded once.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one not filed at `centre` (another
    /// centre's, or a portal request); [`CommandError::Rejected`] when it takes no scan now.
    #[tracing::instrument(skip_all, fields(number = %number, kind = %kind))]
    pub async fn scan(
        &self,
        number: &RequestNumber,
        kind: ScanKind,
        sha256: &str,
        size: u64,
        centre: &str,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        self.at_desk(
            number,
            centre,
            || Command::ScanDocument {
                kind,
                sha256: sha256.to_owned(),
                size,
            },
            |event| matches!(event, RequestEvent::DocumentsScanned(d) if d.kind == kind.code() && d.sha256 == sha256),
            actor,
        )
        .await
    }

    /// Records the operator's signature over the centre's document to sign (the request and the
    /// scans' digests); the workflow verifies it, and that `operator_iin` made it. Only an
    /// operator of the centre the request was filed at signs it.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one not filed at `centre`;
    /// [`CommandError::Rejected`] before any scan.
    #[tracing::instrument(skip_all, fields(number = %number))]
    pub async fn operator_sign(
        &self,
        number: &RequestNumber,
        signature: &[u8],
        operator_id: &str,
        operator_iin: &Iin,
        centre: &str,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        use base64::Engine as _;
        let signature_sha256 = crate::sha256_hex(signature);
        let cms = base64::engine::general_purpose::STANDARD.encode(signature);
        self.at_desk(
            number,
            centre,
            || Command::OperatorSign {
                operator_id: operator_id.to_owned(),
                operator_iin: operator_iin.clone(),
                signature_sha256: signature_sha256.clone(),
                cms: cms.clone(),
            },
            |event| matches!(event, RequestEvent::OperatorSigned(s) if s.signature_sha256 == signature_sha256),
            actor,
        )
        .await
    }

    /// Records the operator's attestation of a power of attorney that is not notarised, once it is
    /// scanned (REG 3150). Only an operator of the filing centre attests; a retry records nothing.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one not filed at `centre`;
    /// [`CommandError::Rejected`] when there is nothing to attest now.
    #[tracing::instrument(skip_all, fields(number = %number))]
    pub async fn attest_power_of_attorney(
        &self,
        number: &RequestNumber,
        operator_id: &str,
        centre: &str,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        self.at_desk(
            number,
            centre,
            || Command::AttestPowerOfAttorney {
                operator_id: operator_id.to_owned(),
            },
            |event| matches!(event, RequestEvent::PowerOfAttorneyAttested(_)),
            actor,
        )
        .await
    }

    /// Records that the operator handed the person at the desk the request's document - its
    /// result or its refusal (REG 3592, step 11). Only an operator of the centre the request was
    /// filed at hands it out; the same operator's retry records nothing new.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown request or one not filed at `centre`;
    /// [`CommandError::Rejected`] before the request has its document.
    #[tracing::instrument(skip_all, fields(number = %number))]
    pub async fn hand_out(
        &self,
        number: &RequestNumber,
        operator_id: &str,
        centre: &str,
        actor: &Actor,
    ) -> Result<Recorded, CommandError> {
        self.at_desk(
            number,
            centre,
            || Command::HandOut {
                operator_id: operator_id.to_owned(),
            },
            |event| matches!(event, RequestEvent::DocumentHandedOut(h) if h.operator_id == operator_id),
            actor,
        )
        .await
    }
}
