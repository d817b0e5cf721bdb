//! The example binary over real TLS handshakes, on a free port: with a PKI
//! and a JWT key made here (rcgen, jsonwebtoken), and in dev mode (the PKI
//! and tokens it makes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::mtls::thumbprint_of;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
};

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
    let child = Command::new(env!("CARGO_BIN_EXE_multi-method"))
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

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "multi-method";

/// A client certificate: PEM (certificate then key, for reqwest) and DER.
struct ClientCert {
    pem: String,
    der: Vec<u8>,
}

fn ca() -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    (Issuer::new(params, key), pem)
}

fn client_cert(issuer: &Issuer<'static, KeyPair>, spiffe_id: &str) -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    ClientCert {
        pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        der: cert.der().to_vec(),
    }
}

/// `ca.pem`, `server.pem` and `server.key` in `dir`; the CA.
fn write_server_pki(dir: &Path) -> (Issuer<'static, KeyPair>, String) {
    let (issuer, ca_pem) = ca();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    (issuer, ca_pem)
}

fn https(ca_pem: &str, cert: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = cert {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

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
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn status_and_challenge(req: reqwest::RequestBuilder) -> (u16, String, serde_json::Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ");
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, challenge, body)
}

#[tokio::test]
async fn any_of_and_all_of_over_real_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, ca_pem) = write_server_pki(dir.path());
    let partner = client_cert(&issuer, "spiffe://example.org/partner");
    let other = client_cert(&issuer, "spiffe://example.org/other");
    let untrusted = client_cert(&ca().0, "spiffe://example.org/partner");
    let jwt_pair = KeyPair::generate().unwrap();
    let jwt_key = EncodingKey::from_ec_pem(jwt_pair.serialize_pem().as_bytes()).unwrap();
    let jwt_pub = dir.path().join("jwt.pub.pem");
    std::fs::write(&jwt_pub, jwt_pair.public_key_pem()).unwrap();
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
    let url = |path: &str| format!("{}{path}", run.base);
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
    let url = |path: &str| format!("{}{path}", run.base);
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
