//! The example binary as a newcomer runs it: started on a free port, its
//! printed keys used by reqwest.

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
use std::time::Duration;

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
fn start() -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_axum-api-keys"))
        .args(["--port", "0"])
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

#[tokio::test]
async fn keys_scopes_and_tier_quotas() {
    let run = start();
    let http = reqwest::Client::new();
    let main_key = &run.vars["MAIN_KEY"];
    let standard_key = &run.vars["STANDARD_KEY"];
    assert!(main_key.starts_with("ask_test_"));
    let get = |path: &str| http.get(format!("{}{path}", run.base));

    // Allowed: either header, the identity in the body, the tier's quota
    // in the fields.
    let res = get("/v1/reports")
        .header("x-api-key", main_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-policy"), "\"main\";q=60;w=60");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "acme-main");
    assert_eq!(body["roles"], serde_json::json!(["api_key:main"]));
    let res = get("/v1/admin").bearer_auth(main_key).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // Refused: no key, a made-up key, a scope the key lacks.
    let res = get("/v1/reports").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").starts_with("Bearer"));
    let res = get("/v1/reports")
        .header("x-api-key", "ask_test_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Sent in `X-API-Key`: the answer names that header.
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.starts_with("ApiKey "), "{challenge}");
    assert!(challenge.contains("header=\"X-API-Key\""), "{challenge}");
    let res = get("/v1/admin")
        .header("x-api-key", standard_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");

    // The standard tier: 5 a minute for this key. The 403 above came
    // before the limits stage and used none of them.
    for left in (0..5).rev() {
        let res = get("/v1/reports")
            .header("x-api-key", standard_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), "\"standard\";q=5;w=60");
        let field = header(&res, "ratelimit");
        assert!(field.contains(&format!(";r={left};")), "{field}");
    }
    let res = get("/v1/reports")
        .header("x-api-key", standard_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    // The main key has its own partition and quota.
    let res = get("/v1/reports")
        .header("x-api-key", main_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Unauthenticated routes stay open.
    assert_eq!(get("/healthz").send().await.unwrap().status(), 200);
}
