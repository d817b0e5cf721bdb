//! The `auth-demo` binary as a newcomer runs it: flags, the ready file,
//! `credentials.json`, state kept across restarts, a clean stop on Ctrl-C.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Demo, start};

use auth_demo::Credentials;

/// Sends SIGINT (Ctrl-C) and returns the exit status and the log.
fn interrupt(mut demo: Demo) -> (std::process::ExitStatus, String) {
    let pid = demo.child.id().to_string();
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = demo.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    use std::io::Read;
    demo.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    (status, log)
}

async fn get(url: &str, header: (&str, &str)) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_stops_cleanly_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut first_keys = None;
    for framework in ["axum", "actix", "axum"] {
        let demo = start(framework, dir.path(), &[]);
        let creds = Credentials::load(dir.path()).unwrap();
        // The issuer follows the bound port of this run.
        assert_eq!(creds.issuer, format!("http://{}", demo.http));
        assert_ne!(demo.http, demo.https);
        // The keys are the ones of the first start.
        match &first_keys {
            None => first_keys = Some(creds.api_keys.clone()),
            Some(k) => assert_eq!(
                k, &creds.api_keys,
                "{framework}: keys changed across restarts"
            ),
        }
        let main = creds.api_key("main").to_owned();
        let ok = get(
            &format!("http://{}/v1/admin", demo.http),
            ("x-api-key", &main),
        )
        .await;
        assert_eq!(ok, 200, "{framework}");
        let refused = get(
            &format!("http://{}/v1/admin", demo.http),
            ("x-api-key", "nope"),
        )
        .await;
        assert_eq!(refused, 401, "{framework}");

        let (status, log) = interrupt(demo);
        assert!(status.success(), "{framework}: exit {status:?}\n{log}");
        assert!(
            log.contains("auth_core::decision"),
            "{framework}: one line per decision\n{log}"
        );
        assert!(!log.contains(&main), "{framework}: a key reached the log");
    }
    // The server side keeps hashes only.
    let server = std::fs::read_to_string(dir.path().join("server/api-keys.json")).unwrap();
    for key in first_keys.unwrap().values() {
        assert!(!server.contains(key.as_str()));
    }
    let users = std::fs::read_to_string(dir.path().join("server/basic-users.json")).unwrap();
    assert!(users.contains("$argon2id$"));
}

#[test]
fn bad_flags_are_refused_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_auth-demo"))
        .args(["--framework", "rocket"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("axum or actix"));
    let out = Command::new(env!("CARGO_BIN_EXE_auth-demo"))
        .args(["--http"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
