//! `AddCredentialLayer` over hyper-util's client, against a real token
//! endpoint: auth-tower's own OAuth router serving an
//! `AuthorizationServer` (ES256 JWT access tokens, client_secret_basic) on
//! 127.0.0.1, and a protected API beside it (`RequireAuthLayer` with a
//! `JwtAuthenticator` that trusts the server's key and shares its
//! revocations). Both count what they see, and every count is asserted
//! exactly: one token fetch for 100 concurrent requests; a token revoked
//! mid-flight refreshed once, the request then succeeding (its body sent
//! again); a body that cannot be replayed getting the 401; the token
//! endpoint's refusals failing requests before anything is sent; refresh
//! ahead of expiry without a single 401; and `poll_ready` honoured for the
//! retry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use auth_core::basic::hash_password;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
use auth_core::oauth::server::AuthorizationServer;
use auth_core::outbound::{
    ClientCredentials, ClientCredentialsBuilder, OutboundErrorKind, SecretFrom, StaticSource,
    TokenSource,
};
use auth_core::store::MemoryRevocations;
use auth_core::{Guard, Secret};
use auth_tower::outbound::{AddCredentialError, AddCredentialLayer};
use auth_tower::{Auth, RequireAuthLayer};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey};
use tower::{Service, ServiceBuilder, ServiceExt};

const ISSUER: &str = "https://as.test";
const AUDIENCE: &str = "https://api.test";
const CLIENT: &str = "reports-job";
const SECRET: &str = "its-client-secret";

/// The token endpoint and the API, on 127.0.0.1, with their counters.
struct Stack {
    as_addr: SocketAddr,
    api_addr: SocketAddr,
    /// Requests the token endpoint received.
    token_hits: Arc<AtomicUsize>,
    /// The status of every API answer, in order.
    api_statuses: Arc<Mutex<Vec<u16>>>,
}

impl Stack {
    fn token_hits(&self) -> usize {
        self.token_hits.load(Ordering::SeqCst)
    }

    fn api_count(&self, status: u16) -> usize {
        let all = self.api_statuses.lock().unwrap();
        all.iter().filter(|s| **s == status).count()
    }

    fn api_total(&self) -> usize {
        self.api_statuses.lock().unwrap().len()
    }

    fn tokens(&self) -> ClientCredentialsBuilder {
        ClientCredentials::builder(
            format!("http://{}/oauth/token", self.as_addr),
            CLIENT,
            Secret::from(SECRET),
        )
        .allow_plain_http_loopback()
        .scope("reports:read")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api_addr)
    }

    /// Revokes `token` at the authorization server (RFC 7009), as the
    /// client it was issued to.
    async fn revoke(&self, token: &auth_core::outbound::CredentialHeader) {
        let value = token.value().expose_str().unwrap();
        let token = value.strip_prefix("Bearer ").unwrap();
        let res = reqwest::Client::new()
            .post(format!("http://{}/oauth/revoke", self.as_addr))
            .basic_auth(CLIENT, Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            // A JWT is form-safe as it is.
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

async fn count_token_requests(
    State(hits): State<Arc<AtomicUsize>>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == "/oauth/token" {
        hits.fetch_add(1, Ordering::SeqCst);
        // Give concurrent requests time to pile up behind the fetch.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    next.run(req).await
}

async fn record_status(
    State(statuses): State<Arc<Mutex<Vec<u16>>>>,
    req: Request,
    next: Next,
) -> Response {
    let res = next.run(req).await;
    statuses.lock().unwrap().push(res.status().as_u16());
    res
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn start(access_token_ttl: Duration) -> Stack {
    let revocations = Arc::new(MemoryRevocations::new());
    let key = rcgen::KeyPair::generate().unwrap();
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential(CLIENT, hash_password(SECRET).unwrap())
                .grants([GrantType::ClientCredentials])
                .scopes(["reports:read"]),
        )
        // Plain HTTP on loopback, for the test.
        .insecure_allow_plaintext()
        .build()
        .unwrap();
    let server = AuthorizationServer::builder(ISSUER, registry)
        .audience(AUDIENCE)
        .signing_key(
            EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            Algorithm::ES256,
            "k1",
        )
        .access_token_ttl(access_token_ttl)
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let token_hits = Arc::new(AtomicUsize::new(0));
    let as_addr = serve(
        auth_tower::oauth::router(server)
            .layer(from_fn_with_state(token_hits.clone(), count_token_requests)),
    )
    .await;

    let jwt = JwtAuthenticator::builder()
        .revocations(revocations)
        .issuer(
            Issuer::new(ISSUER).audience(AUDIENCE).key(
                JwtKey::from_pem(key.public_key_pem().as_bytes(), Algorithm::ES256)
                    .unwrap()
                    .with_kid("k1"),
            ),
        )
        .build()
        .unwrap();
    let guard = Guard::builder(jwt).build().unwrap();
    let api_statuses = Arc::new(Mutex::new(Vec::new()));
    let api =
        Router::new()
            .route(
                "/reports",
                get(|Auth(id): Auth| async move { id.subject().to_owned() }).post(
                    |Auth(id): Auth, body: String| async move {
                        format!("{} sent {body}", id.subject())
                    },
                ),
            )
            .layer(RequireAuthLayer::new(guard))
            .layer(from_fn_with_state(api_statuses.clone(), record_status));
    let api_addr = serve(api).await;
    Stack {
        as_addr,
        api_addr,
        token_hits,
        api_statuses,
    }
}

type Full8 = Full<Bytes>;

fn client<B>(source: impl TokenSource) -> auth_tower::AddCredential<HttpClient<HttpConnector, B>>
where
    B: http_body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ServiceBuilder::new()
        .layer(AddCredentialLayer::new(source))
        .service(HttpClient::builder(TokioExecutor::new()).build_http::<B>())
}

/// Status and body text of an answer.
async fn answer<B>(res: http::Response<B>) -> (u16, String)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn get_req(stack: &Stack) -> http::Request<Full8> {
    http::Request::get(stack.url("/reports"))
        .body(Full::default())
        .unwrap()
}

fn post_req(stack: &Stack, body: &'static str) -> http::Request<Full8> {
    http::Request::post(stack.url("/reports"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_share_one_token_fetch() {
    let stack = start(Duration::from_secs(900)).await;
    let tokens = stack.tokens().build().unwrap();
    let svc = client::<Full8>(tokens.clone());
    let requests: Vec<_> = (0..100)
        .map(|_| tokio::spawn(svc.clone().oneshot(get_req(&stack))))
        .collect();
    for r in requests {
        let (status, body) = answer(r.await.unwrap().unwrap()).await;
        assert_eq!((status, body.as_str()), (200, CLIENT));
    }
    assert_eq!(stack.token_hits(), 1);
    assert_eq!(tokens.fetch_count(), 1);
    assert_eq!((stack.api_count(200), stack.api_total()), (100, 100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refreshed_once_and_the_request_succeeds() {
    let stack = start(Duration::from_secs(900)).await;
    let tokens = stack.tokens().build().unwrap();
    let svc = client::<Full8>(tokens.clone());
    let (status, _) = answer(svc.clone().oneshot(get_req(&stack)).await.unwrap()).await;
    assert_eq!((status, stack.token_hits()), (200, 1));

    let revoked = tokens.credential().await.unwrap();
    stack.revoke(&revoked).await;
    // A POST: its body is in memory, so it is sent again, whole.
    let res = svc
        .clone()
        .oneshot(post_req(&stack, "payload-1"))
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, body.as_str()), (200, "reports-job sent payload-1"));
    assert_eq!(stack.token_hits(), 2);
    assert_eq!(tokens.fetch_count(), 2);
    // The API saw the revoked token once (401), then the fresh one.
    assert_eq!(*stack.api_statuses.lock().unwrap(), [200, 401, 200]);
    assert_ne!(tokens.credential().await.unwrap(), revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_while_many_requests_run_is_refreshed_once() {
    let stack = Arc::new(start(Duration::from_secs(900)).await);
    let tokens = stack.tokens().build().unwrap();
    let svc = client::<Full8>(tokens.clone());
    let first = tokens.credential().await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Twenty callers, each sending one request after another until told.
    let workers: Vec<_> = (0..20)
        .map(|_| {
            let (svc, stack, stop) = (svc.clone(), stack.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let res = svc.clone().oneshot(post_req(&stack, "x")).await.unwrap();
                    assert_eq!(answer(res).await.0, 200);
                }
            })
        })
        .collect();
    let succeeded = |n: usize| {
        let stack = stack.clone();
        async move {
            for _ in 0..1000 {
                if stack.api_count(200) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("fewer than {n} requests went through");
        }
    };
    succeeded(50).await;
    stack.revoke(&first).await;
    let after = stack.api_count(200);
    succeeded(after + 100).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    // Every request succeeded (the workers checked); the revoked token
    // cost exactly one fetch, however many requests were refused with it
    // (at most one per caller: the one in flight when it was revoked, or
    // the next).
    assert_eq!(stack.token_hits(), 2);
    assert_eq!(tokens.fetch_count(), 2);
    let refused = stack.api_count(401);
    assert!((1..=20).contains(&refused), "{refused} refusals");
    assert_eq!(stack.api_total(), stack.api_count(200) + refused);
    assert_ne!(tokens.credential().await.unwrap(), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_cannot_be_replayed_gets_the_401() {
    let stack = start(Duration::from_secs(900)).await;
    // No cooldown between refusals: this test revokes twice in a row.
    let tokens = stack
        .tokens()
        .invalidation_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let svc = client::<BoxBody<Bytes, Infallible>>(tokens.clone());
    let empty_get = || {
        http::Request::get(stack.url("/reports"))
            .body(BoxBody::new(Empty::new()))
            .unwrap()
    };
    let (status, _) = answer(svc.clone().oneshot(empty_get()).await.unwrap()).await;
    assert_eq!(status, 200);

    stack.revoke(&tokens.credential().await.unwrap()).await;
    // A boxed body with content: a stream, as far as the layer knows.
    let streamed = http::Request::post(stack.url("/reports"))
        .body(BoxBody::new(Full::new(Bytes::from_static(b"once"))))
        .unwrap();
    let (status, _) = answer(svc.clone().oneshot(streamed).await.unwrap()).await;
    assert_eq!(status, 401);
    // Not sent again, and no token fetched for a retry...
    assert_eq!(*stack.api_statuses.lock().unwrap(), [200, 401]);
    assert_eq!(stack.token_hits(), 1);
    // ...but the refused token was dropped: the next request has a fresh one.
    let (status, _) = answer(svc.clone().oneshot(empty_get()).await.unwrap()).await;
    assert_eq!((status, stack.token_hits()), (200, 2));

    // A boxed body known to be empty (a GET's) is replayed.
    stack.revoke(&tokens.credential().await.unwrap()).await;
    let (status, _) = answer(svc.clone().oneshot(empty_get()).await.unwrap()).await;
    assert_eq!((status, stack.token_hits()), (200, 3));
    assert_eq!(
        *stack.api_statuses.lock().unwrap(),
        [200, 401, 200, 401, 200]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_refusals_fail_the_request_before_it_is_sent() {
    let stack = start(Duration::from_secs(900)).await;
    // An endpoint that answers badly, beside the real one.
    let bad = serve(
        Router::new()
            .route(
                "/500",
                post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
            )
            .route("/garbage", post(|| async { "<html>not a token</html>" }))
            .route(
                "/huge",
                post(|| async {
                    format!(
                        r#"{{"access_token":"t","token_type":"Bearer","x":"{}"}}"#,
                        "a".repeat(200_000)
                    )
                }),
            ),
    )
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let at = |url: String| {
        ClientCredentials::builder(url, CLIENT, Secret::from(SECRET)).allow_plain_http_loopback()
    };
    let cases = [
        (
            ClientCredentials::builder(
                format!("http://{}/oauth/token", stack.as_addr),
                CLIENT,
                Secret::from("a-wrong-secret"),
            )
            .allow_plain_http_loopback(),
            OutboundErrorKind::Refused { status: 401 },
            Some("invalid_client"),
        ),
        (
            stack.tokens().scope("admin"),
            OutboundErrorKind::Refused { status: 400 },
            Some("invalid_scope"),
        ),
        (
            at(format!("http://{bad}/500")),
            OutboundErrorKind::Refused { status: 500 },
            None,
        ),
        (
            at(format!("http://{bad}/garbage")),
            OutboundErrorKind::BadResponse,
            None,
        ),
        (
            at(format!("http://{bad}/huge")),
            OutboundErrorKind::BadResponse,
            None,
        ),
        (
            at(format!("http://{closed}/oauth/token")),
            OutboundErrorKind::Unreachable,
            None,
        ),
    ];
    for (builder, kind, code) in cases {
        let svc = client::<Full8>(builder.build().unwrap());
        let err = svc.oneshot(post_req(&stack, "x")).await.unwrap_err();
        let AddCredentialError::Credential(e) = &err else {
            panic!("not a credential error: {err:?}");
        };
        assert_eq!((e.kind(), e.oauth_error()), (kind, code), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("a-wrong-secret"),
            "{shown}"
        );
    }
    // The API never saw a request without a credential.
    assert_eq!(stack.api_total(), 0);
    assert_eq!(stack.token_hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_ahead_of_expiry_without_a_401() {
    // Three-second tokens: the refresh starts when 1.5 s (half the
    // lifetime, capping the 30 s margin) plus up to 0.75 s is left.
    let stack = start(Duration::from_secs(3)).await;
    let tokens = stack.tokens().build().unwrap();
    let svc = client::<Full8>(tokens.clone());
    let (status, _) = answer(svc.clone().oneshot(get_req(&stack)).await.unwrap()).await;
    assert_eq!(status, 200);
    let first = tokens.credential().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // Still good: sent at once, and the refresh starts behind it.
    let (status, _) = answer(svc.clone().oneshot(get_req(&stack)).await.unwrap()).await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        if stack.token_hits() == 2 && tokens.credential().await.unwrap() != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(tokens.credential().await.unwrap(), first);
    let (status, _) = answer(svc.clone().oneshot(get_req(&stack)).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(stack.token_hits(), 2);
    assert_eq!(*stack.api_statuses.lock().unwrap(), [200, 200, 200]);
}

#[tokio::test]
async fn an_unchanged_static_credential_is_not_retried() {
    let stack = start(Duration::from_secs(900)).await;
    let source = StaticSource::bearer(SecretFrom::Value(Secret::from("not-a-jwt"))).unwrap();
    let svc = client::<Full8>(source);
    let (status, _) = answer(svc.oneshot(post_req(&stack, "x")).await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(*stack.api_statuses.lock().unwrap(), [401]);
}

/// A client that may be called only after `poll_ready` said yes, once per
/// yes; a clone starts not ready. It answers 401 to the first request and
/// 200 to the rest.
struct ReadyOnce {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Clone for ReadyOnce {
    fn clone(&self) -> Self {
        Self {
            ready: false,
            calls: self.calls.clone(),
        }
    }
}

impl Service<http::Request<Full8>> for ReadyOnce {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Full8>) -> Self::Future {
        assert!(std::mem::take(&mut self.ready), "called without poll_ready");
        assert!(req.headers()["authorization"].is_sensitive());
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let status = if n == 0 { 401 } else { 200 };
        std::future::ready(Ok(http::Response::builder()
            .status(status)
            .body(String::new())
            .unwrap()))
    }
}

#[tokio::test]
async fn the_retry_is_sent_through_a_service_made_ready() {
    let stack = start(Duration::from_secs(900)).await;
    let tokens = stack.tokens().build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(AddCredentialLayer::new(tokens.clone()))
        .service(ReadyOnce {
            ready: false,
            calls: calls.clone(),
        });
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(post_req(&stack, "x"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!((calls.load(Ordering::SeqCst), tokens.fetch_count()), (2, 2));
}
