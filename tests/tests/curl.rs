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

/// The parts of a curl answer that must match across protocols and
/// adapters: the status, the auth-related headers in order, the body.
fn essence(args: &[&str]) -> (String, (u16, Vec<String>, String)) {
    let (status, head, body) = curl(args);
    let version = head.split(' ').next().unwrap_or_default().to_owned();
    // Fields of one name keep their order; across names order carries no
    // meaning (RFC 9110 §5.3), and HTTP/2 servers may reorder them.
    let mut kept: Vec<String> = head
        .lines()
        .filter(|l| {
            [
                "www-authenticate:",
                "content-type:",
                "cache-control:",
                "retry-after:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| l.trim_end().to_owned())
        .collect();
    kept.sort_by_key(|l| l.split(':').next().unwrap_or_default().to_owned());
    (version, (status, kept, body))
}

#[test]
fn http2_on_the_tls_listener_answers_as_http1_on_both_adapters() {
    if auth_conformance::require_tool("curl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials();
    let ca = pair.axum.state_dir.join("ca.pem");
    let ca = ca.to_str().unwrap().to_owned();
    let main = format!("X-API-Key: {}", c.api_key("main"));
    let standard = format!("Authorization: Bearer {}", c.api_key("standard"));
    let user = format!("alice:{}", c.password("alice"));
    let cases: Vec<Vec<String>> = vec![
        vec!["/healthz".into()],
        vec!["/v1/whoami".into(), "-H".into(), main.clone()],
        vec!["/v1/admin".into(), "-H".into(), standard],
        vec!["/v1/whoami".into()],
        vec![
            "/v1/whoami".into(),
            "-H".into(),
            "Authorization: Bearer not.a.jwt".into(),
        ],
        vec!["/v1/reports".into(), "-u".into(), user],
        vec!["/v1/reports".into(), "-u".into(), "alice:wrong".into()],
        vec![
            "/v1/whoami".into(),
            "-H".into(),
            main,
            "-H".into(),
            "Authorization: Basic eDp5".into(),
        ],
        vec!["/nope".into()],
    ];
    let mut first: Vec<(u16, Vec<String>, String)> = Vec::new();
    for server in [&pair.axum, &pair.actix] {
        let base = format!("https://localhost:{}", server.https.port());
        for (i, case) in cases.iter().enumerate() {
            let url = format!("{base}{}", case[0]);
            let mut args: Vec<&str> = vec!["--cacert", &ca];
            args.extend(case[1..].iter().map(String::as_str));
            args.push(&url);
            let mut h2 = vec!["--http2"];
            h2.extend(&args);
            let mut h1 = vec!["--http1.1"];
            h1.extend(&args);
            let (v2, a2) = essence(&h2);
            let (v1, a1) = essence(&h1);
            assert_eq!(v2, "http/2", "{case:?}");
            assert_eq!(v1, "http/1.1", "{case:?}");
            assert_eq!(a2, a1, "{case:?}: HTTP/2 and HTTP/1.1 differ");
            match first.get(i) {
                Some(axum) => assert_eq!(&a2, axum, "{case:?}: axum and actix differ"),
                None => first.push(a2),
            }
        }
    }
    // The cases are not all alike: some are accepted, some refused.
    let statuses: std::collections::BTreeSet<u16> = first.iter().map(|a| a.0).collect();
    assert!(statuses.len() >= 4, "{statuses:?}");
}
