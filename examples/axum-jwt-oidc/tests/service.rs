//! The example binary against a tiny fake OpenID Connect issuer on
//! 127.0.0.1 (a discovery document and a JWKS, counting their fetches),
//! with tokens minted here by jsonwebtoken.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use axum::{Json, Router};
use harness::{Running, es256_key, get_bearer as get_with, header, mint, now};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey};

/// The binary trusting `issuer`, over plain HTTP on loopback.
fn start_against(issuer: &FakeIssuer) -> Running {
    harness::start(
        env!("CARGO_BIN_EXE_axum-jwt-oidc"),
        &[
            "--issuer",
            &issuer.url,
            "--audience",
            AUDIENCE,
            "--allow-http-loopback",
        ],
        &[],
    )
}

const AUDIENCE: &str = "reports-api";

/// A fake issuer: its URL, its signing key, and how often its discovery
/// document and its JWKS were fetched.
struct FakeIssuer {
    url: String,
    key: EncodingKey,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
}

/// Serves `/.well-known/openid-configuration` (naming `claimed_issuer`,
/// or itself) and `/jwks` (one ES256 key, kid `k1`) on 127.0.0.1.
async fn fake_issuer(claimed_issuer: Option<&str>) -> FakeIssuer {
    let (key, _) = es256_key();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".to_owned());
    jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
    let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let discovery = serde_json::json!({
        "issuer": claimed_issuer.unwrap_or(&url),
        "jwks_uri": format!("{url}/jwks"),
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    let discovery_hits = Arc::new(AtomicUsize::new(0));
    let jwks_hits = Arc::new(AtomicUsize::new(0));
    let (d, j) = (discovery_hits.clone(), jwks_hits.clone());
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move {
                d.fetch_add(1, Ordering::SeqCst);
                Json(discovery)
            }),
        )
        .route(
            "/jwks",
            get(move || async move {
                j.fetch_add(1, Ordering::SeqCst);
                Json(jwks)
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeIssuer {
        url,
        key,
        discovery_hits,
        jwks_hits,
    }
}

/// An RFC 9068 access token from `issuer` (kid `k1`), with `edit` applied
/// to its claims.
fn token(issuer: &FakeIssuer, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let now = now();
    let mut claims = serde_json::json!({
        "iss": issuer.url, "aud": AUDIENCE, "sub": "user-1", "client_id": "spa",
        "scope": "openid reports:read", "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
    });
    edit(&mut claims);
    mint(&issuer.key, Some("k1"), &claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_a_discovered_issuer() {
    let issuer = fake_issuer(None).await;
    let run = start_against(&issuer);

    // Allowed, with the typed claims in the handler.
    let good = token(&issuer, |_| {});
    for _ in 0..3 {
        let res = get_with(&run, "/v1/whoami", Some(&good)).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["subject"], "user-1");
        assert_eq!(body["client_id"], "spa");
    }
    let admin = token(&issuer, |c| c["scope"] = "admin".into());
    assert_eq!(
        get_with(&run, "/v1/admin", Some(&admin)).await.status(),
        200
    );
    // Discovered once, keys fetched once, for every request so far.
    assert_eq!(issuer.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 1);

    // Refused.
    let res = get_with(&run, "/v1/whoami", None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, "www-authenticate"),
        "Bearer realm=\"axum-jwt-oidc\""
    );
    let res = get_with(&run, "/v1/admin", Some(&good)).await;
    assert_eq!(res.status(), 403);
    assert!(
        header(&res, "www-authenticate").contains("error=\"insufficient_scope\", scope=\"admin\"")
    );
    let other = fake_issuer(None).await;
    for bad in [
        token(&issuer, |c| c["aud"] = "another-api".into()),
        token(&issuer, |c| c["exp"] = 1_000_000.into()),
        // Another issuer's token, and one claiming to be ours but signed
        // with another key.
        token(&other, |_| {}),
        token(&other, |c| c["iss"] = issuer.url.clone().into()),
    ] {
        let res = get_with(&run, "/v1/whoami", Some(&bad)).await;
        assert_eq!(res.status(), 401);
        assert!(
            header(&res, "www-authenticate").contains("error=\"invalid_token\""),
            "{}",
            header(&res, "www-authenticate")
        );
    }
    // Nothing in a token made this service fetch from the other issuer.
    assert_eq!(other.discovery_hits.load(Ordering::SeqCst), 0);
    assert_eq!(other.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_naming_another_issuer_gives_no_keys() {
    // The document at our issuer's URL claims to be someone else's: its
    // keys are not used, and tokens are answered 503 (the keys cannot be
    // had), never accepted and never a 401 that blames the caller.
    let issuer = fake_issuer(Some("https://someone-else.example")).await;
    let run = start_against(&issuer);
    let res = get_with(&run, "/v1/whoami", Some(&token(&issuer, |_| {}))).await;
    assert_eq!(res.status(), 503);
    assert!(!header(&res, "retry-after").is_empty());
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_issuers_need_the_loopback_opt_in() {
    // Without --allow-http-loopback, an http:// issuer is refused at start.
    let issuer = fake_issuer(None).await;
    let out = Command::new(env!("CARGO_BIN_EXE_axum-jwt-oidc"))
        .args([
            "--port",
            "0",
            "--issuer",
            &issuer.url,
            "--audience",
            AUDIENCE,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("https is required"), "{stderr}");
    assert_eq!(issuer.discovery_hits.load(Ordering::SeqCst), 0);
}
