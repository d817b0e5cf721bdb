//! A client nobody here wrote: curl against both adapters, plain and TLS
//! (trusting the demo CA with `--cacert`, as a newcomer would).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::process::Command;

use auth_conformance::Pair;
use auth_demo::Running;

/// Runs curl and returns (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let Some(curl) = auth_conformance::require_tool("curl") else {
        return (0, String::new(), String::new());
    };
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "-D", "-", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn check(server: &Running, pair: &Pair) {
    if auth_conformance::require_tool("curl").is_none() {
        return;
    }
    let c = pair.credentials();
    let http = format!("http://{}", server.http);
    let https = format!("https://localhost:{}", server.https.port());
    let ca = server.state_dir.join("ca.pem");
    let ca = ca.to_str().unwrap();

    let auth = format!("Authorization: Bearer {}", c.api_key("main"));
    let (status, _, body) = curl(&["-H", &auth, &format!("{http}/v1/admin")]);
    assert_eq!(status, 200, "{body}");

    let std = format!("X-API-Key: {}", c.api_key("standard"));
    let (status, head, _) = curl(&["-H", &std, &format!("{http}/v1/admin")]);
    assert_eq!(status, 403);
    assert!(head.contains(
        r#"www-authenticate: bearer realm="demo", error="insufficient_scope", scope="admin""#
    ));

    let (status, _, body) = curl(&[&format!("{http}/v1/whoami?api_key={}", c.api_key("main"))]);
    assert_eq!(status, 400);
    assert!(body.contains("header"));

    let user = format!("alice:{}", c.password("alice"));
    let (status, _, body) = curl(&["--cacert", ca, "-u", &user, &format!("{https}/v1/reports")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""subject":"alice""#));

    let (status, head, body) = curl(&["-u", &user, &format!("{http}/v1/reports")]);
    assert_eq!(status, 401);
    assert!(!head.contains("www-authenticate: basic"));
    assert!(body.contains("TLS"));

    let (status, head, _) = curl(&["--cacert", ca, &format!("{https}/v1/whoami")]);
    assert_eq!(status, 401);
    assert!(head.contains(r#"www-authenticate: basic realm="demo", charset="utf-8""#));
}

#[test]
fn curl_against_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    check(&pair.axum, &pair);
    check(&pair.actix, &pair);
}
