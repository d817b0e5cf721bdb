//! The example binary as a newcomer runs it, on a free port: with a static
//! JWKS, with a PEM key (tokens minted here with jsonwebtoken), and in dev
//! mode (the tokens it prints).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use harness::{Running, es256_key, get_bearer as get, header, mint, now};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "reports-api";

struct Signer {
    key: EncodingKey,
    public_pem: String,
}

fn new_signer() -> Signer {
    let (key, public_pem) = es256_key();
    Signer { key, public_pem }
}

fn start(args: &[&str]) -> Running {
    harness::start(env!("CARGO_BIN_EXE_actix-jwt"), args, &[])
}

/// The binary for `ISSUER` and `AUDIENCE`, with its keys from `file`
/// given as `flag`.
fn start_trusting(flag: &str, file: &std::path::Path) -> Running {
    start(&[
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        flag,
        file.to_str().unwrap(),
    ])
}

/// An RFC 9068 access token, with `edit` applied to its claims.
fn token(signer: &Signer, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let now = now();
    let mut claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "svc-1", "client_id": "reporting-job",
        "scope": "reports:read", "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
    });
    edit(&mut claims);
    mint(&signer.key, None, &claims)
}

async fn assert_refused(res: reqwest::Response, status: u16, challenge_has: &str) {
    assert_eq!(res.status(), status);
    let challenge = header(&res, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"actix-jwt\""),
        "{challenge}"
    );
    assert!(challenge.contains(challenge_has), "{challenge}");
}

#[tokio::test]
async fn a_static_jwks() {
    let signer = new_signer();
    let jwk = Jwk::from_encoding_key(&signer.key, Algorithm::ES256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_vec(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    let run = start_trusting("--jwks", &jwks);

    // Allowed, and the handler's typed claims.
    let good = token(&signer, |_| {});
    assert_eq!(get(&run, "/v1/reports", Some(&good)).await.status(), 200);
    let res = get(&run, "/v1/whoami", Some(&good)).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "svc-1");
    assert_eq!(body["client_id"], "reporting-job");

    // Refused.
    assert_refused(get(&run, "/v1/reports", None).await, 401, "").await;
    let no_scope = token(&signer, |c| c["scope"] = "".into());
    assert_eq!(get(&run, "/v1/whoami", Some(&no_scope)).await.status(), 200);
    assert_refused(
        get(&run, "/v1/reports", Some(&no_scope)).await,
        403,
        "error=\"insufficient_scope\", scope=\"reports:read\"",
    )
    .await;
    let refused = [
        token(&signer, |c| c["exp"] = (now() - 3600).into()),
        token(&signer, |c| c["aud"] = "another-api".into()),
        token(&signer, |c| c["iss"] = "https://someone-else.test".into()),
        token(&new_signer(), |_| {}),
        // alg none
        "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.".to_owned(),
    ];
    for t in refused {
        assert_refused(
            get(&run, "/v1/reports", Some(&t)).await,
            401,
            "error=\"invalid_token\"",
        )
        .await;
    }
}

#[tokio::test]
async fn a_pem_public_key() {
    let signer = new_signer();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("es256.pub.pem");
    std::fs::write(&pem, &signer.public_pem).unwrap();
    let run = start_trusting("--public-key", &pem);
    let good = token(&signer, |_| {});
    assert_eq!(get(&run, "/v1/reports", Some(&good)).await.status(), 200);
    let other = token(&new_signer(), |_| {});
    assert_refused(
        get(&run, "/v1/reports", Some(&other)).await,
        401,
        "error=\"invalid_token\"",
    )
    .await;
}

#[tokio::test]
async fn dev_mode_prints_tokens_that_work() {
    let run = start(&[]);
    let reader = run.vars["READER_TOKEN"].clone();
    let plain = run.vars["PLAIN_TOKEN"].clone();
    assert_eq!(get(&run, "/v1/reports", Some(&reader)).await.status(), 200);
    assert_eq!(get(&run, "/v1/whoami", Some(&plain)).await.status(), 200);
    assert_refused(
        get(&run, "/v1/reports", Some(&plain)).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_refused(get(&run, "/v1/reports", None).await, 401, "").await;
}
