//! What browser front-ends need, on both adapters, byte for byte the same:
//! refusals rendered the application's way (an HTML page here) with the
//! guard's status, challenges, `Cache-Control` and `Retry-After` kept; a
//! bearer token from a cookie, off unless configured, ignored when a header
//! carries a credential, refused from a foreign origin on unsafe methods;
//! and CORS preflights answered before authentication (tower-http's
//! `CorsLayer` outside the auth layer on axum, actix-cors outside
//! `RequireAuth` on actix-web).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;

use auth_core::cookie::BearerCookie;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::{Guard, Identity, Rejection, Rendered, RequestHead, Secret};

const SECRET: [u8; 32] = [9; 32];
const APP_ORIGIN: &str = "https://app.example";

fn token(sub: &str, exp: u64) -> String {
    let claims = serde_json::json!({"iss": "urn:browser", "aud": "web", "sub": sub, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&SECRET).unwrap(),
    )
    .unwrap()
}

/// An HTML page for clients that accept HTML; the problem body otherwise.
fn html_page(r: &Rejection, head: &dyn RequestHead) -> Option<Rendered> {
    let accept = head.header_values("accept");
    let html = accept
        .iter()
        .any(|v| v.windows(9).any(|w| w == b"text/html"));
    html.then(|| Rendered {
        content_type: "text/html; charset=utf-8".to_owned(),
        body: format!(
            "<!doctype html><title>{0}</title><h1>{0}</h1><p>{1}</p>",
            r.title(),
            r.detail()
        )
        .into_bytes(),
    })
}

fn guard(cookie: bool) -> Guard {
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("urn:browser")
                .audience("web")
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
    let mut builder = Guard::builder(jwt)
        .realm("web")
        .render_rejections(html_page);
    if cookie {
        builder = builder.bearer_cookie(BearerCookie::new("at").allowed_origins([APP_ORIGIN]));
    }
    builder.build().unwrap()
}

fn body(id: &Identity) -> String {
    format!("hello {}", id.subject())
}

async fn axum_server(guard: Guard) -> SocketAddr {
    use auth_tower::{Auth, RequireAuthLayer};
    use axum::routing::get;
    use tower_http::cors::CorsLayer;
    let cors = CorsLayer::new()
        .allow_origin(http::HeaderValue::from_static(APP_ORIGIN))
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers([http::header::AUTHORIZATION])
        .allow_credentials(true);
    let app = axum::Router::new()
        .route(
            "/me",
            get(|Auth(id): Auth| async move { body(&id) })
                .post(|Auth(id): Auth| async move { body(&id) }),
        )
        .route_layer(RequireAuthLayer::new(guard))
        // Outside the auth layer: preflights never reach it.
        .layer(cors);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(auth_tower::serve(
        listener,
        None,
        app,
        std::future::pending(),
    ));
    addr
}

fn actix_server(guard: Guard) -> SocketAddr {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use auth_actix::{Auth, RequireAuth};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                HttpServer::new(move || {
                    let cors = actix_cors::Cors::default()
                        .allowed_origin(APP_ORIGIN)
                        .allowed_methods(["GET", "POST"])
                        .allowed_header(actix_web::http::header::AUTHORIZATION)
                        .supports_credentials();
                    App::new().service(
                        web::resource("/me")
                            // The last `wrap` runs first: CORS outside auth.
                            .wrap(RequireAuth::new(guard.clone()))
                            .wrap(cors)
                            .route(web::get().to(|Auth(id): Auth| async move {
                                HttpResponse::Ok().body(body(&id))
                            }))
                            .route(web::post().to(|Auth(id): Auth| async move {
                                HttpResponse::Ok().body(body(&id))
                            })),
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

#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    allow_origin: Option<String>,
    body: String,
}

struct Both {
    axum: SocketAddr,
    actix: SocketAddr,
    client: reqwest::Client,
}

impl Both {
    async fn start(cookie: bool) -> Self {
        Self {
            axum: axum_server(guard(cookie)).await,
            actix: actix_server(guard(cookie)),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn send_to(&self, addr: SocketAddr, method: &str, headers: &[(&str, &str)]) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("http://{addr}/me"));
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
            content_type: one("content-type"),
            cache_control: one("cache-control"),
            allow_origin: one("access-control-allow-origin"),
            body: res.text().await.unwrap(),
        }
    }

    /// Sends to both; what the auth layers decide must be the same. The
    /// handlers' own content types differ by framework (`String` is
    /// `text/plain` on axum, a bare body has none on actix), and
    /// tower-http sends `Access-Control-Allow-Origin` for a fixed origin
    /// even to requests without an allowed `Origin`, where actix-cors
    /// sends nothing:
    /// neither is the auth layer's doing, so neither is compared.
    async fn send(&self, method: &str, headers: &[(&str, &str)]) -> Answer {
        let has_origin = headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("origin") && *v == APP_ORIGIN);
        let norm = |mut x: Answer| {
            if x.status < 300 && x.challenges.is_empty() {
                x.content_type = None;
            }
            if !has_origin {
                x.allow_origin = None;
            }
            x
        };
        let a = norm(self.send_to(self.axum, method, headers).await);
        let b = norm(self.send_to(self.actix, method, headers).await);
        assert_eq!(a, b, "axum and actix differ on {method} {headers:?}");
        a
    }
}

const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_render_the_application_way_and_keep_the_guards_headers() {
    let both = Both::start(false).await;
    // A browser gets the page, with the status, challenge and no-store.
    let page = both.send("GET", &[HTML]).await;
    assert_eq!(page.status, 401);
    assert_eq!(page.challenges, [r#"Bearer realm="web""#]);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.cache_control.as_deref(), Some("no-store"));
    assert!(
        page.body
            .starts_with("<!doctype html><title>Authentication required</title>")
    );

    // An API client, the problem document as before.
    let problem = both.send("GET", &[]).await;
    assert_eq!(problem.status, 401);
    assert_eq!(
        problem.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert!(problem.body.contains(r#""status":401"#));

    // A bad token rendered: its own challenge is kept.
    let expired = format!("Bearer {}", token("ada", 1_000));
    let page = both.send("GET", &[HTML, ("authorization", &expired)]).await;
    assert_eq!(page.status, 401);
    assert!(
        page.challenges[0].contains(r#"error="invalid_token""#),
        "{page:?}"
    );
    assert!(page.body.contains("<h1>"));

    // Allowed requests are not touched.
    let ok = format!("Bearer {}", token("ada", 4_102_444_800));
    let hello = both.send("GET", &[HTML, ("authorization", &ok)]).await;
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello ada"));

    // Without the cookie source, a cookie is not a credential.
    let cookie = format!("at={}", token("ada", 4_102_444_800));
    let refused = both.send("GET", &[("cookie", &cookie)]).await;
    assert_eq!(refused.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_cookie_authenticates_only_where_no_header_does() {
    let both = Both::start(true).await;
    let good = token("ada", 4_102_444_800);
    let cookie = format!("theme=dark; at={good}");
    let hello = both.send("GET", &[("cookie", &cookie)]).await;
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello ada"));

    // A header credential wins: a bad one is refused whatever the cookie.
    let bad = format!("Bearer {}", token("ada", 1_000));
    let refused = both
        .send("GET", &[("cookie", &cookie), ("authorization", &bad)])
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.challenges[0].contains("invalid_token"));
    // ... and a good one is used, a bad cookie ignored.
    let bob = format!("Bearer {}", token("bob", 4_102_444_800));
    let hello = both
        .send(
            "GET",
            &[("cookie", "at=not-a-jwt"), ("authorization", &bob)],
        )
        .await;
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello bob"));

    // A bad cookie token, alone: 401 invalid_token.
    let expired = format!("at={}", token("ada", 1_000));
    let refused = both.send("GET", &[("cookie", &expired)]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.challenges[0].contains("invalid_token"));
    let refused = both.send("GET", &[("cookie", "at=a b")]).await;
    assert_eq!(refused.status, 401);

    // The cookie twice (a sibling subdomain planting its own): 400.
    let twice = format!("at={good}; at={}", token("eve", 4_102_444_800));
    let refused = both.send("GET", &[("cookie", &twice)]).await;
    assert_eq!(refused.status, 400);

    // Unsafe methods need an allowed Origin (CSRF), rendered as the page.
    let from = |origin: &'static str| [("cookie", cookie.as_str()), ("origin", origin), HTML];
    let hello = both.send("POST", &from(APP_ORIGIN)).await;
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello ada"));
    let forged = both.send("POST", &from("https://evil.example")).await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("allowed origin"), "{forged:?}");
    assert_eq!(forged.cache_control.as_deref(), Some("no-store"));
    let no_origin = both.send("POST", &[("cookie", &cookie)]).await;
    assert_eq!(no_origin.status, 403);
    // A header credential needs no Origin: browsers never add one.
    let hello = both.send("POST", &[("authorization", &bob)]).await;
    assert_eq!(hello.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_are_answered_before_authentication() {
    let both = Both::start(true).await;
    let preflight = both
        .send(
            "OPTIONS",
            &[
                ("origin", APP_ORIGIN),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
    assert_eq!(preflight.status, 200, "{preflight:?}");
    assert_eq!(preflight.allow_origin.as_deref(), Some(APP_ORIGIN));
    assert!(preflight.challenges.is_empty());

    // The refusal of the real request carries the CORS headers, so the
    // page's script can read the 401 and its challenge.
    let refused = both.send("POST", &[("origin", APP_ORIGIN)]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.allow_origin.as_deref(), Some(APP_ORIGIN));
    assert_eq!(refused.challenges, [r#"Bearer realm="web""#]);
}
