//! The example binary as a newcomer runs it, on a free port: with a static
//! JWKS, with a PEM key (tokens minted here with jsonwebtoken), and in dev
//! mode (the tokens it prints).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The running binary, killed when dropped.
struct Running {
    child: Child,
    base: String,
    vars: HashMap<String, String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads its `KEY=value` lines up to the
/// ready line (`listening on http://…`).
fn start(args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_actix-jwt"))
        .args(["--port", "0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on drop from here on, whatever fails below.
    let mut run = Running {
        child,
        base: String::new(),
        vars: HashMap::new(),
    };
    let stdout = run.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Keeps reading after the ready line, so the pipe never fills.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("no ready line");
        if let Some(base) = line.strip_prefix("listening on ") {
            run.base = base.to_owned();
            return run;
        }
        if let Some((k, v)) = line.split_once('=') {
            run.vars.insert(k.to_owned(), v.to_owned());
        }
    }
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "reports-api";

struct Signer {
    key: EncodingKey,
    public_pem: String,
}

fn new_signer() -> Signer {
    let pair = rcgen::KeyPair::generate().unwrap();
    Signer {
        key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        public_pem: pair.public_key_pem(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RFC 9068 access token, with `edit` applied to its claims.
fn token(signer: &Signer, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let now = now();
    let mut claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "svc-1", "client_id": "reporting-job",
        "scope": "reports:read", "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
    });
    edit(&mut claims);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims, &signer.key).unwrap()
}

async fn get(run: &Running, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", run.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
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
    let run = start(&[
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--jwks",
        jwks.to_str().unwrap(),
    ]);

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
    let run = start(&[
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--public-key",
        pem.to_str().unwrap(),
    ]);
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
