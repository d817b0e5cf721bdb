//! RFC 7662 introspection against a real introspection endpoint on
//! 127.0.0.1 (an axum server standing in for the authorization server),
//! through the guard: active and inactive tokens, the cache (by token hash,
//! never past `exp`, inactive answers briefly), one call for concurrent
//! lookups, 503 with `Retry-After` (never 401) when the endpoint fails or
//! refuses our own credentials, bounded calls under a flood, and the
//! precedence of API keys and JWTs over the catch-all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::introspection::Introspection;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::{AnyOf, Guard, Policy, Secret, SimpleRequest};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

const BASIC: &str = "Basic cnM6cnMtc2VjcmV0"; // rs:rs-secret

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Fail,
    Slow,
    Huge,
    NotJson,
    /// HTTP 500 with an answer that would otherwise be accepted.
    FailActive,
}

#[derive(Default)]
struct As {
    tokens: Mutex<HashMap<String, serde_json::Value>>,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    mode: Mutex<Option<Mode>>,
}

async fn introspect(
    State(state): State<Arc<As>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let mode = state.mode.lock().unwrap().unwrap_or(Mode::Normal);
    // Give concurrent lookups time to pile up.
    tokio::time::sleep(Duration::from_millis(if mode == Mode::Slow {
        400
    } else {
        50
    }))
    .await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.into(),
        );
    }
    match mode {
        Mode::Fail => return (StatusCode::INTERNAL_SERVER_ERROR, "oops".into()),
        Mode::Huge => {
            return (
                StatusCode::OK,
                format!(r#"{{"active":false,"x":"{}"}}"#, "a".repeat(100_000)),
            );
        }
        Mode::NotJson => return (StatusCode::OK, "<html>".into()),
        Mode::FailActive => {
            let answer = active("ada", "", now() + 3600).to_string();
            return (StatusCode::INTERNAL_SERVER_ERROR, answer);
        }
        Mode::Normal | Mode::Slow => {}
    }
    let form: HashMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(
        form.get("token_type_hint").map(String::as_str),
        Some("access_token")
    );
    let token = form.get("token").cloned().unwrap_or_default();
    let answer = state
        .tokens
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or(serde_json::json!({"active": false}));
    (StatusCode::OK, answer.to_string())
}

async fn start_as() -> (SocketAddr, Arc<As>) {
    let state = Arc::new(As::default());
    let app = axum::Router::new()
        .route("/introspect", post(introspect))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn active(sub: &str, scope: &str, exp: u64) -> serde_json::Value {
    serde_json::json!({
        "active": true, "sub": sub, "scope": scope, "client_id": "app",
        "iss": "https://as.test", "aud": "api", "exp": exp,
    })
}

fn authn(addr: SocketAddr, secret: &str) -> Introspection {
    Introspection::builder(
        format!("http://{addr}/introspect"),
        "rs",
        Secret::new(secret.as_bytes().to_vec()),
    )
    .allow_plain_http_loopback()
    .issuer("https://as.test")
    .audience("api")
    .inactive_ttl(Duration::from_secs(30))
    .max_concurrent(4)
    .build()
    .unwrap()
}

fn bearer(token: &str) -> SimpleRequest {
    SimpleRequest::get("/r").header("authorization", format!("Bearer {token}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_tokens_map_to_identities_and_are_cached() {
    let (addr, state) = start_as().await;
    state.tokens.lock().unwrap().insert(
        "opaque-1".into(),
        active("ada", "reports:read", now() + 3600),
    );
    let intro = authn(addr, "rs-secret");
    let guard = Guard::builder(intro.clone())
        .build()
        .unwrap()
        .with_policy(Policy::scope("reports:read"));
    let d = guard.check(&bearer("opaque-1")).await.unwrap();
    let id = d.identity().unwrap();
    assert_eq!(id.subject(), "ada");
    assert_eq!(id.client_id(), Some("app"));
    assert_eq!(id.method().as_str(), "introspection");
    for _ in 0..5 {
        guard.check(&bearer("opaque-1")).await.unwrap();
    }
    assert_eq!(state.calls.load(Ordering::SeqCst), 1, "cached");
    assert_eq!(intro.call_count(), 1);

    // An inactive (unknown) token: 401 invalid_token, then from the cache.
    for _ in 0..3 {
        let r = guard.check(&bearer("unknown-token")).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.header_values("www-authenticate").collect::<Vec<_>>(),
            [r#"Bearer realm="api", error="invalid_token""#]
        );
    }
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
    assert_eq!(intro.call_count(), 2);

    // Missing scope: 403.
    state
        .tokens
        .lock()
        .unwrap()
        .insert("opaque-2".into(), active("bob", "profile", now() + 3600));
    assert_eq!(
        guard.check(&bearer("opaque-2")).await.unwrap_err().status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_never_outlives_the_tokens_exp() {
    let (addr, state) = start_as().await;
    state
        .tokens
        .lock()
        .unwrap()
        .insert("short".into(), active("ada", "", now() + 2));
    let guard = Guard::builder(authn(addr, "rs-secret")).build().unwrap();
    guard.check(&bearer("short")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // Past exp: the cached answer is gone, and the endpoint (which still
    // says active, with the old exp) is asked again and refused by exp.
    let r = guard.check(&bearer("short")).await.unwrap_err();
    assert_eq!(r.status(), 401);
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_token_share_one_call() {
    let (addr, state) = start_as().await;
    state
        .tokens
        .lock()
        .unwrap()
        .insert("popular".into(), active("ada", "", now() + 3600));
    let guard = Guard::builder(authn(addr, "rs-secret")).build().unwrap();
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let g = guard.clone();
        all.spawn(async move { g.check(&bearer("popular")).await.map(|_| ()) });
    }
    while let Some(r) = all.join_next().await {
        assert!(r.unwrap().is_ok());
    }
    assert_eq!(state.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_failures_are_503_with_retry_after_never_401() {
    let (addr, state) = start_as().await;
    state
        .tokens
        .lock()
        .unwrap()
        .insert("ok".into(), active("ada", "", now() + 3600));
    for mode in [Mode::Fail, Mode::Huge, Mode::NotJson, Mode::FailActive] {
        *state.mode.lock().unwrap() = Some(mode);
        let guard = Guard::builder(authn(addr, "rs-secret")).build().unwrap();
        let r = guard.check(&bearer("ok")).await.unwrap_err();
        assert_eq!(r.status(), 503);
        assert_eq!(r.header_values("retry-after").collect::<Vec<_>>(), ["5"]);
        // Failures are not cached: once the endpoint is back, it works.
        *state.mode.lock().unwrap() = None;
        guard.check(&bearer("ok")).await.unwrap();
    }
    // Our own client credentials refused by the endpoint: 503, not 401.
    let wrong = Guard::builder(authn(addr, "wrong-secret")).build().unwrap();
    assert_eq!(wrong.check(&bearer("ok")).await.unwrap_err().status(), 503);
    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gone = Guard::builder(authn(closed, "rs-secret")).build().unwrap();
    let r = gone.check(&bearer("ok")).await.unwrap_err();
    assert_eq!(r.status(), 503);
    assert!(r.header_values("retry-after").next().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_tokens_is_bounded() {
    let (addr, state) = start_as().await;
    *state.mode.lock().unwrap() = Some(Mode::Slow);
    let guard = Guard::builder(authn(addr, "rs-secret")).build().unwrap();
    let mut all = tokio::task::JoinSet::new();
    for i in 0..200 {
        let g = guard.clone();
        all.spawn(async move {
            g.check(&bearer(&format!("made-up-{i}")))
                .await
                .unwrap_err()
                .status()
        });
    }
    let mut statuses = HashMap::new();
    while let Some(s) = all.join_next().await {
        *statuses.entry(s.unwrap()).or_insert(0) += 1;
    }
    // Each is refused: inactive (401) when its call ran, 503 when every
    // call slot was taken; never more calls at once than the limit.
    assert_eq!(
        statuses.keys().filter(|s| ![401, 503].contains(s)).count(),
        0,
        "{statuses:?}"
    );
    assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(state.most_in_flight.load(Ordering::SeqCst) <= 4);
    assert!(state.calls.load(Ordering::SeqCst) < 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_jwts_are_not_sent_to_the_endpoint() {
    let (addr, state) = start_as().await;
    state
        .tokens
        .lock()
        .unwrap()
        .insert("opaque-9".into(), active("ada", "", now() + 3600));
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("svc", Environment::Live))
        .await
        .unwrap();
    let secret = [3u8; 32];
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("urn:jwt")
                .audience("api")
                .key(
                    JwtKey::hmac(
                        &Secret::new(secret.to_vec()),
                        jsonwebtoken::Algorithm::HS256,
                    )
                    .unwrap(),
                )
                .token_types(["JWT"]),
        )
        .build()
        .unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"iss": "urn:jwt", "aud": "api", "sub": "jwt-user", "exp": now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
    )
    .unwrap();
    // The catch-all first: precedence is by specificity, not order.
    let guard = Guard::builder(
        AnyOf::new()
            .or(authn(addr, "rs-secret"))
            .or(jwt)
            .or(ApiKeyAuthenticator::new(keys)),
    )
    .build()
    .unwrap();
    let id = guard.check(&bearer(key.expose())).await.unwrap();
    assert_eq!(id.identity().unwrap().method().as_str(), "api_key");
    let id = guard.check(&bearer(&token)).await.unwrap();
    assert_eq!(id.identity().unwrap().subject(), "jwt-user");
    // A JWT that fails is refused by the JWT method, not introspected.
    let bad = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(guard.check(&bearer(&bad)).await.unwrap_err().status(), 401);
    assert_eq!(state.calls.load(Ordering::SeqCst), 0);
    let id = guard.check(&bearer("opaque-9")).await.unwrap();
    assert_eq!(id.identity().unwrap().subject(), "ada");
    assert_eq!(state.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_read_up_to_the_cap_exactly() {
    let (addr, state) = start_as().await;
    // An active answer padded to about 10 KiB: within the default cap.
    let mut padded = active("ada", "", now() + 3600);
    padded["pad"] = serde_json::Value::from("p".repeat(10 * 1024));
    state
        .tokens
        .lock()
        .unwrap()
        .insert("padded".into(), padded.clone());
    let guard = Guard::builder(authn(addr, "rs-secret")).build().unwrap();
    guard.check(&bearer("padded")).await.unwrap();

    // A cap of exactly the answer's length reads it; one byte less does not.
    let len = padded.to_string().len();
    let capped = |cap: usize| {
        Introspection::builder(
            format!("http://{addr}/introspect"),
            "rs",
            Secret::new(b"rs-secret".to_vec()),
        )
        .allow_plain_http_loopback()
        .issuer("https://as.test")
        .audience("api")
        .max_response(cap)
        .build()
        .unwrap()
    };
    let exact = Guard::builder(capped(len)).build().unwrap();
    exact.check(&bearer("padded")).await.unwrap();
    let short = Guard::builder(capped(len - 1)).build().unwrap();
    assert_eq!(
        short.check(&bearer("padded")).await.unwrap_err().status(),
        503
    );
}
