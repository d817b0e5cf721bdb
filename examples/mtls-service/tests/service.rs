//! The example binary over real TLS handshakes, on a free port: with
//! certificates made here with rcgen, and in dev mode (the PKI it makes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use auth_core::mtls::thumbprint_of;
use harness::{Running, ca, client_cert, https, status_and_challenge, write_server_pki};

fn start(args: &[&str]) -> Running {
    harness::start(env!("CARGO_BIN_EXE_mtls-service"), args, &[])
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
