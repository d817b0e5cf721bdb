//! The Tower plumbing: poll_ready discipline, bare services, extractors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::task::{Context, Poll};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::{Guard, Identity, Policy};
use auth_tower::{Auth, RequireAuthLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

async fn guard_and_key(scopes: &[&str]) -> (Guard, String) {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("acme", Environment::Test).scopes(scopes.iter().copied()))
        .await
        .unwrap();
    let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
        .realm("t")
        .build()
        .unwrap();
    (guard, key.expose().to_owned())
}

/// A service that is ready exactly once: calling it without a fresh
/// `poll_ready` panics, as tower's contract allows.
#[derive(Clone)]
struct ReadyOnce {
    ready: bool,
}

impl Service<Request<Body>> for ReadyOnce {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        assert!(self.ready, "called without poll_ready");
        self.ready = false;
        let who = req
            .extensions()
            .get::<Identity>()
            .map(|i| i.subject().to_owned())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(Body::from(who))))
    }
}

#[tokio::test]
async fn the_service_polled_ready_is_the_one_called() {
    let (guard, key) = guard_and_key(&[]).await;
    let mut svc = RequireAuthLayer::new(guard).layer(ReadyOnce { ready: false });
    for _ in 0..3 {
        let req = Request::get("/")
            .header("x-api-key", &key)
            .body(Body::empty())
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"acme");
    }
}

#[tokio::test]
async fn works_on_a_bare_service_fn_with_any_body() {
    let (guard, key) = guard_and_key(&[]).await;
    let svc = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(guard))
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let id = req.extensions().get::<Identity>().cloned();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                id.map(|i| i.subject().to_owned()).unwrap_or_default(),
            ))))
        });
    let ok = Request::get("/")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::default())
        .unwrap();
    let res = svc.clone().oneshot(ok).await.unwrap();
    assert_eq!(res.status(), 200);
    let refused = Request::get("/").body(Full::default()).unwrap();
    let res = svc.oneshot(refused).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"t\"");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["status"], 401);
}

#[tokio::test]
async fn credential_headers_are_marked_sensitive() {
    let (guard, key) = guard_and_key(&[]).await;
    let svc = ServiceBuilder::new()
        .layer(RequireAuthLayer::new(guard))
        .service_fn(|req: Request<Body>| async move {
            let sensitive = req.headers()["x-api-key"].is_sensitive();
            Ok::<_, Infallible>(Response::new(Body::from(sensitive.to_string())))
        });
    let req = Request::get("/")
        .header("x-api-key", &key)
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"true");
}

async fn whoami(Auth(id): Auth) -> String {
    id.subject().to_owned()
}

async fn maybe(id: Option<Auth>) -> String {
    id.map_or_else(|| "anonymous".to_owned(), |Auth(i)| i.subject().to_owned())
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn extractor_without_the_layer_is_a_500_not_a_401() {
    let app = Router::new()
        .route("/auth", get(whoami))
        .route("/maybe", get(maybe));
    for path in ["/auth", "/maybe"] {
        let (status, _) = call(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
    }
}

#[tokio::test]
async fn anonymous_allowed_but_bad_credentials_refused() {
    let (guard, key) = guard_and_key(&["read"]).await;
    let app = Router::new()
        .route("/maybe", get(maybe))
        .route("/auth", get(whoami))
        .layer(RequireAuthLayer::new(guard).allow_anonymous());
    let anon = Request::get("/maybe").body(Body::empty()).unwrap();
    assert_eq!(
        call(&app, anon).await,
        (StatusCode::OK, "anonymous".to_owned())
    );
    let known = Request::get("/maybe")
        .header("x-api-key", &key)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, known).await, (StatusCode::OK, "acme".to_owned()));
    let bad = Request::get("/maybe")
        .header("x-api-key", "bogus")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, bad).await.0, StatusCode::UNAUTHORIZED);
    // A handler that needs a caller answers an anonymous one with the 401 the
    // layer would have sent.
    let res = app
        .clone()
        .oneshot(Request::get("/auth").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"t\"");
}

#[tokio::test]
async fn per_route_policies_with_route_layer() {
    let (guard, key) = guard_and_key(&["read"]).await;
    // `route_layer` on a method router guards that route alone.
    let app = Router::new()
        .route(
            "/read",
            get(whoami)
                .route_layer(RequireAuthLayer::new(guard.clone()).policy(Policy::scope("read"))),
        )
        .route(
            "/write",
            get(whoami).route_layer(RequireAuthLayer::new(guard).policy(Policy::scope("write"))),
        );
    let req = |p: &str| {
        Request::get(p)
            .header("x-api-key", &key)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(call(&app, req("/read")).await.0, StatusCode::OK);
    let res = app.clone().oneshot(req("/write")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"t\", error=\"insufficient_scope\", scope=\"write\""
    );
}

mod claims {
    use super::*;
    use auth_core::AnyOf;
    use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
    use auth_tower::Claims;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    #[derive(serde::Deserialize)]
    struct Tenant {
        sub: String,
        tenant: String,
    }

    async fn tenant(Claims(t): Claims<Tenant>) -> String {
        format!("{}@{}", t.sub, t.tenant)
    }

    fn token(secret: &[u8], extra: serde_json::Value) -> String {
        let mut claims =
            serde_json::json!({"iss": "urn:t", "aud": "api", "sub": "u1", "exp": 4102444800u64});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn typed_claims_in_and_out() {
        let secret = [9u8; 32];
        let jwt = JwtAuthenticator::builder()
            .issuer(
                Issuer::new("urn:t")
                    .audience("api")
                    .key(
                        JwtKey::hmac(&auth_core::Secret::new(secret.to_vec()), Algorithm::HS256)
                            .unwrap(),
                    )
                    .token_types(["JWT"]),
            )
            .build()
            .unwrap();
        let keys = auth_core::api_key::ApiKeys::in_memory(auth_core::api_key::Pepper::generate());
        let (api_key, _) = keys
            .issue(auth_core::api_key::NewKey::new(
                "o",
                auth_core::api_key::Environment::Test,
            ))
            .await
            .unwrap();
        let guard = Guard::builder(
            AnyOf::new()
                .or(jwt)
                .or(auth_core::api_key::ApiKeyAuthenticator::new(keys)),
        )
        .realm("t")
        .build()
        .unwrap();
        let app = Router::new().route("/t", get(tenant).route_layer(RequireAuthLayer::new(guard)));
        let bearer = |t: &str| {
            Request::get("/t")
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap()
        };
        let ok = token(&secret, serde_json::json!({"tenant": "acme"}));
        assert_eq!(
            call(&app, bearer(&ok)).await,
            (StatusCode::OK, "u1@acme".to_owned())
        );
        // A token without the claim, and an API key (no claims at all): 401 invalid_token.
        let lacking = token(&secret, serde_json::json!({}));
        for req in [bearer(&lacking), bearer(api_key.expose())] {
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                res.headers()["www-authenticate"],
                "Bearer realm=\"t\", error=\"invalid_token\""
            );
        }
    }
}
