//! `egov dev-cert` and `egov sign`: a newcomer's way to a signed request without building a PKI.
//! The development CA itself (and its in-process OCSP answers) is
//! [`commands::adapters::nca::DevCa`]; `egov serve` trusts it in development mode only.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use api::settings::Mode;
use api::Settings;
use base64::Engine;
use commands::adapters::nca::DevCa;
use domain::Iin;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkcs12::Pkcs12;

/// The password PKCS#12 files get unless another is given (the NCA's test keys use it too).
pub const DEFAULT_PASSWORD: &str = "123456";

/// The development CA of `settings`, refused outside development mode.
fn authority(settings: &Settings) -> anyhow::Result<DevCa> {
    if settings.mode == Mode::Production {
        anyhow::bail!("`egov dev-cert` is for EGOV_MODE=development only: in production certificates come from the NCA");
    }
    let dir = settings.dev_ca_dir();
    DevCa::open_or_create(&dir).with_context(|| format!("the development CA in {}", dir.display()))
}

/// `egov dev-cert --iin IIN`: a signing certificate for IIN in a new PKCS#12 file.
pub fn issue(
    settings: &Settings,
    iin: Option<&str>,
    name: &str,
    out: Option<&Path>,
    password: &str,
) -> anyhow::Result<ExitCode> {
    let raw = iin.context("--iin is needed")?;
    let iin = Iin::parse(raw).map_err(|e| anyhow::anyhow!("--iin {raw}: {e}"))?;
    if name.trim().is_empty() || name.len() > 128 {
        anyhow::bail!("--name: SURNAME NAME, at most 128 bytes");
    }
    let ca = authority(settings)?;
    let issued = ca.issue(&iin, name.trim())?;
    let p12 = Pkcs12::builder()
        .name(name.trim())
        .pkey(&issued.key)
        .cert(&issued.certificate)
        .build2(password)?
        .to_der()?;
    let out = out.map_or_else(
        || std::path::PathBuf::from(format!("{}.p12", iin.as_str())),
        Path::to_path_buf,
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&out)
        .with_context(|| format!("{} (an existing file is never replaced)", out.display()))?;
    std::io::Write::write_all(&mut file, &p12).with_context(|| out.display().to_string())?;
    let serial = issued.certificate.serial_number().to_bn()?.to_hex_str()?;
    println!(
        "{}: a signing certificate for IIN {} (serial {serial}) from the development CA in {}",
        out.display(),
        iin.as_str(),
        settings.dev_ca_dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `egov dev-cert --revoke FILE`: the certificate FILE holds is revoked from now on.
pub fn revoke(settings: &Settings, file: &Path, password: &str) -> anyhow::Result<ExitCode> {
    let ca = authority(settings)?;
    let (certificate, _) = open(file, password)?;
    ca.revoke(&certificate)?;
    println!("{}: revoked", file.display());
    Ok(ExitCode::SUCCESS)
}

/// `egov sign --p12 FILE --in DOC`: prints the body of a signature submission.
pub fn sign(p12: &Path, input: &Path, password: &str) -> anyhow::Result<ExitCode> {
    let (certificate, key) = open(p12, password)?;
    let document = document(input)?;
    let cms = CmsContentInfo::sign(
        Some(&certificate),
        Some(&key),
        None,
        Some(&document),
        CMSOptions::BINARY,
    )?
    .to_der()?;
    let body = serde_json::json!({
        "cms": base64::engine::general_purpose::STANDARD.encode(cms)
    });
    println!("{body}");
    Ok(ExitCode::SUCCESS)
}

/// The certificate and key a PKCS#12 file holds.
fn open(
    file: &Path,
    password: &str,
) -> anyhow::Result<(
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
)> {
    let der = std::fs::read(file).with_context(|| file.display().to_string())?;
    let parsed = Pkcs12::from_der(&der)
        .and_then(|p12| p12.parse2(password))
        .with_context(|| {
            format!(
                "{}: not a PKCS#12 file, or not this password",
                file.display()
            )
        })?;
    match (parsed.cert, parsed.pkey) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        _ => anyhow::bail!("{}: holds no certificate with its key", file.display()),
    }
}

/// Largest document `egov sign` reads.
const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;

/// The bytes to sign: the file's (or standard input's), or, when they are the JSON answer of
/// filing a request, its `document_to_sign` decoded.
fn document(input: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if input == Path::new("-") {
        std::io::stdin()
            .take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .context("standard input")?;
    } else {
        std::fs::File::open(input)
            .and_then(|f| f.take(MAX_DOCUMENT).read_to_end(&mut bytes))
            .with_context(|| input.display().to_string())?;
    }
    let filed = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
    match filed.as_ref().and_then(|v| v.get("document_to_sign")) {
        Some(serde_json::Value::String(text)) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .context("document_to_sign is not base64"),
        Some(_) => anyhow::bail!("document_to_sign is not a string"),
        None => Ok(bytes),
    }
}
