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

/// Starts the binary on port 0 and reads its `NAME=value` lines up to the
/// ready line (`listening on http://…`).
fn start() -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_actix-basic"))
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

const BASIC: &str = "Basic realm=\"actix-basic\", charset=\"UTF-8\"";

#[tokio::test]
async fn store_users_log_in_and_refusals_carry_the_basic_challenge() {
    let run = start();
    let http = reqwest::Client::new();
    let alice = run.vars["ALICE_PASSWORD"].clone();
    let admin = run.vars["ADMIN_PASSWORD"].clone();
    let url = |path: &str| format!("{}{path}", run.base);

    // Allowed: alice, from the store, over loopback plaintext.
    let res = http
        .get(url("/v1/reports"))
        .basic_auth("alice", Some(&alice))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .get(url("/v1/whoami"))
        .basic_auth("alice", Some(&alice))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "alice");
    assert_eq!(body["method"], "basic");

    // Refused: no credentials, a wrong password, an unknown user.
    for req in [
        http.get(url("/v1/reports")),
        http.get(url("/v1/reports"))
            .basic_auth("alice", Some("wrong")),
        http.get(url("/v1/reports"))
            .basic_auth("carol", Some(&alice)),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(header(&res, "www-authenticate"), BASIC);
    }

    // Users added at run time: admins only.
    let bob = serde_json::json!({"password": "a long passphrase"});
    let res = http
        .put(url("/v1/users/bob"))
        .basic_auth("alice", Some(&alice))
        .json(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = http
        .get(url("/v1/whoami"))
        .basic_auth("bob", Some("any password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "bob does not exist yet");
    let res = http
        .put(url("/v1/users/bob"))
        .basic_auth("admin", Some(&admin))
        .json(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = http
        .get(url("/v1/whoami"))
        .basic_auth("bob", Some("a long passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .get(url("/v1/reports"))
        .basic_auth("bob", Some("a long passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 403);

    // Five wrong passwords lock alice from this address, even with the
    // right one; admin is not affected.
    for i in 0..4 {
        let res = http
            .get(url("/v1/reports"))
            .basic_auth("alice", Some(format!("wrong-{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = http
        .get(url("/v1/reports"))
        .basic_auth("alice", Some(&alice))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry));
    let res = http
        .get(url("/v1/whoami"))
        .basic_auth("admin", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
