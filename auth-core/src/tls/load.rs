//! Reading the PEM files and turning them into what rustls uses: a
//! `CertifiedKey` for the server, a webpki client verifier for the trusted
//! CAs and CRLs. Nothing here keeps state; `reload.rs` decides when to call
//! it and what to do with a failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use zeroize::{Zeroize, Zeroizing};

use super::ClientAuth;
use crate::error::ConfigError;

/// The files a [`TlsConfig`](super::TlsConfig) reads, in a fixed order (for
/// the change stamps).
#[derive(Clone, Debug)]
pub(super) struct Files {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
    pub(super) cas: Vec<PathBuf>,
    pub(super) crls: Vec<PathBuf>,
}

impl Files {
    /// The files of the server certificate.
    pub(super) fn cert_files(&self) -> [&Path; 2] {
        [&self.cert, &self.key]
    }

    /// The files of the client trust: CAs and CRLs.
    pub(super) fn trust_files(&self) -> impl Iterator<Item = &Path> {
        self.cas.iter().chain(&self.crls).map(PathBuf::as_path)
    }
}

/// How client certificates are checked, fixed when the configuration is
/// built (only the CAs and CRLs are reloaded).
#[derive(Clone, Copy, Debug)]
pub(super) struct TrustSettings {
    pub(super) client_auth: ClientAuth,
    pub(super) end_entity_revocation_only: bool,
    pub(super) allow_unknown_revocation_status: bool,
}

/// A file's modification time, length and (on Unix) inode: when any of
/// them changes, the file is read again. The inode catches a file replaced
/// by a rename (an atomic deploy, a Kubernetes secret volume's symlink
/// swap) within one tick of a coarse clock. `None` when the file cannot be
/// looked at (then the next look that succeeds counts as a change).
pub(super) type Stamp = Option<(SystemTime, u64, u64)>;

pub(super) fn stamps<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<Stamp> {
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len(), inode(&meta)))
        })
        .collect()
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// A server certificate chain with its key, ready for handshakes.
pub(super) struct ServerCert {
    pub(super) key: Arc<CertifiedKey>,
    pub(super) not_after: SystemTime,
}

/// The verifier for one set of trusted CAs and CRLs, and the CA names sent
/// in the `CertificateRequest`.
pub(super) struct ClientTrust {
    pub(super) verifier: Arc<dyn ClientCertVerifier>,
    pub(super) hints: Vec<DistinguishedName>,
}

/// Why a file that was read holds nothing usable. It names no file content.
#[derive(Debug)]
struct Unusable(&'static str);

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unusable {}

fn what(label: &str, path: &Path) -> String {
    format!("{label} {}", path.display())
}

fn read(label: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| ConfigError::io(what(label, path), e))
}

/// Every certificate in a PEM file, at least one.
fn certificates(label: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(label, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::parse(what(label, path), e))?;
    if certs.is_empty() {
        return Err(ConfigError::parse(
            what(label, path),
            Unusable("no PEM certificate in it"),
        ));
    }
    Ok(certs)
}

/// The server's chain and key: the key must be the chain's first
/// certificate's, and that certificate must not have expired.
pub(super) fn server_cert(files: &Files) -> Result<ServerCert, ConfigError> {
    let chain = certificates("server certificate file", &files.cert)?;
    let not_after = match chain.first() {
        Some(leaf) => not_after(leaf)
            .map_err(|e| ConfigError::parse(what("server certificate file", &files.cert), e))?,
        None => return Err(ConfigError::invalid("server certificate file: empty chain")),
    };
    if not_after < SystemTime::now() {
        return Err(ConfigError::invalid(format!(
            "server certificate {}: it has expired",
            files.cert.display()
        )));
    }

    let pem = read("server key file", &files.key)?;
    let mut der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| ConfigError::parse(what("server key file", &files.key), e))?;
    // By reference, so no copy of the key is left unzeroized here.
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der);
    der.zeroize();
    let signer = signer.map_err(|e| ConfigError::parse(what("server key file", &files.key), e))?;

    let key = CertifiedKey::new(chain, signer);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(ConfigError::invalid(format!(
                "server key file {}: not the key of the certificate in {}",
                files.key.display(),
                files.cert.display()
            )));
        }
    }
    Ok(ServerCert {
        key: Arc::new(key),
        not_after,
    })
}

/// The trusted CAs (at least one certificate per file) and CRLs (at least
/// one per file, PEM or DER), as a webpki client verifier.
pub(super) fn client_trust(
    files: &Files,
    settings: TrustSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientTrust, ConfigError> {
    let mut roots = RootCertStore::empty();
    for path in &files.cas {
        for ca in certificates("client CA file", path)? {
            roots
                .add(ca)
                .map_err(|e| ConfigError::parse(what("client CA file", path), e))?;
        }
    }
    let mut crls = Vec::new();
    for path in &files.crls {
        crls.extend(revocation_lists(path)?);
    }
    let hints = roots.subjects();

    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
            .with_crls(crls);
    if settings.client_auth == ClientAuth::Optional {
        builder = builder.allow_unauthenticated();
    }
    if settings.end_entity_revocation_only {
        builder = builder.only_check_end_entity_revocation();
    }
    if settings.allow_unknown_revocation_status {
        builder = builder.allow_unknown_revocation_status();
    }
    let verifier = builder
        .build()
        .map_err(|e| ConfigError::parse("client CA and CRL files", e))?;
    Ok(ClientTrust { verifier, hints })
}

/// The CRLs of one file: PEM (`X509 CRL` sections), or one DER CRL as CAs
/// publish them. A CRL past its `nextUpdate` is still used (its
/// revocations stand) with a warning.
fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    const LABEL: &str = "CRL file";
    let bytes = read(LABEL, path)?;
    // A DER CRL is a SEQUENCE; a PEM file starts with text.
    let crls = if bytes.first() == Some(&0x30) {
        vec![CertificateRevocationListDer::from(bytes.to_vec())]
    } else {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::parse(what(LABEL, path), e))?
    };
    if crls.is_empty() {
        return Err(ConfigError::parse(
            what(LABEL, path),
            Unusable("no CRL in it"),
        ));
    }
    for crl in &crls {
        let (_, parsed) = x509_parser::parse_x509_crl(crl.as_ref())
            .map_err(|e| ConfigError::parse(what(LABEL, path), e))?;
        let next_update = parsed.next_update().and_then(|t| unix_time(t.timestamp()));
        if let Some(next) = next_update.filter(|next| *next < SystemTime::now()) {
            tracing::warn!(
                target: super::TARGET,
                file = %path.display(),
                next_update = %fmt_time(next),
                "a CRL is past its nextUpdate; its revocations still apply, publish a fresh one"
            );
        }
    }
    Ok(crls)
}

/// The `notAfter` of a DER certificate.
fn not_after(cert: &CertificateDer<'_>) -> Result<SystemTime, Unusable> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| Unusable("not an X.509 certificate"))?;
    unix_time(parsed.validity().not_after.timestamp()).ok_or(Unusable("notAfter out of range"))
}

fn unix_time(secs: i64) -> Option<SystemTime> {
    match u64::try_from(secs) {
        Ok(s) => UNIX_EPOCH.checked_add(Duration::from_secs(s)),
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())),
    }
}

/// `t` in UTC to the second (`Jan  2 03:04:05 2030 +00:00`), for logs.
pub(super) fn fmt_time(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    match x509_parser::time::ASN1Time::from_timestamp(secs) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{secs} s after 1970"),
    }
}
