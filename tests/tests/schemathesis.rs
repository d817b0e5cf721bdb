//! Schemathesis (PyPI), a fuzzer nobody here wrote, runs against the demo's
//! OpenAPI document on both adapters: over plain HTTP with an API key and
//! with no credential, and over TLS with a client certificate and Basic
//! credentials. It must find no 5xx (`not_a_server_error`). The number of
//! requests each run made is printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::process::Command;

use auth_conformance::{Pair, python_with};

/// Runs schemathesis on `schema` with `args`; the number of test cases it
/// generated, all of which passed.
fn fuzz(python: &std::path::Path, schema: &str, args: &[String]) -> u64 {
    let cli = python.with_file_name("schemathesis");
    let out = Command::new(&cli)
        .args(["run", schema, "--checks", "not_a_server_error"])
        .args(["--max-examples", "25", "--seed", "7", "--workers", "2"])
        .args(["--request-timeout", "20", "--max-redirects", "0"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cli.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found a problem:\n{text}"
    );
    // "Test cases:\n  266 generated, 266 passed"
    let line = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] == numbers[1] && numbers[0] > 0,
        "not every case passed: {line}\n{text}"
    );
    numbers[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_on_either_adapter() {
    let Some(python) = python_with(&["schemathesis"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials().clone();
    let main = format!("X-API-Key: {}", c.api_key("main"));
    let alice = format!("alice:{}", c.password("alice"));
    let ca = dir.path().join("ca.pem");
    let cert = dir.path().join("billing.pem");
    let key = dir.path().join("billing.key");
    let mut total = 0;
    for server in [&pair.axum, &pair.actix] {
        let plain = format!("http://{}/openapi.json", server.http);
        let tls = format!("https://localhost:{}/openapi.json", server.https.port());
        let runs = [
            (plain.clone(), vec!["-H", main.as_str()]),
            (plain.clone(), vec![]),
            (
                tls,
                vec![
                    "-a",
                    alice.as_str(),
                    "--tls-verify",
                    ca.to_str().unwrap(),
                    "--request-cert",
                    cert.to_str().unwrap(),
                    "--request-cert-key",
                    key.to_str().unwrap(),
                ],
            ),
        ];
        for (schema, args) in runs {
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            let cases = tokio::task::spawn_blocking({
                let python = python.clone();
                move || fuzz(&python, &schema, &args)
            })
            .await
            .unwrap();
            total += cases;
        }
    }
    println!("schemathesis: {total} test cases over 6 runs, no server error");
    assert!(total >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_the_same_on_both_adapters_and_names_each_guard() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let mut docs = Vec::new();
    for server in [&pair.axum, &pair.actix] {
        let res = pair
            .client()
            .get(format!("http://{}/openapi.json", server.http))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        docs.push(res.bytes().await.unwrap());
    }
    assert_eq!(docs[0], docs[1]);
    let doc: serde_json::Value = serde_json::from_slice(&docs[0]).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer_jwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["mutual_tls"]["type"], "mutualTLS");
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        format!("{}/oauth/token", auth_conformance::PAIR_ISSUER)
    );
    // A scope route names its scope; any-of routes list each method as an
    // alternative; the partner route needs a token and a certificate at once.
    let security = |path: &str| doc["paths"][path]["get"]["security"].clone();
    assert!(
        security("/v1/admin")
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"api_key": ["admin"]}))
    );
    assert_eq!(security("/v1/whoami").as_array().unwrap().len(), 5);
    assert_eq!(
        security("/v1/partner"),
        serde_json::json!([
            {"bearer_jwt": [], "mutual_tls": []},
            {"bearer": [], "mutual_tls": []}
        ])
    );
    assert_eq!(
        security("/v1/service"),
        serde_json::json!([{"mutual_tls": []}])
    );
    assert!(doc["paths"]["/healthz"]["get"].get("security").is_none());
    assert!(doc["paths"]["/v1/limited"]["get"]["responses"]["429"].is_object());
}
