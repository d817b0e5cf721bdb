//! [`HeadView`], the [`RequestHead`] view of an actix-web request.
//!
//! actix-web's request types are not `Send`; the core's futures are (they
//! also run under Tower), so [`HeadView`] is an owned snapshot of the head.
//! The middleware, whose future holds the request anyway, reads the head in
//! place instead ([`HeadRef`]): no copy of the headers, path and method per
//! request.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, HeaderName};
use auth_core::{HeaderOnce, RequestHead};

/// What `on_connect` learned about a TLS connection (see
/// [`on_connect`](crate::on_connect)).
#[derive(Clone, Debug, Default)]
pub struct TlsConnection {
    /// The client certificate chain (DER, leaf first), if one was presented.
    pub peer_certificates: Arc<Vec<Vec<u8>>>,
    /// The leaf of `peer_certificates`, parsed once for the connection
    /// (`None` when there is none, or when it cannot be read; left `None`
    /// by hand, it is parsed per request instead).
    #[cfg(feature = "mtls")]
    pub peer_certificate: Option<Arc<auth_core::mtls::PeerCertificate>>,
}

impl TlsConnection {
    /// A TLS connection whose client presented `peer_certificates` (DER,
    /// leaf first): the leaf is parsed here, once for every request on the
    /// connection.
    ///
    /// ```
    /// let conn = auth_actix::TlsConnection::new(Vec::new());
    /// assert!(conn.peer_certificates.is_empty());
    /// ```
    pub fn new(peer_certificates: Vec<Vec<u8>>) -> Self {
        #[cfg(feature = "mtls")]
        let peer_certificate = auth_core::mtls::PeerCertificate::leaf_of(&peer_certificates);
        Self {
            peer_certificates: Arc::new(peer_certificates),
            #[cfg(feature = "mtls")]
            peer_certificate,
        }
    }

    /// The parsed leaf: the one parsed for the connection, or, for one
    /// built by hand without it (or unreadable), parsed (and failing) here.
    #[cfg(feature = "mtls")]
    fn leaf(&self) -> Option<Arc<auth_core::mtls::PeerCertificate>> {
        self.peer_certificate
            .clone()
            .or_else(|| auth_core::mtls::PeerCertificate::leaf_of(&self.peer_certificates))
    }
}

/// The query string of `req`: `None` without a `?`, and an empty query
/// counts when the URI has one.
fn query_of(req: &HttpRequest) -> Option<&str> {
    let query = req.query_string();
    (!query.is_empty() || req.uri().query().is_some()).then_some(query)
}

/// An owned snapshot of an actix-web request head, seen through
/// [`RequestHead`], for calling [`Guard::check`](auth_core::Guard::check)
/// outside the middleware (a custom extractor, a WebSocket upgrade).
///
/// ```
/// use actix_web::test::TestRequest;
/// use auth_actix::HeadView;
/// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
/// use auth_core::Guard;
///
/// # actix_web::rt::System::new().block_on(async {
/// let guard = Guard::builder(ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate())))
///     .build()
///     .unwrap();
/// let req = TestRequest::get().uri("/ws").to_http_request();
/// let refused = guard.check(&HeadView::new(&req)).await.unwrap_err();
/// assert_eq!(refused.status(), 401);
/// # });
/// ```
pub struct HeadView {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    tls: Option<TlsConnection>,
}

impl HeadView {
    /// A snapshot of `req`'s head, with the TLS state
    /// [`on_connect`](crate::on_connect) recorded.
    pub fn new(req: &HttpRequest) -> Self {
        Self {
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
            query: query_of(req).map(str::to_owned),
            headers: req.headers().clone(),
            peer: req.peer_addr(),
            tls: req.conn_data::<TlsConnection>().cloned(),
        }
    }
}

impl RequestHead for HeadView {
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
        self.headers.get_all(name).map(|v| v.as_bytes()).collect()
    }
    fn header_once(&self, name: &str) -> HeaderOnce<'_> {
        HeaderOnce::from_values(self.headers.get_all(name).map(|v| v.as_bytes()))
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
    fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
    fn peer_certificates(&self) -> &[Vec<u8>] {
        self.tls
            .as_ref()
            .map_or(&[], |t| t.peer_certificates.as_slice())
    }
    #[cfg(feature = "mtls")]
    fn peer_certificate(&self) -> Option<Arc<auth_core::mtls::PeerCertificate>> {
        self.tls.as_ref()?.leaf()
    }
}

/// The [`RequestHead`] of an actix-web request read in place, for the
/// middleware: it borrows the head (the request stays in the middleware's
/// future while the guard decides) instead of copying it as [`HeadView`]
/// does. Header names the middleware parsed once (its credential and
/// sensitive headers) are looked up without parsing them again.
pub(crate) struct HeadRef<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    names: &'a [HeaderName],
    peer: Option<SocketAddr>,
    tls: Option<&'a TlsConnection>,
}

impl<'a> HeadRef<'a> {
    /// The head of `req`; `names` are header names already parsed (any
    /// other name is parsed per lookup).
    pub(crate) fn new(req: &'a HttpRequest, names: &'a [HeaderName]) -> Self {
        Self {
            method: req.method().as_str(),
            path: req.path(),
            query: query_of(req),
            headers: req.headers(),
            names,
            peer: req.peer_addr(),
            tls: req.conn_data::<TlsConnection>(),
        }
    }
}

impl RequestHead for HeadRef<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn path(&self) -> &str {
        self.path
    }
    fn query(&self) -> Option<&str> {
        self.query
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        match self.names.iter().find(|n| n.as_str() == name) {
            Some(parsed) => self.headers.get_all(parsed).map(|v| v.as_bytes()).collect(),
            None => self.headers.get_all(name).map(|v| v.as_bytes()).collect(),
        }
    }
    fn header_once(&self, name: &str) -> HeaderOnce<'_> {
        // A `&str` name not among the parsed ones is parsed (and, when it
        // is not a standard header, copied) by actix on every lookup.
        match self.names.iter().find(|n| n.as_str() == name) {
            Some(parsed) => {
                HeaderOnce::from_values(self.headers.get_all(parsed).map(|v| v.as_bytes()))
            }
            None => HeaderOnce::from_values(self.headers.get_all(name).map(|v| v.as_bytes())),
        }
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
    fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
    fn peer_certificates(&self) -> &[Vec<u8>] {
        self.tls.map_or(&[], |t| t.peer_certificates.as_slice())
    }
    #[cfg(feature = "mtls")]
    fn peer_certificate(&self) -> Option<Arc<auth_core::mtls::PeerCertificate>> {
        self.tls?.leaf()
    }
}

#[cfg(all(test, feature = "mtls"))]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_is_parsed_once_or_per_request_for_a_hand_built_connection() {
        let cert = rcgen::generate_simple_self_signed(vec!["client.example".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let parsed = TlsConnection::new(vec![der.clone()]);
        let once = parsed.peer_certificate.clone().expect("parsed at connect");
        // The connection's parse is shared, not repeated.
        assert!(Arc::ptr_eq(&parsed.leaf().unwrap(), &once));
        // Built by hand without the parse: parsed for the request.
        let by_hand = TlsConnection {
            peer_certificates: Arc::new(vec![der]),
            ..TlsConnection::default()
        };
        assert_eq!(by_hand.leaf().unwrap().thumbprint(), once.thumbprint());
        // An unreadable leaf, either way: none.
        let junk = vec![b"not DER".to_vec()];
        let connected = TlsConnection::new(junk.clone());
        assert!(connected.peer_certificate.is_none() && connected.leaf().is_none());
        let by_hand = TlsConnection {
            peer_certificates: Arc::new(junk),
            ..TlsConnection::default()
        };
        assert!(by_hand.leaf().is_none());
        assert!(TlsConnection::default().leaf().is_none());
    }
}
