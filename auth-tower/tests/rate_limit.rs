//! The rate-limit layer's plumbing: poll_ready, gRPC refusals, rendering by
//! the guard that let the request through, stores that cannot answer, and
//! a layer put where it sees no caller. The limit edge cases themselves run
//! on both adapters in the conformance suite (`tests/tests/rate_limit.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::rate_limit::{Quota, RateLimiter};
use auth_core::store::MemoryRateLimits;
use auth_core::{Guard, Identity, Rendered};
use auth_tower::{ConnectionInfo, RateLimitLayer, RequireAuthLayer};
use axum::body::Body;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

const HOUR: Duration = Duration::from_secs(3600);

async fn guard_and_keys() -> (Guard, String, String) {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (a, _) = keys
        .issue(NewKey::new("acme", Environment::Test))
        .await
        .unwrap();
    let (b, _) = keys
        .issue(NewKey::new("globex", Environment::Test))
        .await
        .unwrap();
    let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
        .realm("t")
        .build()
        .unwrap();
    (guard, a.expose().to_owned(), b.expose().to_owned())
}

fn limiter(limit: u32) -> RateLimiter {
    RateLimiter::builder()
        .default_quota(Quota::new("api", limit, HOUR).unwrap())
        .anonymous_quota(Quota::new("anon", limit, HOUR).unwrap())
        .build()
}

/// A service that is ready exactly once per `poll_ready`, counting calls.
#[derive(Clone)]
struct ReadyOnce {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Service<Request<Body>> for ReadyOnce {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        assert!(self.ready, "called without poll_ready");
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let who = req
            .extensions()
            .get::<Identity>()
            .map(|i| i.subject().to_owned())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(Body::from(who))))
    }
}

fn get(key: Option<&str>) -> Request<Body> {
    let mut req = Request::get("/r");
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.body(Body::empty()).unwrap()
}

fn grpc(key: &str) -> Request<Body> {
    Request::post("/reports.v1.Reports/WhoAmI")
        .header("x-api-key", key)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::empty())
        .unwrap()
}

/// Status, the headers that matter, body.
async fn parts<B>(res: Response<B>) -> (StatusCode, HeaderMap, Vec<u8>)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (p, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (p.status, p.headers, bytes)
}

#[tokio::test]
async fn the_service_polled_ready_is_the_one_called_and_a_refusal_calls_nothing() {
    let (guard, key, _) = guard_and_keys().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(guard))
        .layer(RateLimitLayer::new(limiter(3)))
        .service(ReadyOnce {
            ready: false,
            calls: calls.clone(),
        });
    for left in ["2", "1", "0"] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(get(Some(&key)))
            .await
            .unwrap();
        let (status, headers, body) = parts(res).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"acme", "the identity reached the service");
        let field = headers["ratelimit"].to_str().unwrap();
        assert!(field.starts_with(&format!("\"api\";r={left};")), "{field}");
    }
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(get(Some(&key)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the refusal never reached it"
    );
}

#[tokio::test]
async fn grpc_requests_are_refused_with_resource_exhausted_and_the_fields() {
    let (guard, key, _) = guard_and_keys().await;
    let svc = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(guard))
        .layer(RateLimitLayer::new(limiter(1)))
        .service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
    let ok = svc.clone().oneshot(grpc(&key)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.headers().get("grpc-status").is_none(),
        "the service's own answer"
    );
    assert_eq!(ok.headers()["ratelimit-policy"], "\"api\";q=1;w=3600");

    let (status, headers, body) = parts(svc.oneshot(grpc(&key)).await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "gRPC refusals are trailers-only 200s"
    );
    assert_eq!(headers["grpc-status"], "8", "RESOURCE_EXHAUSTED");
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(headers.get_all("content-type").iter().count(), 1);
    assert_eq!(headers["retry-after"], "3600");
    assert_eq!(headers["ratelimit-policy"], "\"api\";q=1;w=3600");
    assert!(
        headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"api\";r=0;t=3600;pk=:")
    );
    assert!(headers.get("grpc-message").is_some());
    assert!(body.is_empty());
}

/// The second request's refusal: the headers that matter and the body.
async fn second_refused<S, B>(svc: S, key: &str) -> (Vec<http::HeaderValue>, Vec<u8>)
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    svc.clone().oneshot(get(Some(key))).await.unwrap();
    let (status, headers, body) = parts(svc.oneshot(get(Some(key))).await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, b"refused: 429");
    let keep = [
        "retry-after",
        "content-type",
        "cache-control",
        "ratelimit-policy",
        "ratelimit",
    ];
    (keep.iter().map(|h| headers[*h].clone()).collect(), body)
}

#[tokio::test]
async fn refusals_are_rendered_by_the_guard_that_let_the_request_through() {
    let render = |r: &auth_core::Rejection, _: &dyn auth_core::RequestHead| {
        Some(Rendered {
            content_type: "text/plain; charset=utf-8".to_owned(),
            body: format!("refused: {}", r.status()).into_bytes(),
        })
    };
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (k2, _) = keys
        .issue(NewKey::new("acme", Environment::Test))
        .await
        .unwrap();
    let rendered = Guard::builder(ApiKeyAuthenticator::new(keys))
        .render_rejections(render)
        .build()
        .unwrap();
    let handler = |_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) };

    // Through the layer and through the guard's own limits stage, the same
    // refusal.
    let layered = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(rendered.clone()))
        .layer(RateLimitLayer::new(limiter(1)))
        .service_fn(handler);
    let in_guard = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(rendered.with_limit(limiter(1))))
        .service_fn(handler);
    let a = second_refused(layered, k2.expose()).await;
    let b = second_refused(in_guard, k2.expose()).await;
    assert_eq!(a, b);

    // Without an auth layer, the default problem body.
    let bare = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter(1)))
        .service_fn(handler);
    bare.clone().oneshot(get(None)).await.unwrap();
    let (status, headers, body) = parts(bare.oneshot(get(None)).await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 429);
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_a_503_unless_failing_open() {
    let (guard, a, b) = guard_and_keys().await;
    // Room for one partition: the second caller finds the store full.
    let full = |fail_open: bool| {
        RateLimiter::builder()
            .default_quota(Quota::new("api", 5, HOUR).unwrap())
            .store(Arc::new(MemoryRateLimits::new(1)))
            .fail_open(fail_open)
            .build()
    };
    for fail_open in [false, true] {
        let svc = ServiceBuilder::new()
            .layer(RequireAuthLayer::new(guard.clone()))
            .layer(RateLimitLayer::new(full(fail_open)))
            .service_fn(|_req: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(Body::empty()))
            });
        assert_eq!(
            svc.clone().oneshot(get(Some(&a))).await.unwrap().status(),
            200
        );
        let res = svc.oneshot(get(Some(&b))).await.unwrap();
        if fail_open {
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.headers().get("ratelimit").is_none());
        } else {
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(res.headers().get("retry-after").is_some());
        }
    }
}

#[tokio::test]
async fn outside_the_auth_layer_every_caller_is_anonymous() {
    let (guard, a, b) = guard_and_keys().await;
    // The wrong order: the limit runs before the auth layer has found the
    // caller, so two keys from one address share the anonymous quota.
    let wrong = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter(1)))
        .layer(RequireAuthLayer::new(guard.clone()))
        .service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
    let from = |key: &str| {
        let mut req = get(Some(key));
        let peer = "203.0.113.9:5000".parse().ok();
        req.extensions_mut()
            .insert(ConnectionInfo::new(peer, false, Vec::new()));
        req
    };
    let first = wrong.clone().oneshot(from(&a)).await.unwrap();
    assert_eq!(first.headers()["ratelimit-policy"], "\"anon\";q=1;w=3600");
    assert_eq!(wrong.clone().oneshot(from(&b)).await.unwrap().status(), 429);

    // The right order: each key its own partition.
    let right = RequireAuthLayer::new(guard).layer(RateLimitLayer::new(limiter(1)).layer(
        tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }),
    ));
    assert_eq!(right.clone().oneshot(from(&a)).await.unwrap().status(), 200);
    let other = right.oneshot(from(&b)).await.unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["ratelimit-policy"], "\"api\";q=1;w=3600");
}
