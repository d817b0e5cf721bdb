//! Runs requests with every demo credential through both adapters with
//! tracing captured at TRACE level, then looks for the credentials in the log
//! output and in the `Debug` strings of everything that carried them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth_conformance::{Listener, Pair, basic};
use auth_core::{Credential, Secret, SimpleRequest};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_logs_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let creds = pair.credentials().clone();
    let mut secrets: Vec<String> = creds.api_keys.values().cloned().collect();
    let mut headers: Vec<(&str, String)> = Vec::new();
    for key in creds.api_keys.values() {
        headers.push(("authorization", format!("Bearer {key}")));
        headers.push(("x-api-key", key.clone()));
    }
    for (user, u) in &creds.basic_users {
        secrets.push(u.password.clone());
        let header = basic(user, &u.password);
        // The base64 form carries the password too.
        secrets.push(header.trim_start_matches("Basic ").to_owned());
        headers.push(("authorization", header));
        let wrong = basic(user, "wrong-password-xyz");
        secrets.push("wrong-password-xyz".to_owned());
        headers.push(("authorization", wrong));
    }
    for (name, value) in &headers {
        for listener in [Listener::Plain, Listener::Tls] {
            for path in ["/v1/whoami", "/v1/admin", "/v1/reports"] {
                pair.send(listener, "GET", path, &[(name, value.as_str())])
                    .await;
            }
        }
    }
    // JWTs: honest, expired and forged ones.
    let minter = auth_conformance::jwt::Minter::load(dir.path(), &creds);
    let mut expired = minter.claims("reports:read");
    expired["exp"] = serde_json::json!(auth_conformance::jwt::now() - 3600);
    for token in [
        minter.es256(&minter.claims("reports:read")),
        minter.rs256(&minter.claims("admin")),
        minter.es256(&expired),
        minter.internal(&minter.internal_claims("reports:read"), "JWT"),
    ] {
        secrets.push(token.clone());
        // The signature alone identifies the token too.
        secrets.push(token.rsplit('.').next().unwrap().to_owned());
        headers.push(("authorization", format!("Bearer {token}")));
        pair.send(
            Listener::Plain,
            "GET",
            "/v1/reports",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    }
    secrets.push(creds.jwt.internal_hs256.secret_b64url.clone());

    // OAuth: client secrets at the token endpoint (right and wrong, in the
    // header and in the body), the tokens it issues, used and introspected.
    for name in ["service", "opaque"] {
        let (id, secret) = creds.oauth_client(name);
        secrets.push(secret.to_owned());
        let header = basic(id, secret);
        secrets.push(header.trim_start_matches("Basic ").to_owned());
        for server in [&pair.axum, &pair.actix] {
            let token_url = format!("https://localhost:{}/oauth/token", server.https.port());
            let post = |auth: Option<String>, form: String| {
                let mut req = pair
                    .client()
                    .post(&token_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form);
                if let Some(a) = auth {
                    req = req.header("authorization", a);
                }
                req.send()
            };
            let wrong = post(
                Some(basic(id, "wrong-client-secret-xyz")),
                "grant_type=client_credentials".into(),
            )
            .await
            .unwrap();
            assert_eq!(wrong.status(), 401);
            secrets.push("wrong-client-secret-xyz".to_owned());
            let by_post = post(
                None,
                format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
            )
            .await
            .unwrap();
            assert_eq!(by_post.status(), 200);
            let res: serde_json::Value =
                post(Some(header.clone()), "grant_type=client_credentials".into())
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            let token = res["access_token"].as_str().unwrap().to_owned();
            secrets.push(token.clone());
            if let Some(sig) = token.rsplit_once('.').map(|(_, s)| s.to_owned()) {
                secrets.push(sig);
            }
            let used = pair
                .client()
                .get(format!("http://{}/v1/whoami", server.http))
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(used.status(), 200);
        }
    }

    // OAuth, the user-facing grants: codes, PKCE verifiers, refresh tokens
    // (rotated, then one reused), the resource owner's password at
    // /authorize (Basic and the login form, right and wrong).
    let no_redirect = {
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let web = &creds.oauth_clients["confidential"];
    let (web_id, web_secret) = (web.client_id.clone(), web.client_secret.clone().unwrap());
    secrets.push(web_secret.clone());
    let alice = creds.basic_users["alice"].password.clone();
    for server in [&pair.axum, &pair.actix] {
        let base = format!("https://localhost:{}", server.https.port());
        let verifier = auth_core::oauth::pkce::new_verifier();
        secrets.push(verifier.clone());
        let query = format!(
            "response_type=code&client_id={web_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_challenge={}&code_challenge_method=S256&state=s",
            auth_core::oauth::pkce::s256_challenge(&verifier)
        );
        // The login form, wrong password then right (from a loopback peer).
        let page = no_redirect
            .get(format!("http://{}/oauth/authorize?{query}", server.http))
            .send()
            .await
            .unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().await.unwrap();
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        for password in ["wrong-login-password-xyz", alice.as_str()] {
            let r = no_redirect
                .post(format!("http://{}/oauth/authorize", server.http))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(format!(
                    "{query}&csrf={csrf}&decision=allow&username=alice&password={password}"
                ))
                .send()
                .await
                .unwrap();
            assert!(r.status() == 200 || r.status() == 303, "{}", r.status());
        }
        secrets.push("wrong-login-password-xyz".to_owned());
        // Basic on TLS.
        let r = no_redirect
            .get(format!("{base}/oauth/authorize?{query}"))
            .header("authorization", basic("alice", &alice))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        secrets.push(code.clone());
        let token_post = |form: String| {
            no_redirect
                .post(format!("{base}/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic(&web_id, &web_secret))
                .body(form)
                .send()
        };
        let redeem = format!(
            "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier={verifier}"
        );
        let first: serde_json::Value = token_post(redeem.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let refresh = first["refresh_token"].as_str().unwrap().to_owned();
        secrets.push(refresh.clone());
        secrets.push(first["access_token"].as_str().unwrap().to_owned());
        let second: serde_json::Value =
            token_post(format!("grant_type=refresh_token&refresh_token={refresh}"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        secrets.push(second["refresh_token"].as_str().unwrap().to_owned());
        // Reuse of the refresh token and of the code: refused, logged as
        // such, without the values.
        let reuse = token_post(format!("grant_type=refresh_token&refresh_token={refresh}"))
            .await
            .unwrap();
        assert_eq!(reuse.status(), 400);
        let again = token_post(redeem).await.unwrap();
        assert_eq!(again.status(), 400);
    }
    assert!(!secrets.iter().any(String::is_empty));

    // A key in the query string is refused; the refusal must not log it.
    let main = creds.api_key("main");
    pair.send(
        Listener::Plain,
        "GET",
        &format!("/v1/whoami?api_key={main}"),
        &[],
    )
    .await;

    // Debug output of the types that carry credentials.
    let mut debug = String::new();
    for (name, value) in &headers {
        let req = SimpleRequest::get("/").tls(true).header(name, value);
        let names = ["authorization", "x-api-key"];
        debug.push_str(&format!("{:?}\n", Credential::from_head(&req, &names)));
        debug.push_str(&format!("{:?}\n", Secret::from(value.as_str())));
    }

    pair.axum.stop();
    pair.actix.stop();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("auth_core::decision"),
        "decision events were captured"
    );
    assert!(logs.contains("outcome=\"allow\"") && logs.contains("outcome=\"deny\""));
    // The reuse paths ran and were logged (without the values).
    assert!(logs.contains("spent refresh token presented again"));
    assert!(logs.contains("authorization code used twice"));
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a credential reached the logs");
        assert!(
            !debug.contains(s.as_str()),
            "a credential reached Debug output"
        );
    }
}
