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
/// request's extensions; a custom server can do the same.
#[derive(Clone, Debug, Default)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client certificate chain (DER, leaf first), if one was presented.
    pub peer_certificates: Arc<Vec<Vec<u8>>>,
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
}
