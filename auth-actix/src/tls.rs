//! TLS connection state for actix-web: pass [`on_connect`] to
//! `HttpServer::on_connect` so the middleware knows a request came over TLS
//! and which client certificate the peer presented. The certificate is
//! parsed there, once per connection (feature `mtls`), and every request
//! on the connection shares it.

use std::any::Any;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

use crate::request::TlsConnection;

/// Records the TLS state of a rustls (0.23) connection in the connection's
/// data, for [`RequireAuth`](crate::RequireAuth) to read: the client
/// certificate chain, and its leaf parsed once for the connection.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
///
/// # fn run(tls: rustls::ServerConfig) -> std::io::Result<()> {
/// let server = HttpServer::new(|| App::new())
///     .on_connect(auth_actix::on_connect)
///     .bind_rustls_0_23("127.0.0.1:8443", tls)?;
/// # Ok(()) }
/// ```
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() {
        let (_, session) = tls.get_ref();
        let certs = session
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default();
        data.insert(TlsConnection::new(certs));
    }
}
