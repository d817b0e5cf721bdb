//! The demo's TLS parts on both adapters, with real handshakes: the
//! `billing` certificate opens `/v1/service`, `reporting` is refused 403, no
//! certificate 401; certificates from an untrusted CA, expired or revoked
//! (the demo's CRL) fail the handshake; `/v1/whoami` by certificate; a token
//! the authorization server bound to a certificate opens `/v1/partner` with
//! that certificate only; a header credential decides over a certificate;
//! and curl and `openssl s_client`, clients nobody here wrote.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::path::Path;
use std::process::Command;

use auth_conformance::{Pair, require_tool};
use auth_demo::Running;

/// A client trusting the demo CA, presenting `cert` (a name in
/// credentials.json's tls section: billing, reporting…) if given.
fn client(dir: &Path, cert: Option<&str>) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap());
    if let Some(name) = cert {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

async fn get(
    c: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut req = c.get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        res.status().as_u16(),
        res.json().await.unwrap_or_default(),
        challenge,
    )
}

fn tls(demo: &Running, path: &str) -> String {
    format!("https://localhost:{}{path}", demo.https.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_bound_tokens_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let d = dir.path();
    let creds = pair.credentials().clone();
    let (billing, reporting, none) = (
        client(d, Some("billing")),
        client(d, Some("reporting")),
        client(d, None),
    );
    let (sid, ssecret) = creds.oauth_client("service");
    let mut answers = Vec::new();
    for demo in [&pair.axum, &pair.actix] {
        let (status, body, _) = get(&billing, tls(demo, "/v1/service"), None).await;
        assert_eq!(
            (status, body["subject"].as_str()),
            (200, Some("spiffe://demo.local/billing"))
        );
        assert_eq!(body["method"], "mtls");
        let (status, _, challenge) = get(&reporting, tls(demo, "/v1/service"), None).await;
        assert_eq!((status, challenge), (403, None));
        let (status, body, challenge) = get(&none, tls(demo, "/v1/service"), None).await;
        assert_eq!(status, 401);
        // Certificates only: no HTTP authentication scheme to offer.
        assert_eq!(challenge, None);
        answers.push(body);
        // On the plain listener there is never a certificate.
        let plain = reqwest::Client::builder().no_proxy().build().unwrap();
        assert_eq!(
            get(&plain, format!("http://{}/v1/service", demo.http), None)
                .await
                .0,
            401
        );
        // /v1/whoami by certificate; a header credential decides over it.
        let (status, body, _) = get(&reporting, tls(demo, "/v1/whoami"), None).await;
        assert_eq!(
            (status, body["subject"].as_str()),
            (200, Some("spiffe://demo.local/reporting"))
        );
        let (status, body, _) = get(
            &reporting,
            tls(demo, "/v1/whoami"),
            Some(creds.api_key("standard")),
        )
        .await;
        assert_eq!((status, body["method"].as_str()), (200, Some("api_key")));
        // Refused in the handshake: another CA, expired, revoked by the CRL.
        for name in ["untrusted", "expired", "revoked"] {
            let err = client(d, Some(name))
                .get(tls(demo, "/v1/whoami"))
                .send()
                .await;
            assert!(err.is_err(), "{name}: the handshake must fail");
        }

        // A token requested with billing's certificate is bound to it.
        let token: serde_json::Value = billing
            .post(tls(demo, "/oauth/token"))
            .basic_auth(sid, Some(ssecret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bound = token["access_token"].as_str().unwrap().to_owned();
        let (status, body, _) = get(&billing, tls(demo, "/v1/partner"), Some(&bound)).await;
        assert_eq!((status, body["subject"].as_str()), (200, Some(sid)));
        for (who, c) in [("reporting", &reporting), ("no certificate", &none)] {
            let (status, _, challenge) = get(c, tls(demo, "/v1/partner"), Some(&bound)).await;
            assert_eq!(status, 401, "{who}");
            assert!(
                challenge.unwrap_or_default().contains("invalid_token"),
                "{who}"
            );
        }
        let plain = reqwest::Client::builder().no_proxy().build().unwrap();
        let (status, _, challenge) = get(
            &plain,
            format!("http://{}/v1/partner", demo.http),
            Some(&bound),
        )
        .await;
        assert_eq!(status, 401);
        assert!(challenge.unwrap_or_default().contains("invalid_token"));
        // The bound token elsewhere: with its certificate only.
        assert_eq!(
            get(&billing, tls(demo, "/v1/reports"), Some(&bound))
                .await
                .0,
            200
        );
        assert_eq!(
            get(&none, tls(demo, "/v1/reports"), Some(&bound)).await.0,
            401
        );
        // An unbound token (no certificate at the token endpoint) and a
        // certificate: /v1/partner wants the binding.
        let token: serde_json::Value = none
            .post(tls(demo, "/oauth/token"))
            .basic_auth(sid, Some(ssecret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let unbound = token["access_token"].as_str().unwrap();
        assert_eq!(
            get(&billing, tls(demo, "/v1/partner"), Some(unbound))
                .await
                .0,
            403
        );
    }
    assert_eq!(answers[0], answers[1], "the same refusal on both adapters");
}

#[test]
fn curl_and_openssl_speak_mtls_to_the_demo() {
    let (Some(curl), Some(openssl)) = (require_tool("curl"), require_tool("openssl")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/mtls_clients.sh");
    for demo in [&pair.axum, &pair.actix] {
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .arg(demo.https.port().to_string())
            .env("CURL", &curl)
            .env("OPENSSL", &openssl)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("ok: all mTLS checks passed"), "{stdout}");
    }
}
