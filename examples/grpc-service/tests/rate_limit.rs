//! A tonic service behind the auth layer and a rate limiter, called by a
//! real tonic client over h2c: once the caller's quota is used, the call
//! fails with `RESOURCE_EXHAUSTED`, and `retry-after` and the `RateLimit`
//! fields come back as metadata; with the limiter in the guard
//! (`guard.with_limit`) or as `RateLimitLayer` inside the auth layer alike.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use auth_core::Guard;
use auth_core::rate_limit::{Quota, RateLimiter};
use auth_tower::server::Server;
use auth_tower::{RateLimitLayer, RequireAuthLayer};
use axum::Router;
use grpc_service::ReportsService;
use grpc_service::pb::WhoAmIRequest;
use grpc_service::pb::reports_client::ReportsClient;
use grpc_service::pb::reports_server::ReportsServer;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request};

fn limiter() -> RateLimiter {
    RateLimiter::builder()
        .default_quota(
            Quota::new("grpc", 2, Duration::from_secs(60))
                .unwrap()
                .with_burst(2),
        )
        .build()
}

/// `WhoAmI` behind the auth layer, limited one way or the other.
async fn start(in_guard: bool, guard: Guard) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let grpc = ReportsServer::new(ReportsService);
    let router = if in_guard {
        Router::new()
            .route_service("/reports.v1.Reports/WhoAmI", grpc)
            .route_layer(RequireAuthLayer::new(guard.with_limit(limiter())))
    } else {
        Router::new()
            .route_service("/reports.v1.Reports/WhoAmI", grpc)
            .route_layer(RateLimitLayer::new(limiter()))
            .route_layer(RequireAuthLayer::new(guard))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        Server::new()
            .serve(listener, router, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop)
}

fn text<'a>(metadata: &'a MetadataMap, name: &str) -> &'a str {
    metadata
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {metadata:?}"))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_quota_is_resource_exhausted_with_retry_metadata() {
    for in_guard in [true, false] {
        let (guard, credentials) = grpc_service::guard().await.unwrap();
        let (addr, _stop) = start(in_guard, guard).await;
        let mut client = ReportsClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let call = |key: &str| {
            let mut req = Request::new(WhoAmIRequest {});
            req.metadata_mut().insert("x-api-key", key.parse().unwrap());
            req
        };
        let reader = credentials.reader_key.expose().to_owned();

        for left in ["1", "0"] {
            let ok = client.who_am_i(call(&reader)).await.unwrap();
            let md = ok.metadata();
            assert_eq!(text(md, "ratelimit-policy"), "\"grpc\";q=2;w=60");
            let field = text(md, "ratelimit");
            assert!(field.starts_with(&format!("\"grpc\";r={left};")), "{field}");
            assert_eq!(ok.into_inner().method, "api_key");
        }

        let err = client.who_am_i(call(&reader)).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::ResourceExhausted,
            "in_guard={in_guard}: {err:?}"
        );
        let md = err.metadata();
        let retry: u64 = text(md, "retry-after").parse().unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        assert_eq!(text(md, "ratelimit-policy"), "\"grpc\";q=2;w=60");
        let field = text(md, "ratelimit");
        assert!(
            field.starts_with(&format!("\"grpc\";r=0;t={retry};pk=:")),
            "{field}"
        );
        assert!(!err.message().contains(&reader[..12]));

        // Another caller has a quota of its own.
        let plain = credentials.plain_key.expose().to_owned();
        client.who_am_i(call(&plain)).await.unwrap();
    }
}
