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
