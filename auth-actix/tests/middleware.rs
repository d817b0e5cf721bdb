//! The actix-web plumbing: extractors with and without the middleware,
//! anonymous access, per-route policies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use actix_web::{App, HttpResponse, test, web};
use auth_actix::{Auth, MaybeAuth, RequireAuth};
use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::{Guard, Policy};

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

async fn whoami(Auth(id): Auth) -> HttpResponse {
    HttpResponse::Ok().body(id.subject().to_owned())
}

async fn maybe(MaybeAuth(id): MaybeAuth) -> HttpResponse {
    HttpResponse::Ok().body(id.map_or_else(|| "anonymous".to_owned(), |i| i.subject().to_owned()))
}

#[actix_web::test]
async fn extractor_without_middleware_is_a_500() {
    let app = test::init_service(
        App::new()
            .route("/auth", web::get().to(whoami))
            .route("/maybe", web::get().to(maybe)),
    )
    .await;
    for path in ["/auth", "/maybe"] {
        let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status(), 500, "{path}");
    }
}

#[actix_web::test]
async fn anonymous_allowed_but_bad_credentials_refused() {
    let (guard, key) = guard_and_key(&[]).await;
    let app = test::init_service(
        App::new().service(
            web::scope("")
                .wrap(RequireAuth::new(guard).allow_anonymous())
                .route("/maybe", web::get().to(maybe))
                .route("/auth", web::get().to(whoami)),
        ),
    )
    .await;
    let body = |res: actix_web::dev::ServiceResponse| async move { test::read_body(res).await };
    let res = test::call_service(&app, test::TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(&body(res).await[..], b"anonymous");
    let req = test::TestRequest::get()
        .uri("/maybe")
        .insert_header(("x-api-key", key.as_str()))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(&body(res).await[..], b"acme");
    let req = test::TestRequest::get()
        .uri("/maybe")
        .insert_header(("x-api-key", "bogus"))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 401);
    let res = test::call_service(&app, test::TestRequest::get().uri("/auth").to_request()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"t\""
    );
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
}

#[actix_web::test]
async fn per_route_policies() {
    let (guard, key) = guard_and_key(&["read"]).await;
    let app = test::init_service(
        App::new()
            .route(
                "/read",
                web::get()
                    .to(whoami)
                    .wrap(RequireAuth::new(guard.clone()).policy(Policy::scope("read"))),
            )
            .route(
                "/write",
                web::get()
                    .to(whoami)
                    .wrap(RequireAuth::new(guard).policy(Policy::scope("write"))),
            ),
    )
    .await;
    let req = |p: &str| {
        test::TestRequest::get()
            .uri(p)
            .insert_header(("x-api-key", key.as_str()))
            .to_request()
    };
    assert_eq!(test::call_service(&app, req("/read")).await.status(), 200);
    let res = test::call_service(&app, req("/write")).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"t\", error=\"insufficient_scope\", scope=\"write\""
    );
}

mod claims {
    use super::*;
    use auth_actix::Claims;
    use auth_core::AnyOf;
    use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    #[derive(serde::Deserialize)]
    struct Tenant {
        sub: String,
        tenant: String,
    }

    async fn tenant(Claims(t): Claims<Tenant>) -> HttpResponse {
        HttpResponse::Ok().body(format!("{}@{}", t.sub, t.tenant))
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

    #[actix_web::test]
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
        let keys = ApiKeys::in_memory(Pepper::generate());
        let (api_key, _) = keys
            .issue(NewKey::new("o", Environment::Test))
            .await
            .unwrap();
        let guard = Guard::builder(AnyOf::new().or(jwt).or(ApiKeyAuthenticator::new(keys)))
            .realm("t")
            .build()
            .unwrap();
        let app = test::init_service(
            App::new().route("/t", web::get().to(tenant).wrap(RequireAuth::new(guard))),
        )
        .await;
        let bearer = |t: &str| {
            test::TestRequest::get()
                .uri("/t")
                .insert_header(("authorization", format!("Bearer {t}")))
                .to_request()
        };
        let ok = token(&secret, serde_json::json!({"tenant": "acme"}));
        let res = test::call_service(&app, bearer(&ok)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(&test::read_body(res).await[..], b"u1@acme");
        let lacking = token(&secret, serde_json::json!({}));
        for req in [bearer(&lacking), bearer(api_key.expose())] {
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), 401);
            assert_eq!(
                res.headers().get("www-authenticate").unwrap(),
                "Bearer realm=\"t\", error=\"invalid_token\""
            );
        }
    }
}
