//! Criterion benchmarks of the auth-core request path.
//!
//! Groups (names are quoted in reports; keep them stable):
//!
//! - `api_key/guard_check_bearer`, `api_key/guard_check_x_api_key`: a valid
//!   key through `Guard::check` with a scope policy (target ≤ 1 µs).
//! - `api_key/refused_bad_checksum`: a tampered key, refused before any store
//!   lookup.
//! - `api_key/hash_only`: the keyed hash (HMAC-SHA-256) alone, the floor.
//! - `basic/warm_cache`: Basic with the verified-credential cache warm
//!   (target ≤ 2 µs).
//! - `basic/argon2id_verify`: Basic with the cache off, i.e. one argon2id
//!   verification per request.
//! - `baseline/credential_parse`: `Credential::from_head` alone.
//! - `breakdown/*`: the pieces of `api_key/guard_check_bearer` (runtime
//!   `block_on`, key format check, `ApiKeys::verify`, building the
//!   `Identity`, rendering a `Rejection`), to show where its time goes.
//!
//! Run with `cargo bench -p auth-benches`.

// Setup failures (a runtime that cannot start, a key that cannot be issued)
// leave nothing meaningful to measure, so the bench aborts with a message;
// clippy's `allow-expect-in-tests` does not cover bench targets.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use auth_benches::{api_key_fixture, api_key_guard, basic_guard, basic_request, runtime, tampered};
use auth_core::api_key::{DEFAULT_PREFIX, parse};
use auth_core::{
    AuthError, AuthErrorKind, AuthMethod, Challenge, Credential, Identity, SimpleRequest,
};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);
/// The credential headers of the API-key guard, as `Guard::credential_headers` lists them.
const NAMES: [&str; 2] = ["authorization", "x-api-key"];

fn api_key(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let (keys, key) = rt.block_on(api_key_fixture()).expect("issue API key");
    let guard = api_key_guard(&keys).expect("API key guard");

    let bearer = SimpleRequest::get("/v1/reports")
        .header("authorization", format!("Bearer {}", key.expose()));
    let x_api_key = SimpleRequest::get("/v1/reports").header("x-api-key", key.expose());
    let bad = tampered(key.expose()).expect("tampered key");
    let bad_bearer =
        SimpleRequest::get("/v1/reports").header("authorization", format!("Bearer {bad}"));

    // Sanity checks, outside the measurement; the first use also records
    // `last_used_at`, which is then written at most once a minute.
    for req in [&bearer, &x_api_key] {
        let id = rt.block_on(guard.check(req)).expect("valid key accepted");
        assert!(id.identity().is_some(), "valid key gives an identity");
    }
    let refused = rt
        .block_on(guard.check(&bad_bearer))
        .expect_err("tampered key refused");
    assert_eq!(refused.status(), 401);

    let mut group = c.benchmark_group("api_key");
    group.warm_up_time(WARM_UP).measurement_time(MEASURE);
    group.bench_function("guard_check_bearer", |b| {
        b.iter(|| rt.block_on(guard.check(black_box(&bearer))));
    });
    group.bench_function("guard_check_x_api_key", |b| {
        b.iter(|| rt.block_on(guard.check(black_box(&x_api_key))));
    });
    group.bench_function("refused_bad_checksum", |b| {
        b.iter(|| rt.block_on(guard.check(black_box(&bad_bearer))));
    });
    let key_bytes = key.expose().as_bytes();
    group.bench_function("hash_only", |b| {
        b.iter(|| keys.hash(black_box(key_bytes)));
    });
    group.finish();
}

fn basic(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let req = basic_request();

    let warm = basic_guard(Duration::from_secs(60)).expect("Basic guard");
    // Fill the verified-credential cache before measuring.
    let id = rt.block_on(warm.check(&req)).expect("Basic accepted");
    assert!(id.identity().is_some(), "Basic gives an identity");

    let cold = basic_guard(Duration::ZERO).expect("Basic guard without cache");
    let id = rt
        .block_on(cold.check(&req))
        .expect("Basic accepted (cold)");
    assert!(id.identity().is_some(), "Basic gives an identity (cold)");

    let mut group = c.benchmark_group("basic");
    group.warm_up_time(WARM_UP).measurement_time(MEASURE);
    group.bench_function("warm_cache", |b| {
        b.iter(|| rt.block_on(warm.check(black_box(&req))));
    });
    // Tens of milliseconds per iteration: few flat samples, short warm-up.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(MEASURE);
    group.bench_function("argon2id_verify", |b| {
        b.iter(|| rt.block_on(cold.check(black_box(&req))));
    });
    group.finish();
}

fn baseline(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let (_keys, key) = rt.block_on(api_key_fixture()).expect("issue API key");
    let bearer = SimpleRequest::get("/v1/reports")
        .header("authorization", format!("Bearer {}", key.expose()));

    let mut group = c.benchmark_group("baseline");
    group.warm_up_time(WARM_UP).measurement_time(MEASURE);
    group.bench_function("credential_parse", |b| {
        b.iter(|| Credential::from_head(black_box(&bearer), &NAMES));
    });
    group.finish();
}

fn breakdown(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let (keys, key) = rt.block_on(api_key_fixture()).expect("issue API key");
    let guard = api_key_guard(&keys).expect("API key guard");
    let key_bytes = key.expose().as_bytes();
    let id = parse(key_bytes, DEFAULT_PREFIX)
        .expect("well-formed key")
        .id
        .to_owned();
    // Record `last_used_at` now, so that `verify` measures the read path.
    rt.block_on(keys.verify(key_bytes))
        .expect("valid key verified");
    let req = SimpleRequest::get("/v1/reports")
        .header("authorization", format!("Bearer {}", key.expose()));
    let err = AuthError::new(AuthErrorKind::InvalidCredentials)
        .with_challenge(Challenge::bearer_error("invalid_token"))
        .with_reason("bad_checksum")
        .with_detail("the API key is malformed");

    let mut group = c.benchmark_group("breakdown");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("block_on_ready", |b| {
        b.iter(|| rt.block_on(async { black_box(1_u8) }));
    });
    group.bench_function("key_format_parse", |b| {
        b.iter(|| parse(black_box(key_bytes), DEFAULT_PREFIX).is_ok());
    });
    group.bench_function("keys_verify", |b| {
        b.iter(|| rt.block_on(keys.verify(black_box(key_bytes))));
    });
    group.bench_function("identity_build", |b| {
        b.iter(|| {
            Identity::new(black_box("owner"), AuthMethod::ApiKey)
                .with_scopes([auth_benches::SCOPE])
                .with_roles(["api_key:main"])
                .with_key_id(id.as_str())
        });
    });
    group.bench_function("reject_render", |b| {
        b.iter(|| guard.reject(black_box(&err), &req));
    });
    group.finish();
}

criterion_group!(benches, api_key, basic, baseline, breakdown);
criterion_main!(benches);
