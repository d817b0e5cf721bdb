//! The conformance suite's harness: start the demo on both adapters, send
//! each case to both over real HTTP and TLS, and compare the answers.
//!
//! The cases themselves live in `tests/`.

// A test harness: a panic here is a failed test, with its message.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod jwt;

use std::path::Path;
use std::time::Duration;

use auth_demo::{DemoConfig, Framework, Running};

/// The issuer both adapters of a [`Pair`] share.
pub const PAIR_ISSUER: &str = "https://issuer.auth-demo.test";

/// Both adapters, started on the same state directory.
pub struct Pair {
    /// auth-tower on axum.
    pub axum: Running,
    /// auth-actix on actix-web.
    pub actix: Running,
    client: reqwest::Client,
}

/// Which listener a case is sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// Plain HTTP.
    Plain,
    /// TLS.
    Tls,
}

/// What came back, in the parts that must match across adapters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Every `WWW-Authenticate` field, in order.
    pub challenges: Vec<String>,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A config for tests: free ports, the given state directory.
pub fn test_config(framework: Framework, state_dir: &Path) -> DemoConfig {
    DemoConfig {
        framework,
        http: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        https: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        state_dir: state_dir.to_path_buf(),
        ..DemoConfig::default()
    }
}

/// A reqwest client that trusts the demo CA of `state_dir` and nothing else.
pub fn client(state_dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(state_dir.join("ca.pem")).unwrap_or_default();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap_or_default())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

impl Pair {
    /// Starts both adapters with `tweak` applied to their configs.
    pub fn start_with(state_dir: &Path, tweak: impl Fn(&mut DemoConfig)) -> Self {
        // One issuer for both, as several processes of one service would be
        // configured with `--issuer`.
        let issuer = Some(PAIR_ISSUER.to_owned());
        let mut a = test_config(Framework::Axum, state_dir);
        a.issuer = issuer.clone();
        tweak(&mut a);
        let axum = auth_demo::spawn(a).unwrap_or_else(|e| panic!("axum demo: {e}"));
        let mut b = test_config(Framework::Actix, state_dir);
        b.issuer = issuer;
        tweak(&mut b);
        let actix = auth_demo::spawn(b).unwrap_or_else(|e| panic!("actix demo: {e}"));
        let client = client(state_dir);
        Self {
            axum,
            actix,
            client,
        }
    }

    /// Starts both adapters with the default config.
    pub fn start(state_dir: &Path) -> Self {
        Self::start_with(state_dir, |_| {})
    }

    /// The credentials of the run.
    pub fn credentials(&self) -> &auth_demo::Credentials {
        &self.axum.credentials
    }

    /// The client trusting the demo CA.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request to one adapter.
    pub async fn send_to(
        &self,
        server: &Running,
        listener: Listener,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let base = match listener {
            Listener::Plain => format!("http://{}", server.http),
            Listener::Tls => format!("https://localhost:{}", server.https.port()),
        };
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("method {method}: {e}"));
        let mut req = self.client.request(method, format!("{base}{target}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{target}: {e}"));
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let challenges = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let status = res.status().as_u16();
        let retry_after = header("retry-after");
        let content_type = header("content-type");
        let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Answer {
            status,
            challenges,
            retry_after,
            content_type,
            body,
        }
    }

    /// Sends one request to both adapters, asserts that they answer the
    /// same, and returns the answer.
    pub async fn send(
        &self,
        listener: Listener,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let a = self
            .send_to(&self.axum, listener, method, target, headers)
            .await;
        let b = self
            .send_to(&self.actix, listener, method, target, headers)
            .await;
        // Byte for byte, except that a Retry-After counting down a window
        // each process started on its own request may be a second apart.
        let seconds = |x: &Answer| x.retry_after.as_deref().and_then(|v| v.parse::<u64>().ok());
        let close = match (seconds(&a), seconds(&b)) {
            (Some(x), Some(y)) => x.abs_diff(y) <= 1,
            _ => a.retry_after == b.retry_after,
        };
        let same = Answer {
            retry_after: a.retry_after.clone(),
            ..b.clone()
        };
        assert!(
            close && a == same,
            "axum and actix answer {method} {target} ({listener:?}) differently:\n{a:?}\n{b:?}"
        );
        a
    }
}

/// `Basic` credentials for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Whether the test run is under CI, where no test may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds an outside tool; without it, skip loudly, or fail under CI.
pub fn require_tool(tool: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !under_ci(),
            "`{tool}` is missing and CI=true: nothing may be skipped (run ./scripts/test.sh, which installs it)"
        );
        eprintln!(
            "\n*** SKIPPED: `{tool}` is not installed; run ./scripts/test.sh to install it ***\n"
        );
    }
    found
}

/// The test Python (`$AUTH_STACK_PYTHON`, or the workspace's `.venv`) if
/// it can `import` each of `modules`; without it, skip loudly, or fail
/// under CI. `./scripts/test.sh` installs them.
pub fn python_with(modules: &[&str]) -> Option<std::path::PathBuf> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        std::env::var_os("AUTH_STACK_PYTHON").map(std::path::PathBuf::from),
        Some(root.join(".venv/bin/python")),
    ];
    let import = format!("import {}", modules.join(", "));
    let found = candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", &import])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let names = modules.join(", ");
        assert!(
            !under_ci(),
            "Python modules {names} are missing and CI=true: run ./scripts/test.sh, which installs them"
        );
        eprintln!(
            "\n*** SKIPPED: Python modules {names} are not installed (.venv); run ./scripts/test.sh to install them ***\n"
        );
    }
    found
}

/// The Rust examples of the root README, compiled as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
