//! # oauth-client: calling a protected API with client-credentials tokens
//!
//! A service that calls another service's API as itself: its outgoing
//! requests carry an OAuth 2.0 access token from the client-credentials
//! grant ([`ClientCredentials`]), put on each request by auth-tower's
//! [`AddCredentialLayer`] around hyper-util's client. The token is fetched
//! once and shared, refreshed ahead of expiry in the background, and after
//! a `401` (a revoked or rotated-away token) dropped and fetched again, the
//! request retried once.
//!
//! It answers `GET /upstream/<path>` by calling `GET <api>/<path>` and
//! relaying the answer (status, `WWW-Authenticate`, body), so the API's
//! refusals are visible. The client id and secret come from the
//! environment (`CLIENT_ID`, `CLIENT_SECRET`), never the command line.
//!
//! ```text
//! CLIENT_ID=… CLIENT_SECRET=… cargo run -p oauth-client -- \
//!     --token-url https://as.example/oauth/token --api http://reports.internal:8080 \
//!     [--scope reports:read] [--port 8090] [--token-ca ca.pem] [--allow-http-loopback]
//! ```
//!
//! Try it with the repository's demo as both the authorization server and
//! the protected API (its `service` client, its JWT-accepting routes on
//! `http://127.0.0.1:8080`):
//!
//! ```text
//! cargo run --release -p auth-demo &          # writes demo-state/, listens on :8080 and :8443
//! C=demo-state/credentials.json
//! export CLIENT_ID=$(jq -r .oauth_clients.service.client_id $C) CLIENT_SECRET=$(jq -r .oauth_clients.service.client_secret $C)
//! cargo run -p oauth-client -- --token-url https://127.0.0.1:8443/oauth/token \
//!     --token-ca demo-state/ca.pem --api http://127.0.0.1:8080 --scope reports:read &
//!
//! curl -i http://127.0.0.1:8090/upstream/v1/reports    # 200: the demo saw a JWT for demo-service
//! curl -i http://127.0.0.1:8090/upstream/v1/admin      # 403 from the API, WWW-Authenticate: Bearer …, error="insufficient_scope", scope="admin"
//! curl -i http://127.0.0.1:8080/v1/reports             # 401: the API itself, without a token
//! ```
//!
//! If the token endpoint refuses the client (a wrong secret: `invalid_client`)
//! or cannot be reached, nothing is sent to the API and this service
//! answers `502` saying why.
//!
//! This service forwards with *its own* identity, so whoever can reach it
//! acts with that identity: it listens on 127.0.0.1 only. In a real
//! service, authenticate the caller (`RequireAuthLayer`) and make only the
//! calls it needs. The API here is plain HTTP (hyper-util's
//! `HttpConnector`); for `https`, use a TLS connector (hyper-rustls's) in
//! its place, or reqwest with the few lines in `auth_core::outbound`'s
//! "With reqwest" section. For the receiving side, see
//! `examples/axum-jwt-oidc`; tonic clients take the same layer.

use std::path::PathBuf;
use std::sync::Arc;

use auth_core::Secret;
use auth_core::outbound::ClientCredentials;
use auth_tower::outbound::{AddCredential, AddCredentialError, AddCredentialLayer};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer as _, ServiceExt as _};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The outgoing client: hyper-util's, with a token on every request.
type Upstream = AddCredential<Client<HttpConnector, Empty<Bytes>>>;

/// The largest upstream answer relayed.
const MAX_BODY: usize = 1 << 20;

/// The command line.
struct Args {
    port: u16,
    token_url: Option<String>,
    api: Option<String>,
    scope: Option<String>,
    token_ca: Option<PathBuf>,
    allow_http_loopback: bool,
}

const USAGE: &str = "usage: CLIENT_ID=… CLIENT_SECRET=… oauth-client --token-url URL --api URL \
                     [--scope SCOPE] [--port N] [--token-ca PEM] [--allow-http-loopback]";

fn args() -> Result<Args, Error> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p.parse()?,
            Err(_) => 8090,
        },
        token_url: None,
        api: None,
        scope: None,
        token_ca: None,
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
            "--token-url" => args.token_url = Some(value),
            "--api" => args.api = Some(value),
            "--scope" => args.scope = Some(value),
            "--token-ca" => args.token_ca = Some(value.into()),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

#[derive(Clone)]
struct AppState {
    upstream: Upstream,
    api: Arc<str>,
}

/// `GET /upstream/<path>`: `GET <api>/<path>` with this service's token;
/// the answer relayed.
async fn forward(State(st): State<AppState>, Path(path): Path<String>, uri: Uri) -> Response {
    let mut url = format!("{}/{path}", st.api);
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let Ok(req) = http::Request::get(url).body(Empty::<Bytes>::new()) else {
        return (StatusCode::BAD_REQUEST, "not a path").into_response();
    };
    match st.upstream.oneshot(req).await {
        Ok(res) => relay(res).await,
        // No token could be had: nothing was sent to the API.
        Err(AddCredentialError::Credential(e)) => {
            tracing::warn!(error = %e, "no token for the upstream call");
            let body = serde_json::json!({
                "error": "no_token",
                "detail": e.to_string(),
                "oauth_error": e.oauth_error(),
            });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
        Err(AddCredentialError::Service(e)) => {
            tracing::warn!(error = %e, "the upstream call failed");
            let body = serde_json::json!({ "error": "upstream_unreachable" });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
    }
}

/// The API's answer, passed on: its status, the headers a caller needs to
/// read a refusal, and its body (up to [`MAX_BODY`]).
async fn relay(res: http::Response<hyper::body::Incoming>) -> Response {
    let (parts, body) = res.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return (
            StatusCode::BAD_GATEWAY,
            "the upstream answer is too large or broken",
        )
            .into_response();
    };
    let mut out = Response::new(axum::body::Body::from(body.to_bytes()));
    *out.status_mut() = parts.status;
    for name in ["content-type", "www-authenticate", "retry-after"] {
        for value in parts.headers.get_all(name) {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs go to stderr; stdout has the ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args()?;
    let (Some(token_url), Some(api)) = (args.token_url, args.api) else {
        return Err(USAGE.into());
    };
    if !api.starts_with("http://") {
        return Err("--api must be http:// here (see the crate docs for https)".into());
    }
    let client_id = std::env::var("CLIENT_ID").map_err(|_| "CLIENT_ID is not set")?;
    let client_secret =
        Secret::from(std::env::var("CLIENT_SECRET").map_err(|_| "CLIENT_SECRET is not set")?);

    let mut tokens = ClientCredentials::builder(token_url, client_id, client_secret);
    if let Some(scope) = args.scope {
        tokens = tokens.scope(scope);
    }
    if args.allow_http_loopback {
        // A token endpoint on `http://127.x.x.x` only (a sidecar, a test):
        // the client secret crosses no network in the clear.
        tokens = tokens.allow_plain_http_loopback();
    }
    if let Some(ca) = &args.token_ca {
        // The token endpoint's certificate comes from a private CA.
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca)?)?;
        tokens = tokens.http_client(reqwest::Client::builder().tls_certs_merge([ca]).build()?);
    }
    let upstream = AddCredentialLayer::new(tokens.build()?)
        .layer(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());

    let app = Router::new()
        .route("/upstream/{*path}", get(forward))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState {
            upstream,
            api: Arc::from(api.trim_end_matches('/')),
        });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    auth_tower::Server::new()
        .serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
