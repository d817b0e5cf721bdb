//! Two `auth-demo` processes (one on axum, one on actix-web) on one real
//! `redis-server` act as one service: a key, a token or a refresh-token
//! family revoked through one is refused by the other, `/v1/limited`
//! counts across both, and while Redis is down they answer `503` (never a
//! `200` that should be refused, never a `401` for a valid credential),
//! then `200` again once it is back, without a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

mod common;
#[path = "../../../auth-core/tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::api_key::{ApiKeys, Pepper};
use auth_core::store::redis::Redis;
use auth_demo::Credentials;
use common::{Demo, start};
use serde_json::Value;

const ISSUER: &str = "https://issuer.redis-demo.test";

fn client(dir: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn tls(demo: &Demo) -> String {
    let port = demo.https.rsplit(':').next().unwrap();
    format!("https://localhost:{port}")
}

fn plain(demo: &Demo) -> String {
    format!("http://{}", demo.http)
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    ratelimit: Option<String>,
    json: Value,
}

async fn get(http: &reqwest::Client, url: &str, auth: (&str, &str)) -> Answer {
    let res = http.get(url).header(auth.0, auth.1).send().await.unwrap();
    let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: res.status().as_u16(),
        retry_after: header("retry-after"),
        ratelimit: header("ratelimit"),
        json: res.json().await.unwrap_or_default(),
    }
}

async fn post_form(http: &reqwest::Client, url: &str, auth: &str, form: &str) -> (u16, Value) {
    let res = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

/// A PKCE verifier and the `/oauth/authorize` query of the confidential
/// client with its challenge.
fn authorize_query(creds: &Credentials) -> (String, String) {
    let web = &creds.oauth_clients["confidential"];
    let verifier = auth_core::oauth::pkce::new_verifier();
    let query = format!(
        "response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&scope=reports:read&state=st&code_challenge={}&code_challenge_method=S256",
        web.client_id,
        auth_core::oauth::pkce::s256_challenge(&verifier)
    );
    (verifier, query)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The hidden inputs of the login page's form, as `(name, value)`.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|rest| {
            let attr = |name: &str| {
                let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let len = rest[start..].find('"').unwrap();
                rest[start..start + len]
                    .replace("&quot;", "\"")
                    .replace("&#x27;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// A refresh token of a new family for alice, from the code grant at `demo`.
async fn refresh_family(http: &reqwest::Client, demo: &Demo, creds: &Credentials) -> String {
    let web = &creds.oauth_clients["confidential"];
    let alice = basic("alice", creds.password("alice"));
    let (verifier, query) = authorize_query(creds);
    let r = http
        .get(format!("{}/oauth/authorize?{query}", tls(demo)))
        .header("authorization", &alice)
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
        .unwrap();
    let web_auth = basic(&web.client_id, web.client_secret.as_deref().unwrap());
    let (status, tokens) = post_form(
        http,
        &format!("{}/oauth/token", tls(demo)),
        &web_auth,
        &format!(
            "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier={verifier}"
        ),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn refresh(
    http: &reqwest::Client,
    demo: &Demo,
    creds: &Credentials,
    token: &str,
) -> (u16, Value) {
    let web = &creds.oauth_clients["confidential"];
    let web_auth = basic(&web.client_id, web.client_secret.as_deref().unwrap());
    post_form(
        http,
        &format!("{}/oauth/token", tls(demo)),
        &web_auth,
        &format!("grant_type=refresh_token&refresh_token={token}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_redis_act_as_one_service() {
    if !redis_server::available() {
        return;
    }
    // Redis keeps what it wrote across the outage below (an append-only
    // file, synced per write), as a production Redis does.
    let redis_dir = tempfile::tempdir().unwrap();
    let mut redis = redis_server::Server::start(
        redis_dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let flags = ["--redis", url.as_str(), "--issuer", ISSUER];
    let a = start("axum", dir.path(), &flags);
    let b = start("actix", dir.path(), &flags);
    let creds = Credentials::load(dir.path()).unwrap();
    let http = client(dir.path());
    let main = creds.api_key("main").to_owned();
    let key = ("x-api-key", main.as_str());

    // `/v1/limited`: five calls spread over both, then the sixth is refused
    // by either.
    for i in 0..5u32 {
        let demo = if i % 2 == 0 { &a } else { &b };
        let ans = get(&http, &format!("{}/v1/limited", plain(demo)), key).await;
        assert_eq!(ans.status, 200, "call {i}");
        let r = format!(";r={};", 4 - i);
        assert!(
            ans.ratelimit.as_deref().unwrap().contains(&r),
            "{:?}",
            ans.ratelimit
        );
    }
    for demo in [&a, &b] {
        let ans = get(&http, &format!("{}/v1/limited", plain(demo)), key).await;
        assert_eq!(ans.status, 429);
        let wait: u64 = ans.retry_after.unwrap().parse().unwrap();
        assert!((1..=12).contains(&wait));
    }

    // A key revoked in the shared store (as an admin tool does, with the
    // state directory's pepper) is refused by both at once.
    let standard = creds.api_key("standard").to_owned();
    for demo in [&a, &b] {
        let ans = get(
            &http,
            &format!("{}/v1/whoami", plain(demo)),
            ("x-api-key", &standard),
        )
        .await;
        assert_eq!(ans.status, 200);
    }
    let pepper = std::fs::read_to_string(dir.path().join("server/pepper")).unwrap();
    let shared = Redis::connect(&url).await.unwrap();
    let keys = ApiKeys::with_store(
        Arc::new(shared.key_store()),
        Pepper::from_base64url(&pepper).unwrap(),
    );
    let id = keys.verify(standard.as_bytes()).await.unwrap().id.clone();
    assert!(keys.revoke(&id).await.unwrap());
    for demo in [&a, &b] {
        let ans = get(
            &http,
            &format!("{}/v1/whoami", plain(demo)),
            ("x-api-key", &standard),
        )
        .await;
        assert_eq!(ans.status, 401);
    }

    // An access token revoked through one is refused by the other: a JWT
    // and an opaque token.
    for client in ["service", "opaque"] {
        let (id, secret) = creds.oauth_client(client);
        let auth = basic(id, secret);
        let (status, tokens) = post_form(
            &http,
            &format!("{}/oauth/token", tls(&a)),
            &auth,
            "grant_type=client_credentials&scope=reports:read",
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {token}");
        let at_b = format!("{}/v1/reports", plain(&b));
        assert_eq!(
            get(&http, &at_b, ("authorization", &bearer)).await.status,
            200
        );
        let (status, _) = post_form(
            &http,
            &format!("{}/oauth/revoke", tls(&a)),
            &auth,
            &format!("token={token}"),
        )
        .await;
        assert_eq!(status, 200);
        // An opaque token's introspection answer is cached for at most 2 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = get(&http, &at_b, ("authorization", &bearer)).await.status;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                Instant::now() < deadline,
                "{client}: still accepted by the other process"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Refresh-token families: a token rotates at one process and its
    // successor works at the other; the spent one, presented again, revokes
    // the family everywhere.
    let first = refresh_family(&http, &a, &creds).await;
    let (status, rotated) = refresh(&http, &b, &creds, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, reused) = refresh(&http, &a, &creds, &first).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&http, &b, &creds, &second).await;
    assert_eq!(status, 400);
    // A family revoked through one (RFC 7009) is refused by the other.
    let family = refresh_family(&http, &b, &creds).await;
    let web = &creds.oauth_clients["confidential"];
    let web_auth = basic(&web.client_id, web.client_secret.as_deref().unwrap());
    let (status, _) = post_form(
        &http,
        &format!("{}/oauth/revoke", tls(&b)),
        &web_auth,
        &format!("token={family}&token_type_hint=refresh_token"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = refresh(&http, &a, &creds, &family).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A browser's login page served by one process is posted to the other
    // (behind a load balancer): both check the CSRF field with one key.
    let (_, query) = authorize_query(&creds);
    let page = http
        .get(format!("{}/oauth/authorize?{query}", plain(&a)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("oauth_csrf="), "{cookie}");
    let mut form: Vec<(String, String)> = hidden_inputs(&page.text().await.unwrap());
    assert!(form.iter().any(|(n, _)| n == "csrf"), "{form:?}");
    form.extend([
        ("username".to_owned(), "alice".to_owned()),
        ("password".to_owned(), creds.password("alice").to_owned()),
        ("decision".to_owned(), "allow".to_owned()),
    ]);
    let body = form
        .iter()
        .map(|(n, v)| format!("{}={}", form_encode(n), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let posted = http
        .post(format!("{}/oauth/authorize", plain(&b)))
        .header("cookie", &cookie)
        .header("origin", plain(&b))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303, "{:?}", posted.text().await);
    let location = posted.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:9999/cb?code="),
        "{location}"
    );

    // Redis goes away: whatever needs it gets 503 with Retry-After; no
    // refused credential gets in, no valid one gets 401.
    let (id, secret) = creds.oauth_client("service");
    let (_, tokens) = post_form(
        &http,
        &format!("{}/oauth/token", tls(&a)),
        &basic(id, secret),
        "grant_type=client_credentials&scope=reports:read",
    )
    .await;
    let jwt = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let alice = basic("alice", creds.password("alice"));
    let later = refresh_family(&http, &a, &creds).await;
    redis.kill();
    for demo in [&a, &b] {
        for (what, url, auth) in [
            (
                "api key",
                format!("{}/v1/whoami", plain(demo)),
                ("x-api-key", main.as_str()),
            ),
            (
                "revoked key",
                format!("{}/v1/whoami", plain(demo)),
                ("x-api-key", standard.as_str()),
            ),
            (
                "jwt",
                format!("{}/v1/reports", plain(demo)),
                ("authorization", jwt.as_str()),
            ),
            (
                "basic",
                format!("{}/v1/whoami", tls(demo)),
                ("authorization", alice.as_str()),
            ),
            (
                "limited",
                format!("{}/v1/limited", plain(demo)),
                ("x-api-key", main.as_str()),
            ),
        ] {
            let ans = get(&http, &url, auth).await;
            assert_eq!(ans.status, 503, "{what} while Redis is down: {}", ans.json);
            let after: u64 = ans.retry_after.as_deref().unwrap().parse().unwrap();
            assert!(after >= 1);
        }
        let (status, body) = refresh(&http, demo, &creds, &later).await;
        assert_eq!(status, 503, "refresh while Redis is down: {body}");
        // Nothing to look up: answered as ever.
        assert_eq!(
            get(
                &http,
                &format!("{}/v1/whoami", plain(demo)),
                ("x-api-key", "nope")
            )
            .await
            .status,
            401
        );
        assert_eq!(
            get(
                &http,
                &format!("{}/healthz", plain(demo)),
                ("accept", "*/*")
            )
            .await
            .status,
            200
        );
    }

    // Redis is back: the same processes answer 200 again, on their own.
    redis.restart();
    for demo in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ans = get(&http, &format!("{}/v1/whoami", plain(demo)), key).await;
            if ans.status == 200 {
                break;
            }
            assert_eq!(ans.status, 503, "{}", ans.json);
            assert!(
                Instant::now() < deadline,
                "no recovery after Redis came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            get(
                &http,
                &format!("{}/v1/reports", plain(demo)),
                ("authorization", &jwt)
            )
            .await
            .status,
            200
        );
        assert_eq!(
            get(
                &http,
                &format!("{}/v1/whoami", tls(demo)),
                ("authorization", &alice)
            )
            .await
            .status,
            200
        );
        // What was revoked before the outage stays revoked.
        assert_eq!(
            get(
                &http,
                &format!("{}/v1/whoami", plain(demo)),
                ("x-api-key", &standard)
            )
            .await
            .status,
            401
        );
    }
    let (status, body) = refresh(&http, &b, &creds, &later).await;
    assert_eq!(status, 200, "{body}");
}
