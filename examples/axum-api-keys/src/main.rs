//! # axum-api-keys: scoped API keys, a rate limit per key tier
//!
//! An axum service whose `/v1` routes take API keys, in
//! `Authorization: Bearer <key>` or `X-API-Key: <key>`. Two keys are issued
//! at start into an in-memory store and printed once (only their HMACs are
//! kept): a `main`-tier key with the scopes `reports:read admin`, and a
//! `standard`-tier key with `reports:read`. Each tier has its own quota,
//! per key: 60 requests a minute for `main`, 5 for `standard`.
//!
//! ```text
//! cargo run -p axum-api-keys                 # or: -- --port 3001, or PORT=3001
//! # It prints MAIN_KEY=… and STANDARD_KEY=…; in another shell:
//! export MAIN_KEY=ask_test_… STANDARD_KEY=ask_test_…
//!
//! curl -i -H "X-API-Key: $MAIN_KEY" http://127.0.0.1:3000/v1/reports             # 200
//! curl -i -H "Authorization: Bearer $MAIN_KEY" http://127.0.0.1:3000/v1/admin    # 200
//! curl -i -H "X-API-Key: $STANDARD_KEY" http://127.0.0.1:3000/v1/admin           # 403 insufficient_scope, scope="admin"
//! curl -i http://127.0.0.1:3000/v1/reports                                       # 401, WWW-Authenticate: Bearer
//! curl -i -H "X-API-Key: ask_test_nope" http://127.0.0.1:3000/v1/reports         # 401, WWW-Authenticate: ApiKey …, header="X-API-Key"
//! for i in 1 2 3 4 5 6; do
//!   curl -s -o /dev/null -D - -H "X-API-Key: $STANDARD_KEY" http://127.0.0.1:3000/v1/reports \
//!     | grep -iE '^(HTTP|ratelimit|retry-after)'
//! done
//! # ratelimit-policy: "standard";q=5;w=60 and a ratelimit field counting down;
//! # once the 5 are used: HTTP/1.1 429 with retry-after. The main key is not affected.
//! ```
//!
//! What to copy:
//! - [`ApiKeys`] issues keys (`ask_test_…`, self-identifying, checksummed)
//!   and keeps only their hashes; [`ApiKeyAuthenticator`] checks them. For
//!   keys that outlive the process, give [`ApiKeys::new`] a
//!   `FileKeyStore` (or Redis, feature `redis`) and a [`Pepper`] kept
//!   outside it.
//! - The tier is the identity's role (`api_key:main`, `api_key:standard`),
//!   so [`RateLimiter::builder`]'s `role_quota` gives each tier a quota;
//!   each key is its own partition. Every answer carries `RateLimit-Policy`
//!   and `RateLimit`; a refusal is `429` with `Retry-After`.
//! - Scopes per route: `RequireAuthLayer::policy` with [`Policy::scope`]
//!   (`403` with `WWW-Authenticate: Bearer error="insufficient_scope"`).
//!
//! The same keys on a gRPC service, with gRPC statuses for refusals:
//! `examples/grpc-service`.

use std::time::Duration;

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, KeyTier, NewKey, Pepper};
use auth_core::rate_limit::{Quota, RateLimiter};
use auth_core::{Guard, Policy};
use auth_tower::{Auth, RequireAuthLayer, Server};
use axum::routing::get;
use axum::{Json, Router};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The port from `--port N`, else `PORT`, else 3000.
fn port() -> Result<u16, Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => match std::env::var("PORT") {
            Ok(p) => Ok(p.parse()?),
            Err(_) => Ok(3000),
        },
        [flag, value] if flag == "--port" => Ok(value.parse()?),
        _ => Err("usage: axum-api-keys [--port N]".into()),
    }
}

/// Who called, as the layer saw them.
async fn whoami(Auth(id): Auth) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "subject": id.subject(),
        "method": id.method().as_str(),
        "key_id": id.key_id(),
        "roles": id.roles().collect::<Vec<_>>(),
        "scopes": id.scopes().collect::<Vec<_>>(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`) go to stderr; stdout has the keys and the
    // ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port = port()?;

    // Issued at start, printed once: the store keeps only their HMACs
    // (keyed by the pepper), so they cannot be shown again.
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (main_key, _) = keys
        .issue(
            NewKey::new("acme-main", Environment::Test)
                .tier(KeyTier::Main)
                .scopes(["reports:read", "admin"]),
        )
        .await?;
    let (standard_key, _) = keys
        .issue(
            NewKey::new("acme-standard", Environment::Test)
                .tier(KeyTier::Standard)
                .scopes(["reports:read"]),
        )
        .await?;
    println!("MAIN_KEY={}", main_key.expose());
    println!("STANDARD_KEY={}", standard_key.expose());

    // A quota per tier; each key is counted on its own.
    let minute = Duration::from_secs(60);
    let limiter = RateLimiter::builder()
        .role_quota(KeyTier::Main.role(), Quota::new("main", 60, minute)?)
        .role_quota(KeyTier::Standard.role(), Quota::new("standard", 5, minute)?)
        .build();
    let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
        .realm("axum-api-keys")
        .build()?
        .with_limit(limiter);

    let app = Router::new()
        .route(
            "/v1/reports",
            get(whoami).route_layer(
                RequireAuthLayer::new(guard.clone()).policy(Policy::scope("reports:read")),
            ),
        )
        .route(
            "/v1/admin",
            get(whoami).route_layer(RequireAuthLayer::new(guard).policy(Policy::scope("admin"))),
        )
        .route("/healthz", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // auth-tower's server loop: timeouts, a connection cap, a graceful
    // drain, and the peer address for the layer.
    Server::new()
        .serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
