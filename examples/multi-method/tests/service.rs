//! The example binary over real TLS handshakes, on a free port: with a PKI
//! and a JWT key made here (rcgen, jsonwebtoken), and in dev mode (the PKI
//! and tokens it makes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use auth_core::mtls::thumbprint_of;
use harness::{
    Running, ca, client_cert, es256_key, https, mint, now, status_and_challenge, write_server_pki,
};
use jsonwebtoken::EncodingKey;

fn start(args: &[&str]) -> Running {
    harness::start(env!("CARGO_BIN_EXE_multi-method"), args, &[])
}

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "multi-method";

/// An RFC 9068 access token, bound to `bound_to` if given.
fn token(key: &EncodingKey, bound_to: Option<&[u8]>) -> String {
    let now = now();
    let mut claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "partner-app", "client_id": "partner-app",
        "scope": "reports:read", "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
    });
    if let Some(der) = bound_to {
        claims["cnf"] = serde_json::json!({ "x5t#S256": thumbprint_of(der) });
    }
    mint(key, None, &claims)
}

#[tokio::test]
async fn any_of_and_all_of_over_real_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, ca_pem) = write_server_pki(dir.path());
    let partner = client_cert(&issuer, "spiffe://example.org/partner", false);
    let other = client_cert(&issuer, "spiffe://example.org/other", false);
    let untrusted = client_cert(&ca().0, "spiffe://example.org/partner", false);
    let (jwt_key, jwt_pub_pem) = es256_key();
    let jwt_pub = dir.path().join("jwt.pub.pem");
    std::fs::write(&jwt_pub, jwt_pub_pem).unwrap();
    let run = start(&[
        "--pki",
        dir.path().to_str().unwrap(),
        "--jwt-public-key",
        jwt_pub.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    ]);
    assert!(run.base.starts_with("https://127.0.0.1:"));
    let url = |path: &str| run.url(path);
    let anonymous = https(&ca_pem, None);
    let as_partner = https(&ca_pem, Some(&partner.pem));
    let as_other = https(&ca_pem, Some(&other.pem));
    let api_key = run.vars["API_KEY"].clone();
    let unbound = token(&jwt_key, None);
    let bound = token(&jwt_key, Some(&partner.der));

    // any-of: either credential is enough.
    let (s, _, body) = status_and_challenge(
        anonymous
            .get(url("/v1/reports"))
            .header("x-api-key", &api_key),
    )
    .await;
    assert_eq!((s, body["method"].as_str()), (200, Some("api_key")));
    let (s, _, body) =
        status_and_challenge(anonymous.get(url("/v1/reports")).bearer_auth(&unbound)).await;
    assert_eq!((s, body["method"].as_str()), (200, Some("jwt")));
    // Neither: 401, offering what the route takes.
    let (s, challenge, _) = status_and_challenge(anonymous.get(url("/v1/reports"))).await;
    assert_eq!(s, 401);
    assert!(
        challenge.contains("Bearer realm=\"multi-method\""),
        "{challenge}"
    );
    // Both at once: 400, not a guess at which one counts.
    let (s, _, _) = status_and_challenge(
        anonymous
            .get(url("/v1/reports"))
            .header("x-api-key", &api_key)
            .bearer_auth(&unbound),
    )
    .await;
    assert_eq!(s, 400);

    // all-of: the certificate and the token bound to it.
    let (s, _, body) =
        status_and_challenge(as_partner.get(url("/v1/partner")).bearer_auth(&bound)).await;
    assert_eq!(s, 200);
    assert_eq!(body["subject"], "partner-app");
    assert_eq!(body["certificate_thumbprint"], thumbprint_of(&partner.der));
    // The token without its certificate, or with another one.
    for client in [&anonymous, &as_other] {
        let (s, challenge, _) =
            status_and_challenge(client.get(url("/v1/partner")).bearer_auth(&bound)).await;
        assert_eq!(s, 401);
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // The certificate with a token bound to nothing: authenticated, not allowed.
    let (s, _, _) =
        status_and_challenge(as_partner.get(url("/v1/partner")).bearer_auth(&unbound)).await;
    assert_eq!(s, 403);
    // The certificate alone, or with an API key: not both credentials.
    let (s, challenge, _) = status_and_challenge(as_partner.get(url("/v1/partner"))).await;
    assert_eq!(s, 401);
    assert!(challenge.contains("Bearer"), "{challenge}");
    let (s, _, _) = status_and_challenge(
        as_partner
            .get(url("/v1/partner"))
            .header("x-api-key", &api_key),
    )
    .await;
    assert_eq!(s, 401);
    // A certificate from a CA the server does not trust fails the handshake.
    let res = https(&ca_pem, Some(&untrusted.pem))
        .get(url("/v1/partner"))
        .bearer_auth(&bound)
        .send()
        .await;
    assert!(res.is_err(), "{res:?}");
}

#[tokio::test]
async fn dev_mode_makes_a_pki_and_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let run = start(&["--pki", pki.to_str().unwrap()]);
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let ca_pem = read("ca.pem");
    let client = format!("{}{}", read("client.pem"), read("client.key"));
    let url = |path: &str| run.url(path);
    let (s, _, _) = status_and_challenge(
        https(&ca_pem, None)
            .get(url("/v1/reports"))
            .bearer_auth(&run.vars["TOKEN"]),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, body) = status_and_challenge(
        https(&ca_pem, Some(&client))
            .get(url("/v1/partner"))
            .bearer_auth(&run.vars["BOUND_TOKEN"]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["subject"], "dev-partner");
    let (s, _, _) = status_and_challenge(
        https(&ca_pem, None)
            .get(url("/v1/partner"))
            .bearer_auth(&run.vars["BOUND_TOKEN"]),
    )
    .await;
    assert_eq!(s, 401);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(pki.join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private keys are the owner's only");
    }
}
