//! JWT on both adapters: honest tokens in, every known attack out with
//! 401 `invalid_token`, never a 5xx, and no request caused by token content.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auth_conformance::jwt::{Attacker, Minter, hs256_with_key, now, raw};
use auth_conformance::{Listener, Pair};
use serde_json::json;

const INVALID_TOKEN: &str = r#"Bearer realm="demo", error="invalid_token""#;

/// A TCP listener that counts every connection made to it.
async fn recording_server() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), hits)
}

async fn bearer(pair: &Pair, path: &str, token: &str) -> auth_conformance::Answer {
    pair.send(
        Listener::Plain,
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_tokens_are_accepted_with_their_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let m = Minter::load(dir.path(), pair.credentials());
    for token in [
        m.es256(&m.claims("reports:read")),
        m.rs256(&m.claims("reports:read")),
        m.internal(&m.internal_claims("reports:read"), "JWT"),
        m.internal(&m.internal_claims("reports:read"), "at+jwt"),
    ] {
        let a = bearer(&pair, "/v1/reports", &token).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.json()["method"], "jwt");
        let a = bearer(&pair, "/v1/admin", &token).await;
        assert_eq!(a.status, 403);
        assert_eq!(
            a.challenges,
            [r#"Bearer realm="demo", error="insufficient_scope", scope="admin""#]
        );
    }
    let a = bearer(&pair, "/v1/whoami", &m.es256(&m.claims("reports:read"))).await;
    assert_eq!(a.json()["client_id"], "client-7");
    assert_eq!(a.json()["subject"], "user-42");
    // On the TLS listener too.
    let t = m.es256(&m.claims("admin"));
    let a = pair
        .send(
            Listener::Tls,
            "GET",
            "/v1/admin",
            &[("authorization", &format!("Bearer {t}"))],
        )
        .await;
    assert_eq!(a.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_are_refused_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let m = Minter::load(dir.path(), pair.credentials());
    let evil = Attacker::new();
    let (jku_url, jku_hits) = recording_server().await;
    let good = m.claims("reports:read");
    let with = |k: &str, v: serde_json::Value| {
        let mut c = m.claims("reports:read");
        c[k] = v;
        c
    };
    let es_header = |extra: serde_json::Value| {
        let mut h = json!({"alg": "ES256", "typ": "at+jwt", "kid": m.es_kid});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let honest = m.es256(&good);
    let (signing_input, honest_signature) = honest.rsplit_once('.').unwrap();
    let stripped = format!("{signing_input}.");
    // The honest token's signature under other bytes: refused even while
    // the honest token sits in the verified-token cache.
    let resigned = |header: &serde_json::Value, claims: &serde_json::Value| {
        format!("{}{honest_signature}", raw(header, claims, b""))
    };
    let a = bearer(&pair, "/v1/whoami", &honest).await;
    assert_eq!(
        a.status, 200,
        "the honest token is cached before the attacks"
    );
    let pem_no_newline = m.rs_public_pem.trim_end().to_owned();
    let confusion = |key: &[u8]| {
        hs256_with_key(
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": m.rs_kid}),
            &good,
            key,
        )
    };
    let mut attacks: Vec<(&str, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        attacks.push((
            "alg none",
            raw(&json!({"alg": alg, "typ": "at+jwt"}), &good, b""),
        ));
        attacks.push((
            "alg none with a signature",
            raw(&json!({"alg": alg, "typ": "at+jwt"}), &good, b"sig"),
        ));
    }
    attacks.extend([
        ("stripped signature", stripped),
        ("a cached token's signature on other claims", resigned(&es_header(json!({})), &with("scope", json!("reports:read admin")))),
        ("a cached token's signature under another header", resigned(&es_header(json!({"typ": "at+JWT"})), &good)),
        ("a cached token with a byte appended to its signing input", format!("{signing_input}A.{honest_signature}")),
        ("RS256->HS256 with the public PEM", confusion(m.rs_public_pem.as_bytes())),
        ("RS256->HS256 with the PEM, no trailing newline", confusion(pem_no_newline.as_bytes())),
        ("RS256->HS256 with the DER", confusion(&m.rs_public_der)),
        ("empty HMAC secret", hs256_with_key(&json!({"alg": "HS256", "typ": "JWT"}), &m.internal_claims("reports:read"), b"")),
        ("embedded jwk", evil.sign(&json!({"alg": "ES256", "typ": "at+jwt", "jwk": evil.jwk}), &good)),
        ("embedded jwk with the demo's kid", evil.sign(&es_header(json!({"jwk": evil.jwk})), &good)),
        ("jku to a local server", evil.sign(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "evil", "jku": format!("{jku_url}/jwks.json")}), &good)),
        ("x5u to a local server", evil.sign(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "evil", "x5u": format!("{jku_url}/cert.pem")}), &good)),
        ("kid path traversal", evil.sign(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "../../../../../etc/passwd"}), &good)),
        ("kid SQL injection", evil.sign(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "' OR '1'='1' --"}), &good)),
        ("ECDSA r=s=0", raw(&es_header(json!({})), &good, &[0u8; 64])),
        ("wrong iss", m.es256(&with("iss", json!("https://evil.example")))),
        ("wrong aud", m.es256(&with("aud", json!("another-api")))),
        ("expired", m.es256(&with("exp", json!(now() - 3600)))),
        ("nbf in the future", m.es256(&with("nbf", json!(now() + 3600)))),
        ("exp as a string", m.es256(&with("exp", json!((now() + 600).to_string())))),
        ("unknown crit", m.es256_raw_header(&es_header(json!({"crit": ["x-demo"], "x-demo": true})), &good)),
        ("wrong typ", m.es256_typ(&good, "JWT")),
        ("issuer A's claims signed by issuer B's key", m.internal(&good, "at+jwt")),
        ("signed by an unknown key with the demo's kid", evil.sign(&es_header(json!({})), &good)),
        ("100 KB token", format!("{}.{}.{}", "e".repeat(40_000), "e".repeat(40_000), "e".repeat(20_000))),
    ]);
    for (name, token) in &attacks {
        let a = bearer(&pair, "/v1/whoami", token).await;
        assert_eq!(
            a.status,
            401,
            "{name}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.challenges, [INVALID_TOKEN], "{name}");
        assert!(
            !String::from_utf8_lossy(&a.body).contains(token.as_str()),
            "{name}: body echoes the token"
        );
    }
    assert!(attacks.len() >= 30);
    let a = bearer(&pair, "/v1/whoami", &honest).await;
    assert_eq!(a.status, 200, "the honest token is still served");
    // Let any stray fetch land before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        jku_hits.load(Ordering::SeqCst),
        0,
        "a token made the server fetch a URL"
    );
}

/// Sends `token` then asks for `/healthz` on one kept-alive connection to
/// `addr`, and returns what came back.
async fn two_on_one_connection(addr: std::net::SocketAddr, token: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/reports HTTP/1.1\r\nHost: demo\r\nAuthorization: Bearer {token}\r\n\r\n\
         GET /healthz HTTP/1.1\r\nHost: demo\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count() < 2 {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break; // closed: the second answer never comes
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_past_year_9999_are_invalid_tokens_and_the_connection_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let m = Minter::load(dir.path(), pair.credentials());
    for (claim, t) in [
        ("exp", u64::MAX),
        ("exp", 1u64 << 63),
        ("exp", 253_402_300_800),
        ("nbf", u64::MAX),
        ("iat", 1u64 << 63),
    ] {
        let mut claims = m.claims("reports:read");
        claims[claim] = json!(t);
        let token = m.es256(&claims);
        let header = format!("Bearer {token}");
        for listener in [Listener::Tls, Listener::Plain] {
            let a = pair
                .send(
                    listener,
                    "GET",
                    "/v1/reports",
                    &[("authorization", &header)],
                )
                .await;
            assert_eq!(a.status, 401, "{claim}={t} {listener:?}");
            assert_eq!(a.challenges, [INVALID_TOKEN], "{claim}={t}");
        }
        for server in [&pair.axum, &pair.actix] {
            let text = two_on_one_connection(server.http, &token).await;
            let first = text.find("HTTP/1.1 401").expect("the token refused");
            let second = text
                .find("HTTP/1.1 200")
                .expect("the next request answered");
            assert!(first < second, "{claim}={t}: {text}");
        }
    }
}
