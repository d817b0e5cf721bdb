//! [`RequestHead`]: the neutral view of a request that adapters hand the core.
//!
//! Adapters (Tower, actix-web) implement [`RequestHead`] over their own request
//! types; the core reads only through it, so every method is written once.
//! [`SimpleRequest`] is an owned implementation for tests, benchmarks and
//! custom integrations.
//!
//! ```
//! use auth_core::{RequestHead, SimpleRequest};
//!
//! let req = SimpleRequest::get("/v1/whoami?x=1")
//!     .header("Authorization", "Bearer abc")
//!     .tls(true);
//! assert_eq!(req.path(), "/v1/whoami");
//! assert_eq!(req.query(), Some("x=1"));
//! assert_eq!(req.header_values("authorization"), vec![&b"Bearer abc"[..]]);
//! assert!(req.is_tls());
//! ```
//!
//! # Security considerations
//!
//! Forwarded headers (`X-Forwarded-Proto`) are believed only when the peer is
//! one of the configured [`TrustedProxies`]; by default none is.

use std::net::{IpAddr, SocketAddr};

use crate::error::ConfigError;

/// The neutral view of an HTTP request.
///
/// Header names passed to [`header_values`](RequestHead::header_values) are
/// lower-case ASCII; implementations compare them case-insensitively.
pub trait RequestHead: Send + Sync {
    /// The request method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The path, without the query.
    fn path(&self) -> &str;
    /// The raw query string, without the `?`.
    fn query(&self) -> Option<&str>;
    /// Every value of the named header, in order.
    fn header_values(&self, name: &str) -> Vec<&[u8]>;
    /// The named header's value if it was sent exactly once. Credentials are
    /// read through this on every request; the default calls
    /// [`header_values`](Self::header_values), and adapters answer it without
    /// allocating.
    ///
    /// ```
    /// use auth_core::{HeaderOnce, RequestHead, SimpleRequest};
    ///
    /// let req = SimpleRequest::get("/").header("x-api-key", "k").header("a", "1").header("a", "2");
    /// assert_eq!(req.header_once("x-api-key"), HeaderOnce::Once(b"k"));
    /// assert_eq!(req.header_once("a"), HeaderOnce::Repeated);
    /// assert_eq!(req.header_once("authorization"), HeaderOnce::Absent);
    /// ```
    fn header_once(&self, name: &str) -> HeaderOnce<'_> {
        HeaderOnce::from_values(self.header_values(name))
    }
    /// The address of the connection's peer.
    fn peer_addr(&self) -> Option<SocketAddr>;
    /// Whether the request arrived over TLS on this connection.
    fn is_tls(&self) -> bool;
    /// The client certificate chain (DER, leaf first) the TLS peer presented.
    fn peer_certificates(&self) -> &[Vec<u8>] {
        &[]
    }
    /// The TLS peer's leaf certificate, parsed: `None` when none was
    /// presented or it cannot be read (then
    /// [`peer_certificates`](Self::peer_certificates) is not empty).
    ///
    /// The default parses [`peer_certificates`](Self::peer_certificates)
    /// on every call, for heads that cannot keep anything (such as
    /// [`SimpleRequest`]). Adapters parse the leaf once per connection and
    /// return the connection's `Arc` here, so a connection's requests
    /// share one parse.
    ///
    /// ```
    /// use auth_core::{RequestHead, SimpleRequest};
    ///
    /// let garbage = SimpleRequest::get("/").tls(true).peer_certificates(vec![b"junk".to_vec()]);
    /// assert!(garbage.peer_certificate().is_none());
    /// assert!(SimpleRequest::get("/").peer_certificate().is_none());
    /// ```
    #[cfg(feature = "mtls")]
    fn peer_certificate(&self) -> Option<std::sync::Arc<crate::mtls::PeerCertificate>> {
        crate::mtls::PeerCertificate::leaf_of(self.peer_certificates())
    }
}

/// How often a header was sent: what [`RequestHead::header_once`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderOnce<'a> {
    /// Not sent.
    Absent,
    /// Sent once, with this value.
    Once(&'a [u8]),
    /// Sent more than once.
    Repeated,
}

impl<'a> HeaderOnce<'a> {
    /// From the values, in order (an iterator over them: at most two are read).
    pub fn from_values(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(v), None) => Self::Once(v),
            (Some(_), Some(_)) => Self::Repeated,
        }
    }
}

/// An owned [`RequestHead`], built with a fluent API.
#[derive(Clone, Debug, Default)]
pub struct SimpleRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    peer: Option<SocketAddr>,
    tls: bool,
    certs: Vec<Vec<u8>>,
}

impl SimpleRequest {
    /// A request with the given method and target (`/path?query`).
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        Self {
            method: method.to_owned(),
            path,
            query,
            ..Self::default()
        }
    }

    /// A `GET` request.
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// Adds a header value (names are case-insensitive).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// Sets the peer address.
    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peer = Some(addr);
        self
    }

    /// Marks the request as received over TLS.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the client certificate chain (DER, leaf first).
    pub fn peer_certificates(mut self, certs: Vec<Vec<u8>>) -> Self {
        self.certs = certs;
        self
    }
}

impl RequestHead for SimpleRequest {
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
    fn is_tls(&self) -> bool {
        self.tls
    }
    fn peer_certificates(&self) -> &[Vec<u8>] {
        &self.certs
    }
}

/// The proxies whose forwarded headers are believed.
///
/// Empty by default: a client cannot claim `X-Forwarded-Proto: https` to make
/// a plaintext request look protected.
///
/// ```
/// use auth_core::{SimpleRequest, TrustedProxies};
///
/// let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
/// let from_proxy = SimpleRequest::get("/")
///     .peer("10.1.2.3:4000".parse().unwrap())
///     .header("x-forwarded-proto", "https");
/// let from_client = SimpleRequest::get("/")
///     .peer("203.0.113.9:4000".parse().unwrap())
///     .header("x-forwarded-proto", "https");
/// assert!(proxies.transport_is_secure(&from_proxy));
/// assert!(!proxies.transport_is_secure(&from_client));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// No proxy is trusted.
    pub fn none() -> Self {
        Self::default()
    }

    /// Proxies given as addresses (`10.0.0.1`) or CIDR ranges (`10.0.0.0/8`).
    pub fn new<I, S>(nets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for net in nets {
            let net = net.as_ref();
            let (addr, len) = match net.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (net, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| ConfigError::invalid("trusted proxy address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| ConfigError::invalid("trusted proxy prefix length"))?,
                None => max,
            };
            out.push((addr, len));
        }
        Ok(Self { nets: out })
    }

    /// Whether `addr` is one of the trusted proxies.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|(net, len)| in_net(addr, *net, *len))
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the right-most `X-Forwarded-For` address that is not a trusted
    /// proxy (the left-most ones are the client's to write, so they are not
    /// believed). `None` when the peer is not known.
    ///
    /// ```
    /// use auth_core::{SimpleRequest, TrustedProxies};
    ///
    /// let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
    /// let req = SimpleRequest::get("/")
    ///     .peer("10.1.2.3:4000".parse().unwrap())
    ///     .header("x-forwarded-for", "192.0.2.66, 203.0.113.9, 10.9.9.9");
    /// assert_eq!(proxies.client_ip(&req), Some("203.0.113.9".parse().unwrap()));
    /// assert_eq!(TrustedProxies::none().client_ip(&req), Some("10.1.2.3".parse().unwrap()));
    /// ```
    pub fn client_ip(&self, head: &dyn RequestHead) -> Option<IpAddr> {
        let peer = head.peer_addr()?.ip();
        if !self.contains(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let values = head.header_values("x-forwarded-for");
        for hop in values.iter().rev().flat_map(|v| v.rsplit(|b| *b == b',')) {
            let Some(addr) = std::str::from_utf8(hop)
                .ok()
                .and_then(|h| h.trim().parse::<IpAddr>().ok())
            else {
                break;
            };
            client = addr;
            if !self.contains(addr) {
                break;
            }
        }
        Some(client)
    }

    /// Whether the request is protected by TLS: it arrived over TLS, or it came
    /// from a trusted proxy whose last `X-Forwarded-Proto` says `https`.
    pub fn transport_is_secure(&self, head: &dyn RequestHead) -> bool {
        if head.is_tls() {
            return true;
        }
        let Some(peer) = head.peer_addr() else {
            return false;
        };
        if !self.contains(peer.ip()) {
            return false;
        }
        let values = head.header_values("x-forwarded-proto");
        // The last hop's value is the one our trusted proxy wrote.
        values
            .last()
            .and_then(|v| v.rsplit(|b| *b == b',').next())
            .map(|v| v.trim_ascii().eq_ignore_ascii_case(b"https"))
            .unwrap_or(false)
    }
}

fn in_net(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let p = TrustedProxies::new(["10.0.0.0/8", "::1", "192.168.1.1"]).unwrap();
        assert!(p.contains("10.200.3.4".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!(p.contains("::1".parse().unwrap()));
        assert!(p.contains("192.168.1.1".parse().unwrap()));
        assert!(!p.contains("192.168.1.2".parse().unwrap()));
        let all = TrustedProxies::new(["0.0.0.0/0"]).unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::new(["nonsense"]).is_err());
    }

    #[test]
    fn client_ip_believes_forwarded_for_only_from_trusted_proxies() {
        let p = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        let req = |peer: &str, xff: &[&str]| {
            let mut r = SimpleRequest::get("/").peer(peer.parse().unwrap());
            for v in xff {
                r = r.header("x-forwarded-for", v);
            }
            r
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // Not from a proxy: the peer, whatever it claims.
        assert_eq!(
            p.client_ip(&req("192.0.2.1:1", &["203.0.113.9"])),
            ip("192.0.2.1")
        );
        // From a proxy: the right-most untrusted hop, over several headers.
        assert_eq!(
            p.client_ip(&req(
                "10.0.0.1:1",
                &["198.51.100.1, 203.0.113.9", "10.0.0.2"]
            )),
            ip("203.0.113.9")
        );
        // Only proxies: the left-most of them.
        assert_eq!(
            p.client_ip(&req("10.0.0.1:1", &["10.0.0.3"])),
            ip("10.0.0.3")
        );
        // No header, or garbage: the last hop believed.
        assert_eq!(p.client_ip(&req("10.0.0.1:1", &[])), ip("10.0.0.1"));
        assert_eq!(
            p.client_ip(&req("10.0.0.1:1", &["203.0.113.9, nonsense"])),
            ip("10.0.0.1")
        );
        assert_eq!(p.client_ip(&SimpleRequest::get("/")), None);
    }

    #[test]
    fn forwarded_proto_needs_trusted_peer() {
        let p = TrustedProxies::new(["127.0.0.1"]).unwrap();
        let req = |peer: &str, proto: &str| {
            SimpleRequest::get("/")
                .peer(peer.parse().unwrap())
                .header("x-forwarded-proto", proto)
        };
        assert!(p.transport_is_secure(&req("127.0.0.1:1", "https")));
        assert!(p.transport_is_secure(&req("127.0.0.1:1", "http, HTTPS")));
        assert!(!p.transport_is_secure(&req("127.0.0.1:1", "https, http")));
        assert!(!p.transport_is_secure(&req("127.0.0.2:1", "https")));
        assert!(!TrustedProxies::none().transport_is_secure(&req("127.0.0.1:1", "https")));
    }
}
