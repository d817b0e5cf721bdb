//! [`PeerCertificate`]: what a client certificate says about its holder,
//! read once from the leaf's DER.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The largest certificate (DER) read, 16 KiB: ordinary client
/// certificates are 0.5–2 KiB.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// The most subject alternative names a certificate may carry, 64.
pub const MAX_NAMES: usize = 64;

/// The longest name (SAN or common name) read, 1 KiB.
pub const MAX_NAME_LEN: usize = 1024;

/// Why a certificate could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateErrorKind {
    /// The certificate, a name in it, or the header carrying it is larger
    /// than the bounds ([`MAX_CERTIFICATE_LEN`], [`MAX_NAME_LEN`]).
    TooLarge,
    /// More than [`MAX_NAMES`] subject alternative names.
    TooManyNames,
    /// Not a well-formed X.509 certificate, or a header that does not hold
    /// one in its expected encoding.
    Malformed,
}

/// A certificate that could not be read: opaque, with a
/// [`kind`](Self::kind). It never carries the certificate's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateError {
    kind: CertificateErrorKind,
    what: &'static str,
}

impl CertificateError {
    pub(crate) fn new(kind: CertificateErrorKind, what: &'static str) -> Self {
        Self { kind, what }
    }

    pub(crate) fn malformed(what: &'static str) -> Self {
        Self::new(CertificateErrorKind::Malformed, what)
    }

    /// What went wrong.
    pub fn kind(&self) -> CertificateErrorKind {
        self.kind
    }
}

impl std::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for CertificateError {}

/// Which kind of name a certificate's identity name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// A URI subject alternative name (a SPIFFE ID).
    Uri,
    /// A DNS subject alternative name.
    Dns,
    /// An email (RFC 822) subject alternative name.
    Email,
    /// The subject's common name (CN).
    CommonName,
}

/// A client certificate as the core reads it: its names, validity and
/// RFC 8705 thumbprint, parsed once from the leaf's DER (adapters do it
/// once per connection, see
/// [`RequestHead::peer_certificate`](crate::RequestHead::peer_certificate)).
///
/// Its **identity name** is, in this order: the first URI SAN that is a
/// SPIFFE ID (`spiffe://…`), else the first URI SAN; else the first DNS
/// SAN; else the first email SAN; else the subject's CN (RFC 6125 §6.4.4:
/// the CN only when there are no SANs of those kinds).
///
/// DNS names are lower-cased (DNS is case-insensitive); URIs and emails
/// are kept as written. SANs that are not text (IP addresses, directory
/// names) or that contain control characters are skipped.
///
/// ```
/// use auth_core::mtls::{NameKind, PeerCertificate};
///
/// let key = rcgen::KeyPair::generate().unwrap();
/// let mut params = rcgen::CertificateParams::new(vec!["billing.demo.local".to_owned()]).unwrap();
/// params.subject_alt_names.push(rcgen::SanType::URI(
///     rcgen::string::Ia5String::try_from("spiffe://demo.local/billing").unwrap(),
/// ));
/// let der = params.self_signed(&key).unwrap().der().to_vec();
///
/// let cert = PeerCertificate::from_der(&der).unwrap();
/// assert_eq!(cert.identity_name(), Some("spiffe://demo.local/billing"));
/// assert_eq!(cert.identity_name_kind(), Some(NameKind::Uri));
/// assert_eq!(cert.dns_sans(), ["billing.demo.local"]);
/// assert_eq!(cert.thumbprint().len(), 43); // base64url of 32 bytes, no padding
///
/// // Not a certificate: a clear error, never a panic.
/// assert!(PeerCertificate::from_der(b"not DER").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    sha256: [u8; 32],
    thumbprint: String,
    uri_sans: Vec<String>,
    dns_sans: Vec<String>,
    email_sans: Vec<String>,
    common_name: Option<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    name: Option<(NameKind, String)>,
}

impl std::fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and dates are not secrets; the DER is not kept.
        f.debug_struct("PeerCertificate")
            .field("identity_name", &self.identity_name())
            .field("x5t#S256", &self.thumbprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("uri_sans", &self.uri_sans)
            .field("dns_sans", &self.dns_sans)
            .field("email_sans", &self.email_sans)
            .field("common_name", &self.common_name)
            .finish()
    }
}

impl PeerCertificate {
    /// The leaf of a chain (DER, leaf first) as TLS hands it over, parsed
    /// and shared: `None` when the chain is empty or the leaf cannot be read
    /// (logged at `debug`; the certificate authenticator refuses it). What
    /// the adapters parse once per connection, and
    /// [`RequestHead::peer_certificate`](crate::RequestHead::peer_certificate)
    /// per call for heads that keep nothing.
    ///
    /// ```
    /// use auth_core::mtls::PeerCertificate;
    ///
    /// assert!(PeerCertificate::leaf_of(&[]).is_none());
    /// assert!(PeerCertificate::leaf_of(&[b"not DER".to_vec()]).is_none());
    /// ```
    pub fn leaf_of(chain: &[Vec<u8>]) -> Option<std::sync::Arc<Self>> {
        let leaf = chain.first()?;
        Self::from_der(leaf)
            .map_err(|e| {
                tracing::debug!(target: "auth_core::mtls", error = %e, "the client certificate cannot be read");
            })
            .ok()
            .map(std::sync::Arc::new)
    }

    /// Reads a certificate from its DER encoding. Refuses anything over
    /// [`MAX_CERTIFICATE_LEN`], more than [`MAX_NAMES`] SANs, a name over
    /// [`MAX_NAME_LEN`], trailing bytes after the certificate, and
    /// anything that is not X.509.
    ///
    /// It does not verify the certificate: the TLS handshake (rustls's
    /// `WebPkiClientVerifier`) or a trusted proxy has done that.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(CertificateError::new(
                CertificateErrorKind::TooLarge,
                "the certificate is larger than 16 KiB",
            ));
        }
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|_| CertificateError::malformed("not an X.509 certificate"))?;
        if !rest.is_empty() {
            return Err(CertificateError::malformed(
                "trailing bytes after the certificate",
            ));
        }
        let mut uri_sans = Vec::new();
        let mut dns_sans = Vec::new();
        let mut email_sans = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|_| CertificateError::malformed("a malformed subject alternative name"))?;
        if let Some(san) = san {
            let names = &san.value.general_names;
            if names.len() > MAX_NAMES {
                return Err(CertificateError::new(
                    CertificateErrorKind::TooManyNames,
                    "more than 64 subject alternative names",
                ));
            }
            for name in names {
                let (list, value, lower) = match name {
                    GeneralName::URI(v) => (&mut uri_sans, *v, false),
                    GeneralName::DNSName(v) => (&mut dns_sans, *v, true),
                    GeneralName::RFC822Name(v) => (&mut email_sans, *v, false),
                    _ => continue,
                };
                if let Some(v) = usable_name(value)? {
                    list.push(if lower { v.to_ascii_lowercase() } else { v });
                }
            }
        }
        let common_name = match cert.subject().iter_common_name().next() {
            Some(cn) => match cn.as_str() {
                Ok(v) => usable_name(v)?,
                Err(_) => None,
            },
            None => None,
        };
        let validity = cert.validity();
        let not_before = system_time(validity.not_before.timestamp());
        let not_after = system_time(validity.not_after.timestamp());
        let sha256: [u8; 32] = Sha256::digest(der).into();
        let name = uri_sans
            .iter()
            .find(|u| u.starts_with("spiffe://"))
            .or_else(|| uri_sans.first())
            .map(|n| (NameKind::Uri, n.clone()))
            .or_else(|| dns_sans.first().map(|n| (NameKind::Dns, n.clone())))
            .or_else(|| email_sans.first().map(|n| (NameKind::Email, n.clone())))
            .or_else(|| {
                common_name
                    .as_ref()
                    .map(|n| (NameKind::CommonName, n.clone()))
            });
        Ok(Self {
            sha256,
            thumbprint: URL_SAFE_NO_PAD.encode(sha256),
            uri_sans,
            dns_sans,
            email_sans,
            common_name,
            not_before,
            not_after,
            name,
        })
    }

    /// The identity name (see the type's documentation), if the
    /// certificate has one.
    pub fn identity_name(&self) -> Option<&str> {
        self.name.as_ref().map(|(_, n)| n.as_str())
    }

    /// Which kind of name [`identity_name`](Self::identity_name) is.
    pub fn identity_name_kind(&self) -> Option<NameKind> {
        self.name.as_ref().map(|(k, _)| *k)
    }

    /// The RFC 8705 `x5t#S256` thumbprint: base64url (no padding) of the
    /// SHA-256 of the certificate's DER, as a certificate-bound token's
    /// `cnf` carries it.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The SHA-256 of the certificate's DER (the thumbprint's bytes).
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The URI subject alternative names (SPIFFE IDs among them), in order.
    pub fn uri_sans(&self) -> &[String] {
        &self.uri_sans
    }

    /// The DNS subject alternative names, lower-cased, in order.
    pub fn dns_sans(&self) -> &[String] {
        &self.dns_sans
    }

    /// The email (RFC 822) subject alternative names, in order.
    pub fn email_sans(&self) -> &[String] {
        &self.email_sans
    }

    /// The subject's first common name, if it is text.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Whether `at` is within the validity period (both ends included).
    pub fn is_valid_at(&self, at: SystemTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

/// A name as kept: `None` for one that is empty or has control characters
/// (skipped), an error for one over [`MAX_NAME_LEN`].
fn usable_name(value: &str) -> Result<Option<String>, CertificateError> {
    if value.len() > MAX_NAME_LEN {
        return Err(CertificateError::new(
            CertificateErrorKind::TooLarge,
            "a name in the certificate is longer than 1 KiB",
        ));
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Ok(None);
    }
    Ok(Some(value.to_owned()))
}

/// Seconds since the epoch (negative before it) as a `SystemTime`,
/// saturating at the epoch for anything that does not fit.
fn system_time(secs: i64) -> SystemTime {
    let offset = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// base64url (no padding) of the SHA-256 of `der`: the RFC 8705
/// `x5t#S256` of a certificate, without parsing it.
///
/// ```
/// // RFC 8705 §3.1's example value is the thumbprint of its certificate;
/// // here a known input: SHA-256 of the empty string.
/// assert_eq!(
///     auth_core::mtls::thumbprint_of(b""),
///     "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
/// );
/// ```
pub fn thumbprint_of(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}
