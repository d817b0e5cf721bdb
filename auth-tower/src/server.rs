//! A small HTTP/1.1 server loop, plain or TLS, that inserts a
//! [`ConnectionInfo`] into every request so the layer knows the peer address,
//! whether the connection is TLS, and the client certificate chain.
//!
//! axum's own `serve` does not do TLS; use this where Basic (TLS only) or
//! client certificates matter, or insert [`ConnectionInfo`] yourself.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::request::ConnectionInfo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `service` on `listener` until `shutdown` completes; with `tls`, every
/// connection is a TLS connection.
///
/// ```no_run
/// use auth_tower::serve;
/// use axum::{Router, routing::get};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = Router::new().route("/healthz", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// serve(listener, None, app, std::future::pending()).await
/// # }
/// ```
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(target: "auth_tower", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let service = service.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let info = ConnectionInfo {
                        peer_addr: Some(peer),
                        tls: false,
                        peer_certificates: Arc::default(),
                    };
                    serve_connection(TokioIo::new(stream), info, service).await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            let certs = tls_stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
                                .unwrap_or_default();
                            let info = ConnectionInfo {
                                peer_addr: Some(peer),
                                tls: true,
                                peer_certificates: Arc::new(certs),
                            };
                            serve_connection(TokioIo::new(tls_stream), info, service).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(target: "auth_tower", error = %e, %peer, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(target: "auth_tower", %peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
}

async fn serve_connection<I, S, B>(io: I, info: ConnectionInfo, service: S)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        let mut service = service.clone();
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(req).await
        }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await
    {
        tracing::debug!(target: "auth_tower", error = %e, "connection ended with an error");
    }
}
