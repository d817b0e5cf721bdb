//! The demo's listeners under slow and idle clients, on both adapters
//! (DEMO.md, "Under load and abuse"): a request head that stalls is closed
//! after the header-read timeout, an idle keep-alive connection is closed,
//! over plain TCP and over TLS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth_conformance::Pair;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server gets to do what it must, under CI load; the tests
/// check that it happens, not how fast.
const PATIENCE: Duration = Duration::from_secs(30);

/// `true` once the server has closed `stream` (EOF or a reset).
async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut buf = [0u8; 4096];
    let drained = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, drained).await.is_ok()
}

async fn tls(addr: SocketAddr, ca_pem: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A half-sent head, and an idle connection after one answered request.
async fn stall_and_idle<S, F>(connect: impl Fn() -> F, label: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = S>,
{
    let mut half = connect().await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    half.flush().await.unwrap();
    assert!(
        closed(&mut half).await,
        "{label}: a stalled head stays open"
    );

    let mut idle = connect().await;

    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    idle.flush().await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, idle.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "{label}: an idle connection stays open");
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK"),
        "{label}: {}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_heads_and_idle_connections_are_closed_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start_with(dir.path(), |c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(1);
    });
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    for (name, server) in [("axum", &pair.axum), ("actix", &pair.actix)] {
        stall_and_idle(
            || async { TcpStream::connect(server.http).await.unwrap() },
            &format!("{name}, plain"),
        )
        .await;
        stall_and_idle(|| tls(server.https, &ca), &format!("{name}, TLS")).await;
    }
}
