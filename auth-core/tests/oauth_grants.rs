//! The authorization server's user-facing grants, driven directly (no
//! framework): `/authorize` (Basic for scripted clients, the login form
//! with its CSRF defences), the authorization-code grant with PKCE,
//! rotating refresh tokens with reuse detection, token exchange and
//! signing-key rotation, with every refusal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;

use auth_core::SimpleRequest;
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
use auth_core::oauth::pkce;
use auth_core::oauth::server::{AuthorizationServer, Endpoint, OAuthResponse};
use auth_core::store::{MemoryRevocations, RevocationStore};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

const ISSUER: &str = "https://as.test";
const CB: &str = "https://app.test/cb";

fn es256() -> EncodingKey {
    let kp = rcgen::KeyPair::generate().unwrap();
    EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap()
}

fn server_with(revocations: Arc<MemoryRevocations>, opaque: bool) -> AuthorizationServer {
    let hash = hash_password("s3cret").unwrap();
    let code = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let mut web = Client::confidential("web", hash.clone())
        .grants(code.into_iter().chain([GrantType::TokenExchange]))
        .redirect_uri(CB)
        .scopes(["read", "write", "admin"]);
    if opaque {
        web = web.opaque_tokens();
    }
    let registry = ClientRegistry::builder()
        .client(web)
        .client(
            Client::public("app")
                .grants(code)
                .redirect_uri("http://127.0.0.1:9999/cb")
                .redirect_uri("https://app.test/other")
                .scopes(["read"]),
        )
        .client(
            Client::confidential("svc", hash.clone())
                .grants([GrantType::ClientCredentials, GrantType::TokenExchange])
                .scopes(["read", "write"]),
        )
        .client(
            Client::confidential("nocode", hash)
                .grants([GrantType::ClientCredentials])
                .redirect_uri(CB),
        )
        .build()
        .unwrap();
    let users = BasicAuthenticator::builder()
        .user(
            BasicUser::new("alice", hash_password("wonderland").unwrap()).scopes(["read", "write"]),
        )
        .lockout(3, std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    AuthorizationServer::builder(ISSUER, registry)
        .audience("api")
        .exchange_audiences(["https://billing.test"])
        .signing_key(es256(), Algorithm::ES256, "k1")
        .revocations(revocations)
        .users(users)
        .build()
        .unwrap()
}

fn server() -> AuthorizationServer {
    server_with(Arc::new(MemoryRevocations::new()), false)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", b64(&format!("{id}:{secret}")))
}

fn json(r: &OAuthResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn header<'a>(r: &'a OAuthResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// The query parameters of a redirect's `Location`.
fn location_params(r: &OAuthResponse) -> (String, Vec<(String, String)>) {
    let loc = header(r, "location").unwrap_or_else(|| panic!("no location: {}", r.status));
    let (base, query) = loc.split_once('?').unwrap_or((loc, ""));
    let params = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                auth_core::oauth::form::decode(v.as_bytes()).unwrap(),
            )
        })
        .collect();
    (base.to_owned(), params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn kid_of(jwt: &str) -> String {
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

/// An authorization request's query for client `web`.
fn authz_query(challenge: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id=web&redirect_uri={}&scope=read+admin&state=xyz&code_challenge={challenge}&code_challenge_method=S256{extra}",
        pct(CB)
    )
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn authorize_get(
    s: &AuthorizationServer,
    query: &str,
    auth: Option<&str>,
    tls: bool,
) -> OAuthResponse {
    let mut h = SimpleRequest::get(&format!("/oauth/authorize?{query}")).tls(tls);
    if let Some(a) = auth {
        h = h.header("authorization", a);
    }
    s.handle(Endpoint::Authorize, &h, Some(b"")).await
}

fn token_head(auth: Option<&str>) -> SimpleRequest {
    let mut h = SimpleRequest::new("POST", "/oauth/token")
        .tls(true)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        h = h.header("authorization", a);
    }
    h
}

async fn token(s: &AuthorizationServer, auth: Option<&str>, body: &str) -> OAuthResponse {
    s.token(&token_head(auth), body.as_bytes()).await
}

async fn introspect(s: &AuthorizationServer, tok: &str) -> Value {
    let r = s
        .introspect(
            &token_head(Some(&basic("svc", "s3cret"))),
            format!("token={}", pct(tok)).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200);
    json(&r)
}

/// A code for alice (Basic, on TLS) and the verifier it is bound to.
async fn code_for_alice(s: &AuthorizationServer) -> (String, String) {
    let verifier = pkce::new_verifier();
    let r = authorize_get(
        s,
        &authz_query(&pkce::s256_challenge(&verifier), ""),
        Some(&basic("alice", "wonderland")),
        true,
    )
    .await;
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let (base, params) = location_params(&r);
    assert_eq!(base, CB);
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "iss"), Some(ISSUER));
    (param(&params, "code").unwrap().to_owned(), verifier)
}

fn redeem_body(code: &str, verifier: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        pct(CB)
    )
}

#[tokio::test]
async fn authorization_code_with_pkce_issues_tokens_for_the_resource_owner() {
    let s = server();
    let (code, verifier) = code_for_alice(&s).await;
    let r = token(
        &s,
        Some(&basic("web", "s3cret")),
        &redeem_body(&code, &verifier),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    let body = json(&r);
    // admin was asked for, the client may have it, alice may not.
    assert_eq!(body["scope"], "read");
    let access = body["access_token"].as_str().unwrap();
    let c = claims_of(access);
    assert_eq!(
        (
            c["sub"].as_str(),
            c["client_id"].as_str(),
            c["iss"].as_str()
        ),
        (Some("alice"), Some("web"), Some(ISSUER))
    );
    assert!(c["auth_time"].as_u64().is_some());
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(refresh.starts_with("ort_"));
    assert_eq!(introspect(&s, access).await["active"], true);

    // The code is single use: again, it is refused, and what it issued
    // stops working.
    let again = token(
        &s,
        Some(&basic("web", "s3cret")),
        &redeem_body(&code, &verifier),
    )
    .await;
    assert_eq!(json(&again)["error"], "invalid_grant");
    assert_eq!(introspect(&s, access).await["active"], false);
    let r = token(
        &s,
        Some(&basic("web", "s3cret")),
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_used_twice_revokes_the_jwt_at_resource_servers() {
    let revocations = Arc::new(MemoryRevocations::new());
    let s = server_with(revocations.clone(), false);
    let (code, verifier) = code_for_alice(&s).await;
    let r = token(
        &s,
        Some(&basic("web", "s3cret")),
        &redeem_body(&code, &verifier),
    )
    .await;
    let jti = claims_of(json(&r)["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!revocations.is_revoked(ISSUER, &jti).await.unwrap());
    token(
        &s,
        Some(&basic("web", "s3cret")),
        &redeem_body(&code, &verifier),
    )
    .await;
    assert!(revocations.is_revoked(ISSUER, &jti).await.unwrap());
}

#[tokio::test]
async fn the_token_request_must_match_the_code() {
    let s = server();
    let web = basic("web", "s3cret");
    // PKCE downgrade: the challenge was sent, the verifier is not.
    let (code, _) = code_for_alice(&s).await;
    let r = token(
        &s,
        Some(&web),
        &format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}",
            pct(CB)
        ),
    )
    .await;
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Spent by the failed attempt.
    let (code2, verifier2) = code_for_alice(&s).await;
    for (body, what) in [
        (
            redeem_body(&code2, &pkce::new_verifier()),
            "another verifier",
        ),
        (
            format!(
                "grant_type=authorization_code&code={code2}&redirect_uri={}&code_verifier={verifier2}",
                pct("https://app.test/other")
            ),
            "another redirect_uri",
        ),
        (
            format!("grant_type=authorization_code&code={code2}&code_verifier={verifier2}"),
            "no redirect_uri",
        ),
        (redeem_body("not-a-code", &verifier2), "an unknown code"),
    ] {
        let (code, verifier) = code_for_alice(&s).await;
        let body = body.replace(&code2, &code).replace(&verifier2, &verifier);
        let r = token(&s, Some(&web), &body).await;
        assert_eq!(json(&r)["error"], "invalid_grant", "{what}");
    }
    // Another client cannot redeem web's code.
    let (code, verifier) = code_for_alice(&s).await;
    let r = token(
        &s,
        None,
        &format!("{}&client_id=app", redeem_body(&code, &verifier)),
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
    // A confidential client without its secret is not authenticated.
    let (code, verifier) = code_for_alice(&s).await;
    let r = token(
        &s,
        None,
        &format!("{}&client_id=web", redeem_body(&code, &verifier)),
    )
    .await;
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn public_clients_use_the_code_grant_with_their_id_alone() {
    let s = server();
    let verifier = pkce::new_verifier();
    // Any port on the registered loopback redirect (RFC 8252).
    let cb = "http://127.0.0.1:41234/cb";
    let q = format!(
        "response_type=code&client_id=app&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
        pct(cb),
        pkce::s256_challenge(&verifier)
    );
    let r = authorize_get(&s, &q, Some(&basic("alice", "wonderland")), true).await;
    let (base, params) = location_params(&r);
    assert_eq!(base, cb);
    assert_eq!(param(&params, "state"), None);
    let code = param(&params, "code").unwrap();
    let r = token(
        &s,
        None,
        &format!(
            "grant_type=authorization_code&client_id=app&code={code}&redirect_uri={}&code_verifier={verifier}",
            pct(cb)
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    assert_eq!(json(&r)["scope"], "read");
    // A public client may not use client credentials.
    let r = token(&s, None, "grant_type=client_credentials&client_id=app").await;
    assert_eq!(json(&r)["error"], "unauthorized_client");
}

#[tokio::test]
async fn authorization_requests_are_refused_on_a_page_or_at_the_redirect() {
    let s = server();
    let alice = basic("alice", "wonderland");
    let challenge = pkce::s256_challenge(&pkce::new_verifier());
    // Never a redirect: unknown client, unregistered redirect, none named
    // when several are registered.
    for q in [
        authz_query(&challenge, "").replace("client_id=web", "client_id=evil"),
        authz_query(&challenge, "").replace(&pct(CB), &pct("https://evil.test/cb")),
        authz_query(&challenge, "").replace(&pct(CB), &pct("https://app.test/cb/../x")),
        format!(
            "response_type=code&client_id=app&code_challenge={challenge}&code_challenge_method=S256"
        ),
        authz_query(&challenge, "").replace("client_id=web&", ""),
        "%zz".to_owned(),
    ] {
        let r = authorize_get(&s, &q, Some(&alice), true).await;
        assert_eq!(r.status, 400, "{q}");
        assert!(header(&r, "location").is_none(), "{q}");
        assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
    }
    // To the redirect URI, with state and iss.
    for (q, want) in [
        (
            authz_query(&challenge, "").replace("&code_challenge_method=S256", ""),
            "invalid_request",
        ),
        (
            authz_query(&challenge, "")
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (authz_query("short", ""), "invalid_request"),
        (
            authz_query(&challenge, "").replace(&format!("&code_challenge={challenge}"), ""),
            "invalid_request",
        ),
        (
            authz_query(&challenge, "").replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authz_query(&challenge, "").replace("scope=read+admin", "scope=read+root"),
            "invalid_scope",
        ),
        (
            authz_query(&challenge, "").replace("client_id=web", "client_id=nocode"),
            "unauthorized_client",
        ),
    ] {
        let r = authorize_get(&s, &q, Some(&alice), true).await;
        assert_eq!(r.status, 302, "{q}");
        let (base, params) = location_params(&r);
        assert_eq!(base, CB);
        assert_eq!(param(&params, "error"), Some(want), "{q}");
        assert_eq!(param(&params, "state"), Some("xyz"));
        assert_eq!(param(&params, "iss"), Some(ISSUER));
        assert_eq!(param(&params, "code"), None);
    }
    // A state too long to echo is an error, and is not echoed.
    let r = authorize_get(
        &s,
        &authz_query(&challenge, "").replace("state=xyz", &format!("state={}", "s".repeat(1025))),
        Some(&alice),
        true,
    )
    .await;
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert_eq!(param(&params, "state"), None);
    // The login page over plaintext: only to a loopback peer.
    let plain = |peer: &str| {
        SimpleRequest::get(&format!("/oauth/authorize?{}", authz_query(&challenge, "")))
            .peer(peer.parse().unwrap())
    };
    let r = s
        .handle(Endpoint::Authorize, &plain("192.0.2.7:5000"), Some(b""))
        .await;
    assert_eq!(r.status, 400);
    assert!(header(&r, "set-cookie").is_none());
    let r = s
        .handle(Endpoint::Authorize, &plain("127.0.0.1:5000"), Some(b""))
        .await;
    assert_eq!(r.status, 200);
    assert!(!header(&r, "set-cookie").unwrap().contains("Secure"));
    // Basic over plaintext: refused on a page, no code, even from loopback.
    let h = plain("127.0.0.1:5000").header("authorization", alice.as_str());
    let r = s.handle(Endpoint::Authorize, &h, Some(b"")).await;
    assert_eq!(r.status, 400);
    assert!(header(&r, "location").is_none());
    let r = authorize_get(&s, &authz_query(&challenge, ""), Some(&alice), false).await;
    assert_eq!(r.status, 400);
    assert!(header(&r, "location").is_none());
    // A wrong password: 401 with a Basic challenge; then locked out.
    for _ in 0..3 {
        let r = authorize_get(
            &s,
            &authz_query(&challenge, ""),
            Some(&basic("alice", "nope")),
            true,
        )
        .await;
        assert_eq!(r.status, 401);
        assert!(
            header(&r, "www-authenticate")
                .unwrap()
                .starts_with("Basic realm=")
        );
    }
    let r = authorize_get(&s, &authz_query(&challenge, ""), Some(&alice), true).await;
    assert_eq!(r.status, 429);
    assert!(header(&r, "retry-after").is_some());
    // Other methods.
    let h = SimpleRequest::new(
        "PUT",
        &format!("/oauth/authorize?{}", authz_query(&challenge, "")),
    )
    .tls(true);
    assert_eq!(
        s.handle(Endpoint::Authorize, &h, Some(b"")).await.status,
        405
    );
}

/// The login page's CSRF cookie and form field.
fn csrf_of(r: &OAuthResponse) -> (String, String) {
    let cookie = header(r, "set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("oauth_csrf=")
        .unwrap()
        .to_owned();
    let page = String::from_utf8(r.body.clone()).unwrap();
    let field = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (value, field)
}

fn login_post(
    query: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    fields: &str,
) -> (SimpleRequest, String) {
    let mut h = SimpleRequest::new("POST", "/oauth/authorize")
        .tls(true)
        .header("host", "as.test")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        h = h.header("cookie", format!("other=1; oauth_csrf={c}"));
    }
    if let Some(o) = origin {
        h = h.header("origin", o);
    }
    (h, format!("{query}&{fields}"))
}

#[tokio::test]
async fn the_login_form_is_csrf_protected_and_logs_in() {
    let s = server();
    let verifier = pkce::new_verifier();
    let q = authz_query(&pkce::s256_challenge(&verifier), "")
        .replace("state=xyz", "state=%3Cscript%3E");
    let page = authorize_get(&s, &q, None, true).await;
    assert_eq!(page.status, 200);
    let csp = header(&page, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    assert!(header(&page, "set-cookie").unwrap().contains("; Secure"));
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(!html.contains("<script>"), "state is escaped");
    assert!(html.contains("&lt;script&gt;"));
    assert!(
        !html.contains("http://") || !html.contains("src="),
        "no third-party assets"
    );
    let (cookie, field) = csrf_of(&page);
    let login = format!("username=alice&password=wonderland&decision=allow&csrf={field}");

    // Refused: no cookie, another cookie, a forged field, a foreign origin.
    let other = "A".repeat(43);
    for (c, o, f) in [
        (None, None, login.clone()),
        (Some(other.as_str()), None, login.clone()),
        (
            Some(cookie.as_str()),
            None,
            login.replace(&field, &"B".repeat(43)),
        ),
        (
            Some(cookie.as_str()),
            None,
            login.replace(&format!("&csrf={field}"), ""),
        ),
        (
            Some(cookie.as_str()),
            Some("https://evil.test"),
            login.clone(),
        ),
        (Some(cookie.as_str()), Some("http://as.test"), login.clone()),
        (Some(cookie.as_str()), Some("null"), login.clone()),
    ] {
        let (h, body) = login_post(&q, c, o, &f);
        let r = s
            .handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
            .await;
        assert_eq!(r.status, 403, "{c:?} {o:?}");
        assert!(header(&r, "location").is_none());
    }
    // The field is bound to the request: another challenge's field fails.
    let q2 = authz_query(&pkce::s256_challenge(&pkce::new_verifier()), "");
    let (h, body) = login_post(&q2, Some(&cookie), None, &login);
    assert_eq!(
        s.handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
            .await
            .status,
        403
    );

    // A wrong password shows the page again, with a message and no code.
    let (h, body) = login_post(
        &q,
        Some(&cookie),
        Some("https://as.test"),
        &login.replace("wonderland", "nope"),
    );
    let r = s
        .handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
        .await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("Wrong user name or password"));
    // Malformed logins (a zero-width space or nothing as the password, a
    // control character or 300 bytes as the name) get the login page again,
    // and are not counted by the lockout: six of them, beside the wrong
    // password, would lock alice out before the right password below.
    let long = "a".repeat(300);
    for _ in 0..2 {
        for (user, password) in [
            ("alice", "wonder%E2%80%8Bland"),
            ("alice", ""),
            ("al%01ice", "wonderland"),
            (long.as_str(), "wonderland"),
        ] {
            let bad = login.replace(
                "username=alice&password=wonderland",
                &format!("username={user}&password={password}"),
            );
            let (h, body) = login_post(&q, Some(&cookie), Some("https://as.test"), &bad);
            let r = s
                .handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
                .await;
            assert_eq!(r.status, 200, "{user:?}");
            let page = String::from_utf8_lossy(&r.body);
            // An empty field is asked for again; the rest are wrong pairs.
            let said = if password.is_empty() {
                "Enter your user name and password"
            } else {
                "Wrong user name or password"
            };
            assert!(page.contains(said), "{user:?}");
        }
    }
    // Deny: back to the client with access_denied.
    let (h, body) = login_post(
        &q,
        Some(&cookie),
        None,
        &login.replace("decision=allow", "decision=deny"),
    );
    let r = s
        .handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        param(&location_params(&r).1, "error"),
        Some("access_denied")
    );
    // Allow, with the right password and origin: a code.
    let (h, body) = login_post(&q, Some(&cookie), Some("https://as.test"), &login);
    let r = s
        .handle(Endpoint::Authorize, &h, Some(body.as_bytes()))
        .await;
    assert_eq!(r.status, 303);
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "state"), Some("<script>"));
    let code = param(&params, "code").unwrap();
    let r = token(
        &s,
        Some(&basic("web", "s3cret")),
        &redeem_body(code, &verifier),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    for opaque in [false, true] {
        let s = server_with(Arc::new(MemoryRevocations::new()), opaque);
        let web = basic("web", "s3cret");
        let (code, verifier) = code_for_alice(&s).await;
        let first = json(&token(&s, Some(&web), &redeem_body(&code, &verifier)).await);
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();
        let a1 = first["access_token"].as_str().unwrap().to_owned();
        let refresh =
            |t: &str, extra: &str| format!("grant_type=refresh_token&refresh_token={t}{extra}");

        // Widening is refused, and the token stays usable.
        let r = token(&s, Some(&web), &refresh(&r1, "&scope=read+write")).await;
        assert_eq!(json(&r)["error"], "invalid_scope");
        // Another client cannot use it.
        let r = token(&s, None, &format!("{}&client_id=app", refresh(&r1, ""))).await;
        assert_eq!(json(&r)["error"], "invalid_grant");

        let second = json(&token(&s, Some(&web), &refresh(&r1, "")).await);
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        let a2 = second["access_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2);
        assert_eq!(second["scope"], "read");
        let third = json(&token(&s, Some(&web), &refresh(&r2, "&scope=read")).await);
        let r3 = third["refresh_token"].as_str().unwrap().to_owned();
        let a3 = third["access_token"].as_str().unwrap().to_owned();
        for a in [&a1, &a2, &a3] {
            assert_eq!(introspect(&s, a).await["active"], true, "opaque={opaque}");
        }
        // A forged token of the family is refused without revoking it.
        let forged = format!("{}{}", &r3[..r3.len() - 4], "AAAA");
        let r = token(&s, Some(&web), &refresh(&forged, "")).await;
        assert_eq!(json(&r)["error"], "invalid_grant");
        assert_eq!(introspect(&s, &a3).await["active"], true);

        // r1 again: the whole family goes.
        let r = token(&s, Some(&web), &refresh(&r1, "")).await;
        assert_eq!(json(&r)["error"], "invalid_grant");
        for a in [&a1, &a2, &a3] {
            assert_eq!(introspect(&s, a).await["active"], false, "opaque={opaque}");
        }
        let r = token(&s, Some(&web), &refresh(&r3, "")).await;
        assert_eq!(json(&r)["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let s = server();
    let web = basic("web", "s3cret");
    let (code, verifier) = code_for_alice(&s).await;
    let body = json(&token(&s, Some(&web), &redeem_body(&code, &verifier)).await);
    let (rt, at) = (
        body["refresh_token"].as_str().unwrap(),
        body["access_token"].as_str().unwrap(),
    );
    // Another client's revocation does nothing.
    let r = s
        .revoke(
            &token_head(Some(&basic("svc", "s3cret"))),
            format!("token={rt}").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(&s, at).await["active"], true);
    let r = s
        .revoke(&token_head(Some(&web)), format!("token={rt}").as_bytes())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(&s, at).await["active"], false);
    let r = token(
        &s,
        Some(&web),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
}

#[tokio::test]
async fn token_exchange_narrows_and_carries_act() {
    let s = server();
    let svc = basic("svc", "s3cret");
    let (code, verifier) = code_for_alice(&s).await;
    let alice = json(
        &token(
            &s,
            Some(&basic("web", "s3cret")),
            &redeem_body(&code, &verifier),
        )
        .await,
    );
    let subject = alice["access_token"].as_str().unwrap();
    let subject_exp = claims_of(subject)["exp"].as_u64().unwrap();
    let at = "urn:ietf:params:oauth:token-type:access_token";
    let exchange = |extra: &str| {
        format!(
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={subject}&subject_token_type={at}{extra}"
        )
    };
    let r = token(
        &s,
        Some(&svc),
        &exchange("&scope=read&audience=https://billing.test"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    let body = json(&r);
    assert_eq!(body["issued_token_type"], at);
    assert!(body.get("refresh_token").is_none());
    let c = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "https://billing.test");
    assert_eq!(c["scope"], "read");
    assert_eq!(c["act"], serde_json::json!({"sub": "svc"}));
    assert!(c["exp"].as_u64().unwrap() <= subject_exp);
    let delegated = body["access_token"].as_str().unwrap().to_owned();

    // An actor token names the actor; a chain nests.
    let svc_token = json(&token(&s, Some(&svc), "grant_type=client_credentials&scope=read").await)
        ["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = token(
        &s,
        Some(&basic("web", "s3cret")),
        &format!(
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={delegated}&subject_token_type={at}&actor_token={svc_token}&actor_token_type={at}&audience=https://billing.test"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    let c = claims_of(json(&r)["access_token"].as_str().unwrap());
    assert_eq!(
        c["act"],
        serde_json::json!({"sub": "svc", "act": {"sub": "svc"}})
    );
    assert_eq!(c["client_id"], "web");

    for (extra, want) in [
        ("&scope=read+write", "invalid_scope"),
        ("&audience=https://evil.test", "invalid_target"),
        ("&resource=https://evil.test", "invalid_target"),
        (
            "&audience=api&resource=https://billing.test",
            "invalid_target",
        ),
        (
            "&requested_token_type=urn:ietf:params:oauth:token-type:refresh_token",
            "invalid_request",
        ),
        (
            "&actor_token_type=urn:ietf:params:oauth:token-type:access_token",
            "invalid_request",
        ),
        (
            "&actor_token=garbage&actor_token_type=urn:ietf:params:oauth:token-type:access_token",
            "invalid_request",
        ),
    ] {
        let r = token(&s, Some(&svc), &exchange(extra)).await;
        assert_eq!(json(&r)["error"], want, "{extra}");
    }
    for body in [
        exchange("").replace(subject, "garbage"),
        exchange("").replace(at, "urn:x"),
        exchange("").replace(&format!("&subject_token_type={at}"), ""),
        "grant_type=urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
    ] {
        let r = token(&s, Some(&svc), &body).await;
        assert_eq!(json(&r)["error"], "invalid_request");
    }
    // A public client may not exchange; nor a client not registered for it.
    let r = token(&s, None, &format!("{}&client_id=app", exchange(""))).await;
    assert_eq!(json(&r)["error"], "unauthorized_client");
    // A revoked subject token cannot be exchanged.
    s.revoke(
        &token_head(Some(&basic("web", "s3cret"))),
        format!("token={subject}").as_bytes(),
    )
    .await;
    let r = token(&s, Some(&svc), &exchange("")).await;
    assert_eq!(json(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn signing_keys_rotate_without_a_restart() {
    let s = server();
    let svc = basic("svc", "s3cret");
    let issue = || async {
        json(&token(&s, Some(&svc), "grant_type=client_credentials").await)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let kids = || {
        s.jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect::<Vec<_>>()
    };
    let old = issue().await;
    assert_eq!(kid_of(&old), "k1");
    assert!(
        s.publish_next_key(es256(), Algorithm::ES256, "k1").is_err(),
        "kid in use"
    );
    assert!(
        s.publish_next_key(
            EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap(),
            Algorithm::HS256,
            "h"
        )
        .is_err()
    );
    s.publish_next_key(es256(), Algorithm::ES256, "k2").unwrap();
    assert_eq!(kids(), ["k1", "k2"]);
    // Published, not yet used.
    assert_eq!(kid_of(&issue().await), "k1");
    s.activate_next_key().unwrap();
    let new = issue().await;
    assert_eq!(kid_of(&new), "k2");
    assert_eq!(kids(), ["k2", "k1"]);
    for t in [&old, &new] {
        assert_eq!(introspect(&s, t).await["active"], true);
    }
    // A token whose kid names no key is not active.
    let forged = {
        let mut parts: Vec<String> = old.split('.').map(str::to_owned).collect();
        parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"ES256","typ":"at+jwt","kid":"k9"}"#);
        parts.join(".")
    };
    assert_eq!(introspect(&s, &forged).await["active"], false);
    let jwks = json(&s.jwks_response());
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

#[test]
fn metadata_lists_every_grant_and_pkce() {
    let m = json(&server().metadata());
    assert_eq!(
        m["authorization_endpoint"],
        "https://as.test/oauth/authorize"
    );
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(
        m["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("none"))
    );
}

#[test]
fn redirect_uris_must_be_absolute_without_fragment() {
    for uri in ["https://a.test/cb#frag", "/cb", "cb", "://x"] {
        let r = ClientRegistry::builder()
            .client(Client::public("p").redirect_uri(uri))
            .build();
        assert!(r.is_err(), "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_of_one_code_issue_once() {
    let s = server();
    let (code, verifier) = code_for_alice(&s).await;
    let body = redeem_body(&code, &verifier);
    let web = basic("web", "s3cret");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (s, body, web) = (s.clone(), body.clone(), web.clone());
            tokio::spawn(async move { token(&s, Some(&web), &body).await })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => ok.push(json(&r)["access_token"].as_str().unwrap().to_owned()),
            400 => assert_eq!(json(&r)["error"], "invalid_grant"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok.len(), 1, "one code, one token");
    // The others were reuses: what the first issued is revoked.
    assert_eq!(introspect(&s, &ok[0]).await["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_token_rotate_once_then_revoke() {
    let s = server();
    let web = basic("web", "s3cret");
    let (code, verifier) = code_for_alice(&s).await;
    let first = json(&token(&s, Some(&web), &redeem_body(&code, &verifier)).await);
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        first["refresh_token"].as_str().unwrap()
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (s, body, web) = (s.clone(), body.clone(), web.clone());
            tokio::spawn(async move { token(&s, Some(&web), &body).await })
        })
        .collect();
    let mut rotated = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 200 {
            rotated.push(json(&r));
        } else {
            assert_eq!(json(&r)["error"], "invalid_grant");
        }
    }
    // Strict rotation (RFC 9700 §4.14.2): one rotation wins; every other
    // presentation is a reuse, which revokes the family, the winner's
    // tokens included.
    assert_eq!(rotated.len(), 1);
    assert_eq!(
        introspect(&s, rotated[0]["access_token"].as_str().unwrap()).await["active"],
        false
    );
    let r = token(
        &s,
        Some(&web),
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            rotated[0]["refresh_token"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
}

#[tokio::test]
async fn a_full_grant_store_refuses_with_503_and_keeps_what_it_holds() {
    let hash = hash_password("s3cret").unwrap();
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential("web", hash)
                .grants([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .redirect_uri(CB)
                .scopes(["read"]),
        )
        .build()
        .unwrap();
    let users = BasicAuthenticator::builder()
        .user(BasicUser::new("alice", hash_password("wonderland").unwrap()).scopes(["read"]))
        .build()
        .unwrap();
    let s = AuthorizationServer::builder(ISSUER, registry)
        .audience("api")
        .signing_key(es256(), Algorithm::ES256, "k1")
        .grant_store(Arc::new(auth_core::store::MemoryGrants::new(2)))
        .users(users)
        .build()
        .unwrap();
    let alice = basic("alice", "wonderland");
    let mut codes = Vec::new();
    for _ in 0..3 {
        let verifier = pkce::new_verifier();
        let q = authz_query(&pkce::s256_challenge(&verifier), "").replace("+admin", "");
        let r = authorize_get(&s, &q, Some(&alice), true).await;
        codes.push((location_params(&r).1, verifier));
    }
    // Two codes fit; the third is refused at the redirect, not dropped.
    assert!(param(&codes[0].0, "code").is_some());
    assert!(param(&codes[1].0, "code").is_some());
    assert_eq!(param(&codes[2].0, "error"), Some("temporarily_unavailable"));
    assert_eq!(param(&codes[2].0, "code"), None);
    let web = basic("web", "s3cret");
    let code = param(&codes[0].0, "code").unwrap().to_owned();
    let r = token(&s, Some(&web), &redeem_body(&code, &codes[0].1)).await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    // The codes held are still good: the second redeems too.
    let code = param(&codes[1].0, "code").unwrap().to_owned();
    let r = token(&s, Some(&web), &redeem_body(&code, &codes[1].1)).await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
}

#[tokio::test]
async fn hostile_input_gets_bounded_refusals() {
    let s = server();
    let challenge = pkce::s256_challenge(&pkce::new_verifier());
    // Huge and malformed queries: an error page, never a panic or a redirect.
    for q in [
        "a".repeat(100_000),
        format!("{}&client_id=web", authz_query(&challenge, "")),
        "client_id=%FF%FE".to_owned(),
        format!(
            "{}&scope={}",
            authz_query(&challenge, "").replace("&scope=read+admin", ""),
            "x ".repeat(10_000)
        ),
    ] {
        let r = authorize_get(&s, &q, None, true).await;
        assert!(r.status == 400 || r.status == 302, "{}", r.status);
        if r.status == 302 {
            let (base, params) = location_params(&r);
            assert_eq!(base, CB);
            assert!(param(&params, "error").is_some());
        }
    }
    // Unknown, malformed and oversized grants at the token endpoint.
    let web = basic("web", "s3cret");
    for body in [
        format!(
            "grant_type=refresh_token&refresh_token=ort_{}",
            "A".repeat(10_000)
        ),
        "grant_type=refresh_token&refresh_token=ort_.".to_owned(),
        format!(
            "grant_type=authorization_code&code={}&code_verifier=x",
            "c".repeat(60_000)
        ),
        "grant_type=authorization_code&code=%00&code_verifier=%00".to_owned(),
    ] {
        let r = token(&s, Some(&web), &body).await;
        assert_eq!(r.status, 400);
        assert!(matches!(
            json(&r)["error"].as_str(),
            Some("invalid_grant" | "invalid_request")
        ));
    }
}

/// A self-signed client certificate (DER) with URI SAN `uri`. The TLS
/// listener verifies chains; the server reads what the handshake accepted.
fn client_cert(uri: &str) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::URI(uri.try_into().unwrap())];
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[tokio::test]
async fn certificate_bound_tokens_and_tls_client_auth() {
    let hash = hash_password("s3cret").unwrap();
    let registry = ClientRegistry::builder()
        .client(
            Client::tls_client_auth("partner", "spiffe://demo.local/billing")
                .grants([GrantType::ClientCredentials, GrantType::TokenExchange])
                .scopes(["read"]),
        )
        .client(
            Client::confidential("svc", hash)
                .grants([GrantType::ClientCredentials, GrantType::TokenExchange])
                .scopes(["read"])
                .certificate_bound_tokens(),
        )
        .build()
        .unwrap();
    let s = AuthorizationServer::builder(ISSUER, registry)
        .audience("api")
        .signing_key(es256(), Algorithm::ES256, "k1")
        .build()
        .unwrap();
    let billing = client_cert("spiffe://demo.local/billing");
    let reporting = client_cert("spiffe://demo.local/reporting");
    let thumb = auth_core::mtls::thumbprint_of(&billing);
    let req = |cert: Option<&Vec<u8>>, tls: bool, auth: Option<&str>| {
        let mut h = SimpleRequest::new("POST", "/oauth/token")
            .tls(tls)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = cert {
            h = h.peer_certificates(vec![c.clone()]);
        }
        if let Some(a) = auth {
            h = h.header("authorization", a);
        }
        h
    };
    let cc = b"grant_type=client_credentials&client_id=partner";
    // tls_client_auth: the certificate is the credential; the token is
    // bound to it.
    let r = s.token(&req(Some(&billing), true, None), cc).await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    let bound = json(&r)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&bound)["cnf"]["x5t#S256"], thumb.as_str());
    for (cert, tls) in [
        (Some(&reporting), true),
        (None, true),
        (Some(&billing), false),
    ] {
        let r = s.token(&req(cert, tls, None), cc).await;
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    // A secret client with bound tokens: bound when a certificate came,
    // not otherwise.
    let svc = basic("svc", "s3cret");
    let cc = b"grant_type=client_credentials";
    let r = s.token(&req(Some(&reporting), true, Some(&svc)), cc).await;
    let c = claims_of(json(&r)["access_token"].as_str().unwrap());
    assert_eq!(
        c["cnf"]["x5t#S256"],
        auth_core::mtls::thumbprint_of(&reporting).as_str()
    );
    let r = s.token(&req(None, true, Some(&svc)), cc).await;
    assert!(
        claims_of(json(&r)["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
    // A bound subject token is exchanged only with its certificate.
    let at = "urn:ietf:params:oauth:token-type:access_token";
    let exchange = format!(
        "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={bound}&subject_token_type={at}"
    );
    let r = s
        .token(&req(Some(&billing), true, Some(&svc)), exchange.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    for cert in [Some(&reporting), None] {
        let r = s
            .token(&req(cert, true, Some(&svc)), exchange.as_bytes())
            .await;
        assert_eq!(json(&r)["error"], "invalid_request");
    }
    let m = json(&s.metadata());
    assert_eq!(m["tls_client_certificate_bound_access_tokens"], true);
    assert!(
        m["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("tls_client_auth"))
    );
}
