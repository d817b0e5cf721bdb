//! The OAuth 2.0 authorization server's endpoints on actix-web: each
//! handler moves the request head and body into [`AuthorizationServer`]
//! and its [`OAuthResponse`] out.
//!
//! ```
//! use actix_web::{App, test};
//! use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::{pkce, server::AuthorizationServer};
//!
//! # actix_web::rt::System::new().block_on(async {
//! let clients = ClientRegistry::builder()
//!     .client(Client::public("cli").grants([GrantType::AuthorizationCode])
//!         .redirect_uri("http://127.0.0.1/cb")
//!         .opaque_tokens())
//!     .build()
//!     .unwrap();
//! let users = BasicAuthenticator::builder()
//!     .user(BasicUser::new("alice", hash_password("wonderland").unwrap()))
//!     .build()
//!     .unwrap();
//! let server = AuthorizationServer::builder("https://as.example", clients)
//!     .audience("https://api.example")
//!     .users(users)
//!     .build()
//!     .unwrap();
//! let app = test::init_service(App::new().configure(auth_actix::oauth::configure(server))).await;
//!
//! let challenge = pkce::s256_challenge(&pkce::new_verifier());
//! let authorize = |peer: &str| {
//!     test::TestRequest::get()
//!         .uri(&format!("/oauth/authorize?response_type=code&client_id=cli\
//!             &code_challenge={challenge}&code_challenge_method=S256"))
//!         .peer_addr(peer.parse().unwrap())
//!         .to_request()
//! };
//! // Plain HTTP from this machine (development): the login page.
//! let page = test::call_service(&app, authorize("127.0.0.1:50000")).await;
//! assert_eq!(page.status(), 200);
//! assert_eq!(page.headers().get("x-frame-options").unwrap(), "DENY");
//! // Plain HTTP from anywhere else: refused, no password may cross a network in clear.
//! let remote = test::call_service(&app, authorize("203.0.113.7:50000")).await;
//! assert_eq!(remote.status(), 400);
//! # });
//! ```

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::oauth::form::MAX_FORM_LEN;
use auth_core::oauth::resource::{PATH as RESOURCE_PATH, ProtectedResource};
use auth_core::oauth::server::{AuthorizationServer, Endpoint, OAuthResponse, paths};

use crate::request::HeadView;

/// Registers the authorization endpoint (`GET` and `POST`), the token,
/// introspection and revocation endpoints (`POST`), the JWKS and the
/// RFC 8414 metadata (`GET`) at their [`paths`], outside any
/// `RequireAuth` (clients authenticate to these endpoints themselves).
///
/// ```
/// use actix_web::App;
/// use auth_core::oauth::client::ClientRegistry;
/// use auth_core::oauth::server::AuthorizationServer;
///
/// let registry = ClientRegistry::builder().build().unwrap();
/// let server = AuthorizationServer::builder("https://as.example", registry)
///     .audience("https://api.example")
///     .build()
///     .unwrap();
/// let app = App::new().configure(auth_actix::oauth::configure(server));
/// ```
pub fn configure(server: AuthorizationServer) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(server))
            .route(
                paths::METADATA,
                web::get().to(|server: web::Data<AuthorizationServer>| async move {
                    respond(server.metadata())
                }),
            )
            .route(
                paths::JWKS,
                web::get().to(|server: web::Data<AuthorizationServer>| async move {
                    respond(server.jwks_response())
                }),
            );
        for e in Endpoint::ALL {
            for method in e.methods() {
                let route = if *method == "GET" {
                    web::get()
                } else {
                    web::post()
                };
                cfg.route(
                    e.path(),
                    route.to(
                        move |server: web::Data<AuthorizationServer>,
                              req: HttpRequest,
                              body: web::Payload| async move {
                            // `None` past the form limit (or when the body breaks off).
                            let body = body
                                .to_bytes_limited(MAX_FORM_LEN)
                                .await
                                .ok()
                                .and_then(Result::ok);
                            respond(
                                server
                                    .handle(e, &HeadView::new(&req), body.as_deref())
                                    .await,
                            )
                        },
                    ),
                );
            }
        }
    }
}

/// Registers RFC 9728 protected-resource metadata at its well-known
/// [`PATH`](auth_core::oauth::resource::PATH), for a resource server.
///
/// ```
/// use actix_web::App;
/// use auth_core::oauth::resource::ProtectedResource;
///
/// let meta = ProtectedResource::builder("https://api.example")
///     .authorization_server("https://as.example")
///     .build()
///     .unwrap();
/// let app = App::new().configure(auth_actix::oauth::resource_metadata(meta));
/// ```
pub fn resource_metadata(meta: ProtectedResource) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.route(
            RESOURCE_PATH,
            web::get().to(move || {
                let answer = meta.response();
                async move { respond(answer) }
            }),
        );
    }
}

fn respond(r: OAuthResponse) -> HttpResponse {
    let mut res = HttpResponse::build(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in r.headers {
        res.append_header((name, value));
    }
    res.body(r.body)
}
