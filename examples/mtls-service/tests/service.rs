//! The example binary over real TLS handshakes, on a free port: with
//! certificates made here with rcgen, and in dev mode (the PKI it makes).

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
use std::time::Duration;

use auth_core::mtls::thumbprint_of;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
    date_time_ymd,
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
    let child = Command::new(env!("CARGO_BIN_EXE_mtls-service"))
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

fn client_cert(issuer: &Issuer<'static, KeyPair>, spiffe_id: &str, expired: bool) -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        params.not_before = date_time_ymd(2001, 1, 1);
        params.not_after = date_time_ymd(2002, 1, 1);
    }
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
async fn the_allow_list_over_real_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, ca_pem) = write_server_pki(dir.path());
    let billing = client_cert(&issuer, "spiffe://example.org/billing", false);
    let reporting = client_cert(&issuer, "spiffe://example.org/reporting", false);
    let stranger = client_cert(&issuer, "spiffe://other.org/billing", false);
    let expired = client_cert(&issuer, "spiffe://example.org/billing", true);
    let untrusted = client_cert(&ca().0, "spiffe://example.org/billing", false);
    let run = start(&[
        "--pki",
        dir.path().to_str().unwrap(),
        "--allow",
        "spiffe://example.org/billing",
    ]);
    let url = format!("{}/v1/service", run.base);

    // Allowed: billing, by its SPIFFE ID.
    let (s, _, body) = status_and_challenge(https(&ca_pem, Some(&billing.pem)).get(&url)).await;
    assert_eq!(s, 200);
    assert_eq!(body["caller"], "spiffe://example.org/billing");
    assert_eq!(body["method"], "mtls");
    assert_eq!(body["certificate_thumbprint"], thumbprint_of(&billing.der));

    // A trusted workload that is not on the list: 403.
    let (s, _, body) = status_and_challenge(https(&ca_pem, Some(&reporting.pem)).get(&url)).await;
    assert_eq!(s, 403);
    assert_eq!(body["status"], 403);
    // A certificate from the trusted CA that no rule knows (another trust
    // domain), and no certificate at all: 401, with no challenge to offer.
    for client in [https(&ca_pem, Some(&stranger.pem)), https(&ca_pem, None)] {
        let (s, challenge, _) = status_and_challenge(client.get(&url)).await;
        assert_eq!(s, 401);
        assert_eq!(challenge, "");
    }
    // An untrusted CA or an expired certificate: no HTTP answer at all.
    for pem in [&untrusted.pem, &expired.pem] {
        let res = https(&ca_pem, Some(pem)).get(&url).send().await;
        assert!(res.is_err(), "{res:?}");
    }
    // The health check needs no certificate.
    let res = https(&ca_pem, None)
        .get(format!("{}/healthz", run.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn dev_mode_makes_a_pki_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let run = start(&["--pki", pki.to_str().unwrap()]);
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let ca_pem = read("ca.pem");
    let url = format!("{}/v1/service", run.base);
    let billing = format!("{}{}", read("billing.pem"), read("billing.key"));
    let reporting = format!("{}{}", read("reporting.pem"), read("reporting.key"));
    let (s, _, body) = status_and_challenge(https(&ca_pem, Some(&billing)).get(&url)).await;
    assert_eq!(s, 200);
    assert_eq!(body["caller"], "spiffe://example.org/billing");
    let (s, _, _) = status_and_challenge(https(&ca_pem, Some(&reporting)).get(&url)).await;
    assert_eq!(s, 403);
    let (s, _, _) = status_and_challenge(https(&ca_pem, None).get(&url)).await;
    assert_eq!(s, 401);
}
