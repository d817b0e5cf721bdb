//! # multi-method: any-of and all-of
//!
//! An axum service over TLS with two kinds of route:
//!
//! - **any-of** (`/v1/reports`): an API key *or* a JWT access token,
//!   whichever is presented ([`AnyOf`]: the most specific recogniser
//!   decides, an API key's prefix before a JWT's shape; two different
//!   credentials at once are a `400`).
//! - **all-of** (`/v1/partner`): a client certificate *and* a JWT bound to
//!   it (RFC 8705: the token's `cnf.x5t#S256` is the certificate's SHA-256
//!   thumbprint), checked on every request ([`AllOf`] with a strict
//!   [`MtlsAuthenticator`], and a policy that refuses unbound tokens).
//!
//! The listener asks for a client certificate and lets clients without one
//! in (`ClientAuth::Optional`); each route decides. Its certificate and the
//! CA that client certificates must chain to come from `--pki DIR`
//! (`ca.pem`, `server.pem`, `server.key`; `auth_core::tls::TlsConfig`
//! reloads them when they change). Where the directory has none, a dev PKI
//! is made there on first start, with a client certificate
//! (`client.pem`, `client.key`, SPIFFE ID `spiffe://example.org/partner`).
//! JWTs are checked against `--jwt-public-key FILE` (ES256 PEM, with
//! `--issuer` and `--audience`); without one, a key is made at start and
//! two tokens signed with it are printed, one bound to `client.pem`.
//!
//! ```text
//! cargo run -p multi-method                  # or: -- --port 8444 --pki DIR, or PORT=8444
//! # It prints API_KEY=…, TOKEN=… and BOUND_TOKEN=…; in another shell:
//! export API_KEY=… TOKEN=… BOUND_TOKEN=…
//! P=multi-method-pki; C="--cacert $P/ca.pem"; M="--cert $P/client.pem --key $P/client.key"
//!
//! curl -i $C -H "X-API-Key: $API_KEY" https://127.0.0.1:8443/v1/reports              # 200, method api_key
//! curl -i $C -H "Authorization: Bearer $TOKEN" https://127.0.0.1:8443/v1/reports     # 200, method jwt
//! curl -i $C https://127.0.0.1:8443/v1/reports                                       # 401: WWW-Authenticate: Bearer realm="multi-method"
//! curl -i $C -H "X-API-Key: $API_KEY" -H "Authorization: Bearer $TOKEN" \
//!      https://127.0.0.1:8443/v1/reports                                             # 400: two credentials
//! curl -i $C $M -H "Authorization: Bearer $BOUND_TOKEN" https://127.0.0.1:8443/v1/partner   # 200, and the certificate
//! curl -i $C -H "Authorization: Bearer $BOUND_TOKEN" https://127.0.0.1:8443/v1/partner      # 401: no certificate
//! curl -i $C $M -H "Authorization: Bearer $TOKEN" https://127.0.0.1:8443/v1/partner         # 403: the token is not bound
//! curl -i $C $M -H "X-API-Key: $API_KEY" https://127.0.0.1:8443/v1/partner                 # 401: a certificate and a token
//! ```
//!
//! A token bound to a certificate is refused with any other certificate,
//! cache hit or not. For certificates alone with an allow-list of SPIFFE
//! IDs, see `examples/mtls-service`; for where such bound tokens come from,
//! an authorization server's `tls_client_auth` and certificate-bound tokens
//! (`auth_core::oauth`). The same composition works on tonic services
//! (`examples/grpc-service` has the any-of part).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::mtls::{MtlsAuthenticator, MtlsRule, thumbprint_of};
use auth_core::tls::{ClientAuth, TlsConfig};
use auth_core::{AllOf, AnyOf, Guard, Identity, Policy};
use auth_tower::{Auth, RequireAuthLayer, Server};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The trust domain whose SPIFFE IDs the partner route knows.
const TRUST_DOMAIN: &str = "spiffe://example.org/";

/// The command line.
struct Args {
    port: u16,
    pki: PathBuf,
    issuer: String,
    audience: String,
    jwt_public_key: Option<PathBuf>,
}

const USAGE: &str = "usage: multi-method [--port N] [--pki DIR] \
                     [--jwt-public-key ES256_PEM [--issuer URL] [--audience AUD]]";

fn args() -> Result<Args, Error> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p.parse()?,
            Err(_) => 8443,
        },
        pki: PathBuf::from("multi-method-pki"),
        issuer: "https://issuer.example".to_owned(),
        audience: "multi-method".to_owned(),
        jwt_public_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--port" => args.port = value.parse()?,
            "--pki" => args.pki = value.into(),
            "--issuer" => args.issuer = value,
            "--audience" => args.audience = value,
            "--jwt-public-key" => args.jwt_public_key = Some(value.into()),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

fn identity_json(id: &Identity) -> serde_json::Value {
    serde_json::json!({
        "subject": id.subject(),
        "method": id.method().as_str(),
        "scopes": id.scopes().collect::<Vec<_>>(),
        "certificate_thumbprint": id.cert_thumbprint(),
    })
}

async fn whoami(Auth(id): Auth) -> Json<serde_json::Value> {
    Json(identity_json(&id))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, pem.as_bytes())
}

/// Dev mode: a CA, a server certificate for 127.0.0.1 and localhost, and a
/// client certificate for `spiffe://example.org/partner`, in `dir`. The
/// CA's key is not kept.
fn write_dev_pki(dir: &Path) -> Result<(), Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, SanType,
    };
    std::fs::create_dir_all(dir)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "multi-method dev CA");
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

    let mut client = CertificateParams::new(Vec::<String>::new())?;
    let spiffe_id = format!("{TRUST_DOMAIN}partner");
    client.subject_alt_names = vec![SanType::URI(spiffe_id.try_into()?)];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    std::fs::write(
        dir.join("client.pem"),
        client.signed_by(&key, &issuer)?.pem(),
    )?;
    write_private(&dir.join("client.key"), &key.serialize_pem())?;
    Ok(())
}

/// Dev mode: a fresh ES256 key; prints a token, and one bound to
/// `client.pem` if there is one.
fn dev_jwt_key(args: &Args) -> Result<JwtKey, Error> {
    let pair = rcgen::KeyPair::generate()?;
    let signing = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mint = |sub: &str, cnf: Option<String>| {
        let mut claims = serde_json::json!({
            "iss": args.issuer, "aud": args.audience, "sub": sub, "client_id": sub,
            "scope": "reports:read", "iat": now, "exp": now + 3600, "jti": format!("{sub}-{now}"),
        });
        if let (Some(thumbprint), Some(claims)) = (cnf, claims.as_object_mut()) {
            claims.insert("cnf".into(), serde_json::json!({ "x5t#S256": thumbprint }));
        }
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, &claims, &signing)
    };
    println!("TOKEN={}", mint("dev-client", None)?);
    let client_pem = args.pki.join("client.pem");
    if client_pem.exists() {
        let der = CertificateDer::from_pem_file(&client_pem)?;
        println!(
            "BOUND_TOKEN={}",
            mint("dev-partner", Some(thumbprint_of(&der)))?
        );
    }
    Ok(JwtKey::from_pem(
        pair.public_key_pem().as_bytes(),
        Algorithm::ES256,
    )?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`) go to stderr; stdout has the dev
    // credentials and the ready line.
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

    // An API key, issued at start and printed once.
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (api_key, _) = keys
        .issue(NewKey::new("reports-client", Environment::Test).scopes(["reports:read"]))
        .await?;
    println!("API_KEY={}", api_key.expose());

    let jwt_key = match &args.jwt_public_key {
        Some(pem) => JwtKey::from_pem(&std::fs::read(pem)?, Algorithm::ES256)?,
        None => dev_jwt_key(&args)?,
    };
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new(args.issuer.clone())
                .audience(args.audience.clone())
                .key(jwt_key),
        )
        .build()?;
    // Certificates of the trust domain; the SPIFFE ID is the subject.
    let mtls = MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix(TRUST_DOMAIN))
        .build()?;

    // any-of: an API key or a JWT.
    let either = Guard::builder(
        AnyOf::new()
            .or(ApiKeyAuthenticator::new(keys))
            .or(jwt.clone()),
    )
    .realm("multi-method")
    .build()?;
    // all-of: the token decides who the caller is (the first member); the
    // certificate must be there, and the JWT authenticator checks a bound
    // token's `cnf.x5t#S256` against it. The policy refuses tokens that
    // are not bound at all.
    let both = Guard::builder(AllOf::new().and(jwt).and(mtls.strict()))
        .realm("multi-method")
        .build()?;
    let bound = Policy::predicate("certificate_bound_token", |id| {
        id.cert_thumbprint().is_some()
    });

    let app = Router::new()
        .route(
            "/v1/reports",
            get(whoami)
                .route_layer(RequireAuthLayer::new(either).policy(Policy::scope("reports:read"))),
        )
        .route(
            "/v1/partner",
            get(whoami).route_layer(RequireAuthLayer::new(both).policy(bound)),
        )
        .route("/healthz", get(|| async { "ok" }));

    let tls = TlsConfig::builder()
        .server_cert_files(args.pki.join("server.pem"), args.pki.join("server.key"))
        .client_cas_file(args.pki.join("ca.pem"))
        .client_auth(ClientAuth::Optional)
        .build()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on https://{}", listener.local_addr()?);
    // auth-tower's server hands each request its TLS state and the client
    // certificate, parsed once per connection.
    Server::new()
        .tls(tokio_rustls::TlsAcceptor::from(tls.server_config()))
        .serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
