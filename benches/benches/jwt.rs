#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: a panic is a failed benchmark
//! Criterion benchmarks of JWT verification (ES256, RFC 9068 access tokens).
//!
//! Groups (names are quoted in reports; keep them stable). They all run in
//! one process, one after the other, so their ratios are comparable:
//!
//! - `jwt/jsonwebtoken_decode`: jsonwebtoken's own `decode::<Value>` with a
//!   prebuilt `Validation`, the baseline.
//! - `jwt/first_seen_es256`: `JwtAuthenticator::verify` with the
//!   verified-token cache off, so every call verifies in full (target
//!   ≤ 1.1 × the baseline).
//! - `jwt/repeated_token`: `verify` of one token with the default cache,
//!   warmed first (target ≤ 2 µs).
//! - `jwt/jwt_authorizer`: the same token through the `jwt-authorizer` crate
//!   (`Authorizer::check_auth`), for a side-by-side ratio. It brings its own
//!   jsonwebtoken 9 (ring), independent of auth-core's jsonwebtoken 12
//!   (aws-lc-rs).
//! - `jwt_breakdown/*`: pieces of `first_seen_es256`, to show where its time
//!   goes: the runtime's `block_on`, the pre-signature header and claims
//!   parse (as auth-core does it), the ES256 signature check alone,
//!   jsonwebtoken's decode into auth-core's `Claims` map, the `jti`
//!   revocation lookup and building the `Identity`; and
//!   `jsonwebtoken9_ring_decode`, the baseline's decode in jsonwebtoken 9
//!   (ring), the version and backend `jwt-authorizer` uses.
//! - `jwt_stack/*`: the demo's request path in process, to show where an
//!   authenticated request's time goes beyond `verify`: `Guard::check` with
//!   the demo's `AnyOf(API key, JWT)` and a scope policy, then an axum
//!   `Router` shaped like the demo's (`/healthz`; `/v1/reports` behind
//!   `RequireAuthLayer` with a handler that renders the identity as JSON),
//!   called with `oneshot`, without and with an `info` log subscriber
//!   (`router_open_identity_json` is the handler with a fixed identity and
//!   no auth layer; `router_fixed_identity` the same behind the layer with
//!   an authenticator that accepts any bearer token at once, so the layer's
//!   and guard's own cost shows; `router_noop_route_layer` the open handler
//!   behind a `route_layer` that does nothing, so axum's own cost of a
//!   route layer shows)
//!   (tracing-subscriber's fmt writing to `/dev/null`, as the demo logs one
//!   `auth_core::decision` line per request to stderr). The router is made
//!   with `with_state(())`, as `axum::serve` does: without it axum applies
//!   the route layers again on every call.
//!
//! Instruction counts, steady where timings are noisy: with
//! `ROUTE_CALLS=<path>,<jwt|api_key|none>,<n>` the binary calls one route of
//! the `jwt_stack` router `n` times and exits, so that two runs under
//! `valgrind --tool=callgrind` (say n = 2000 and 4000) give the instructions
//! per request by difference, e.g.
//! `ROUTE_CALLS=/v1/fixed,jwt,2000 valgrind --tool=callgrind target/release/deps/jwt-<hash>`.
//! (valgrind's CPU has no SHA extensions, so SHA-256 counts as software.)
//!
//! The breakdown groups measure for a shorter time than `jwt/*`, so that the
//! whole run stays under a minute.
//!
//! Run with `cargo bench -p auth-benches --bench jwt`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_benches::{api_key_fixture, runtime};
use auth_core::api_key::ApiKeyAuthenticator;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey, MemoryRevocations, RevocationStore};
use auth_core::{
    AnyOf, AuthError, AuthMethod, AuthRequest, Authenticator, BoxFuture, Challenge, Claims, Guard,
    Identity, Policy, RequestHead, SimpleRequest, Specificity,
};
use auth_tower::{Auth, RequireAuthLayer};
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use tower::ServiceExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);
const BREAKDOWN_WARM_UP: Duration = Duration::from_millis(200);
const BREAKDOWN_MEASURE: Duration = Duration::from_secs(1);

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "api";
const KID: &str = "k1";
const SCOPE: &str = "reports:read";
/// auth-core's default clock leeway; every validator here uses the same.
const LEEWAY_SECS: u64 = 30;

/// One P-256 key pair and an RFC 9068 access token signed with it.
struct Fixture {
    public_pem: String,
    token: String,
}

fn fixture() -> Fixture {
    let pair = rcgen::KeyPair::generate().expect("P-256 key pair");
    let private_pem = pair.serialize_pem();
    let public_pem = pair.public_key_pem();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench-user",
        "client_id": "bench-client",
        "iat": now,
        "exp": now + 3600,
        "jti": "bench-jti-1",
        "scope": SCOPE,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(KID.to_owned());
    let key = EncodingKey::from_ec_pem(private_pem.as_bytes()).expect("PKCS#8 EC private key");
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("sign token");
    Fixture { public_pem, token }
}

/// `token` with one character of its signature changed.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 10;
    let c = bytes.get_mut(i).expect("long token");
    *c = if *c == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII token")
}

fn authenticator(public_pem: &str, cache_capacity: u64) -> JwtAuthenticator {
    let key = JwtKey::from_pem(public_pem.as_bytes(), Algorithm::ES256)
        .expect("SPKI EC public key")
        .with_kid(KID);
    JwtAuthenticator::builder()
        .issuer(Issuer::new(ISSUER).audience(AUDIENCE).key(key))
        .leeway(Duration::from_secs(LEEWAY_SECS))
        .cache_capacity(cache_capacity)
        .build()
        .expect("JWT authenticator")
}

/// What auth-core's validator checks, as a plain jsonwebtoken `Validation`.
fn baseline_validation() -> Validation {
    let mut v = Validation::new(Algorithm::ES256);
    v.leeway = LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

fn jwt(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let Fixture { public_pem, token } = fixture();

    // Building the authenticator installs the aws-lc-rs provider that
    // jsonwebtoken 12 needs, for the baseline as well.
    let first_seen = authenticator(&public_pem, 0);
    let cached = authenticator(&public_pem, 10_000);
    let decoding = DecodingKey::from_ec_pem(public_pem.as_bytes()).expect("SPKI EC public key");
    let validation = baseline_validation();
    let authorizer = rt
        .block_on(
            jwt_authorizer::JwtAuthorizer::<Value>::from_ec_pem_text(&public_pem)
                .validation(
                    jwt_authorizer::Validation::new()
                        .iss(&[ISSUER])
                        .aud(&[AUDIENCE])
                        .leeway(LEEWAY_SECS)
                        .nbf(true),
                )
                .build(),
        )
        .expect("jwt-authorizer Authorizer");

    // Sanity checks, outside the measurement.
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("baseline ok");
    assert_eq!(data.claims.get("sub"), Some(&Value::from("bench-user")));
    let before = first_seen.signature_checks();
    let id = rt
        .block_on(first_seen.verify(token.as_bytes()))
        .expect("first-seen verify ok");
    assert_eq!(id.subject(), "bench-user");
    assert!(id.has_scope(SCOPE));
    assert_eq!(first_seen.signature_checks(), before + 1, "cache is off");
    // Warm the cache: the first call verifies, the second is a hit.
    for _ in 0..2 {
        let id = rt
            .block_on(cached.verify(token.as_bytes()))
            .expect("cached verify ok");
        assert_eq!(id.subject(), "bench-user");
    }
    assert_eq!(cached.signature_checks(), 1, "second call is a cache hit");
    let data = rt
        .block_on(authorizer.check_auth(&token))
        .expect("jwt-authorizer accepts the token");
    assert_eq!(data.claims.get("sub"), Some(&Value::from("bench-user")));
    let tampered = tamper(&token);
    assert!(rt.block_on(first_seen.verify(tampered.as_bytes())).is_err());
    assert!(rt.block_on(authorizer.check_auth(&tampered)).is_err());

    let mut group = c.benchmark_group("jwt");
    group.warm_up_time(WARM_UP).measurement_time(MEASURE);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation));
    });
    group.bench_function("first_seen_es256", |b| {
        b.iter(|| rt.block_on(first_seen.verify(black_box(token.as_bytes()))));
    });
    group.bench_function("repeated_token", |b| {
        b.iter(|| rt.block_on(cached.verify(black_box(token.as_bytes()))));
    });
    group.bench_function("jwt_authorizer", |b| {
        b.iter(|| rt.block_on(authorizer.check_auth(black_box(&token))));
    });
    group.finish();

    // Every repeated-token call was a cache hit.
    assert_eq!(
        cached.signature_checks(),
        1,
        "repeated token never re-verified"
    );
}

/// The pre-signature parse auth-core does (`validate::inspect`, crate
/// private): base64url-decode the header and the claims and parse both as
/// JSON objects.
fn pre_parse(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::from_slice(&b64.decode(header).ok()?).ok()?;
    let claims = serde_json::from_slice(&b64.decode(payload).ok()?).ok()?;
    Some((header, claims))
}

/// The `Identity` auth-core builds from verified claims (its `identity`
/// function is private; this does the same calls).
fn identity_from(claims: Claims) -> Identity {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let scopes: Vec<String> = text("scope").split(' ').map(str::to_owned).collect();
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    Identity::new(text("sub"), AuthMethod::Jwt)
        .with_scopes(scopes)
        .with_expiry(UNIX_EPOCH + Duration::from_secs(exp))
        .with_actors(Vec::new())
        .with_client_id(text("client_id"))
        .with_claims(Arc::new(claims))
}

fn jwt_breakdown(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let Fixture { public_pem, token } = fixture();
    // Installs jsonwebtoken's aws-lc-rs provider (idempotent).
    let _auth = authenticator(&public_pem, 0);
    let decoding = DecodingKey::from_ec_pem(public_pem.as_bytes()).expect("SPKI EC public key");
    let validation = baseline_validation();
    let (message, signature) = token.rsplit_once('.').expect("three segments");
    assert!(
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &decoding, Algorithm::ES256)
            .expect("verifier")
    );
    assert!(pre_parse(&token).is_some());
    let claims = jsonwebtoken::decode::<Claims>(&token, &decoding, &validation)
        .expect("baseline ok")
        .claims;
    let revocations = MemoryRevocations::new();
    let decoding9 =
        jsonwebtoken9::DecodingKey::from_ec_pem(public_pem.as_bytes()).expect("SPKI EC public key");
    let mut validation9 = jsonwebtoken9::Validation::new(jsonwebtoken9::Algorithm::ES256);
    validation9.leeway = LEEWAY_SECS;
    validation9.validate_nbf = true;
    validation9.set_issuer(&[ISSUER]);
    validation9.set_audience(&[AUDIENCE]);
    validation9.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken9::decode::<Value>(&token, &decoding9, &validation9).expect("jsonwebtoken 9 ok");

    let mut group = c.benchmark_group("jwt_breakdown");
    group
        .warm_up_time(BREAKDOWN_WARM_UP)
        .measurement_time(BREAKDOWN_MEASURE);
    group.bench_function("block_on_ready", |b| {
        b.iter(|| rt.block_on(async { black_box(1_u8) }));
    });
    group.bench_function("pre_parse", |b| {
        b.iter(|| pre_parse(black_box(&token)));
    });
    group.bench_function("signature_only", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(signature),
                message.as_bytes(),
                &decoding,
                Algorithm::ES256,
            )
        });
    });
    group.bench_function("decode_to_claims_map", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation));
    });
    group.bench_function("jsonwebtoken9_ring_decode", |b| {
        b.iter(|| jsonwebtoken9::decode::<Value>(black_box(&token), &decoding9, &validation9));
    });
    group.bench_function("revocation_lookup", |b| {
        b.iter(|| {
            rt.block_on(revocations.is_revoked(
                black_box("https://issuer.example"),
                black_box("bench-jti-1"),
            ))
        });
    });
    group.bench_function("identity_build", |b| {
        b.iter_batched(|| claims.clone(), identity_from, BatchSize::SmallInput);
    });
    group.finish();
}

/// The demo's `200` body for `/v1/*` (its `identity_json`).
fn identity_json(id: &Identity) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        subject: &'a str,
        method: &'a str,
        scopes: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    }
    serde_json::to_vec(&Body {
        subject: id.subject(),
        method: id.method().as_str(),
        scopes: id.scopes().collect(),
        key_id: id.key_id(),
        client_id: id.client_id(),
    })
    .unwrap_or_default()
}

fn json(body: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

/// A router shaped like the demo's (axum through auth-tower).
/// `/v1/open` renders a fixed identity with no auth layer.
/// Accepts any bearer token as one fixed identity, at once: the layer and
/// guard with no method's own work, to show what the framework costs.
struct Fixed(Identity);

impl Authenticator for Fixed {
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        req.credential().bearer().map(|_| Specificity::Any)
    }
    fn authenticate<'a>(
        &'a self,
        _req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::bearer());
    }
}

fn demo_router(guard: &Guard) -> Router {
    let open = Identity::new("bench-user", AuthMethod::Jwt)
        .with_scopes([SCOPE])
        .with_client_id("bench-client");
    let fixed = Guard::builder(Fixed(open.clone()))
        .realm("demo")
        .build()
        .expect("guard");
    // The identity handler with no auth layer, served twice: bare, and
    // behind a route layer that does nothing.
    let open_handler = move || {
        let id = open.clone();
        async move { json(identity_json(&id)) }
    };
    Router::new()
        .route(
            "/healthz",
            get(|| async { json(br#"{"status":"ok"}"#.to_vec()) }),
        )
        .route("/v1/open", get(open_handler.clone()))
        .route(
            "/v1/reports",
            get(|Auth(id): Auth| async move { json(identity_json(&id)) })
                .route_layer(RequireAuthLayer::new(guard.clone()).policy(Policy::scope(SCOPE))),
        )
        .route(
            "/v1/noop_layer",
            get(open_handler).route_layer(tower::layer::util::Identity::new()),
        )
        .route(
            "/v1/fixed",
            get(|Auth(id): Auth| async move { json(identity_json(&id)) })
                .route_layer(RequireAuthLayer::new(fixed).policy(Policy::scope(SCOPE))),
        )
        // What `axum::serve` does first (`into_make_service`): handlers become
        // routes once, not on every call.
        .with_state(())
}

fn call(
    rt: &tokio::runtime::Runtime,
    router: &Router,
    path: &str,
    header: Option<(&str, &str)>,
) -> StatusCode {
    let mut req = Request::get(path);
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let req = req.body(Body::empty()).expect("request");
    rt.block_on(router.clone().oneshot(req))
        .expect("infallible router")
        .status()
}

fn jwt_stack(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let Fixture { public_pem, token } = fixture();
    let jwt = authenticator(&public_pem, 10_000);
    let (keys, key) = rt.block_on(api_key_fixture()).expect("issue API key");
    let guard = Guard::builder(
        AnyOf::new()
            .or(ApiKeyAuthenticator::new(keys.clone()))
            .or(jwt.clone()),
    )
    .realm("demo")
    .build()
    .expect("guard")
    .with_policy(Policy::scope(SCOPE));
    let router = demo_router(&guard);
    let bearer = format!("Bearer {token}");
    let jwt_header = Some(("authorization", bearer.as_str()));
    let key_header = Some(("x-api-key", key.expose()));
    let jwt_req = SimpleRequest::get("/v1/reports").header("authorization", bearer.as_str());

    // Sanity checks, outside the measurement; they also warm the caches.
    assert_eq!(call(&rt, &router, "/healthz", None), StatusCode::OK);
    assert_eq!(call(&rt, &router, "/v1/open", None), StatusCode::OK);
    assert_eq!(
        call(&rt, &router, "/v1/reports", jwt_header),
        StatusCode::OK
    );
    assert_eq!(
        call(&rt, &router, "/v1/reports", key_header),
        StatusCode::OK
    );
    assert_eq!(
        call(&rt, &router, "/v1/reports", None),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&rt, &router, "/v1/noop_layer", jwt_header),
        StatusCode::OK
    );
    assert_eq!(call(&rt, &router, "/v1/fixed", jwt_header), StatusCode::OK);
    assert_eq!(
        call(&rt, &router, "/v1/fixed", None),
        StatusCode::UNAUTHORIZED
    );
    let id = rt.block_on(guard.check(&jwt_req)).expect("JWT accepted");
    assert!(id.identity().is_some_and(|id| id.has_scope(SCOPE)));
    let checks = jwt.signature_checks();
    if let Ok(spec) = std::env::var("ROUTE_CALLS") {
        // `<path>,<jwt|api_key|none>,<n>`: call one route n times and stop
        // (see the module docs).
        let mut it = spec.split(',');
        let (Some(path), Some(with), Some(n)) = (it.next(), it.next(), it.next()) else {
            panic!("ROUTE_CALLS is <path>,<jwt|api_key|none>,<n>");
        };
        let header = match with {
            "jwt" => jwt_header,
            "api_key" => key_header,
            "none" => None,
            other => panic!("ROUTE_CALLS: {other:?} is not jwt, api_key or none"),
        };
        let n: usize = n.parse().expect("ROUTE_CALLS: a count");
        for _ in 0..n {
            assert_eq!(call(&rt, &router, path, header), StatusCode::OK);
        }
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("jwt_stack");
    group
        .warm_up_time(BREAKDOWN_WARM_UP)
        .measurement_time(BREAKDOWN_MEASURE);
    group.bench_function("guard_check_jwt_cached", |b| {
        b.iter(|| rt.block_on(guard.check(black_box(&jwt_req))));
    });
    group.bench_function("router_healthz", |b| {
        b.iter(|| call(&rt, &router, black_box("/healthz"), None));
    });
    group.bench_function("router_open_identity_json", |b| {
        b.iter(|| call(&rt, &router, black_box("/v1/open"), None));
    });
    group.bench_function("router_noop_route_layer", |b| {
        b.iter(|| call(&rt, &router, black_box("/v1/noop_layer"), jwt_header));
    });
    group.bench_function("router_fixed_identity", |b| {
        b.iter(|| call(&rt, &router, black_box("/v1/fixed"), jwt_header));
    });
    group.bench_function("router_reports_jwt_cached", |b| {
        b.iter(|| call(&rt, &router, black_box("/v1/reports"), jwt_header));
    });
    group.bench_function("router_reports_api_key", |b| {
        b.iter(|| call(&rt, &router, black_box("/v1/reports"), key_header));
    });
    group.bench_function("router_reports_jwt_cached_logged", |b| {
        let dev_null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("open /dev/null");
        let _log = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(dev_null))
            .finish()
            .set_default();
        b.iter(|| call(&rt, &router, black_box("/v1/reports"), jwt_header));
    });
    group.finish();

    assert_eq!(jwt.signature_checks(), checks, "every JWT was a cache hit");
}

criterion_group!(benches, jwt, jwt_breakdown, jwt_stack);
criterion_main!(benches);
