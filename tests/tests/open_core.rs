//! The core is open: a method defined here, outside auth-core, with its own
//! header, scheme and challenge, plugs into both adapters unchanged; any-of
//! sends each kind of bearer to the member that recognises it most
//! specifically; the limits stage adds headers to allowed responses and to
//! its refusals. Every case goes to a real axum server and a real actix-web
//! server over HTTP, and both must answer byte for byte the same.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::limits::{Limit, ResponseHeaders};
use auth_core::{
    AnyOf, AuthError, AuthErrorKind, AuthMethod, AuthRequest, Authenticator, BoxFuture, Challenge,
    Guard, Identity, RequestHead, Secret, Specificity,
};

const REALM: &str = "open";
const TOY_HEADER: &str = "x-toy-token";

/// The toy method: `X-Toy-Token: toy-<name>` is the caller `<name>`.
struct Toy;

fn toy_challenge() -> Challenge {
    Challenge::new("Toy").with_param("header", "X-Toy-Token")
}

impl Authenticator for Toy {
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        out.push(TOY_HEADER);
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        req.credential()
            .header(TOY_HEADER)
            .map(|_| Specificity::Exact)
    }
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let name = req
            .credential()
            .header(TOY_HEADER)
            .and_then(|v| v.expose().strip_prefix(b"toy-"))
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        Box::pin(async move {
            match name {
                Some(n) => Ok(Identity::new(n, AuthMethod::Custom)),
                None => Err(AuthError::new(AuthErrorKind::InvalidCredentials)
                    .with_challenge(toy_challenge())
                    .with_reason("bad_toy_token")
                    .with_detail("the toy token is not valid")),
            }
        })
    }
    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(toy_challenge());
    }
}

/// A catch-all for opaque bearer tokens, as introspection will be: it
/// accepts every bearer it is shown, so a more specific member that refuses
/// a token proves that member decided.
struct Opaque;

impl Authenticator for Opaque {
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        req.credential().bearer().map(|_| Specificity::Any)
    }
    fn authenticate<'a>(
        &'a self,
        _req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async { Ok(Identity::new("opaque-caller", AuthMethod::Introspection)) })
    }
    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::bearer());
    }
}

/// A post-authentication stage: tells every caller it ran, and refuses the
/// caller `limited`.
struct Stamp;

impl Limit for Stamp {
    fn check<'a>(
        &'a self,
        _head: &'a dyn RequestHead,
        identity: Option<&'a Identity>,
        headers: &'a mut ResponseHeaders,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        headers.push(("x-limit", "checked".to_owned()));
        let refused = identity.is_some_and(|id| id.subject() == "limited");
        Box::pin(async move {
            if refused {
                Err(AuthError::new(AuthErrorKind::RateLimited)
                    .with_retry_after(Duration::from_millis(1500)))
            } else {
                Ok(())
            }
        })
    }
}

/// The JSON a handler answers: who, by which method, and whether the toy
/// header reached it marked sensitive.
fn body(id: &Identity, toy_sensitive: Option<bool>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "subject": id.subject(),
        "method": id.method().as_str(),
        "toy_sensitive": toy_sensitive,
    }))
    .unwrap()
}

async fn axum_server(guard: Guard) -> SocketAddr {
    use auth_tower::{Auth, RequireAuthLayer};
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/whoami",
        get(|Auth(id): Auth, headers: http::HeaderMap| async move {
            let sensitive = headers.get(TOY_HEADER).map(|v| v.is_sensitive());
            body(&id, sensitive)
        })
        .route_layer(RequireAuthLayer::new(guard)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn actix_server(guard: Guard) -> SocketAddr {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use auth_actix::{Auth, RequireAuth};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().service(
                    web::resource("/whoami")
                        .wrap(RequireAuth::new(guard.clone()))
                        .to(|Auth(id): Auth, req: HttpRequest| async move {
                            let sensitive = req.headers().get(TOY_HEADER).map(|v| v.is_sensitive());
                            HttpResponse::Ok().body(body(&id, sensitive))
                        }),
                )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

struct Setup {
    axum: SocketAddr,
    actix: SocketAddr,
    client: reqwest::Client,
    api_key: String,
    jwt: String,
}

const SECRET: [u8; 32] = [7; 32];

fn jwt_for(sub: &str) -> String {
    let claims =
        serde_json::json!({"iss": "urn:open", "aud": "a", "sub": sub, "exp": 4_102_444_800u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&SECRET).unwrap(),
    )
    .unwrap()
}

async fn setup() -> Setup {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("key-owner", Environment::Live))
        .await
        .unwrap();
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("urn:open")
                .audience("a")
                .key(
                    JwtKey::hmac(
                        &Secret::new(SECRET.to_vec()),
                        jsonwebtoken::Algorithm::HS256,
                    )
                    .unwrap(),
                )
                .token_types(["JWT"]),
        )
        .build()
        .unwrap();
    // Added least specific first: order alone would pick the catch-all.
    let any = AnyOf::new()
        .or(Opaque)
        .or(jwt)
        .or(Toy)
        .or(ApiKeyAuthenticator::new(keys));
    let guard = Guard::builder(any)
        .realm(REALM)
        .limit(Stamp)
        .build()
        .unwrap();
    assert_eq!(
        guard.credential_headers(),
        ["authorization", "x-toy-token", "x-api-key"]
    );
    Setup {
        axum: axum_server(guard.clone()).await,
        actix: actix_server(guard),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        api_key: key.expose().to_owned(),
        jwt: jwt_for("jwt-user"),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    limit: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

impl Setup {
    async fn send_to(&self, addr: SocketAddr, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.client.get(format!("http://{addr}/whoami"));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let res = req.send().await.unwrap();
        let one = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        Answer {
            status: res.status().as_u16(),
            challenges: res
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
            limit: one("x-limit"),
            retry_after: one("retry-after"),
            body: res.bytes().await.unwrap().to_vec(),
        }
    }

    /// Sends to both servers; they must answer the same.
    async fn send(&self, headers: &[(&str, &str)]) -> Answer {
        let a = self.send_to(self.axum, headers).await;
        let b = self.send_to(self.actix, headers).await;
        assert_eq!(a, b, "axum and actix differ for {headers:?}");
        a
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_method_from_outside_plugs_into_both_adapters() {
    let s = setup().await;

    let ok = s.send(&[(TOY_HEADER, "toy-alice")]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json(),
        serde_json::json!({"subject": "alice", "method": "custom", "toy_sensitive": true}),
        "the toy method's identity, with its header marked sensitive by both adapters"
    );

    let bad = s.send(&[(TOY_HEADER, "nope")]).await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.challenges,
        ["Toy realm=\"open\", header=\"X-Toy-Token\""],
        "refused with its own challenge"
    );
    assert!(!String::from_utf8_lossy(&bad.body).contains("nope"));

    let none = s.send(&[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.challenges,
        [
            "Bearer realm=\"open\"",
            "Toy realm=\"open\", header=\"X-Toy-Token\""
        ],
        "every scheme offered once"
    );
}

#[tokio::test]
async fn any_of_sends_each_bearer_to_its_member() {
    let s = setup().await;
    let method = |a: &Answer| a.json()["method"].as_str().unwrap_or_default().to_owned();

    let key = s.send(&[("authorization", &bearer(&s.api_key))]).await;
    assert_eq!((key.status, method(&key).as_str()), (200, "api_key"));
    let key = s.send(&[("x-api-key", &s.api_key)]).await;
    assert_eq!((key.status, method(&key).as_str()), (200, "api_key"));

    let jwt = s.send(&[("authorization", &bearer(&s.jwt))]).await;
    assert_eq!((jwt.status, method(&jwt).as_str()), (200, "jwt"));
    assert_eq!(jwt.json()["subject"], "jwt-user");

    let opaque = s
        .send(&[("authorization", "Bearer 2YotnFZFEjr1zCsicMWpAA")])
        .await;
    assert_eq!(
        (opaque.status, method(&opaque).as_str()),
        (200, "introspection")
    );

    // The catch-all would let these in; the more specific member decides
    // and refuses them.
    let forged_key = format!("{}x", s.api_key);
    let refused = s.send(&[("authorization", &bearer(&forged_key))]).await;
    assert_eq!(refused.status, 401, "an API-key prefix goes to API keys");
    assert_eq!(
        refused.challenges,
        ["Bearer realm=\"open\", error=\"invalid_token\""]
    );
    let forged_jwt = jwt_for("x").replace(".ey", ".eyX");
    let refused = s.send(&[("authorization", &bearer(&forged_jwt))]).await;
    assert_eq!(refused.status, 401, "a JWT's shape goes to JWT");
    assert_eq!(
        refused.challenges,
        ["Bearer realm=\"open\", error=\"invalid_token\""]
    );

    // Two different credentials at once.
    for two in [
        [
            ("x-api-key", s.api_key.as_str()),
            ("authorization", &bearer(&s.jwt)),
        ],
        [
            (TOY_HEADER, "toy-alice"),
            ("authorization", &bearer(&s.jwt)),
        ],
        [(TOY_HEADER, "toy-alice"), ("x-api-key", s.api_key.as_str())],
        [
            ("authorization", &bearer(&s.jwt)),
            ("authorization", &bearer(&s.api_key)),
        ],
    ] {
        let a = s.send(&two).await;
        assert_eq!(a.status, 400, "{two:?}");
        assert_eq!(
            a.challenges,
            ["Bearer realm=\"open\", error=\"invalid_request\""]
        );
    }
}

#[tokio::test]
async fn the_limits_stage_adds_headers_to_allowed_and_refused() {
    let s = setup().await;
    let ok = s.send(&[(TOY_HEADER, "toy-alice")]).await;
    assert_eq!((ok.status, ok.limit.as_deref()), (200, Some("checked")));
    let ok = s.send(&[("x-api-key", &s.api_key)]).await;
    assert_eq!((ok.status, ok.limit.as_deref()), (200, Some("checked")));

    let refused = s.send(&[(TOY_HEADER, "toy-limited")]).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.limit.as_deref(), Some("checked"));
    assert_eq!(refused.retry_after.as_deref(), Some("2"), "rounded up");
    assert!(refused.challenges.is_empty());

    // Authentication refusals come before the stage: no header from it.
    let unauth = s.send(&[(TOY_HEADER, "nope")]).await;
    assert_eq!((unauth.status, unauth.limit), (401, None));
}
