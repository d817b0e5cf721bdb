//! The example binary between a real token endpoint (auth-tower's OAuth
//! router serving an `AuthorizationServer`) and a protected API
//! (`RequireAuthLayer` with a `JwtAuthenticator` trusting its key), both on
//! 127.0.0.1 and counting what they see.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auth_core::basic::hash_password;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
use auth_core::oauth::server::AuthorizationServer;
use auth_core::{Guard, Policy};
use auth_tower::{Auth, RequireAuthLayer};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use harness::{Running, es256_key, header};
use jsonwebtoken::Algorithm;

const ISSUER: &str = "https://as.test";
const AUDIENCE: &str = "https://api.test";
const CLIENT: &str = "reports-job";
const SECRET: &str = "its-client-secret";

/// The token endpoint and the API, and how many requests each received.
struct Stack {
    as_addr: SocketAddr,
    api_addr: SocketAddr,
    token_hits: Arc<AtomicUsize>,
    api_hits: Arc<AtomicUsize>,
}

async fn count(State(hits): State<Arc<AtomicUsize>>, req: Request, next: Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn stack() -> Stack {
    let (signing_key, public_pem) = es256_key();
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential(CLIENT, hash_password(SECRET).unwrap())
                .grants([GrantType::ClientCredentials])
                .scopes(["reports:read"]),
        )
        // Plain HTTP on loopback, for the test: client secrets otherwise
        // travel over TLS only.
        .insecure_allow_plaintext()
        .build()
        .unwrap();
    let server = AuthorizationServer::builder(ISSUER, registry)
        .audience(AUDIENCE)
        .signing_key(signing_key, Algorithm::ES256, "k1")
        .build()
        .unwrap();
    let token_hits = Arc::new(AtomicUsize::new(0));
    let as_addr = serve(
        auth_tower::oauth::router(server).layer(from_fn_with_state(token_hits.clone(), count)),
    )
    .await;

    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new(ISSUER).audience(AUDIENCE).key(
                JwtKey::from_pem(public_pem.as_bytes(), Algorithm::ES256)
                    .unwrap()
                    .with_kid("k1"),
            ),
        )
        .build()
        .unwrap();
    let guard = Guard::builder(jwt).realm("api").build().unwrap();
    let whoami = |Auth(id): Auth| async move { id.subject().to_owned() };
    let api_hits = Arc::new(AtomicUsize::new(0));
    let api = Router::new()
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
        .layer(from_fn_with_state(api_hits.clone(), count));
    let api_addr = serve(api).await;
    Stack {
        as_addr,
        api_addr,
        token_hits,
        api_hits,
    }
}

fn run_against(stack: &Stack, secret: &str) -> Running {
    harness::start(
        env!("CARGO_BIN_EXE_oauth-client"),
        &[
            "--token-url",
            &format!("http://{}/oauth/token", stack.as_addr),
            "--api",
            &format!("http://{}", stack.api_addr),
            "--scope",
            "reports:read",
            "--allow-http-loopback",
        ],
        &[("CLIENT_ID", CLIENT), ("CLIENT_SECRET", secret)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_a_shared_client_credentials_token() {
    let stack = stack().await;
    let run = run_against(&stack, SECRET);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(run.url(path)).send();

    // Allowed: the API saw a token for our client.
    for _ in 0..5 {
        let res = get("/upstream/v1/reports").await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), CLIENT);
    }
    // One token for all of them.
    assert_eq!(stack.token_hits.load(Ordering::SeqCst), 1);
    assert_eq!(stack.api_hits.load(Ordering::SeqCst), 5);

    // Refused by the API (the token lacks `admin`): its answer relayed,
    // challenge included; a 403 is not retried.
    let res = get("/upstream/v1/admin").await.unwrap();
    assert_eq!(res.status(), 403);
    let challenge = header(&res, "www-authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\", scope=\"admin\""),
        "{challenge}"
    );
    assert_eq!(stack.api_hits.load(Ordering::SeqCst), 6);
    assert_eq!(stack.token_hits.load(Ordering::SeqCst), 1);

    // The API itself, called without a token: 401 with its challenge.
    let res = http
        .get(format!("http://{}/v1/reports", stack.api_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "www-authenticate"), "Bearer realm=\"api\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_sends_nothing_to_the_api() {
    let stack = stack().await;
    let run = run_against(&stack, "not-the-secret");
    let res = reqwest::get(format!("{}/upstream/v1/reports", run.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "no_token");
    assert_eq!(body["oauth_error"], "invalid_client");
    // The secret is not in what the caller sees.
    assert!(!body.to_string().contains("not-the-secret"));
    assert!(stack.token_hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(stack.api_hits.load(Ordering::SeqCst), 0);
}
