//! The harness the example tests share: start an example binary on a free
//! port, read what it prints, and talk to it with reqwest; make rcgen
//! certificates and mint ES256 tokens. Not a crate: each test includes it
//! with `#[path = "../../support/harness.rs"] mod harness;` and passes its
//! own `env!("CARGO_BIN_EXE_…")` (that macro is per crate).

// Compiled into every example's tests, and no test uses every item.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
    date_time_ymd,
};

/// The running binary, killed when dropped.
pub(crate) struct Running {
    child: Child,
    pub(crate) base: String,
    pub(crate) vars: HashMap<String, String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// `base` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Starts the binary at `bin` on port 0 with `args` and `envs`, and reads
/// its `KEY=value` lines up to the ready line (`listening on http://…`).
pub(crate) fn start(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let child = Command::new(bin)
        .args(["--port", "0"])
        .args(args)
        .envs(envs.iter().copied())
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

/// The first value of header `name`, or "" without one.
pub(crate) fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// GET `path` on `run`, with `token` as a bearer token if given.
pub(crate) async fn get_bearer(
    run: &Running,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(run.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Sends `req`: its status, every `WWW-Authenticate` value joined with
/// ", ", and its JSON body (`Null` without one).
pub(crate) async fn status_and_challenge(
    req: reqwest::RequestBuilder,
) -> (u16, String, serde_json::Value) {
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

/// A client trusting only `ca_pem`, presenting `cert` (PEM, certificate
/// then key) if given.
pub(crate) fn https(ca_pem: &str, cert: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = cert {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// A client certificate: PEM (certificate then key, for reqwest) and DER.
pub(crate) struct ClientCert {
    pub(crate) pem: String,
    pub(crate) der: Vec<u8>,
}

/// A new CA, and its certificate's PEM.
pub(crate) fn ca() -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    (Issuer::new(params, key), pem)
}

/// A client certificate for `spiffe_id` from `issuer`, expired in 2002 if
/// `expired`.
pub(crate) fn client_cert(
    issuer: &Issuer<'static, KeyPair>,
    spiffe_id: &str,
    expired: bool,
) -> ClientCert {
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

/// `ca.pem`, `server.pem` and `server.key` (for 127.0.0.1) in `dir`; the CA.
pub(crate) fn write_server_pki(dir: &Path) -> (Issuer<'static, KeyPair>, String) {
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

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A new ES256 key: for signing, and its public key's PEM.
pub(crate) fn es256_key() -> (EncodingKey, String) {
    let pair = KeyPair::generate().unwrap();
    (
        EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        pair.public_key_pem(),
    )
}

/// An RFC 9068 access token (ES256, typ `at+jwt`, `kid` if given) with
/// these claims.
pub(crate) fn mint(key: &EncodingKey, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}
