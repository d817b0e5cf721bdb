//! The server loop over real sockets: HTTP/1.1 and HTTP/2 (ALPN), what it
//! carries into requests, and the limits it holds (header and idle
//! timeouts, the connection cap, draining on shutdown).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth_tower::ConnectionInfo;
use auth_tower::server::Server;
use axum::Router;
use axum::extract::Extension;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

/// A generous bound on how long something the server must do may take
/// here (under CI load); the tests check that it happens, not how fast.
const PATIENCE: Duration = Duration::from_secs(20);

struct Pki {
    ca_pem: String,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let ca_der = ca_cert.der().clone();
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["client.test".to_owned()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    Pki {
        ca_pem,
        server: (
            vec![server.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ),
        client_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
        ca_der,
    }
}

fn acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server.0.clone(), pki.server.1.clone_key())
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// What the handler saw of the connection, as text.
async fn conn(Extension(info): Extension<ConnectionInfo>) -> String {
    format!(
        "peer={} tls={} certs={}",
        info.peer_addr
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        info.tls,
        info.peer_certificates.len()
    )
}

fn app() -> Router {
    Router::new()
        .route("/conn", get(conn))
        .route("/healthz", get(|| async { "ok" }))
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(server: Server, app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(server.serve(listener, app, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            stop: Some(tx),
            done,
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.done)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

fn tls_client(pki: &Pki, identity: bool) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if identity {
        builder = builder.identity(reqwest::Identity::from_pem(pki.client_pem.as_bytes()).unwrap());
    }
    builder
}

/// Reads until the server closes the connection; `true` if it did within
/// `within` (a read error such as a reset counts as closed).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_end).await.is_ok()
}

#[tokio::test]
async fn http2_over_tls_by_alpn_and_http1_too_carrying_the_connection() {
    let pki = pki();
    let running = Running::start(Server::new().tls(acceptor(&pki)), app()).await;
    let url = format!("https://{}/conn", running.addr);

    let h2 = tls_client(&pki, true).build().unwrap();
    let res = h2.get(&url).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), "peer=127.0.0.1 tls=true certs=1");

    let h1 = tls_client(&pki, false).http1_only().build().unwrap();
    let res = h1.get(&url).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.text().await.unwrap(), "peer=127.0.0.1 tls=true certs=0");
    running.stop().await;
}

#[tokio::test]
async fn plain_tcp_serves_http1_and_http2_by_prior_knowledge() {
    let running = Running::start(Server::new(), app()).await;
    let url = format!("http://{}/conn", running.addr);
    let h1 = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = h1.get(&url).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        res.text().await.unwrap(),
        "peer=127.0.0.1 tls=false certs=0"
    );
    let h2c = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2c.get(&url).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    running.stop().await;
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_by_the_header_timeout() {
    let short = Running::start(
        Server::new().header_read_timeout(Duration::from_millis(300)),
        app(),
    )
    .await;
    let mut half = TcpStream::connect(short.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(closed_within(&mut half, PATIENCE).await);
    // The same after a first request has been answered on the connection.
    let mut second = TcpStream::connect(short.addr).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, second.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 1, "{text}");
    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(short.addr).await.unwrap();
    assert!(closed_within(&mut silent, PATIENCE).await);
    // So is an HTTP/2 connection that sends its preface and settings and
    // then no request (pings do not count).
    let mut h2 = TcpStream::connect(short.addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame, then a PING.
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    h2.write_all(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        .await
        .unwrap();
    assert!(closed_within(&mut h2, PATIENCE).await);
    short.stop().await;

    // The control: with a long timeout the same half head stays open.
    let long = Running::start(
        Server::new().header_read_timeout(Duration::from_secs(120)),
        app(),
    )
    .await;
    let mut half = TcpStream::connect(long.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(!closed_within(&mut half, Duration::from_secs(1)).await);
    // Finishing the head gets the answer.
    half.write_all(b"1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, half.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"HTTP/1.1 200 OK"));
    drop(half);
    long.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let running = Running::start(
        Server::new()
            .header_read_timeout(Duration::from_secs(120))
            .idle_timeout(Duration::from_millis(300)),
        app(),
    )
    .await;
    // HTTP/1.1: one request answered, then nothing.
    let mut conn = TcpStream::connect(running.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, conn.read_to_end(&mut got))
        .await
        .expect("the idle connection is closed")
        .unwrap();
    assert!(got.starts_with(b"HTTP/1.1 200 OK"));
    running.stop().await;

    // The control: with a long idle timeout the connection stays open.
    let running = Running::start(
        Server::new()
            .header_read_timeout(Duration::from_secs(120))
            .idle_timeout(Duration::from_secs(120)),
        app(),
    )
    .await;
    let mut conn = TcpStream::connect(running.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    assert!(!closed_within(&mut conn, Duration::from_secs(1)).await);
    drop(conn);
    running.stop().await;

    // HTTP/2 (prior knowledge): the connection preface and one request over
    // hyper's client, then the server sends GOAWAY and closes.
    let running = Running::start(
        Server::new()
            .header_read_timeout(Duration::from_secs(120))
            .idle_timeout(Duration::from_millis(300)),
        app(),
    )
    .await;
    let stream = TcpStream::connect(running.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driver = tokio::spawn(connection);
    let res = sender
        .send_request(
            http::Request::get(format!("http://{}/healthz", running.addr))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    tokio::time::timeout(PATIENCE, driver)
        .await
        .expect("the idle HTTP/2 connection is closed by the server")
        .unwrap()
        .unwrap();
    running.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds_and_the_server_keeps_answering() {
    let running = Running::start(
        Server::new()
            .max_connections(2)
            .header_read_timeout(Duration::from_secs(120)),
        app(),
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Read the answer, so the connection is accepted and kept alive.
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
        holders.push(s);
    }
    // A third connection is not served while both slots are taken.
    let mut third = TcpStream::connect(running.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf))
            .await
            .is_err(),
        "served past the cap"
    );
    // One holder leaves; the third is served.
    drop(holders.pop());
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, third.read_to_end(&mut got))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(got.starts_with(b"HTTP/1.1 200 OK"), "{got:?}");
    drop(holders);
    running.stop().await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_request_then_returns() {
    let started = Arc::new(Notify::new());
    let slow = {
        let started = started.clone();
        get(move || {
            let started = started.clone();
            async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }
        })
    };
    let running = Running::start(
        Server::new().drain_timeout(Duration::from_secs(60)),
        Router::new().route("/slow", slow),
    )
    .await;
    let addr = running.addr;
    let request = tokio::spawn(async move {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{addr}/slow"))
            .send()
            .await
    });
    started.notified().await;
    running.stop().await;
    let res = request
        .await
        .unwrap()
        .expect("the in-flight request finished");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "done");
    // The listener is gone.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_gives_up_on_a_request_after_the_drain_timeout() {
    let started = Arc::new(Notify::new());
    let stuck = {
        let started = started.clone();
        get(move || {
            let started = started.clone();
            async move {
                started.notify_one();
                std::future::pending::<()>().await;
                "never"
            }
        })
    };
    let running = Running::start(
        Server::new().drain_timeout(Duration::from_millis(200)),
        Router::new().route("/stuck", stuck),
    )
    .await;
    let addr = running.addr;
    let request = tokio::spawn(async move {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{addr}/stuck"))
            .send()
            .await
    });
    started.notified().await;
    // Returns, though the request never finishes.
    running.stop().await;
    let outcome = tokio::time::timeout(PATIENCE, request)
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.is_err(),
        "the stuck request's connection was dropped"
    );
}

/// A body that sends `left` chunks, one every 300 ms.
struct Slow {
    left: u8,
    tick: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Slow {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.tick.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(300);
        self.tick.as_mut().reset(next);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            b"chunk;",
        )))))
    }
}

#[tokio::test]
async fn shutdown_drains_a_response_body_still_streaming() {
    let app = Router::new().route(
        "/stream",
        get(|| async {
            axum::body::Body::new(Slow {
                left: 4,
                tick: Box::pin(tokio::time::sleep(Duration::ZERO)),
            })
        }),
    );
    let running = Running::start(Server::new().drain_timeout(Duration::from_secs(60)), app).await;
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/stream", running.addr))
        .send()
        .await
        .unwrap();
    // The handler has answered; its body is still on its way.
    let stop = tokio::spawn(running.stop());
    assert_eq!(res.text().await.unwrap(), "chunk;chunk;chunk;chunk;");
    tokio::time::timeout(PATIENCE, stop).await.unwrap().unwrap();
}
