//! The real `authctl` binary beside a running demo (started in process on
//! free ports), on the demo's own state directory: keys it issues open the
//! demo's routes with their scopes, a key it revokes is refused within
//! seconds and the demo's own writes never bring it back; client
//! certificates it issues pass (billing) or are refused (reporting) on the
//! mTLS route, and its CRL is loaded by the demo; development tokens it
//! mints open the routes their scopes allow; its JWKS matches the demo's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use auth_demo::{Framework, Running};
use support::demo::{args, get, http, key_id, run, start};

/// How long a change may take to reach the running demo: the key store is
/// re-read every 2 s, the CRL every 5 s.
const WITHIN: Duration = Duration::from_secs(15);

/// Asks until the answer is `want` or [`WITHIN`] has passed; the last answer.
async fn poll(
    c: &reqwest::Client,
    url: &str,
    header: (&str, &str),
    want: u16,
) -> (u16, serde_json::Value) {
    let start = Instant::now();
    loop {
        let got = get(c, url, header).await;
        if got.0 == want || start.elapsed() > WITHIN {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The stored record of key `id`, as the file holds it now.
fn record(dir: &Path, id: &str) -> serde_json::Value {
    let bytes = std::fs::read(dir.join("server/api-keys.json")).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no record {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_authctl_open_the_running_demo_and_a_revocation_sticks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let demo = start(&d, Framework::Axum, None);
    let sd = d.to_str().unwrap().to_owned();
    let c = http();
    let url = |p: &str| format!("http://{}{p}", demo.http);
    let new = |owner: &str, extra: &[&str]| {
        let mut a = args(&["key", "new", "--state-dir", &sd, "--owner", owner]);
        a.extend(args(extra));
        a
    };

    let reader = run(new("carol", &["--scope", "reports:read"]), None)
        .await
        .expect(0);
    let reader_key = reader.out().to_owned();
    assert_eq!(
        reader.stdout,
        format!("{reader_key}\n"),
        "the key alone on stdout"
    );
    let admin_key = run(
        new(
            "dave",
            &[
                "--tier",
                "main",
                "--scope",
                "reports:read,reports:write,admin",
            ],
        ),
        None,
    )
    .await
    .expect(0)
    .out()
    .to_owned();
    let spare_key = run(new("erin", &["--scope", "reports:read"]), None)
        .await
        .expect(0)
        .out()
        .to_owned();
    let reader_id = key_id(&reader_key);

    // Another process's keys reach the demo when it re-reads the file.
    let (status, body) = poll(&c, &url("/v1/whoami"), ("x-api-key", &reader_key), 200).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "carol");
    assert_eq!(body["method"], "api_key");
    assert_eq!(body["key_id"], reader_id);
    let bearer = format!("Bearer {reader_key}");
    assert_eq!(
        get(&c, &url("/v1/reports"), ("authorization", &bearer))
            .await
            .0,
        200
    );
    // Scopes hold: no admin for carol, admin for dave.
    assert_eq!(
        get(&c, &url("/v1/admin"), ("x-api-key", &reader_key))
            .await
            .0,
        403
    );
    assert_eq!(
        poll(&c, &url("/v1/admin"), ("x-api-key", &admin_key), 200)
            .await
            .0,
        200
    );

    // Listing shows who and what, never a key or the pepper.
    let list = run(args(&["key", "list", "--state-dir", &sd]), None)
        .await
        .expect(0);
    for owner in ["carol", "dave", "erin", "demo-customer"] {
        assert!(list.stdout.contains(owner), "{}", list.stdout);
    }
    let pepper = std::fs::read_to_string(d.join("server/pepper")).unwrap();
    let mut secrets = vec![
        reader_key.clone(),
        admin_key.clone(),
        spare_key.clone(),
        pepper.trim().to_owned(),
    ];
    secrets.extend(demo.credentials.api_keys.values().cloned());
    for s in &secrets {
        assert!(!list.all().contains(s.as_str()), "a secret in key list");
    }

    // Revoked by authctl: refused by the running demo within seconds.
    let revoked = run(
        args(&["key", "revoke", "--state-dir", &sd, &reader_id]),
        None,
    )
    .await
    .expect(0);
    assert!(revoked.stdout.is_empty());
    for s in &secrets {
        assert!(!revoked.all().contains(s.as_str()));
    }
    let (status, body) = poll(&c, &url("/v1/whoami"), ("x-api-key", &reader_key), 401).await;
    assert_eq!(status, 401, "refused once revoked: {body}");

    // The demo writes its own change (the spare key's first use) after the
    // revocation: its write folds the file in, and the revocation stays.
    assert!(record(&d, &key_id(&spare_key))["last_used_at"].is_null());
    assert_eq!(
        poll(&c, &url("/v1/whoami"), ("x-api-key", &spare_key), 200)
            .await
            .0,
        200
    );
    let start = Instant::now();
    while record(&d, &key_id(&spare_key))["last_used_at"].is_null() {
        assert!(start.elapsed() < WITHIN, "the demo wrote the key's use");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        record(&d, &reader_id)["revoked_at"].is_u64(),
        "still revoked in the file"
    );
    // Past two of the demo's reloads: still refused, still revoked.
    tokio::time::sleep(auth_core::store::RELOAD_EVERY * 2 + Duration::from_secs(1)).await;
    assert_eq!(
        get(&c, &url("/v1/whoami"), ("x-api-key", &reader_key))
            .await
            .0,
        401
    );
    assert_eq!(
        get(&c, &url("/v1/whoami"), ("authorization", &bearer))
            .await
            .0,
        401
    );
    assert!(record(&d, &reader_id)["revoked_at"].is_u64());
    // The demo's own keys are untouched.
    let main = demo.credentials.api_keys["main"].clone();
    assert_eq!(
        get(&c, &url("/v1/admin"), ("x-api-key", &main)).await.0,
        200
    );

    // Rotated with no grace: the new key opens, the old one is refused.
    let rotated = run(
        args(&[
            "key",
            "rotate",
            "--state-dir",
            &sd,
            &key_id(&admin_key),
            "--grace",
            "0s",
        ]),
        None,
    )
    .await
    .expect(0);
    let new_key = rotated.out().to_owned();
    assert_ne!(new_key, admin_key);
    assert_eq!(
        poll(&c, &url("/v1/admin"), ("x-api-key", &new_key), 200)
            .await
            .0,
        200
    );
    assert_eq!(
        poll(&c, &url("/v1/admin"), ("x-api-key", &admin_key), 401)
            .await
            .0,
        401
    );
    demo.stop();
}

/// A client trusting the demo's CA, presenting `cert` and `key` (PEM files).
fn tls_client(dir: &Path, cert: &Path, key: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        // A new connection (and handshake) for every request.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The status of `GET /v1/service`, or `None` if the handshake failed.
async fn service(demo: &Running, client: &reqwest::Client) -> Option<u16> {
    let url = format!("https://localhost:{}/v1/service", demo.https.port());
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_from_authctl_pass_the_demos_mtls_route() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let demo = start(&d, Framework::Actix, None);
    let sd = d.to_str().unwrap().to_owned();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap().to_owned();

    let issue = |spiffe: &str, name: &str| {
        args(&[
            "pki",
            "client",
            "--state-dir",
            &sd,
            "--spiffe",
            spiffe,
            "--name",
            name,
            "--out-dir",
            &o,
        ])
    };
    let billing = run(issue("spiffe://demo.local/billing", "svc-billing"), None)
        .await
        .expect(0)
        .json();
    run(
        issue("spiffe://demo.local/reporting", "svc-reporting"),
        None,
    )
    .await
    .expect(0);
    let cert = |name: &str| out.path().join(format!("{name}.pem"));
    let key = |name: &str| out.path().join(format!("{name}.key"));
    #[cfg(unix)]
    assert_eq!(support::mode(&key("svc-billing")), 0o600);

    let billing_client = tls_client(&d, &cert("svc-billing"), &key("svc-billing"));
    let url = format!("https://localhost:{}/v1/service", demo.https.port());
    let res = billing_client.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "spiffe://demo.local/billing");
    assert_eq!(body["method"], "mtls");
    let reporting_client = tls_client(&d, &cert("svc-reporting"), &key("svc-reporting"));
    assert_eq!(service(&demo, &reporting_client).await, Some(403));

    // Revoked by a CRL authctl writes where the demo loads it: the demo's
    // own entry (its `revoked` certificate) is kept, and the next handshake
    // with the revoked certificate fails.
    let serial = billing["serial"].as_str().unwrap().to_owned();
    let crl = run(
        args(&[
            "pki",
            "crl",
            "--state-dir",
            &sd,
            "--revoke-cert",
            cert("svc-billing").to_str().unwrap(),
        ]),
        None,
    )
    .await
    .expect(0)
    .json();
    assert_eq!(crl["crl"], d.join("crl.pem").to_str().unwrap());
    assert_eq!(
        crl["revoked"],
        serde_json::json!(["68", serial]),
        "104 = 0x68, the demo's"
    );
    assert_eq!(crl["crl_number"], "02");
    let start = Instant::now();
    while service(&demo, &billing_client).await.is_some() {
        assert!(start.elapsed() < WITHIN, "the demo reloads the CRL");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let demo_revoked = tls_client(&d, &d.join("revoked.pem"), &d.join("revoked.key"));
    assert_eq!(service(&demo, &demo_revoked).await, None, "still revoked");
    let demo_billing = tls_client(&d, &d.join("billing.pem"), &d.join("billing.key"));
    assert_eq!(service(&demo, &demo_billing).await, Some(200));
    assert_eq!(service(&demo, &reporting_client).await, Some(403));
    demo.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_tokens_from_authctl_open_the_demos_routes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let demo = start(&d, Framework::Axum, None);
    let sd = d.to_str().unwrap().to_owned();
    let c = http();
    let url = |p: &str| format!("http://{}{p}", demo.http);
    let mint = |extra: &[&str]| {
        let mut a = args(&["jwt", "mint", "--dev", "--state-dir", &sd]);
        a.extend(args(extra));
        a
    };
    let bearer = |t: &str| format!("Bearer {t}");

    let reader = run(mint(&["--scope", "reports:read", "--sub", "u-7"]), None)
        .await
        .expect(0)
        .out()
        .to_owned();
    let (status, body) = get(&c, &url("/v1/reports"), ("authorization", &bearer(&reader))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "u-7");
    assert_eq!(body["method"], "jwt");
    assert_eq!(
        get(&c, &url("/v1/admin"), ("authorization", &bearer(&reader)))
            .await
            .0,
        403
    );
    let admin = run(mint(&["--scope", "admin"]), None)
        .await
        .expect(0)
        .out()
        .to_owned();
    assert_eq!(
        get(&c, &url("/v1/admin"), ("authorization", &bearer(&admin)))
            .await
            .0,
        200
    );
    for alg in ["RS256", "HS256"] {
        let t = run(mint(&["--alg", alg, "--scope", "reports:read"]), None)
            .await
            .expect(0)
            .out()
            .to_owned();
        let (status, body) = get(&c, &url("/v1/reports"), ("authorization", &bearer(&t))).await;
        assert_eq!(status, 200, "{alg}: {body}");
    }
    // Another issuer, or no typ at+jwt: the demo refuses them.
    let evil = run(
        mint(&["--iss", "https://evil.example", "--scope", "admin"]),
        None,
    )
    .await
    .expect(0)
    .out()
    .to_owned();
    assert_eq!(
        get(&c, &url("/v1/whoami"), ("authorization", &bearer(&evil)))
            .await
            .0,
        401
    );
    let typ = run(mint(&["--typ", "JWT"]), None)
        .await
        .expect(0)
        .out()
        .to_owned();
    assert_eq!(
        get(&c, &url("/v1/whoami"), ("authorization", &bearer(&typ)))
            .await
            .0,
        401
    );

    // Without --dev: refused with its code, nothing on stdout.
    let refused = run(
        args(&["jwt", "mint", "--state-dir", &sd, "--scope", "admin"]),
        None,
    )
    .await
    .expect(3);
    assert!(refused.stdout.is_empty());

    // Inspect: the demo's issuer, and NOTHING verified, said twice.
    let inspected = run(args(&["jwt", "inspect"]), Some(reader.clone().into_bytes()))
        .await
        .expect(0);
    assert!(inspected.stderr.contains("NOTHING was verified"));
    let v = inspected.json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["claims"]["iss"], demo.credentials.issuer);
    assert_eq!(v["claims"]["aud"], "demo-api");
    assert_eq!(v["header"]["typ"], "at+jwt");
    assert_eq!(v["header"]["kid"], demo.credentials.jwt.es256.kid);

    // The JWKS of the demo's keys: the kids the demo gave them, the keys it
    // serves.
    let ours = run(args(&["jwks", "--state-dir", &sd]), None)
        .await
        .expect(0)
        .json();
    let served: serde_json::Value = c
        .get(url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = |v: &serde_json::Value| {
        let mut k: Vec<String> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    let mut expected = vec![
        demo.credentials.jwt.es256.kid.clone(),
        demo.credentials.jwt.rs256.kid.clone(),
    ];
    expected.sort();
    assert_eq!(kids(&ours), expected);
    assert_eq!(kids(&served), expected);
    for key in ours["keys"].as_array().unwrap() {
        let theirs = served["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == key["kid"])
            .unwrap();
        for param in ["kty", "crv", "x", "y", "n", "e"] {
            assert_eq!(key[param], theirs[param], "{param}");
        }
        assert!(key.get("d").is_none());
    }
    demo.stop();
}
