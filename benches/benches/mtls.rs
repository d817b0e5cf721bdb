//! Criterion benchmarks of mutual TLS against plain TLS, on one server:
//! auth-tower's `Server` with an axum "hello" route, its TLS configuration
//! an `auth_core::tls::TlsConfig` in `Optional` mode (a client certificate
//! is asked for, verified by webpki when presented, not required), served
//! on its own thread and runtime; the clients are reqwest (HTTP/1.1,
//! rustls, aws-lc-rs) on the bench thread. ECDSA P-256 keys throughout.
//!
//! Groups (names are quoted in reports; keep them stable):
//!
//! - `mtls/keepalive_tls`, `mtls/keepalive_mtls`: requests per second
//!   (`elem/s`) over one kept-alive connection, without and with a client
//!   certificate. After the handshake a client certificate costs nothing
//!   per request, so the ratio should be about 1.
//! - `mtls/handshake_tls`, `mtls/handshake_mtls`: a new connection per
//!   request (no pooling, no session resumption), so each iteration is a
//!   full TCP + TLS 1.3 handshake and one request. The mTLS handshake adds
//!   the client's certificate and `CertificateVerify` signature, and the
//!   server's chain and signature verification.
//!
//! Under `cargo bench` (not in test mode) the bench also prints the
//! mTLS/TLS ratio from interleaved rounds (see `paired_ratio`), which holds
//! steady when the machine's load does not.
//!
//! Measured on the 2-core development container while other builds ran
//! (load average 5–6), five runs (the interleaved ratio in the last
//! three): absolute rates moved with the load, the interleaved ratio did
//! not.
//!
//! | | TLS per second | mTLS per second | mTLS / TLS (interleaved) |
//! | --- | --- | --- | --- |
//! | kept-alive requests | 10.6k–22.8k | 11.4k–20.3k | 0.95–1.01 (≈ 1: no per-request cost) |
//! | full handshakes + one request | 680–1,050 | 540–870 | 0.82–0.83 (the client certificate costs ~18 %) |
//!
//! Run with `cargo bench -p auth-benches --bench mtls`.

// Setup failures (a runtime that cannot start, a port that cannot be
// bound) leave nothing meaningful to measure, so the bench aborts with a
// message; clippy's `allow-expect-in-tests` does not cover bench targets.
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth_benches::runtime;
use auth_core::tls::{ClientAuth, TlsConfig};
use auth_tower::ConnectionInfo;
use auth_tower::server::Server;
use axum::Router;
use axum::extract::Extension;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);

/// The server's files and the client's identity, in PEM.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key_pem: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let client_key = KeyPair::generate().expect("key");
    let client = CertificateParams::new(vec!["client.bench".to_owned()])
        .expect("params")
        .signed_by(&client_key, &issuer)
        .expect("client certificate");
    let dir = tempfile::tempdir().expect("temporary directory");
    let write = |name: &str, pem: String| {
        std::fs::write(dir.path().join(name), pem).expect("write a PEM file");
    };
    write("server.pem", server.pem());
    write("server.key", server_key.serialize_pem());
    write("ca.pem", ca_cert.pem());
    Pki {
        ca_der: ca_cert.der().clone(),
        client_chain: vec![client.der().clone()],
        client_key_pem: client_key.serialize_pem(),
        dir,
    }
}

/// How many client certificates the connection presented.
async fn hello(Extension(info): Extension<ConnectionInfo>) -> String {
    format!("hello, {} certificates", info.peer_certificates.len())
}

/// Serves the hello route with TLS from `pki` on a thread of its own until
/// the sender is dropped or fired.
fn start_server(pki: &Pki) -> (SocketAddr, oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let path = |name: &str| pki.dir.path().join(name);
    let tls = TlsConfig::builder()
        .server_cert_files(path("server.pem"), path("server.key"))
        .client_cas_file(path("ca.pem"))
        .client_auth(ClientAuth::Optional)
        .no_polling()
        .build()
        .expect("TLS configuration");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = runtime().expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = Router::new().route("/hello", get(hello));
            Server::new()
                .tls(tokio_rustls::TlsAcceptor::from(tls.server_config()))
                .serve(listener, app, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
    });
    (addr, stop, thread)
}

/// A reqwest client trusting the bench CA, presenting the client
/// certificate when `mtls`; with `new_connections`, no connection is kept
/// and no session is resumed, so every request is a full handshake.
fn client(pki: &Pki, addr: SocketAddr, mtls: bool, new_connections: bool) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("CA");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = if mtls {
        let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).expect("key");
        builder
            .with_client_auth_cert(pki.client_chain.clone(), key)
            .expect("client identity")
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", addr);
    if new_connections {
        config.resumption = rustls::client::Resumption::disabled();
        builder = builder.pool_max_idle_per_host(0);
    }
    builder
        .tls_backend_preconfigured(config)
        .build()
        .expect("HTTP client")
}

async fn fetch(client: &reqwest::Client, url: &str) -> String {
    let res = client.get(url).send().await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    res.text().await.expect("body")
}

/// Rounds of [`paired_ratio`].
const ROUNDS: usize = 30;

/// The median over [`ROUNDS`] of (mTLS requests/s ÷ TLS requests/s), each
/// round timing `per_round` requests of one client then of the other, in
/// alternating order; and the median mTLS rate.
fn paired_ratio(
    rt: &tokio::runtime::Runtime,
    tls: &reqwest::Client,
    mtls: &reqwest::Client,
    url: &str,
    per_round: u32,
) -> (f64, f64) {
    let time = |client: &reqwest::Client| {
        let start = std::time::Instant::now();
        for _ in 0..per_round {
            rt.block_on(fetch(client, url));
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut rates = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (t, m) = if round % 2 == 0 {
            let t = time(tls);
            (t, time(mtls))
        } else {
            let m = time(mtls);
            (time(tls), m)
        };
        ratios.push(t / m);
        rates.push(f64::from(per_round) / m);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    (median(&mut ratios), median(&mut rates))
}

fn mtls(c: &mut Criterion) {
    let pki = pki();
    let (addr, stop, server) = start_server(&pki);
    let rt = runtime().expect("client runtime");
    let url = format!("https://localhost:{}/hello", addr.port());

    let clients = [
        ("keepalive_tls", client(&pki, addr, false, false), 0),
        ("keepalive_mtls", client(&pki, addr, true, false), 1),
        ("handshake_tls", client(&pki, addr, false, true), 0),
        ("handshake_mtls", client(&pki, addr, true, true), 1),
    ];
    for (name, client, certs) in &clients {
        // Outside the measurement: the route sees the client certificate
        // exactly when one is sent, and keep-alive clients connect.
        let body = rt.block_on(fetch(client, &url));
        assert_eq!(body, format!("hello, {certs} certificates"), "{name}");
    }

    let mut group = c.benchmark_group("mtls");
    group
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE)
        .throughput(Throughput::Elements(1));
    for (name, client, _) in &clients {
        group.bench_function(*name, |b| b.iter(|| rt.block_on(fetch(client, &url))));
    }
    group.finish();

    // Criterion runs the groups one after another, so a machine whose load
    // changes (a shared builder) skews their ratio. Interleaving the two
    // clients in short rounds and taking the median of the per-round
    // ratios does not; printed under `cargo bench` only.
    if std::env::args().any(|a| a == "--bench") {
        let [
            (_, keepalive_tls, _),
            (_, keepalive_mtls, _),
            (_, handshake_tls, _),
            (_, handshake_mtls, _),
        ] = &clients;
        for (what, tls, mtls, per_round) in [
            ("keepalive", keepalive_tls, keepalive_mtls, 400),
            ("handshake", handshake_tls, handshake_mtls, 40),
        ] {
            let (ratio, mtls_per_s) = paired_ratio(&rt, tls, mtls, &url, per_round);
            println!(
                "mtls/{what}: mTLS/TLS = {ratio:.2} (median of {ROUNDS} interleaved rounds), mTLS ~{mtls_per_s:.0}/s"
            );
        }
    }

    drop(clients);
    let _ = stop.send(());
    server.join().expect("the server thread ends");
}

criterion_group!(benches, mtls);
criterion_main!(benches);
