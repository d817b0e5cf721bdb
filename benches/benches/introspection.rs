//! Criterion benchmarks of RFC 7662 introspection (opaque bearer tokens).
//!
//! Groups (names are quoted in reports; keep them stable):
//!
//! - `introspection/guard_check_cache_hit`: an active opaque token through
//!   `Guard::check` with a scope policy, its answer already in the
//!   authenticator's cache (target ≤ 2 µs). The introspection endpoint is a
//!   minimal axum server on 127.0.0.1, called once before measuring to warm
//!   the cache; the bench asserts afterwards that it was never called again.
//! - `introspection/guard_check_api_key`: an API key through `Guard::check`
//!   with the same policy, for a side-by-side ratio (the same as
//!   `api_key/guard_check_bearer` in `benches/auth.rs`).
//!
//! Run with `cargo bench -p auth-benches --bench introspection`.

// Setup failures (a runtime that cannot start, an endpoint that cannot be
// bound) leave nothing meaningful to measure, so the bench aborts with a
// message; clippy's `allow-expect-in-tests` does not cover bench targets.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_benches::{SCOPE, api_key_fixture, api_key_guard, runtime};
use auth_core::introspection::Introspection;
use auth_core::{Guard, Policy, Secret, SimpleRequest};
use axum::http::StatusCode;
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);

/// The one token the endpoint answers active for.
const TOKEN: &str = "opaque-bench-token";
/// The form body's `token` pair for [`TOKEN`] (nothing in it to encode).
const TOKEN_PAIR: &str = "token=opaque-bench-token";

/// The introspection endpoint: active for [`TOKEN`] (subject `bench-user`,
/// scope [`SCOPE`], expiring in a day), inactive for any other token.
async fn introspect(body: String) -> (StatusCode, String) {
    if !body.split('&').any(|kv| kv == TOKEN_PAIR) {
        return (StatusCode::OK, r#"{"active":false}"#.into());
    }
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 86_400;
    let answer = serde_json::json!({
        "active": true, "sub": "bench-user", "scope": SCOPE, "client_id": "app", "exp": exp,
    });
    (StatusCode::OK, answer.to_string())
}

/// Binds the endpoint on 127.0.0.1 and serves it on the current runtime
/// (which runs it while a `block_on` is in progress).
async fn start_endpoint() -> SocketAddr {
    let app = axum::Router::new().route("/introspect", post(introspect));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn introspection(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let addr = rt.block_on(start_endpoint());
    let intro = Introspection::builder(
        format!("http://{addr}/introspect"),
        "rs",
        Secret::new(b"rs-secret".to_vec()),
    )
    .allow_plain_http_loopback()
    // The token expires in a day; keep its answer for as long as a long
    // measurement may run, so that every timed call is a hit.
    .max_ttl(Duration::from_secs(3600))
    .build()
    .expect("introspection authenticator");
    let guard = Guard::builder(intro.clone())
        .realm("demo")
        .build()
        .expect("introspection guard")
        .with_policy(Policy::scope(SCOPE));
    let req = SimpleRequest::get("/r").header("authorization", format!("Bearer {TOKEN}"));

    let (keys, key) = rt.block_on(api_key_fixture()).expect("issue API key");
    let key_guard = api_key_guard(&keys).expect("API key guard");
    let key_req =
        SimpleRequest::get("/r").header("authorization", format!("Bearer {}", key.expose()));

    // Sanity checks, outside the measurement; the first introspection call
    // fills the cache, the API key's first use records `last_used_at`.
    let id = rt
        .block_on(guard.check(&req))
        .expect("active token accepted");
    assert_eq!(
        id.identity().map(|id| id.subject()),
        Some("bench-user"),
        "active token gives an identity"
    );
    assert_eq!(intro.call_count(), 1, "one call fills the cache");
    let id = rt
        .block_on(guard.check(&req))
        .expect("cached token accepted");
    assert!(id.identity().is_some(), "cached token gives an identity");
    assert_eq!(intro.call_count(), 1, "second check is a cache hit");
    let id = rt
        .block_on(key_guard.check(&key_req))
        .expect("valid key accepted");
    assert!(id.identity().is_some(), "valid key gives an identity");

    let mut group = c.benchmark_group("introspection");
    group.warm_up_time(WARM_UP).measurement_time(MEASURE);
    group.bench_function("guard_check_cache_hit", |b| {
        b.iter(|| rt.block_on(guard.check(black_box(&req))));
    });
    group.bench_function("guard_check_api_key", |b| {
        b.iter(|| rt.block_on(key_guard.check(black_box(&key_req))));
    });
    group.finish();

    assert_eq!(intro.call_count(), 1, "every timed check was a cache hit");
}

criterion_group!(benches, introspection);
criterion_main!(benches);
