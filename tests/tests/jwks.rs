//! The JWKS cache against a real JWKS server on 127.0.0.1: rotation through
//! the unknown-`kid` refetch, no stampede from made-up `kid`s, keys kept when
//! the server goes away, 503 when no key was ever loaded, no waiting for a
//! slow server when the `kid` is known, discovery, skipped keys; https only
//! (plain http to loopback by opt-in), redirects only within the origin, and
//! cached tokens ended by a key replaced under its `kid` or removed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_conformance::jwt::now;
use auth_core::jwt::{Issuer, JwksConfig, JwtAuthenticator};
use auth_core::{Guard, SimpleRequest};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://idp.test";

struct Key {
    kid: Option<String>,
    encoding: EncodingKey,
    jwk: Jwk,
}

fn key(kid: &str) -> Key {
    key_named(Some(kid))
}

/// A key named `kid`, or without a `kid` in the JWKS and in its tokens.
fn key_named(kid: Option<&str>) -> Key {
    let kp = rcgen::KeyPair::generate().unwrap();
    let encoding = EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    jwk.common.key_id = kid.map(str::to_owned);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Key {
        kid: kid.map(str::to_owned),
        encoding,
        jwk,
    }
}

/// An RFC 9068 access token from `iss`, signed with `k`.
fn token_from(iss: &str, k: &Key) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = k.kid.clone();
    h.typ = Some("at+jwt".to_owned());
    let claims = json!({"iss": iss, "aud": "api", "sub": "u", "client_id": "c", "iat": now(),
                        "exp": now() + 600, "jti": format!("{}", rand::random::<u64>())});
    jsonwebtoken::encode(&h, &claims, &k.encoding).unwrap()
}

fn token(k: &Key) -> String {
    token_from(ISSUER, k)
}

/// The test issuer, its keys at `base`, with a short refetch cooldown.
fn remote(base: &str) -> JwtAuthenticator {
    authenticator(
        Issuer::new(ISSUER)
            .audience("api")
            .allow_plain_http_loopback()
            .jwks_url(format!("{base}/jwks.json"))
            .jwks_config(fast_config()),
    )
}

#[derive(Default)]
struct Idp {
    jwks: Mutex<String>,
    delay: Mutex<Duration>,
    cache_control: Mutex<Option<String>>,
    hits: AtomicU64,
    in_progress: AtomicU64,
    issuer_in_metadata: Mutex<String>,
    jwks_base: Mutex<String>,
    /// Serve metadata only at the RFC 8414 location, not the OIDC one.
    rfc8414_only: std::sync::atomic::AtomicBool,
}

impl Idp {
    fn serve(&self, keys: &[&Key]) {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        *self.jwks.lock().unwrap() = serde_json::to_string(&set).unwrap();
    }
}

async fn jwks(State(idp): State<Arc<Idp>>) -> impl IntoResponse {
    idp.hits.fetch_add(1, Ordering::SeqCst);
    idp.in_progress.fetch_add(1, Ordering::SeqCst);
    let delay = *idp.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let body = idp.jwks.lock().unwrap().clone();
    let cc = idp.cache_control.lock().unwrap().clone();
    idp.in_progress.fetch_sub(1, Ordering::SeqCst);
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(cc) = cc {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    res
}

async fn oidc_metadata(State(idp): State<Arc<Idp>>) -> axum::response::Response {
    if idp.rfc8414_only.load(Ordering::SeqCst) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    metadata(State(idp)).await.into_response()
}

async fn metadata(State(idp): State<Arc<Idp>>) -> impl IntoResponse {
    let addr = idp.jwks_base.lock().unwrap().clone();
    let iss = idp.issuer_in_metadata.lock().unwrap().clone();
    axum::Json(json!({"issuer": iss, "jwks_uri": format!("{addr}/jwks.json")}))
}

/// Starts the IdP; returns its base URL and a handle that stops it.
async fn start_idp(idp: Arc<Idp>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *idp.jwks_base.lock().unwrap() = base.clone();
    let app = Router::new()
        .route("/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(oidc_metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .with_state(idp);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (base, tx)
}

fn authenticator(issuer: auth_core::jwt::IssuerBuilder) -> JwtAuthenticator {
    JwtAuthenticator::builder().issuer(issuer).build().unwrap()
}

fn fast_config() -> JwksConfig {
    JwksConfig {
        cooldown: Duration::from_millis(200),
        ..JwksConfig::default()
    }
}

async fn status(guard: &Guard, token: &str) -> u16 {
    let req = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
    match guard.check(&req).await {
        Ok(_) => 200,
        Err(r) => r.status(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_is_picked_up_and_the_old_one_leaves() {
    let idp = Arc::new(Idp::default());
    let (a, b, c) = (key("a"), key("b"), key("c"));
    idp.serve(&[&a]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let guard = Guard::builder(jwt.clone()).build().unwrap();
    let token_a = token(&a);
    assert_eq!(status(&guard, &token_a).await, 200);
    // A key is added: the IdP now publishes a and b.
    idp.serve(&[&a, &b]);
    tokio::time::sleep(Duration::from_millis(250)).await; // past the cooldown
    assert_eq!(
        status(&guard, &token(&b)).await,
        200,
        "new kid found by a refetch"
    );
    assert_eq!(jwt.jwks(ISSUER).unwrap().fetch_count(), 2);
    // a is still published: its cached token is served without verifying again.
    let checks = jwt.signature_checks();
    assert_eq!(status(&guard, &token_a).await, 200);
    assert_eq!(jwt.signature_checks(), checks, "served from the cache");
    // Rotate: the IdP now publishes only b and c.
    idp.serve(&[&b, &c]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(status(&guard, &token(&c)).await, 200);
    assert_eq!(jwt.jwks(ISSUER).unwrap().fetch_count(), 3);
    // a's token was verified and cached before; its key has left the JWKS.
    assert_eq!(status(&guard, &token_a).await, 401);
    // b's stayed: its cached token still holds.
    assert_eq!(status(&guard, &token(&b)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_made_up_kids_cost_at_most_one_fetch() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = authenticator(
        Issuer::new(ISSUER)
            .audience("api")
            .allow_plain_http_loopback()
            .jwks_url(format!("{base}/jwks.json")),
    );
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let guard = Guard::builder(jwt.clone()).build().unwrap();
    let before = idp.hits.load(Ordering::SeqCst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let guard = guard.clone();
        let t = token(&Key {
            kid: Some(format!("made-up-{i}-{}", rand::random::<u32>())),
            ..key("x")
        });
        tasks.spawn(async move { status(&guard, &t).await });
    }
    while let Some(s) = tasks.join_next().await {
        assert_eq!(s.unwrap(), 401);
    }
    let fetched = idp.hits.load(Ordering::SeqCst) - before;
    assert!(fetched <= 1, "{fetched} fetches for 1000 unknown kids");
    // Known kids still work.
    assert_eq!(status(&guard, &token(&a)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_kept_when_the_server_goes_away() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    let (base, stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let guard = Guard::builder(jwt).build().unwrap();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fresh token (not in the verified cache) still verifies with the held key,
    // and an unknown kid's failed refetch does not drop it.
    assert_eq!(status(&guard, &token(&key("zzz"))).await, 401);
    assert_eq!(status(&guard, &token(&a)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_loaded_is_a_503() {
    // A port with nothing behind it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let jwt = authenticator(
        Issuer::new(ISSUER)
            .audience("api")
            .allow_plain_http_loopback()
            .jwks_url(format!("http://127.0.0.1:{port}/jwks.json")),
    );
    let guard = Guard::builder(jwt).build().unwrap();
    let req =
        SimpleRequest::get("/").header("authorization", format!("Bearer {}", token(&key("a"))));
    let r = guard.check(&req).await.unwrap_err();
    assert_eq!(r.status(), 503);
    assert_eq!(r.header_values("www-authenticate").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_does_not_delay_known_kids() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let guard = Guard::builder(jwt).build().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    *idp.delay.lock().unwrap() = Duration::from_secs(5);
    // An unknown kid starts a refetch that the server answers in 5 s.
    let g = guard.clone();
    let unknown = tokio::spawn(async move { status(&g, &token(&key("new"))).await });
    while idp.in_progress.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While that fetch is still being answered, a known kid goes straight through.
    assert_eq!(status(&guard, &token(&a)).await, 200);
    assert_eq!(
        idp.in_progress.load(Ordering::SeqCst),
        1,
        "the slow fetch was still in flight"
    );
    assert_eq!(unknown.await.unwrap(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_skipped_keys_and_max_age() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    // An encryption key and a key of an unsupported curve sit beside the good one.
    let mut enc = key("enc").jwk;
    enc.common.public_key_use = Some(PublicKeyUse::Encryption);
    let set = json!({"keys": [enc, {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}, a.jwk]});
    *idp.jwks.lock().unwrap() = set.to_string();
    *idp.cache_control.lock().unwrap() = Some("public, max-age=1".to_owned());
    let (base, _stop) = start_idp(idp.clone()).await;
    *idp.issuer_in_metadata.lock().unwrap() = base.clone();
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new(base.clone())
                .audience("api")
                .allow_plain_http_loopback()
                .discover()
                .jwks_config(JwksConfig {
                    min_refresh: Duration::from_secs(1),
                    ..JwksConfig::default()
                }),
        )
        .build()
        .unwrap();
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let t = token_from(&base, &a);
    let guard = Guard::builder(jwt.clone()).build().unwrap();
    assert_eq!(status(&guard, &t).await, 200);
    // max-age=1 (with a 1 s floor): refreshed in the background, no request needed.
    let fetches = jwt.jwks(&base).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fetches.fetch_count() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_for_another_issuer_is_refused() {
    let idp = Arc::new(Idp::default());
    idp.serve(&[&key("a")]);
    let (base, _stop) = start_idp(idp.clone()).await;
    *idp.issuer_in_metadata.lock().unwrap() = "https://someone-else.test".to_owned();
    let jwt = authenticator(
        Issuer::new(base.clone())
            .audience("api")
            .allow_plain_http_loopback()
            .discover(),
    );
    assert!(!jwt.ready(Duration::from_millis(1500)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8414_metadata_when_there_is_no_oidc_document() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    idp.rfc8414_only.store(true, Ordering::SeqCst);
    let (base, _stop) = start_idp(idp.clone()).await;
    *idp.issuer_in_metadata.lock().unwrap() = base.clone();
    let jwt = authenticator(
        Issuer::new(base.clone())
            .audience("api")
            .allow_plain_http_loopback()
            .discover(),
    );
    assert!(
        jwt.ready(Duration::from_secs(10)).await,
        "keys found through RFC 8414 metadata"
    );
    let t = token_from(&base, &a);
    let guard = Guard::builder(jwt).build().unwrap();
    assert_eq!(status(&guard, &t).await, 200);
}

/// Starts a server that answers every request with a redirect to `to`
/// (keeping the path), counting hits.
async fn start_redirector(to: String, hits: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let to = to.clone();
        hits.fetch_add(1, Ordering::SeqCst);
        async move { axum::response::Redirect::temporary(&format!("{to}{}", uri.path())) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_not_followed() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    let (elsewhere, _stop) = start_idp(idp.clone()).await;
    let hops = Arc::new(AtomicU64::new(0));
    // 127.0.0.1 on another port is another origin.
    let redirector = start_redirector(elsewhere, hops.clone()).await;
    let jwt = remote(&redirector);
    assert!(!jwt.ready(Duration::from_millis(1500)).await);
    assert!(hops.load(Ordering::SeqCst) >= 1, "the redirector was asked");
    assert_eq!(
        idp.hits.load(Ordering::SeqCst),
        0,
        "the other origin never was"
    );
    let guard = Guard::builder(jwt).build().unwrap();
    assert_eq!(status(&guard, &token(&a)).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_within_the_origin_is_followed() {
    let idp = Arc::new(Idp::default());
    let a = key("a");
    idp.serve(&[&a]);
    // A server whose old JWKS path redirects to the new one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let body = idp.jwks.lock().unwrap().clone();
    let app = Router::new()
        .route(
            "/old.json",
            get(|| async { axum::response::Redirect::permanent("/jwks.json") }),
        )
        .route(
            "/jwks.json",
            get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let jwt = authenticator(
        Issuer::new(ISSUER)
            .audience("api")
            .allow_plain_http_loopback()
            .jwks_url(format!("{own}/old.json")),
    );
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let guard = Guard::builder(jwt).build().unwrap();
    assert_eq!(status(&guard, &token(&a)).await, 200);
}

#[test]
fn plain_http_is_refused_unless_allowed_and_loopback() {
    let build = |url: &str, allow: bool| {
        let mut issuer = Issuer::new(ISSUER).audience("api").jwks_url(url);
        if allow {
            issuer = issuer.allow_plain_http_loopback();
        }
        JwtAuthenticator::builder()
            .issuer(issuer)
            .build()
            .map(|_| ())
    };
    let refused = build("http://127.0.0.1:1/jwks.json", false).unwrap_err();
    assert!(
        refused.to_string().contains("https is required"),
        "{refused}"
    );
    let refused = build("http://192.0.2.1/jwks.json", true).unwrap_err();
    assert!(refused.to_string().contains("loopback"), "{refused}");
    // A name is not an address: it could resolve anywhere.
    assert!(build("http://localhost:1/jwks.json", true).is_err());
    assert!(build("ftp://127.0.0.1/jwks.json", true).is_err());
    assert!(build("not a url", true).is_err());
    assert!(build("http://127.0.0.1:1/jwks.json", true).is_ok());
    assert!(build("http://127.8.9.10:1/jwks.json", true).is_ok());
    assert!(build("http://[::1]:1/jwks.json", true).is_ok());
    assert!(build("https://idp.test/jwks.json", false).is_ok());
    // Discovery: the issuer is the URL.
    let discover = |iss: &str| {
        JwtAuthenticator::builder()
            .issuer(Issuer::new(iss).audience("api").discover())
            .build()
            .map(|_| ())
    };
    assert!(discover("http://idp.test").is_err());
    assert!(discover("https://idp.test").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_plain_http_jwks_uri_elsewhere_is_not_fetched() {
    let idp = Arc::new(Idp::default());
    idp.serve(&[&key("a")]);
    let (base, _stop) = start_idp(idp.clone()).await;
    *idp.issuer_in_metadata.lock().unwrap() = base.clone();
    // The metadata names a JWKS on a non-loopback plain-http address.
    *idp.jwks_base.lock().unwrap() = "http://192.0.2.1".to_owned();
    let jwt = authenticator(
        Issuer::new(base.clone())
            .audience("api")
            .allow_plain_http_loopback()
            .discover(),
    );
    assert!(!jwt.ready(Duration::from_millis(1500)).await);
    assert_eq!(idp.hits.load(Ordering::SeqCst), 0);
}

/// Verifies `token` once (cached), lets the IdP publish `then`, forces a
/// refetch with an unknown `kid`, and returns the status of `token` again.
async fn after_republishing(idp: &Idp, jwt: &JwtAuthenticator, token: &str, then: &[&Key]) -> u16 {
    let guard = Guard::builder(jwt.clone()).build().unwrap();
    assert_eq!(status(&guard, token).await, 200);
    let checks = jwt.signature_checks();
    assert_eq!(status(&guard, token).await, 200);
    assert_eq!(jwt.signature_checks(), checks, "a cache hit");
    idp.serve(then);
    tokio::time::sleep(Duration::from_millis(250)).await; // past the cooldown
    let fetches = jwt.jwks(ISSUER).unwrap().fetch_count();
    assert_eq!(
        status(&guard, &token_from(ISSUER, &key("nudge"))).await,
        401
    );
    assert_eq!(jwt.jwks(ISSUER).unwrap().fetch_count(), fetches + 1);
    status(&guard, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_replaced_under_the_same_kid_ends_its_cached_tokens() {
    let idp = Arc::new(Idp::default());
    let old = key("k");
    idp.serve(&[&old]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    // Another key published as "k": the old key's tokens no longer verify.
    let new = key("k");
    assert_eq!(
        after_republishing(&idp, &jwt, &token(&old), &[&new]).await,
        401
    );
    let guard = Guard::builder(jwt.clone()).build().unwrap();
    assert_eq!(status(&guard, &token(&new)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kidless_key_removed_ends_its_cached_tokens() {
    let idp = Arc::new(Idp::default());
    let (unnamed, other) = (key_named(None), key_named(None));
    idp.serve(&[&unnamed]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    assert_eq!(
        after_republishing(&idp, &jwt, &token(&unnamed), &[&other]).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kidless_key_kept_keeps_its_cached_tokens() {
    let idp = Arc::new(Idp::default());
    let (unnamed, b) = (key_named(None), key("b"));
    idp.serve(&[&unnamed]);
    let (base, _stop) = start_idp(idp.clone()).await;
    let jwt = remote(&base);
    assert!(jwt.ready(Duration::from_secs(10)).await);
    let t = token(&unnamed);
    assert_eq!(
        after_republishing(&idp, &jwt, &t, &[&unnamed, &b]).await,
        200
    );
}
