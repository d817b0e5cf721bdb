//! Mutual TLS over real TLS handshakes, on both adapters: auth-tower's
//! `Server` serving an axum router with `RequireAuthLayer`, and actix-web
//! with `RequireAuth` and auth-actix's `on_connect`. The same routes and
//! guards on each:
//!
//! | route | guard |
//! | --- | --- |
//! | `/v1/service` | `Strict` certificate, only `spiffe://demo.local/billing` (`Policy::subject_in`) |
//! | `/v1/whoami` | an API key, a JWT, or a `Permissive` certificate |
//! | `/v1/bound` | a JWT; bound ones (`cnf.x5t#S256`) need their certificate |
//! | `/v1/proxied-trusted` | a JWT or a `Permissive` certificate; `Client-Cert` believed from 127.0.0.1 |
//! | `/v1/proxied-untrusted` | the same, `Client-Cert` believed from 10.0.0.0/8 only |
//! | `/v1/conn` | which parsed certificate the connection carries (its address) |
//!
//! Clients are reqwest (rustls) presenting rcgen certificates made here:
//! `billing` and `reporting` from the trusted CA, `untrusted` from
//! another CA, `expired` from the trusted CA but past its validity.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::jwt::{Issuer as JwtIssuer, JwtAuthenticator, JwtKey};
use auth_core::mtls::{ForwardedCertificates, MtlsAuthenticator, MtlsRule, thumbprint_of};
use auth_core::{AnyOf, AuthMethod, Guard, Identity, Policy, Secret, TrustedProxies};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const BILLING: &str = "spiffe://demo.local/billing";
const REPORTING: &str = "spiffe://demo.local/reporting";
const HS_SECRET: &[u8] = b"the mtls test's HMAC secret, 32+ bytes";

// ------------------------------------------------------------------ PKI

/// A client certificate: its PEM (certificate and key) and DER.
struct Client {
    pem: String,
    der: Vec<u8>,
}

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    billing: Client,
    reporting: Client,
    untrusted: Client,
    expired: Client,
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, CertificateDer<'static>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.der().clone(), cert.pem())
}

fn client(issuer: &Issuer<'static, KeyPair>, spiffe_id: &str, expired: bool) -> Client {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .subject_alt_names
        .push(SanType::URI(spiffe_id.try_into().unwrap()));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        params.not_before = date_time_ymd(2001, 1, 1);
        params.not_after = date_time_ymd(2002, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    Client {
        pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        der: cert.der().to_vec(),
    }
}

fn pki() -> Pki {
    let (issuer, ca_der, ca_pem) = ca("mtls test CA");
    let (other, _, _) = ca("a CA the server does not trust");
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    Pki {
        ca_pem,
        ca_der,
        server: (
            server.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ),
        billing: client(&issuer, BILLING, false),
        reporting: client(&issuer, REPORTING, false),
        untrusted: client(&other, BILLING, false),
        expired: client(&issuer, BILLING, true),
    }
}

/// Asks every client for a certificate, requires none (each route
/// decides): `allow_unauthenticated`.
fn server_config(pki: &Pki) -> rustls::ServerConfig {
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
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap()
}

fn https(pki: &Pki, identity: Option<&Client>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if let Some(c) = identity {
        b = b.identity(reqwest::Identity::from_pem(c.pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

// ------------------------------------------------------------------ guards

#[derive(Clone)]
struct Guards {
    service: Guard,
    whoami: Guard,
    bound: Guard,
    proxied_trusted: Guard,
    proxied_untrusted: Guard,
}

fn jwt() -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(
            JwtIssuer::new("urn:mtls-test")
                .audience("api")
                .key(JwtKey::hmac(&Secret::new(HS_SECRET.to_vec()), Algorithm::HS256).unwrap())
                .token_types(["JWT"]),
        )
        .build()
        .unwrap()
}

async fn guards() -> (Guards, String) {
    let mtls = MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix("spiffe://demo.local/").scopes(["service"]))
        .build()
        .unwrap();
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("acme", Environment::Test))
        .await
        .unwrap();
    let build = |g: auth_core::GuardBuilder| g.realm("demo").build().unwrap();
    let jwt = jwt();
    let proxied = |nets: &str| {
        build(
            Guard::builder(AnyOf::new().or(jwt.clone()).or(mtls.permissive()))
                .forwarded_certificates(ForwardedCertificates::client_cert(
                    TrustedProxies::new([nets]).unwrap(),
                )),
        )
    };
    let guards = Guards {
        service: build(Guard::builder(mtls.strict()))
            .with_policy(Policy::method(AuthMethod::Mtls).and(Policy::subject_in([BILLING]))),
        whoami: build(Guard::builder(
            AnyOf::new()
                .or(ApiKeyAuthenticator::new(keys))
                .or(jwt.clone())
                .or(mtls.permissive()),
        )),
        bound: build(Guard::builder(jwt.clone())),
        proxied_trusted: proxied("127.0.0.1"),
        proxied_untrusted: proxied("10.0.0.0/8"),
    };
    (guards, key.expose().to_owned())
}

/// What the handlers answer: `method subject thumbprint`.
fn show(id: &Identity) -> String {
    format!(
        "{} {} {}",
        id.method(),
        id.subject(),
        id.cert_thumbprint().unwrap_or("-")
    )
}

// ------------------------------------------------------------------ servers

struct Servers {
    /// (name, plain, tls)
    listeners: Vec<(&'static str, SocketAddr, SocketAddr)>,
    stop_axum: Vec<tokio::sync::oneshot::Sender<()>>,
    actix: actix_web::dev::ServerHandle,
}

impl Servers {
    async fn stop(self) {
        for tx in self.stop_axum {
            let _ = tx.send(());
        }
        self.actix.stop(true).await;
    }
}

fn axum_app(g: &Guards) -> axum::Router {
    use auth_tower::{Auth, ConnectionInfo, RequireAuthLayer};
    use axum::Extension;
    use axum::routing::get;
    let handler = get(|Auth(id): Auth| async move { show(&id) });
    axum::Router::new()
        .route(
            "/v1/service",
            handler
                .clone()
                .route_layer(RequireAuthLayer::new(g.service.clone())),
        )
        .route(
            "/v1/whoami",
            handler
                .clone()
                .route_layer(RequireAuthLayer::new(g.whoami.clone())),
        )
        .route(
            "/v1/bound",
            handler
                .clone()
                .route_layer(RequireAuthLayer::new(g.bound.clone())),
        )
        .route(
            "/v1/proxied-trusted",
            handler
                .clone()
                .route_layer(RequireAuthLayer::new(g.proxied_trusted.clone())),
        )
        .route(
            "/v1/proxied-untrusted",
            handler.route_layer(RequireAuthLayer::new(g.proxied_untrusted.clone())),
        )
        .route(
            "/v1/conn",
            get(|Extension(info): Extension<ConnectionInfo>| async move {
                info.peer_certificate
                    .map(|c| format!("{:p}", Arc::as_ptr(&c)))
                    .unwrap_or_default()
            }),
        )
}

fn actix_config(g: Guards) -> impl Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static {
    use actix_web::{HttpRequest, HttpResponse, web};
    use auth_actix::{Auth, RequireAuth, TlsConnection};
    move |cfg: &mut web::ServiceConfig| {
        let h = |Auth(id): Auth| async move { HttpResponse::Ok().body(show(&id)) };
        for (path, guard) in [
            ("/v1/service", &g.service),
            ("/v1/whoami", &g.whoami),
            ("/v1/bound", &g.bound),
            ("/v1/proxied-trusted", &g.proxied_trusted),
            ("/v1/proxied-untrusted", &g.proxied_untrusted),
        ] {
            cfg.service(
                web::resource(path)
                    .wrap(RequireAuth::new(guard.clone()))
                    .to(h),
            );
        }
        cfg.route(
            "/v1/conn",
            web::get().to(|req: HttpRequest| async move {
                let ptr = req
                    .conn_data::<TlsConnection>()
                    .and_then(|t| t.peer_certificate.as_ref())
                    .map(|c| format!("{:p}", Arc::as_ptr(c)))
                    .unwrap_or_default();
                HttpResponse::Ok().body(ptr)
            }),
        );
    }
}

async fn start(pki: &Pki, g: &Guards) -> Servers {
    use auth_tower::server::Server;
    let config = server_config(pki);
    // auth-tower: one plain and one TLS listener.
    let mut stop_axum = Vec::new();
    let mut axum_addrs = Vec::new();
    for tls in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        axum_addrs.push(listener.local_addr().unwrap());
        let mut server = Server::new();
        if tls {
            server = server.tls(tokio_rustls::TlsAcceptor::from(Arc::new(config.clone())));
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stop_axum.push(tx);
        tokio::spawn(server.serve(listener, axum_app(g), async move {
            let _ = rx.await;
        }));
    }
    // actix-web, on its own system thread.
    let plain_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let actix_addrs = (plain_l.local_addr().unwrap(), tls_l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let configure = actix_config(g.clone());
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        let server =
            actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
                .on_connect(auth_actix::on_connect)
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(plain_l)
                .unwrap()
                .listen_rustls_0_23(tls_l, config)
                .unwrap()
                .run();
        tx.send(server.handle()).unwrap();
        let _ = system.block_on(server);
    });
    let actix = rx.recv().unwrap();
    Servers {
        listeners: vec![
            ("axum", axum_addrs[0], axum_addrs[1]),
            ("actix", actix_addrs.0, actix_addrs.1),
        ],
        stop_axum,
        actix,
    }
}

/// Status, `WWW-Authenticate` fields and body.
async fn send(req: reqwest::RequestBuilder) -> (u16, Vec<String>, String) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (status, www, res.text().await.unwrap())
}

fn bound_jwt(thumbprint: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({
        "iss": "urn:mtls-test", "aud": "api", "sub": "partner", "exp": exp,
        "cnf": {"x5t#S256": thumbprint}
    });
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(HS_SECRET).unwrap(),
    )
    .unwrap()
}

fn client_cert_header(der: &[u8]) -> String {
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

// ------------------------------------------------------------------ logs

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary (installed once).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        captured
    })
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spiffe_ids_strict_and_permissive_routes_on_both_adapters() {
    let pki = pki();
    let (g, api_key) = guards().await;
    let servers = start(&pki, &g).await;
    let billing = https(&pki, Some(&pki.billing));
    let reporting = https(&pki, Some(&pki.reporting));
    let anonymous = https(&pki, None);
    let billing_x5t = thumbprint_of(&pki.billing.der);
    for (name, _, tls) in &servers.listeners {
        let url = |path: &str| format!("https://{tls}{path}");
        // The allow-listed workload.
        let (status, _, body) = send(billing.get(url("/v1/service"))).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body, format!("mtls {BILLING} {billing_x5t}"), "{name}");
        // A trusted certificate, another workload: authenticated, not allowed.
        let (status, _, body) = send(reporting.get(url("/v1/service"))).await;
        assert_eq!(status, 403, "{name}: {body}");
        // No certificate: 401, and no scheme to name on a certificates-only route.
        let (status, www, _) = send(anonymous.get(url("/v1/service"))).await;
        assert_eq!((status, www), (401, Vec::<String>::new()), "{name}");

        // Permissive: the certificate, or an API key without one.
        let (status, _, body) = send(billing.get(url("/v1/whoami"))).await;
        assert_eq!(
            (status, body),
            (200, format!("mtls {BILLING} {billing_x5t}")),
            "{name}"
        );
        let (status, _, body) = send(
            anonymous
                .get(url("/v1/whoami"))
                .header("x-api-key", &api_key),
        )
        .await;
        assert_eq!((status, body), (200, "api_key acme -".to_owned()), "{name}");
        let (status, www, _) = send(anonymous.get(url("/v1/whoami"))).await;
        assert_eq!(
            (status, www),
            (401, vec!["Bearer realm=\"demo\"".to_owned()]),
            "{name}: the route's other schemes"
        );
    }
    servers.stop().await;
}

/// Refused by rustls's verifier in the handshake: the client sees a TLS
/// alert (a failed request), never an HTTP answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_and_expired_certificates_fail_the_handshake_on_both_adapters() {
    let pki = pki();
    let (g, _) = guards().await;
    let servers = start(&pki, &g).await;
    for (name, _, tls) in &servers.listeners {
        for (which, cert) in [("untrusted", &pki.untrusted), ("expired", &pki.expired)] {
            let sent = https(&pki, Some(cert))
                .get(format!("https://{tls}/v1/whoami"))
                .send()
                .await;
            assert!(
                sent.is_err(),
                "{name}, {which}: answered {:?}",
                sent.map(|r| r.status())
            );
        }
        // The same listener still serves a good certificate.
        let ok = https(&pki, Some(&pki.billing))
            .get(format!("https://{tls}/v1/whoami"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{name}");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_bound_jwt_needs_its_certificate_on_both_adapters() {
    let pki = pki();
    let (g, _) = guards().await;
    let servers = start(&pki, &g).await;
    let x5t = thumbprint_of(&pki.billing.der);
    let token = bound_jwt(&x5t);
    let invalid_token = vec!["Bearer realm=\"demo\", error=\"invalid_token\"".to_owned()];
    for (name, http, tls) in &servers.listeners {
        let url = format!("https://{tls}/v1/bound");
        let (status, _, body) = send(
            https(&pki, Some(&pki.billing))
                .get(&url)
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(
            (status, body),
            (200, format!("jwt partner {x5t}")),
            "{name}: with its certificate"
        );
        for (client, why) in [
            (https(&pki, Some(&pki.reporting)), "another certificate"),
            (https(&pki, None), "no certificate"),
        ] {
            let (status, www, _) = send(client.get(&url).bearer_auth(&token)).await;
            assert_eq!((status, www), (401, invalid_token.clone()), "{name}: {why}");
        }
        let (status, www, _) = send(
            plain()
                .get(format!("http://{http}/v1/bound"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(
            (status, www),
            (401, invalid_token.clone()),
            "{name}: plain HTTP"
        );
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cert_from_a_trusted_proxy_is_honoured_on_both_adapters() {
    let pki = pki();
    let (g, _) = guards().await;
    let servers = start(&pki, &g).await;
    let x5t = thumbprint_of(&pki.billing.der);
    let header = client_cert_header(&pki.billing.der);
    for (name, http, _) in &servers.listeners {
        // The proxy (127.0.0.1, trusted here) terminated TLS and forwards
        // the client's certificate over plain HTTP.
        let url = format!("http://{http}/v1/proxied-trusted");
        let (status, _, body) = send(plain().get(&url).header("client-cert", &header)).await;
        assert_eq!(
            (status, body),
            (200, format!("mtls {BILLING} {x5t}")),
            "{name}"
        );
        // A token bound to that certificate, through the proxy.
        let (status, _, body) = send(
            plain()
                .get(&url)
                .header("client-cert", &header)
                .bearer_auth(bound_jwt(&x5t)),
        )
        .await;
        assert_eq!(
            (status, body),
            (200, format!("jwt partner {x5t}")),
            "{name}"
        );
        // Without the header, the bound token has no certificate.
        let (status, _, _) = send(plain().get(&url).bearer_auth(bound_jwt(&x5t))).await;
        assert_eq!(status, 401, "{name}");
        // A header the proxy garbled is refused, not taken for "none".
        let (status, _, _) = send(plain().get(&url).header("client-cert", ":bm9wZQ==:")).await;
        assert_eq!(status, 401, "{name}");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_client_cert_from_an_untrusted_peer_is_ignored_on_both_adapters() {
    let logs = logs();
    let pki = pki();
    let (g, _) = guards().await;
    let servers = start(&pki, &g).await;
    let header = client_cert_header(&pki.billing.der);
    let x5t = thumbprint_of(&pki.billing.der);
    for (name, http, tls) in &servers.listeners {
        // 127.0.0.1 is not among this route's proxies (10.0.0.0/8).
        let (status, www, _) = send(
            plain()
                .get(format!("http://{http}/v1/proxied-untrusted"))
                .header("client-cert", &header),
        )
        .await;
        assert_eq!(
            (status, www),
            (401, vec!["Bearer realm=\"demo\"".to_owned()]),
            "{name}: the header is ignored"
        );
        // Nor does it bind a token to the forged certificate.
        let (status, _, _) = send(
            plain()
                .get(format!("http://{http}/v1/proxied-untrusted"))
                .header("client-cert", &header)
                .bearer_auth(bound_jwt(&x5t)),
        )
        .await;
        assert_eq!(status, 401, "{name}: no binding through a forged header");
        // On TLS, the client's own certificate counts, not its header.
        let (status, _, body) = send(
            https(&pki, Some(&pki.reporting))
                .get(format!("https://{tls}/v1/proxied-untrusted"))
                .header("client-cert", &header),
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert!(
            body.starts_with(&format!("mtls {REPORTING} ")),
            "{name}: {body}"
        );
    }
    servers.stop().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("not a trusted proxy was ignored") && text.contains("client-cert"),
        "the forged header is logged: {text}"
    );
    let b64 = header.trim_matches(':');
    assert!(
        !text.contains(&b64[100..160]),
        "the header's value is not in the log"
    );
}

/// The leaf is parsed once per connection: requests on one connection
/// share one `Arc<PeerCertificate>`; another connection has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_parsed_once_per_connection_on_both_adapters() {
    let pki = pki();
    let (g, _) = guards().await;
    let servers = start(&pki, &g).await;
    for (name, _, tls) in &servers.listeners {
        let url = format!("https://{tls}/v1/conn");
        let one = https(&pki, Some(&pki.billing));
        let first = one.get(&url).send().await.unwrap().text().await.unwrap();
        let second = one.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(
            !first.is_empty(),
            "{name}: the connection carries the parsed leaf"
        );
        assert_eq!(first, second, "{name}: one parse for the connection");
        let other = https(&pki, Some(&pki.billing));
        let third = other.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(!third.is_empty());
        // A distinct connection has its own parse (its Arc may reuse a
        // freed address only if the first is gone; it is not: `one` is
        // still open).
        assert_ne!(first, third, "{name}: another connection, another parse");
        drop(one);
    }
    servers.stop().await;
}
