//! # axum-jwt-oidc: a resource server trusting an OpenID Connect issuer
//!
//! An axum service whose routes take JWT access tokens from one issuer,
//! found by discovery: given only the issuer's URL, it reads
//! `<issuer>/.well-known/openid-configuration` (then RFC 8414's
//! `/.well-known/oauth-authorization-server`), which must name that same
//! issuer, and fetches the keys from the `jwks_uri` it gives. Keys are
//! cached: refreshed in the background, fetched again (at most once per
//! 10 s) when a token names an unknown `kid`, served stale while the
//! issuer is down, never chosen by anything in a token.
//!
//! ```text
//! cargo run -p axum-jwt-oidc -- --issuer https://issuer.example --audience reports-api
//!     [--port 3000] [--issuer-ca ca.pem] [--token-type JWT] [--allow-http-loopback]
//! ```
//!
//! Try it with the repository's demo as the issuer (its authorization
//! server publishes RFC 8414 metadata and a JWKS at
//! `http://127.0.0.1:8080`, and issues client-credentials tokens for the
//! audience `demo-api`; an issuer on plain HTTP is accepted only on a
//! loopback address, and only with `--allow-http-loopback`):
//!
//! ```text
//! cargo run --release -p auth-demo &          # writes demo-state/, listens on :8080 and :8443
//! cargo run -p axum-jwt-oidc -- --issuer http://127.0.0.1:8080 --audience demo-api --allow-http-loopback &
//! C=demo-state/credentials.json
//! read SID SSEC < <(jq -r '.oauth_clients.service | "\(.client_id) \(.client_secret)"' $C)
//! T=$(curl -s --cacert demo-state/ca.pem -u "$SID:$SSEC" -d grant_type=client_credentials \
//!      https://127.0.0.1:8443/oauth/token | jq -r .access_token)
//!
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3000/v1/whoami       # 200
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3000/v1/admin        # 403 insufficient_scope, scope="admin"
//! curl -i http://127.0.0.1:3000/v1/whoami                                     # 401, WWW-Authenticate: Bearer realm="axum-jwt-oidc"
//! curl -i -H "Authorization: Bearer ${T}x" http://127.0.0.1:3000/v1/whoami    # 401 invalid_token
//! ```
//!
//! With a real provider: `--issuer` is its issuer identifier exactly as its
//! tokens' `iss` says it (for example `https://login.example.com/realms/x`),
//! `--audience` what its access tokens carry in `aud` for this API. Tokens
//! are expected to be RFC 9068 access tokens (`typ: at+jwt`); providers
//! whose access tokens are typed `JWT` need `--token-type JWT` (which also
//! relaxes the required claims to `iss exp sub aud`).
//!
//! The same issuer on actix-web: `examples/actix-jwt` with its guard built
//! this way; on tonic: `examples/grpc-service`.

use std::path::PathBuf;
use std::time::Duration;

use auth_core::jwt::{Issuer, JwtAuthenticator};
use auth_core::{Guard, Policy};
use auth_tower::{Auth, Claims, RequireAuthLayer, Server};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The command line.
struct Args {
    port: u16,
    issuer: Option<String>,
    audience: Option<String>,
    issuer_ca: Option<PathBuf>,
    token_type: Option<String>,
    allow_http_loopback: bool,
}

const USAGE: &str = "usage: axum-jwt-oidc --issuer URL --audience AUD [--port N] \
                     [--issuer-ca PEM] [--token-type TYP] [--allow-http-loopback]";

fn args() -> Result<Args, Error> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p.parse()?,
            Err(_) => 3000,
        },
        issuer: None,
        audience: None,
        issuer_ca: None,
        token_type: None,
        allow_http_loopback: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--allow-http-loopback" {
            args.allow_http_loopback = true;
            continue;
        }
        let value = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--port" => args.port = value.parse()?,
            "--issuer" => args.issuer = Some(value),
            "--audience" => args.audience = Some(value),
            "--issuer-ca" => args.issuer_ca = Some(value.into()),
            "--token-type" => args.token_type = Some(value),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

/// Claims the handler reads, typed (the layer has verified them).
#[derive(Deserialize)]
struct Access {
    sub: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

async fn whoami(Claims(access): Claims<Access>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "subject": access.sub,
        "client_id": access.client_id,
        "scope": access.scope,
    }))
}

async fn admin(Auth(id): Auth) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "admin": id.subject() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`, key fetches) go to stderr; stdout has the
    // ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args()?;
    let (Some(issuer_url), Some(audience)) = (args.issuer, args.audience) else {
        return Err(USAGE.into());
    };

    let mut issuer = Issuer::new(issuer_url.clone())
        .audience(audience)
        .discover();
    if args.allow_http_loopback {
        // Only `http://127.x.x.x` or `http://[::1]` URLs (the issuer, and
        // the `jwks_uri` its metadata names): anyone on a network path
        // could otherwise hand out the keys.
        issuer = issuer.allow_plain_http_loopback();
    }
    if let Some(ca) = &args.issuer_ca {
        // The issuer's TLS certificate comes from a private CA.
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca)?)?;
        issuer = issuer.http_client(reqwest::Client::builder().tls_certs_merge([ca]).build()?);
    }
    if let Some(typ) = &args.token_type {
        issuer = issuer.token_types([typ]);
    }
    // Discovery and the first key fetch start here, in the background.
    let jwt = JwtAuthenticator::builder().issuer(issuer).build()?;
    {
        let jwt = jwt.clone();
        tokio::spawn(async move {
            if !jwt.ready(Duration::from_secs(10)).await {
                tracing::warn!(issuer = %issuer_url, "no keys from the issuer yet; tokens are answered 503 until they come");
            }
        });
    }
    let guard = Guard::builder(jwt).realm("axum-jwt-oidc").build()?;

    let app = Router::new()
        .route(
            "/v1/whoami",
            get(whoami).route_layer(RequireAuthLayer::new(guard.clone())),
        )
        .route(
            "/v1/admin",
            get(admin).route_layer(RequireAuthLayer::new(guard).policy(Policy::scope("admin"))),
        )
        .route("/healthz", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Server::new()
        .serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
