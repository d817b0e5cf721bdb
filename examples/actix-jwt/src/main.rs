//! # actix-jwt: an actix-web resource server with static JWT keys
//!
//! Routes that take `Authorization: Bearer <JWT>`: RFC 9068 access tokens
//! (`typ: at+jwt`; `iss`, `aud`, `sub`, `client_id`, `iat`, `exp`, `jti`)
//! from one issuer, checked against keys given at start: a JWKS document
//! (`--jwks FILE`) or a PEM public key (`--public-key FILE`, ES256 unless
//! `--alg` says otherwise). No key is fetched; when the issuer publishes
//! its keys at a URL, see `examples/axum-jwt-oidc` (discovery and a cached
//! JWKS), which works the same on actix-web.
//!
//! Without `--jwks` or `--public-key` it runs in dev mode: it makes an
//! ES256 key pair and prints two tokens signed with it, for the lines
//! below.
//!
//! ```text
//! cargo run -p actix-jwt                     # dev mode; or: -- --port 8082, or PORT=8082
//! # It prints READER_TOKEN=… and PLAIN_TOKEN=…; in another shell:
//! export READER_TOKEN=… PLAIN_TOKEN=…
//!
//! curl -i -H "Authorization: Bearer $READER_TOKEN" http://127.0.0.1:8080/v1/reports   # 200
//! curl -i -H "Authorization: Bearer $PLAIN_TOKEN" http://127.0.0.1:8080/v1/whoami     # 200
//! curl -i -H "Authorization: Bearer $PLAIN_TOKEN" http://127.0.0.1:8080/v1/reports    # 403 insufficient_scope, scope="reports:read"
//! curl -i http://127.0.0.1:8080/v1/reports                                            # 401, WWW-Authenticate: Bearer realm="actix-jwt"
//! curl -i -H "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." \
//!      http://127.0.0.1:8080/v1/reports                                               # 401 invalid_token (alg none)
//!
//! # With your issuer's keys:
//! cargo run -p actix-jwt -- --issuer https://issuer.example --audience reports-api --jwks jwks.json
//! cargo run -p actix-jwt -- --issuer https://issuer.example --audience reports-api --public-key es256.pub.pem
//! ```
//!
//! What to copy:
//! - [`Issuer`] binds the `iss`, the audience, the keys and their
//!   algorithms together: a token is checked only with its own issuer's
//!   keys, `alg: none` cannot be configured, and `jku`/`x5u`/`jwk` headers
//!   are never followed.
//! - [`RequireAuth`] with a [`Policy`] per resource; [`Claims`] gives the
//!   handler the verified claims as a type of its own.
//! - Verified tokens are cached (by a hash of the token, never past
//!   `exp`), so a repeated token costs no signature check.
//!
//! The same guard on axum is `auth_tower::RequireAuthLayer`; on tonic,
//! see `examples/grpc-service`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{Auth, Claims, RequireAuth};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::{Guard, Policy};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;

type Error = Box<dyn std::error::Error>;

/// The command line.
struct Args {
    port: u16,
    issuer: String,
    audience: String,
    jwks: Option<PathBuf>,
    public_key: Option<PathBuf>,
    alg: Algorithm,
}

const USAGE: &str = "usage: actix-jwt [--port N] [--issuer URL] [--audience AUD] \
                     [--jwks FILE | --public-key FILE [--alg ES256]]";

fn args() -> Result<Args, Error> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p.parse()?,
            Err(_) => 8080,
        },
        issuer: "https://issuer.example".to_owned(),
        audience: "reports-api".to_owned(),
        jwks: None,
        public_key: None,
        alg: Algorithm::ES256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--port" => args.port = value.parse()?,
            "--issuer" => args.issuer = value,
            "--audience" => args.audience = value,
            "--jwks" => args.jwks = Some(value.into()),
            "--public-key" => args.public_key = Some(value.into()),
            "--alg" => args.alg = value.parse()?,
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

/// The claims a handler wants, typed; verified before it sees them.
#[derive(Deserialize)]
struct Access {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: String,
}

async fn whoami(Claims(access): Claims<Access>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "subject": access.sub,
        "client_id": access.client_id,
        "scope": access.scope,
    }))
}

async fn reports(Auth(id): Auth) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "reports": ["q1", "q2"],
        "for": id.subject(),
    }))
}

/// Dev mode: a fresh ES256 key pair, and two tokens signed with it.
fn dev_key(args: &Args) -> Result<JwtKey, Error> {
    let pair = rcgen::KeyPair::generate()?;
    let signing = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mint = |sub: &str, scope: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".to_owned());
        let claims = serde_json::json!({
            "iss": args.issuer, "aud": args.audience, "sub": sub, "client_id": "actix-jwt-dev",
            "scope": scope, "iat": now, "exp": now + 3600, "jti": format!("{sub}-{now}"),
        });
        jsonwebtoken::encode(&header, &claims, &signing)
    };
    // Printed for the curl lines in the crate docs; valid for an hour.
    println!("READER_TOKEN={}", mint("dev-reader", "reports:read")?);
    println!("PLAIN_TOKEN={}", mint("dev-plain", "")?);
    Ok(JwtKey::from_pem(
        pair.public_key_pem().as_bytes(),
        Algorithm::ES256,
    )?)
}

#[actix_web::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`) go to stderr; stdout has the dev tokens
    // and the ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args()?;

    let issuer = Issuer::new(args.issuer.clone()).audience(args.audience.clone());
    let issuer = match (&args.jwks, &args.public_key) {
        (Some(jwks), None) => issuer.jwks_document(&std::fs::read_to_string(jwks)?),
        (None, Some(pem)) => issuer.key(JwtKey::from_pem(&std::fs::read(pem)?, args.alg)?),
        (None, None) => issuer.key(dev_key(&args)?),
        (Some(_), Some(_)) => return Err(USAGE.into()),
    };
    let jwt = JwtAuthenticator::builder().issuer(issuer).build()?;
    let guard = Guard::builder(jwt).realm("actix-jwt").build()?;

    let server = HttpServer::new(move || {
        App::new()
            .service(
                web::resource("/v1/whoami")
                    .wrap(RequireAuth::new(guard.clone()))
                    .route(web::get().to(whoami)),
            )
            .service(
                web::resource("/v1/reports")
                    .wrap(RequireAuth::new(guard.clone()).policy(Policy::scope("reports:read")))
                    .route(web::get().to(reports)),
            )
            .route("/healthz", web::get().to(|| async { "ok" }))
    })
    .workers(2)
    .bind(("127.0.0.1", args.port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await?;
    Ok(())
}
