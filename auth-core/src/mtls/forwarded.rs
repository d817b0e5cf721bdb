//! Client certificates forwarded by a TLS-terminating proxy: RFC 9440
//! `Client-Cert` and Envoy's `x-forwarded-client-cert`, believed only from
//! [`TrustedProxies`].

use std::sync::Arc;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::certificate::{CertificateError, CertificateErrorKind, PeerCertificate};
use crate::request::{RequestHead, TrustedProxies};

/// RFC 9440 `Client-Cert`: the leaf as a structured-field byte sequence,
/// `:<base64 DER>:`.
pub const CLIENT_CERT: &str = "client-cert";

/// Envoy's `x-forwarded-client-cert` (XFCC): `Cert="<URL-encoded PEM>"`
/// in the last element.
pub const XFCC: &str = "x-forwarded-client-cert";

/// The longest forwarded-certificate header value read by default, 48 KiB
/// (a 16 KiB certificate is under 22 KiB in base64 and under 45 KiB as
/// URL-encoded PEM).
pub const DEFAULT_MAX_HEADER_LEN: usize = 48 * 1024;

/// The client certificate a request presents: over its own TLS
/// connection, forwarded by a trusted proxy, none, or one that cannot be
/// read. [`AuthRequest::client_certificate`](crate::AuthRequest::client_certificate)
/// answers it once per request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientCertificate {
    /// No certificate.
    Absent,
    /// The certificate of this TLS connection (verified in the handshake).
    Tls(Arc<PeerCertificate>),
    /// A certificate a trusted proxy forwarded (verified by the proxy).
    Forwarded(Arc<PeerCertificate>),
    /// A certificate was presented but cannot be read: over the bounds,
    /// malformed, or a forwarded header that does not parse. Refused, never
    /// taken for "no certificate".
    Unreadable,
}

impl ClientCertificate {
    /// The certificate, if one was presented and read.
    pub fn certificate(&self) -> Option<&Arc<PeerCertificate>> {
        match self {
            Self::Tls(c) | Self::Forwarded(c) => Some(c),
            Self::Absent | Self::Unreadable => None,
        }
    }

    /// Whether nothing was presented.
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    /// The certificate of `head`'s own TLS connection.
    pub fn direct(head: &dyn RequestHead) -> Self {
        match head.peer_certificate() {
            Some(c) => Self::Tls(c),
            None if head.peer_certificates().is_empty() => Self::Absent,
            None => Self::Unreadable,
        }
    }
}

/// Which header a proxy forwards the client certificate in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// RFC 9440 `Client-Cert` (nginx, HAProxy, cloud load balancers).
    ClientCert,
    /// Envoy's `x-forwarded-client-cert`, with `Cert` in it (Envoy's
    /// `set_current_client_cert_details: { cert: true }`).
    Xfcc,
}

impl ForwardedHeader {
    /// The header's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientCert => CLIENT_CERT,
            Self::Xfcc => XFCC,
        }
    }
}

/// Where a TLS-terminating proxy in front of this service forwards client
/// certificates, and which peers are that proxy. Set on a guard with
/// [`GuardBuilder::forwarded_certificates`](crate::GuardBuilder::forwarded_certificates).
///
/// - From a peer in `proxies`, the header *is* the client's certificate
///   (the connection's own certificate, if any, is the proxy's); no
///   header means no certificate.
/// - From any other peer, the header is ignored, with a warning logged
///   (the header's name and the peer's address, never its value), and the
///   connection's own certificate counts.
///
/// ```
/// use auth_core::mtls::{ClientCertificate, ForwardedCertificates};
/// use auth_core::{SimpleRequest, TrustedProxies};
///
/// let fwd = ForwardedCertificates::client_cert(TrustedProxies::new(["10.0.0.0/8"]).unwrap());
/// let forged = SimpleRequest::get("/")
///     .peer("203.0.113.9:5000".parse().unwrap())
///     .header("client-cert", ":MIIB:");
/// assert!(matches!(fwd.resolve(&forged), ClientCertificate::Absent));
/// let garbled = SimpleRequest::get("/")
///     .peer("10.0.0.7:5000".parse().unwrap())
///     .header("client-cert", ":not base64!:");
/// assert!(matches!(fwd.resolve(&garbled), ClientCertificate::Unreadable));
/// ```
#[derive(Clone, Debug)]
pub struct ForwardedCertificates {
    proxies: TrustedProxies,
    header: ForwardedHeader,
    max_len: usize,
}

impl ForwardedCertificates {
    /// RFC 9440 `Client-Cert` from `proxies`.
    pub fn client_cert(proxies: TrustedProxies) -> Self {
        Self::new(proxies, ForwardedHeader::ClientCert)
    }

    /// Envoy's `x-forwarded-client-cert` from `proxies`.
    pub fn xfcc(proxies: TrustedProxies) -> Self {
        Self::new(proxies, ForwardedHeader::Xfcc)
    }

    /// `header` from `proxies`.
    pub fn new(proxies: TrustedProxies, header: ForwardedHeader) -> Self {
        Self {
            proxies,
            header,
            max_len: DEFAULT_MAX_HEADER_LEN,
        }
    }

    /// The longest header value read (default
    /// [`DEFAULT_MAX_HEADER_LEN`]); a longer one is unreadable.
    pub fn max_header_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// The header read.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// The client certificate `head` presents (see the type's
    /// documentation).
    pub fn resolve(&self, head: &dyn RequestHead) -> ClientCertificate {
        let name = self.header.name();
        let values = head.header_values(name);
        let peer = head.peer_addr().map(|p| p.ip());
        if !peer.is_some_and(|ip| self.proxies.contains(ip)) {
            if !values.is_empty() {
                tracing::warn!(
                    target: "auth_core::mtls",
                    header = name,
                    peer = ?peer,
                    "a forwarded client certificate from a peer that is not a trusted proxy was ignored"
                );
            }
            return ClientCertificate::direct(head);
        }
        let der = match self.header {
            ForwardedHeader::ClientCert => match values.as_slice() {
                [] => return ClientCertificate::Absent,
                [one] if one.len() <= self.max_len => decode_client_cert(one).map(Some),
                [_] => Err(too_large()),
                // An Item field sent twice is invalid (RFC 8941 §4.2):
                // whoever added the second one, it is not believed.
                _ => Err(CertificateError::malformed(
                    "Client-Cert sent more than once",
                )),
            },
            ForwardedHeader::Xfcc => match values.last() {
                None => return ClientCertificate::Absent,
                Some(last) if values.iter().map(|v| v.len()).sum::<usize>() <= self.max_len => {
                    decode_xfcc(last)
                }
                Some(_) => Err(too_large()),
            },
        };
        let parsed = match der {
            Ok(Some(der)) => PeerCertificate::from_der(&der),
            Ok(None) => {
                tracing::warn!(
                    target: "auth_core::mtls",
                    header = name,
                    "the proxy's x-forwarded-client-cert has no Cert (a Hash or URI is not enough); configure the proxy to forward the certificate"
                );
                return ClientCertificate::Absent;
            }
            Err(e) => Err(e),
        };
        match parsed {
            Ok(cert) => ClientCertificate::Forwarded(Arc::new(cert)),
            Err(e) => {
                tracing::warn!(
                    target: "auth_core::mtls",
                    header = name,
                    error = %e,
                    "a forwarded client certificate from a trusted proxy cannot be read"
                );
                ClientCertificate::Unreadable
            }
        }
    }
}

fn too_large() -> CertificateError {
    CertificateError::new(
        CertificateErrorKind::TooLarge,
        "the forwarded certificate header is too large",
    )
}

/// Standard base64, padding optional (RFC 8941 §4.2.7: parsers should not
/// fail when `=` padding is missing).
const BASE64_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The DER in an RFC 9440 `Client-Cert` value: a structured-field byte
/// sequence (`:<base64>:`, RFC 8941 §3.3.5), optionally with parameters,
/// which are ignored. At most [`DEFAULT_MAX_HEADER_LEN`] bytes are read.
///
/// ```
/// use auth_core::mtls::{CertificateErrorKind, decode_client_cert};
///
/// assert_eq!(decode_client_cert(b" :AQID: ").unwrap(), [1, 2, 3]);
/// assert_eq!(decode_client_cert(b":AQID:;by=proxy").unwrap(), [1, 2, 3]);
/// for bad in [&b"AQID"[..], b":AQ ID:", b":AQID", b"::", b":AQID:x", b":A$ID:"] {
///     assert_eq!(decode_client_cert(bad).unwrap_err().kind(), CertificateErrorKind::Malformed);
/// }
/// ```
pub fn decode_client_cert(value: &[u8]) -> Result<Vec<u8>, CertificateError> {
    if value.len() > DEFAULT_MAX_HEADER_LEN {
        return Err(too_large());
    }
    let bad = || CertificateError::malformed("Client-Cert is not a byte sequence");
    let value = value.trim_ascii();
    let inner = value.strip_prefix(b":").ok_or_else(bad)?;
    let end = inner.iter().position(|b| *b == b':').ok_or_else(bad)?;
    let (b64, rest) = inner.split_at(end);
    let rest = rest.get(1..).unwrap_or_default();
    if !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(bad());
    }
    if b64.is_empty()
        || !b64
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err(bad());
    }
    BASE64_ANY_PAD.decode(b64).map_err(|_| bad())
}

/// The DER of the `Cert` in the *last* element of an Envoy
/// `x-forwarded-client-cert` value (the element the nearest proxy wrote):
/// `None` when that element has no `Cert` (a `Hash` alone does not say
/// which certificate it was). At most [`DEFAULT_MAX_HEADER_LEN`] bytes are
/// read.
///
/// ```
/// use auth_core::mtls::decode_xfcc;
///
/// let pem = "-----BEGIN%20CERTIFICATE-----%0AAQID%0A-----END%20CERTIFICATE-----%0A";
/// let xfcc = format!(r#"By=spiffe://a;Hash=00,By=spiffe://b;Hash=ab;Cert="{pem}";URI=spiffe://c"#);
/// assert_eq!(decode_xfcc(xfcc.as_bytes()).unwrap(), Some(vec![1, 2, 3]));
/// assert_eq!(decode_xfcc(b"By=spiffe://b;Hash=abcd").unwrap(), None);
/// assert!(decode_xfcc(b"Cert=\"%ZZ\"").is_err());
/// ```
pub fn decode_xfcc(value: &[u8]) -> Result<Option<Vec<u8>>, CertificateError> {
    if value.len() > DEFAULT_MAX_HEADER_LEN {
        return Err(too_large());
    }
    let bad = || CertificateError::malformed("x-forwarded-client-cert cannot be parsed");
    let elements = split_unquoted(value, b',').ok_or_else(bad)?;
    let last = elements.last().copied().unwrap_or_default();
    let mut cert = None;
    for pair in split_unquoted(last, b';').ok_or_else(bad)? {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let (key, value) = pair.split_at(eq);
        let value = value.get(1..).unwrap_or_default();
        if key.trim_ascii().eq_ignore_ascii_case(b"cert") {
            if cert.is_some() {
                return Err(CertificateError::malformed(
                    "x-forwarded-client-cert names two certificates",
                ));
            }
            cert = Some(value);
        }
    }
    let Some(cert) = cert else {
        return Ok(None);
    };
    let pem = percent_decode(&unquote(cert.trim_ascii()).ok_or_else(bad)?).ok_or_else(bad)?;
    pem_certificate(&pem).map(Some)
}

/// `input` split at `sep` outside double quotes (a backslash escapes the
/// next byte inside quotes); `None` if a quote is left open.
fn split_unquoted(input: &[u8], sep: u8) -> Option<Vec<&[u8]>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in input.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && *b == b'\\' {
            escaped = true;
        } else if *b == b'"' {
            quoted = !quoted;
        } else if !quoted && *b == sep {
            parts.push(input.get(start..i)?);
            start = i + 1;
        }
    }
    if quoted {
        return None;
    }
    parts.push(input.get(start..)?);
    Some(parts)
}

/// A value without its double quotes (backslash escapes undone), or as is
/// when it is not quoted.
fn unquote(value: &[u8]) -> Option<Vec<u8>> {
    let Some(inner) = value.strip_prefix(b"\"") else {
        return Some(value.to_vec());
    };
    let inner = inner.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(b) = bytes.next() {
        if *b == b'\\' {
            out.push(*bytes.next()?);
        } else {
            out.push(*b);
        }
    }
    Some(out)
}

/// `%XX` decoded (a `+` stays a `+`: it is base64 in a PEM); `None` on a
/// broken escape.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(b) = bytes.next() {
        if *b == b'%' {
            let hi = hex(*bytes.next()?)?;
            let lo = hex(*bytes.next()?)?;
            out.push((hi << 4) | lo);
        } else {
            out.push(*b);
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The DER of the first `CERTIFICATE` block of a PEM text.
fn pem_certificate(pem: &[u8]) -> Result<Vec<u8>, CertificateError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let bad = || CertificateError::malformed("the forwarded PEM holds no certificate");
    let start = find(pem, BEGIN).ok_or_else(bad)? + BEGIN.len();
    let body = pem.get(start..).ok_or_else(bad)?;
    let end = find(body, END).ok_or_else(bad)?;
    let b64: Vec<u8> = body
        .get(..end)
        .ok_or_else(bad)?
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if b64.is_empty() {
        return Err(bad());
    }
    BASE64_ANY_PAD.decode(&b64).map_err(|_| bad())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cert_refusals() {
        let kind = |v: &[u8]| decode_client_cert(v).map_err(|e| e.kind());
        assert_eq!(kind(b":AQID:"), Ok(vec![1, 2, 3]));
        assert_eq!(kind(b":AQI=:"), Ok(vec![1, 2]));
        assert_eq!(kind(b":AQI:"), Ok(vec![1, 2]), "padding is optional");
        for bad in [
            &b""[..],
            b":",
            b"::",
            b":AQID",
            b"AQID:",
            b":AQ\nID:",
            b":AQ-D:",
            b":A:",
            b":AQID::",
            b":AQID: x",
            "\u{e9}".as_bytes(),
        ] {
            assert_eq!(
                kind(bad),
                Err(CertificateErrorKind::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let huge = format!(":{}:", "A".repeat(DEFAULT_MAX_HEADER_LEN));
        assert_eq!(kind(huge.as_bytes()), Err(CertificateErrorKind::TooLarge));
    }

    #[test]
    fn xfcc_takes_the_last_elements_cert() {
        let pem = |b64: &str| {
            format!("-----BEGIN%20CERTIFICATE-----%0A{b64}%0A-----END%20CERTIFICATE-----%0A")
        };
        let v = format!(
            r#"By=a;Cert="{}",By="x,y";Subject="CN=\"q\";a";Cert="{}""#,
            pem("AQID"),
            pem("BAUG")
        );
        assert_eq!(decode_xfcc(v.as_bytes()).unwrap(), Some(vec![4, 5, 6]));
        // Unquoted Cert works too; keys are case-insensitive.
        let v = format!("cert={}", pem("AQID"));
        assert_eq!(decode_xfcc(v.as_bytes()).unwrap(), Some(vec![1, 2, 3]));
        // The last element has no Cert: nothing, even if an earlier one has.
        let v = format!("Cert=\"{}\",By=b;Hash=ff", pem("AQID"));
        assert_eq!(decode_xfcc(v.as_bytes()).unwrap(), None);
        for bad in [
            "Cert=\"open".to_owned(),
            "Cert".to_owned(),
            "Cert=\"%4\"".to_owned(),
            "Cert=\"not a pem\"".to_owned(),
            format!("Cert=\"{}\";Cert=\"{}\"", pem("AQID"), pem("AQID")),
            "Cert=\"-----BEGIN%20CERTIFICATE-----%0A-----END%20CERTIFICATE-----\"".to_owned(),
            format!("Cert=\"{}\"", pem("A$ID")),
        ] {
            assert!(decode_xfcc(bad.as_bytes()).is_err(), "{bad}");
        }
        let huge = "a".repeat(DEFAULT_MAX_HEADER_LEN + 1);
        assert_eq!(
            decode_xfcc(huge.as_bytes()).unwrap_err().kind(),
            CertificateErrorKind::TooLarge
        );
    }
}
