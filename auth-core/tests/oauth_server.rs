//! The authorization server's endpoints, driven directly (no framework):
//! the client-credentials grant for JWT and opaque clients, introspection,
//! revocation, metadata, and every refusal the endpoints make.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;

use auth_core::SimpleRequest;
use auth_core::basic::hash_password;
use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
use auth_core::oauth::server::{AuthorizationServer, OAuthResponse};
use auth_core::store::{MemoryRevocations, RevocationStore};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};

const ISSUER: &str = "https://as.test";

fn server(revocations: Arc<MemoryRevocations>) -> AuthorizationServer {
    let hash = hash_password("s3cret").unwrap();
    let registry = ClientRegistry::builder()
        .client(
            Client::confidential("svc", hash.clone())
                .grants([GrantType::ClientCredentials])
                .scopes(["read", "write"]),
        )
        .client(
            Client::confidential("opq", hash.clone())
                .grants([GrantType::ClientCredentials])
                .scopes(["read"])
                .opaque_tokens(),
        )
        .client(Client::confidential("nogrant", hash).scopes(["read"]))
        .client(
            Client::public("spa")
                .grants([GrantType::ClientCredentials])
                .opaque_tokens(),
        )
        .build()
        .unwrap();
    let kp = rcgen::KeyPair::generate().unwrap();
    let key = EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap();
    AuthorizationServer::builder(ISSUER, registry)
        .audience("api")
        .signing_key(key, Algorithm::ES256, "k1")
        .revocations(revocations)
        .build()
        .unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn head(auth: Option<&str>) -> SimpleRequest {
    let mut h = SimpleRequest::new("POST", "/oauth/token")
        .tls(true)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        h = h.header("authorization", a);
    }
    h
}

fn json(r: &OAuthResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn error(r: &OAuthResponse) -> (u16, String) {
    (
        r.status,
        json(r)["error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn claims_of(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_issue_jwts_and_opaque_tokens() {
    let s = server(Arc::new(MemoryRevocations::new()));
    let svc = basic("svc", "s3cret");
    let r = s
        .token(
            &head(Some(&svc)),
            b"grant_type=client_credentials&scope=read",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", json(&r));
    assert!(
        r.headers
            .contains(&("cache-control", "no-store".to_owned()))
    );
    let body = json(&r);
    assert_eq!(
        (body["token_type"].as_str(), body["scope"].as_str()),
        (Some("Bearer"), Some("read"))
    );
    assert_eq!(body["expires_in"], 900);
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            header["typ"].as_str(),
            header["kid"].as_str(),
            header["alg"].as_str()
        ),
        (Some("at+jwt"), Some("k1"), Some("ES256"))
    );
    let c = claims_of(&jwt);
    assert_eq!(
        (
            c["iss"].as_str(),
            c["aud"].as_str(),
            c["sub"].as_str(),
            c["client_id"].as_str()
        ),
        (Some(ISSUER), Some("api"), Some("svc"), Some("svc"))
    );
    let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 900);
    assert_eq!(c["jti"].as_str().map(str::len), Some(43));
    // No scope asked: all the client's.
    let r = s
        .token(&head(Some(&svc)), b"grant_type=client_credentials")
        .await;
    assert_eq!(json(&r)["scope"], "read write");

    let r = s
        .token(
            &head(None),
            b"grant_type=client_credentials&client_id=opq&client_secret=s3cret",
        )
        .await;
    assert_eq!(r.status, 200);
    let opaque = json(&r)["access_token"].as_str().unwrap().to_owned();
    assert!(opaque.starts_with("oat_") && opaque.len() == 47 && !opaque.contains('.'));
    // Each token is new.
    let again = s
        .token(
            &head(None),
            b"grant_type=client_credentials&client_id=opq&client_secret=s3cret",
        )
        .await;
    assert_ne!(json(&again)["access_token"].as_str(), Some(opaque.as_str()));
    // A token response's Debug output does not show the token.
    assert!(!format!("{again:?}").contains("oat_"));
    assert!(!format!("{r:?}").contains(&opaque));
}

#[tokio::test]
async fn token_requests_are_refused_for_what_they_get_wrong() {
    let s = server(Arc::new(MemoryRevocations::new()));
    let svc = basic("svc", "s3cret");
    let plain = SimpleRequest::new("POST", "/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", svc.as_str());
    let get = SimpleRequest::get("/oauth/token")
        .tls(true)
        .header("authorization", svc.as_str());
    let json_body = SimpleRequest::new("POST", "/oauth/token")
        .tls(true)
        .header("content-type", "application/json")
        .header("authorization", svc.as_str());
    let query = SimpleRequest::new("POST", "/oauth/token?grant_type=client_credentials")
        .tls(true)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", svc.as_str());
    let charset = SimpleRequest::new("POST", "/oauth/token")
        .tls(true)
        .header(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .header("authorization", svc.as_str());
    assert_eq!(
        s.token(&charset, b"grant_type=client_credentials")
            .await
            .status,
        200
    );
    for (h, body, want) in [
        (
            plain,
            &b"grant_type=client_credentials"[..],
            (400, "invalid_request"),
        ),
        (
            get,
            b"grant_type=client_credentials",
            (400, "invalid_request"),
        ),
        (
            json_body,
            b"grant_type=client_credentials",
            (400, "invalid_request"),
        ),
        (query, b"", (400, "invalid_request")),
        (head(Some(&svc)), b"", (400, "invalid_request")),
        (
            head(Some(&svc)),
            b"grant_type=password",
            (400, "unsupported_grant_type"),
        ),
        (
            head(Some(&svc)),
            b"grant_type=refresh_token&refresh_token=x",
            // A grant the client is not registered for.
            (400, "unauthorized_client"),
        ),
        (
            head(Some(&svc)),
            b"grant_type=password&username=a&password=b",
            (400, "unsupported_grant_type"),
        ),
        (
            head(Some(&svc)),
            b"grant_type=client_credentials&scope=admin",
            (400, "invalid_scope"),
        ),
        (
            head(Some(&basic("svc", "nope"))),
            b"grant_type=client_credentials",
            (401, "invalid_client"),
        ),
        (
            head(Some(&basic("ghost", "s3cret"))),
            b"grant_type=client_credentials",
            (401, "invalid_client"),
        ),
        (
            head(Some(&basic("nogrant", "s3cret"))),
            b"grant_type=client_credentials",
            (400, "unauthorized_client"),
        ),
        (
            head(None),
            b"grant_type=client_credentials&client_id=spa",
            (400, "unauthorized_client"),
        ),
        (
            head(None),
            b"grant_type=client_credentials",
            (401, "invalid_client"),
        ),
    ] {
        let r = s.token(&h, body).await;
        assert_eq!(
            error(&r),
            (want.0, want.1.to_owned()),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(
            r.headers
                .contains(&("cache-control", "no-store".to_owned()))
        );
    }
    let huge = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(
        error(&s.token(&head(Some(&svc)), &huge).await).1,
        "invalid_request"
    );
}

#[tokio::test]
async fn introspection_and_revocation_follow_the_tokens() {
    let revocations = Arc::new(MemoryRevocations::new());
    let s = server(revocations.clone());
    let svc = basic("svc", "s3cret");
    let opq = basic("opq", "s3cret");
    let issue = |auth: &str| {
        let s = s.clone();
        let h = head(Some(auth));
        async move {
            json(&s.token(&h, b"grant_type=client_credentials").await)["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let jwt = issue(&svc).await;
    let opaque = issue(&opq).await;
    let ask = |auth: &str, token: &str| {
        let s = s.clone();
        let h = head(Some(auth));
        let body = format!("token={token}");
        async move { json(&s.introspect(&h, body.as_bytes()).await) }
    };
    let a = ask(&opq, &opaque).await;
    assert_eq!(
        (
            a["active"].as_bool(),
            a["client_id"].as_str(),
            a["scope"].as_str()
        ),
        (Some(true), Some("opq"), Some("read"))
    );
    assert_eq!(a["token_type"], "Bearer");
    let a = ask(&opq, &jwt).await;
    assert_eq!(
        (a["active"].as_bool(), a["sub"].as_str()),
        (Some(true), Some("svc"))
    );
    for bogus in [
        "oat_nope",
        "nope",
        "a.b.c",
        &format!("{}x", &jwt[..jwt.len() - 1]),
        &"a".repeat(9000),
    ] {
        assert_eq!(
            ask(&svc, bogus).await,
            serde_json::json!({"active": false}),
            "{bogus}"
        );
    }
    // Introspection needs an authenticated confidential client, and a token.
    let r = s
        .introspect(
            &head(None),
            format!("token={opaque}&client_id=spa").as_bytes(),
        )
        .await;
    assert_eq!(error(&r).0, 401);
    let r = s
        .introspect(
            &head(Some(&basic("svc", "x"))),
            format!("token={opaque}").as_bytes(),
        )
        .await;
    assert_eq!(error(&r), (401, "invalid_client".to_owned()));
    let r = s.introspect(&head(Some(&svc)), b"").await;
    assert_eq!(error(&r), (400, "invalid_request".to_owned()));

    // Revocation: 200 always, effective only for the owning client.
    let revoke = |auth: &str, token: &str| {
        let s = s.clone();
        let h = head(Some(auth));
        let body = format!("token={token}");
        async move { s.revoke(&h, body.as_bytes()).await }
    };
    assert_eq!(revoke(&svc, &opaque).await.status, 200);
    assert_eq!(ask(&opq, &opaque).await["active"], true);
    assert_eq!(revoke(&opq, &opaque).await.status, 200);
    assert_eq!(
        ask(&opq, &opaque).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(revoke(&opq, &jwt).await.status, 200);
    assert_eq!(ask(&svc, &jwt).await["active"], true);
    let jti = claims_of(&jwt)["jti"].as_str().unwrap().to_owned();
    assert!(!revocations.is_revoked(ISSUER, &jti).await.unwrap());
    assert_eq!(revoke(&svc, &jwt).await.status, 200);
    assert!(revocations.is_revoked(ISSUER, &jti).await.unwrap());
    assert_eq!(ask(&svc, &jwt).await, serde_json::json!({"active": false}));
    assert_eq!(revoke(&svc, "oat_unknown").await.status, 200);
    assert_eq!(
        error(&s.revoke(&head(Some(&svc)), b"").await).1,
        "invalid_request"
    );
    assert_eq!(
        error(&s.revoke(&head(Some(&basic("svc", "x"))), b"token=a").await).0,
        401
    );
}

#[test]
fn metadata_lists_what_is_built() {
    let s = server(Arc::new(MemoryRevocations::new()));
    let r = s.metadata();
    assert_eq!(r.status, 200);
    let m = json(&r);
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], "https://as.test/oauth/token");
    assert_eq!(
        m["introspection_endpoint"],
        "https://as.test/oauth/introspect"
    );
    assert_eq!(m["revocation_endpoint"], "https://as.test/oauth/revoke");
    assert_eq!(m["jwks_uri"], "https://as.test/.well-known/jwks.json");
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert!(
        r.headers
            .contains(&("cache-control", "max-age=300".to_owned()))
    );
    assert_eq!(s.issuer(), ISSUER);
}

#[test]
fn servers_refuse_unusable_configurations() {
    let registry = || {
        ClientRegistry::builder()
            .client(Client::confidential("svc", hash_password("x").unwrap()))
            .build()
            .unwrap()
    };
    // No audience; a JWT client without a key; an HMAC key.
    assert!(
        AuthorizationServer::builder(ISSUER, registry())
            .build()
            .is_err()
    );
    assert!(
        AuthorizationServer::builder(ISSUER, registry())
            .audience("api")
            .build()
            .is_err()
    );
    let hmac = EncodingKey::from_secret(&[1; 32]).unwrap();
    assert!(
        AuthorizationServer::builder(ISSUER, registry())
            .audience("api")
            .signing_key(hmac, Algorithm::HS256, "k")
            .build()
            .is_err()
    );
    let empty = ClientRegistry::builder().build().unwrap();
    assert!(
        AuthorizationServer::builder("", empty)
            .audience("api")
            .build()
            .is_err()
    );
}
