//! [`HeadView`], the [`RequestHead`] view of an `http` request, and
//! [`ConnectionInfo`], what the server loop tells the layer about the
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;

use auth_core::{HeaderOnce, RequestHead};
use http::header::AUTHORIZATION;
use http::request::Parts;

/// What the connection a request arrived on looks like: peer address, TLS,
/// client certificates. [`serve`](crate::serve) inserts it into every
/// request's extensions; a custom server can do the same, best with
/// [`ConnectionInfo::new`], which parses the client certificate once for
/// the connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client certificate chain (DER, leaf first), if one was presented.
    pub peer_certificates: Arc<Vec<Vec<u8>>>,
    /// The leaf of `peer_certificates`, parsed once for the connection
    /// (`None` when there is none, or when it cannot be read; left `None`
    /// by hand, it is parsed per request instead).
    #[cfg(feature = "mtls")]
    pub peer_certificate: Option<Arc<auth_core::mtls::PeerCertificate>>,
}

impl ConnectionInfo {
    /// A connection from `peer_addr`, TLS or not, whose client presented
    /// `peer_certificates` (DER, leaf first): the leaf is parsed here, once
    /// for every request on the connection.
    ///
    /// ```
    /// use auth_tower::ConnectionInfo;
    ///
    /// let info = ConnectionInfo::new(Some("127.0.0.1:4000".parse().unwrap()), true, Vec::new());
    /// assert!(info.tls && info.peer_certificates.is_empty());
    /// ```
    pub fn new(peer_addr: Option<SocketAddr>, tls: bool, peer_certificates: Vec<Vec<u8>>) -> Self {
        #[cfg(feature = "mtls")]
        let peer_certificate = auth_core::mtls::PeerCertificate::leaf_of(&peer_certificates);
        Self {
            peer_addr,
            tls,
            peer_certificates: Arc::new(peer_certificates),
            #[cfg(feature = "mtls")]
            peer_certificate,
        }
    }
}

/// An `http` request head seen through [`RequestHead`], for calling
/// [`Guard::check`](auth_core::Guard::check) outside the layer (a custom
/// extractor, a WebSocket upgrade).
///
/// ```
/// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
/// use auth_core::Guard;
/// use auth_tower::HeadView;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let guard = Guard::builder(ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate())))
///     .build()
///     .unwrap();
/// let (parts, ()) = http::Request::get("/ws").body(()).unwrap().into_parts();
/// let refused = guard.check(&HeadView::new(&parts)).await.unwrap_err();
/// assert_eq!(refused.status(), 401);
/// # });
/// ```
pub struct HeadView<'a> {
    parts: &'a Parts,
    conn: Option<&'a ConnectionInfo>,
    peer: Option<SocketAddr>,
}

impl<'a> HeadView<'a> {
    /// The view of `parts`, with the connection the server loop (or axum's
    /// `ConnectInfo`) recorded in its extensions.
    pub fn new(parts: &'a Parts) -> Self {
        let conn = parts.extensions.get::<ConnectionInfo>();
        let peer = conn.and_then(|c| c.peer_addr).or_else(|| axum_peer(parts));
        Self { parts, conn, peer }
    }
}

#[cfg(feature = "axum")]
fn axum_peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(not(feature = "axum"))]
fn axum_peer(_parts: &Parts) -> Option<SocketAddr> {
    None
}

impl RequestHead for HeadView<'_> {
    fn method(&self) -> &str {
        self.parts.method.as_str()
    }
    fn path(&self) -> &str {
        self.parts.uri.path()
    }
    fn query(&self) -> Option<&str> {
        self.parts.uri.query()
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    }
    fn header_once(&self, name: &str) -> HeaderOnce<'_> {
        let headers = &self.parts.headers;
        // Read on every request: the standard name without parsing it.
        let values = match name {
            "authorization" => headers.get_all(AUTHORIZATION),
            _ => headers.get_all(name),
        };
        HeaderOnce::from_values(values.iter().map(|v| v.as_bytes()))
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
    fn is_tls(&self) -> bool {
        self.conn.is_some_and(|c| c.tls)
    }
    fn peer_certificates(&self) -> &[Vec<u8>] {
        self.conn.map_or(&[], |c| c.peer_certificates.as_slice())
    }
    #[cfg(feature = "mtls")]
    fn peer_certificate(&self) -> Option<Arc<auth_core::mtls::PeerCertificate>> {
        let conn = self.conn?;
        // Built by hand without the parsed leaf, or unreadable: parse (and
        // fail) here.
        conn.peer_certificate
            .clone()
            .or_else(|| auth_core::mtls::PeerCertificate::leaf_of(&conn.peer_certificates))
    }
}

#[cfg(all(test, feature = "mtls"))]
mod tests {
    use super::*;

    fn head_of(conn: ConnectionInfo) -> Option<Arc<auth_core::mtls::PeerCertificate>> {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(conn);
        HeadView::new(&parts).peer_certificate()
    }

    #[test]
    fn the_leaf_is_parsed_once_or_per_request_for_a_hand_built_connection() {
        let cert = rcgen::generate_simple_self_signed(vec!["client.example".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let parsed = ConnectionInfo::new(None, true, vec![der.clone()]);
        let once = parsed.peer_certificate.clone().expect("parsed at connect");
        // The connection's parse is shared, not repeated.
        assert!(Arc::ptr_eq(&head_of(parsed).unwrap(), &once));
        // Built by hand without the parse: parsed for the request.
        let by_hand = ConnectionInfo {
            tls: true,
            peer_certificates: Arc::new(vec![der]),
            ..ConnectionInfo::default()
        };
        assert_eq!(head_of(by_hand).unwrap().thumbprint(), once.thumbprint());
        // An unreadable leaf, either way: none.
        let junk = vec![b"not DER".to_vec()];
        let connected = ConnectionInfo::new(None, true, junk.clone());
        assert!(connected.peer_certificate.is_none());
        assert!(head_of(connected).is_none());
        let by_hand = ConnectionInfo {
            tls: true,
            peer_certificates: Arc::new(junk),
            ..ConnectionInfo::default()
        };
        assert!(head_of(by_hand).is_none());
        assert!(head_of(ConnectionInfo::default()).is_none());
    }
}
