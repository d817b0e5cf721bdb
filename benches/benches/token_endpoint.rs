//! Criterion benchmarks of the authorization server's token endpoint:
//! client-credentials grants per second (criterion's `elem/s`), in process
//! (no HTTP: what `AuthorizationServer::token` costs an adapter).
//!
//! Groups (names are quoted in reports; keep them stable):
//!
//! - `token_endpoint/client_credentials_jwt`: `client_secret_basic` (the
//!   secret's argon2id check is in the registry's short cache after the
//!   first request, as it is for a client that calls more than once a
//!   minute), a form parse, an ES256-signed RFC 9068 access token.
//! - `token_endpoint/client_credentials_opaque`: the same with an opaque
//!   token recorded in the in-process token store.
//! - `token_endpoint/introspect_jwt`: introspection of one of those JWTs by
//!   a confidential client, for a side-by-side ratio.
//!
//! Run with `cargo bench -p auth-benches --bench token_endpoint`.

// Setup failures leave nothing meaningful to measure, so the bench aborts
// with a message; clippy's `allow-expect-in-tests` does not cover benches.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use auth_benches::runtime;
use auth_core::SimpleRequest;
use auth_core::basic::hash_password;
use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
use auth_core::oauth::server::AuthorizationServer;
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey};

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);

fn server() -> AuthorizationServer {
    let hash = hash_password("bench-secret").expect("hash");
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential("jwt", hash.clone())
                .grants([GrantType::ClientCredentials])
                .scopes(["read", "write"]),
        )
        .client(
            Client::confidential("opaque", hash)
                .grants([GrantType::ClientCredentials])
                .scopes(["read"])
                .opaque_tokens(),
        )
        .build()
        .expect("registry");
    let kp = rcgen::KeyPair::generate().expect("key");
    let key = EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).expect("ES256 key");
    AuthorizationServer::builder("https://as.bench", registry)
        .audience("api")
        .signing_key(key, Algorithm::ES256, "k1")
        .build()
        .expect("server")
}

fn head(client: &str) -> SimpleRequest {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:bench-secret"));
    SimpleRequest::new("POST", "/oauth/token")
        .tls(true)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
}

fn token_endpoint(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let server = server();
    let body = b"grant_type=client_credentials&scope=read";
    let (jwt, opaque) = (head("jwt"), head("opaque"));
    // Outside the measurement: the first request of each client verifies
    // its secret (argon2id) and fills the cache.
    let first = rt.block_on(server.token(&jwt, body));
    assert_eq!(first.status, 200, "the JWT client gets a token");
    assert_eq!(rt.block_on(server.token(&opaque, body)).status, 200);
    let token: serde_json::Value = serde_json::from_slice(&first.body).expect("JSON");
    let token = token
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .expect("a token")
        .to_owned();
    let introspect_body = format!("token={token}");

    let mut group = c.benchmark_group("token_endpoint");
    group
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE)
        .throughput(Throughput::Elements(1));
    group.bench_function("client_credentials_jwt", |b| {
        b.iter(|| {
            let r = rt.block_on(server.token(black_box(&jwt), black_box(body)));
            assert_eq!(r.status, 200);
        });
    });
    group.bench_function("client_credentials_opaque", |b| {
        b.iter(|| {
            let r = rt.block_on(server.token(black_box(&opaque), black_box(body)));
            assert_eq!(r.status, 200);
        });
    });
    group.bench_function("introspect_jwt", |b| {
        b.iter(|| {
            let r = rt.block_on(server.introspect(black_box(&jwt), introspect_body.as_bytes()));
            assert_eq!(r.status, 200);
        });
    });
    group.finish();
}

criterion_group!(benches, token_endpoint);
criterion_main!(benches);
