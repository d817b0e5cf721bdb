//! # mtls-service: workloads by client certificate, allowed by SPIFFE ID
//!
//! An axum service over TLS whose callers are other services presenting
//! client certificates. A certificate is checked by the TLS handshake
//! (chain, validity; CRLs if configured); [`MtlsAuthenticator`] maps its
//! SPIFFE ID (a URI SAN) to the caller's identity; an allow-list of SPIFFE
//! IDs ([`Policy::subject_in`]) says who may call `/v1/service`.
//!
//! - `--pki DIR` holds `ca.pem` (the CA client certificates must chain
//!   to), `server.pem` and `server.key`; [`TlsConfig`] reloads them when
//!   they change (a rotated server certificate, a new CA), without a
//!   restart. Where the directory has none, a dev PKI is made there on
//!   first start: a CA, the server certificate and two workload
//!   certificates, `billing` (`spiffe://example.org/billing`) and
//!   `reporting` (`spiffe://example.org/reporting`).
//! - `--allow SPIFFE_ID`, once per allowed workload (default:
//!   `spiffe://example.org/billing`).
//!
//! ```text
//! cargo run -p mtls-service                  # or: -- --port 8444 --pki DIR --allow spiffe://…, or PORT=8444
//! P=mtls-service-pki; C="--cacert $P/ca.pem"
//!
//! curl -i $C --cert $P/billing.pem --key $P/billing.key https://127.0.0.1:8443/v1/service       # 200, spiffe://example.org/billing
//! curl -i $C --cert $P/reporting.pem --key $P/reporting.key https://127.0.0.1:8443/v1/service   # 403: trusted, not allowed here
//! curl -i $C https://127.0.0.1:8443/v1/service                                                  # 401: no certificate
//! curl -i $C https://127.0.0.1:8443/healthz                                                     # 200: no certificate needed
//! ```
//!
//! A certificate from a CA not in `ca.pem`, or an expired one, fails the
//! TLS handshake (curl reports an error; there is no HTTP answer).
//!
//! The listener asks every client for a certificate but lets clients
//! without one finish the handshake (`ClientAuth::Optional`, Istio's
//! PERMISSIVE), so `/healthz` answers probes; `/v1/service` requires one
//! ([`MtlsMode::Strict`](auth_core::mtls::MtlsMode::Strict): `401`, with no
//! `WWW-Authenticate` since there is no scheme to name). A service whose
//! every route needs a certificate can use `ClientAuth::Required` (STRICT),
//! and clients without one fail the handshake. Behind a proxy that
//! terminates TLS, see `auth_core::mtls::ForwardedCertificates` (RFC 9440
//! `Client-Cert`, Envoy's XFCC, from trusted proxies only).
//!
//! Certificates together with tokens bound to them (RFC 8705):
//! `examples/multi-method`. The same layer guards tonic services:
//! `examples/grpc-service`.

use std::path::{Path, PathBuf};

use auth_core::mtls::{MtlsAuthenticator, MtlsRule};
use auth_core::tls::{ClientAuth, TlsConfig};
use auth_core::{AuthMethod, Guard, Policy};
use auth_tower::{Auth, RequireAuthLayer, Server};
use axum::routing::get;
use axum::{Json, Router};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The trust domain whose workloads this service knows.
const TRUST_DOMAIN: &str = "spiffe://example.org/";

/// The command line.
struct Args {
    port: u16,
    pki: PathBuf,
    allow: Vec<String>,
}

const USAGE: &str = "usage: mtls-service [--port N] [--pki DIR] [--allow SPIFFE_ID]...";

fn args() -> Result<Args, Error> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p.parse()?,
            Err(_) => 8443,
        },
        pki: PathBuf::from("mtls-service-pki"),
        allow: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--port" => args.port = value.parse()?,
            "--pki" => args.pki = value.into(),
            "--allow" => args.allow.push(value),
            _ => return Err(USAGE.into()),
        }
    }
    if args.allow.is_empty() {
        args.allow.push(format!("{TRUST_DOMAIN}billing"));
    }
    Ok(args)
}

async fn service(Auth(id): Auth) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "caller": id.subject(),
        "method": id.method().as_str(),
        "scopes": id.scopes().collect::<Vec<_>>(),
        "certificate_thumbprint": id.cert_thumbprint(),
    }))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, pem.as_bytes())
}

/// Dev mode: a CA, a server certificate for 127.0.0.1 and localhost, and
/// the `billing` and `reporting` workload certificates, in `dir`. The CA's
/// key is not kept.
fn write_dev_pki(dir: &Path) -> Result<(), Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, SanType,
    };
    std::fs::create_dir_all(dir)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "mtls-service dev CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    std::fs::write(dir.join("ca.pem"), ca.self_signed(&ca_key)?.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    std::fs::write(
        dir.join("server.pem"),
        server.signed_by(&key, &issuer)?.pem(),
    )?;
    write_private(&dir.join("server.key"), &key.serialize_pem())?;

    for workload in ["billing", "reporting"] {
        let mut client = CertificateParams::new(Vec::<String>::new())?;
        let spiffe_id = format!("{TRUST_DOMAIN}{workload}");
        client.subject_alt_names = vec![SanType::URI(spiffe_id.try_into()?)];
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = client.signed_by(&key, &issuer)?;
        std::fs::write(dir.join(format!("{workload}.pem")), cert.pem())?;
        write_private(&dir.join(format!("{workload}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`) go to stderr; stdout has the ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args()?;
    if !args.pki.join("ca.pem").exists() {
        write_dev_pki(&args.pki)?;
    }

    // Who a certificate is: any workload of the trust domain, by its
    // SPIFFE ID. A certificate that no rule matches is refused (401).
    let mtls = MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix(TRUST_DOMAIN).scopes(["service"]))
        .build()?;
    let guard = Guard::builder(mtls.strict())
        .realm("mtls-service")
        .build()?;
    // Who may call this route: an allow-list, as a policy (403 for a
    // trusted workload that is not on it).
    let allowed =
        Policy::method(AuthMethod::Mtls).and(Policy::subject_in(args.allow.iter().cloned()));

    let app = Router::new()
        .route(
            "/v1/service",
            get(service).route_layer(RequireAuthLayer::new(guard).policy(allowed)),
        )
        .route("/healthz", get(|| async { "ok" }));

    let tls = TlsConfig::builder()
        .server_cert_files(args.pki.join("server.pem"), args.pki.join("server.key"))
        .client_cas_file(args.pki.join("ca.pem"))
        .client_auth(ClientAuth::Optional)
        .build()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on https://{}", listener.local_addr()?);
    // auth-tower's server hands each request the client certificate,
    // parsed once per connection.
    Server::new()
        .tls(tokio_rustls::TlsAcceptor::from(tls.server_config()))
        .serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
