//! The demo's built-in authorization server on both adapters: the
//! `client_credentials` grant (JWT and opaque access tokens), the tokens
//! opening the resource routes (opaque ones through the demo's own
//! introspection endpoint, over HTTPS), introspection and revocation, RFC
//! 8414 metadata, RFC 6749 §5.2 errors that match byte for byte, and the
//! user-facing grants (code with Basic on TLS, refresh rotation and reuse,
//! token exchange) on both adapters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::time::Duration;

use auth_conformance::Pair;
use auth_demo::Running;
use base64::Engine as _;

#[derive(Debug, PartialEq, Eq)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    cache_control: Option<String>,
    body: serde_json::Value,
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn post(
    pair: &Pair,
    server: &Running,
    tls: bool,
    path: &str,
    auth: Option<&str>,
    form: &str,
) -> Reply {
    let base = if tls {
        format!("https://localhost:{}", server.https.port())
    } else {
        format!("http://{}", server.http)
    };
    let mut req = pair
        .client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let one = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let status = res.status().as_u16();
    let challenge = one("www-authenticate");
    let cache_control = one("cache-control");
    let bytes = res.bytes().await.unwrap();
    Reply {
        status,
        challenge,
        cache_control,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

async fn whoami(pair: &Pair, server: &Running, token: &str) -> (u16, serde_json::Value) {
    let res = pair
        .client()
        .get(format!("http://{}/v1/whoami", server.http))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

fn token(r: &Reply) -> String {
    r.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_open_the_resource_routes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials();
    let (svc_id, svc_secret) = c.oauth_client("service");
    let (op_id, op_secret) = c.oauth_client("opaque");
    for server in [&pair.axum, &pair.actix] {
        // JWT access tokens for `service`, by client_secret_basic.
        let r = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&basic(svc_id, svc_secret)),
            "grant_type=client_credentials&scope=reports%3Aread",
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.cache_control.as_deref(), Some("no-store"));
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(r.body["expires_in"], 900);
        assert_eq!(r.body["scope"], "reports:read");
        let jwt = token(&r);
        assert_eq!(jwt.split('.').count(), 3);
        // It opens the resource routes of both adapters (one issuer, one key).
        for any in [&pair.axum, &pair.actix] {
            let (status, id) = whoami(&pair, any, &jwt).await;
            assert_eq!(status, 200, "{id}");
            assert_eq!(id["method"], "jwt");
            assert_eq!(id["subject"], svc_id);
            assert_eq!(id["client_id"], svc_id);
        }

        // Opaque tokens for `opaque`, by client_secret_post; checked by
        // the resource routes at this demo's introspection endpoint.
        let form =
            format!("grant_type=client_credentials&client_id={op_id}&client_secret={op_secret}");
        let r = post(&pair, server, true, "/oauth/token", None, &form).await;
        assert_eq!(r.status, 200, "{r:?}");
        let opaque = token(&r);
        assert!(opaque.starts_with("oat_") && !opaque.contains('.'));
        let (status, id) = whoami(&pair, server, &opaque).await;
        assert_eq!(status, 200, "{id}");
        assert_eq!(id["method"], "introspection");
        assert_eq!(id["subject"], op_id);
        assert_eq!(id["scopes"], serde_json::json!(["reports:read"]));

        // Introspection, for the client itself.
        let auth = basic(op_id, op_secret);
        let r = post(
            &pair,
            server,
            true,
            "/oauth/introspect",
            Some(&auth),
            &format!("token={opaque}"),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["active"], true);
        assert_eq!(r.body["client_id"], op_id);
        let r = post(
            &pair,
            server,
            true,
            "/oauth/introspect",
            Some(&auth),
            &format!("token={jwt}"),
        )
        .await;
        assert_eq!(r.body["active"], true, "a JWT it issued");
        let r = post(
            &pair,
            server,
            true,
            "/oauth/introspect",
            Some(&auth),
            "token=oat_made-up",
        )
        .await;
        assert_eq!(r.body, serde_json::json!({"active": false}));

        // Revoking: only the client it was issued to can.
        let svc = basic(svc_id, svc_secret);
        let r = post(
            &pair,
            server,
            true,
            "/oauth/revoke",
            Some(&svc),
            &format!("token={opaque}"),
        )
        .await;
        assert_eq!(r.status, 200);
        let r = post(
            &pair,
            server,
            true,
            "/oauth/introspect",
            Some(&auth),
            &format!("token={opaque}"),
        )
        .await;
        assert_eq!(r.body["active"], true, "revoked by another client");
        let r = post(
            &pair,
            server,
            true,
            "/oauth/revoke",
            Some(&auth),
            &format!("token={opaque}"),
        )
        .await;
        assert_eq!(r.status, 200);
        let r = post(
            &pair,
            server,
            true,
            "/oauth/introspect",
            Some(&auth),
            &format!("token={opaque}"),
        )
        .await;
        assert_eq!(r.body, serde_json::json!({"active": false}));
        // The resource routes refuse it once their 2 s cache has passed.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, _) = whoami(&pair, server, &opaque).await;
        assert_eq!(status, 401);

        // A revoked JWT is refused by the same process's resource routes.
        let r = post(
            &pair,
            server,
            true,
            "/oauth/revoke",
            Some(&svc),
            &format!("token={jwt}"),
        )
        .await;
        assert_eq!(r.status, 200);
        let (status, _) = whoami(&pair, server, &jwt).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors_match_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials();
    let (svc_id, svc_secret) = c.oauth_client("service");
    let good = basic(svc_id, svc_secret);
    let wrong = basic(svc_id, "wrong");
    let cases: Vec<(bool, Option<&str>, String, u16, &str)> = vec![
        (
            true,
            Some(&wrong),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        (
            true,
            None,
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        (
            true,
            Some(&good),
            "grant_type=password&username=a&password=b".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            true,
            Some(&good),
            "grant_type=authorization_code&code=x".into(),
            400,
            // The service client is not registered for it.
            "unauthorized_client",
        ),
        (
            true,
            Some(&good),
            "grant_type=password&username=alice&password=x".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            true,
            Some(&good),
            "scope=reports%3Aread".into(),
            400,
            "invalid_request",
        ),
        (
            true,
            Some(&good),
            "grant_type=client_credentials&scope=admin".into(),
            400,
            "invalid_scope",
        ),
        (
            true,
            Some(&good),
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            400,
            "invalid_request",
        ),
        (
            true,
            Some(&good),
            format!("grant_type=client_credentials&client_secret={svc_secret}"),
            400,
            "invalid_request",
        ),
        (
            false,
            Some(&good),
            "grant_type=client_credentials".into(),
            400,
            "invalid_request",
        ),
    ];
    for (tls, auth, form, status, error) in cases {
        let a = post(&pair, &pair.axum, tls, "/oauth/token", auth, &form).await;
        let b = post(&pair, &pair.actix, tls, "/oauth/token", auth, &form).await;
        assert_eq!(a, b, "{form}");
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (status, Some(error)),
            "{form}: {a:?}"
        );
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
        let basic_used = auth.is_some() && status == 401;
        assert_eq!(
            a.challenge.as_deref(),
            basic_used.then_some(r#"Basic realm="demo""#),
            "{form}"
        );
        assert!(!a.body.to_string().contains("wrong") && !a.body.to_string().contains(svc_secret));
    }
    // Metadata: the same on both.
    let meta = |s: &Running| {
        let url = format!("http://{}/.well-known/oauth-authorization-server", s.http);
        let client = pair.client().clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let (a, b) = (meta(&pair.axum).await, meta(&pair.actix).await);
    assert_eq!(a, b);
    assert_eq!(a["issuer"], auth_conformance::PAIR_ISSUER);
    assert_eq!(
        a["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        a["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    // RFC 9728 resource metadata: the same on both, naming this issuer.
    let resource = |s: &Running| {
        let url = format!("http://{}/.well-known/oauth-protected-resource", s.http);
        let client = pair.client().clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            assert_eq!(res.headers()["content-type"], "application/json");
            res.bytes().await.unwrap()
        }
    };
    let (a, b) = (resource(&pair.axum).await, resource(&pair.actix).await);
    assert_eq!(a, b);
    let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(doc["resource"], auth_conformance::PAIR_ISSUER);
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([auth_conformance::PAIR_ISSUER])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_and_oversized_bodies_get_bounded_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    // 120 concurrent token requests, each for a different unknown client:
    // every one is 401 invalid_client or 503 temporarily_unavailable
    // (secret checks are bounded per process), never anything else.
    for server in [&pair.axum, &pair.actix] {
        let mut all = tokio::task::JoinSet::new();
        for i in 0..120 {
            let client = pair.client().clone();
            let url = format!("https://localhost:{}/oauth/token", server.https.port());
            all.spawn(async move {
                let res = client
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", basic(&format!("ghost-{i}"), "guess"))
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let retry = res.headers().get("retry-after").is_some();
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                (
                    status,
                    retry,
                    body["error"].as_str().unwrap_or_default().to_owned(),
                )
            });
        }
        let mut seen = std::collections::BTreeMap::new();
        while let Some(r) = all.join_next().await {
            let (status, retry, error) = r.unwrap();
            match status {
                401 => assert_eq!(error, "invalid_client"),
                503 => assert!(retry && error == "temporarily_unavailable"),
                other => panic!("{other} {error}"),
            }
            *seen.entry(status).or_insert(0) += 1;
        }
        assert!(seen.contains_key(&401), "{seen:?}");
        // The server still answers at once.
        let res = pair
            .client()
            .get(format!("http://{}/healthz", server.http))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // An oversized body: the same 400 on both, without reading it all.
    let (id, secret) = pair.credentials().oauth_client("service");
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(70 * 1024));
    let a = post(
        &pair,
        &pair.axum,
        true,
        "/oauth/token",
        Some(&basic(id, secret)),
        &big,
    )
    .await;
    let b = post(
        &pair,
        &pair.actix,
        true,
        "/oauth/token",
        Some(&basic(id, secret)),
        &big,
    )
    .await;
    assert_eq!(a, b);
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// A no-redirect client trusting the demo CA.
fn no_redirect(pair_dir: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(pair_dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_grants_work_and_refuse_alike_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let creds = pair.credentials().clone();
    let http = no_redirect(dir.path());
    let web = &creds.oauth_clients["confidential"];
    let web_auth = basic(&web.client_id, web.client_secret.as_deref().unwrap());
    let (sid, ssecret) = creds.oauth_client("service");
    let service_auth = basic(sid, ssecret);
    let alice = basic("alice", &creds.basic_users["alice"].password);
    let mut refusals = Vec::new();
    for server in [&pair.axum, &pair.actix] {
        let base = format!("https://localhost:{}", server.https.port());
        let verifier = auth_core::oauth::pkce::new_verifier();
        let query = format!(
            "response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&scope=reports:read+reports:write&state=st&code_challenge={}&code_challenge_method=S256",
            web.client_id,
            auth_core::oauth::pkce::s256_challenge(&verifier)
        );
        let r = http
            .get(format!("{base}/oauth/authorize?{query}"))
            .header("authorization", &alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("http://127.0.0.1:9999/cb?code="));
        assert!(location.contains("&state=st&iss=https%3A%2F%2Fissuer.auth-demo.test"));
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let tokens = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&web_auth),
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier={verifier}"
            ),
        )
        .await;
        assert_eq!(tokens.status, 200, "{:?}", tokens.body);
        let access = tokens.body["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();
        let whoami = |token: String| {
            let http = http.clone();
            let url = format!("http://{}/v1/reports", server.http);
            async move {
                let r = http.get(url).bearer_auth(token).send().await.unwrap();
                let status = r.status().as_u16();
                (
                    status,
                    r.json::<serde_json::Value>().await.unwrap_or_default(),
                )
            }
        };
        let (status, me) = whoami(access.clone()).await;
        assert_eq!((status, me["subject"].as_str()), (200, Some("alice")));

        // Token exchange: the service client acts for alice, narrowed.
        let exchanged = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&service_auth),
            &format!(
                "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={access}&subject_token_type=urn:ietf:params:oauth:token-type:access_token&scope=reports:read"
            ),
        )
        .await;
        assert_eq!(exchanged.status, 200, "{:?}", exchanged.body);
        assert_eq!(exchanged.body["scope"], "reports:read");
        let delegated = exchanged.body["access_token"].as_str().unwrap().to_owned();
        let payload = delegated.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["act"]["sub"], sid);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(whoami(delegated.clone()).await.0, 200);
        let post_reports = http
            .post(format!("http://{}/v1/reports", server.http))
            .bearer_auth(&delegated)
            .send()
            .await
            .unwrap();
        assert_eq!(
            post_reports.status(),
            403,
            "the exchange narrowed the scopes"
        );

        // Refresh, then the spent one again: the family goes, at the
        // resource routes too.
        let rotated = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&web_auth),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
        assert_eq!(rotated.status, 200);
        let newest = rotated.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(whoami(newest.clone()).await.0, 200);
        let reuse = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&web_auth),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
        assert_eq!(whoami(newest).await.0, 401);
        assert_eq!(whoami(access.clone()).await.0, 401);

        // Refusals, to compare across adapters.
        let exchange_bad_target = post(
            &pair,
            server,
            true,
            "/oauth/token",
            Some(&service_auth),
            &format!(
                "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={delegated}&subject_token_type=urn:ietf:params:oauth:token-type:access_token&audience=https://elsewhere.test"
            ),
        )
        .await;
        let page = http
            .get(format!(
                "{base}/oauth/authorize?{}",
                query.replace("9999%2Fcb", "9999%2Fevil")
            ))
            .header("authorization", &alice)
            .send()
            .await
            .unwrap();
        let page_status = page.status().as_u16();
        assert!(page.headers().get("location").is_none());
        let page_body = page.bytes().await.unwrap();
        refusals.push((reuse, exchange_bad_target, page_status, page_body));
    }
    let (a, b) = (&refusals[0], &refusals[1]);
    assert_eq!(a, b);
    assert_eq!(a.0.body["error"], "invalid_grant");
    assert_eq!(a.1.body["error"], "invalid_target");
    assert_eq!(a.2, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_keeps_old_tokens_valid_at_a_resource_server() {
    use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
    use auth_core::oauth::server::AuthorizationServer;
    use jsonwebtoken::{Algorithm, EncodingKey};

    let key = || {
        let kp = rcgen::KeyPair::generate().unwrap();
        EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential("svc", auth_core::basic::hash_password("s").unwrap())
                .grants([GrantType::ClientCredentials])
                .scopes(["read"]),
        )
        .insecure_allow_plaintext()
        .build()
        .unwrap();
    let server = AuthorizationServer::builder(base.clone(), registry)
        .audience("api")
        .signing_key(key(), Algorithm::ES256, "k1")
        .build()
        .unwrap();
    let app = auth_tower::oauth::router(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // A resource server trusting the issuer's JWKS, over real HTTP. The
    // cooldown on unknown-kid refetches is off here; in production the
    // JWKS's max-age (300 s) between publishing and activating covers it.
    let jwt = auth_core::jwt::JwtAuthenticator::builder()
        .issuer(
            auth_core::jwt::Issuer::new(base.clone())
                .audience("api")
                .algorithms([Algorithm::ES256])
                .allow_plain_http_loopback()
                .jwks_url(format!("{base}/.well-known/jwks.json"))
                .jwks_config(auth_core::jwt::JwksConfig {
                    cooldown: Duration::ZERO,
                    ..auth_core::jwt::JwksConfig::default()
                }),
        )
        .build()
        .unwrap();
    let guard = auth_core::Guard::builder(jwt).realm("api").build().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let issue = || async {
        let r: serde_json::Value = http
            .post(format!("{base}/oauth/token"))
            .basic_auth("svc", Some("s"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    };
    let accepted = |token: String| {
        let guard = guard.clone();
        async move {
            let req = auth_core::SimpleRequest::get("/r")
                .header("authorization", format!("Bearer {token}"));
            guard.check(&req).await.is_ok()
        }
    };
    let old = issue().await;
    assert!(accepted(old.clone()).await);
    server
        .publish_next_key(key(), Algorithm::ES256, "k2")
        .unwrap();
    let jwks = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.headers()["cache-control"], "max-age=300");
    let kids: Vec<String> = jwks.json::<serde_json::Value>().await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["k1", "k2"]);
    server.activate_next_key().unwrap();
    let new = issue().await;
    assert_ne!(old.split('.').next(), new.split('.').next(), "another kid");
    assert!(accepted(new).await, "new tokens verify");
    assert!(accepted(old).await, "old tokens stay valid");
}
