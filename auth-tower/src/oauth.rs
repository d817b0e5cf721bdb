//! The OAuth 2.0 authorization server's endpoints as an axum [`Router`]:
//! each handler moves the request head and body into
//! [`AuthorizationServer`] and its [`OAuthResponse`] out.
//!
//! ```
//! use auth_core::basic::hash_password;
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::server::AuthorizationServer;
//! use auth_tower::ConnectionInfo;
//! use axum::body::Body;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clients = ClientRegistry::builder()
//!     .client(Client::confidential("svc", hash_password("s3cret").unwrap())
//!         .grants([GrantType::ClientCredentials])
//!         .opaque_tokens())
//!     .build()
//!     .unwrap();
//! let server = AuthorizationServer::builder("https://as.example", clients)
//!     .audience("https://api.example")
//!     .build()
//!     .unwrap();
//! let app = auth_tower::oauth::router(server);
//!
//! let token = |secret: &str| {
//!     let mut req = Request::post("/oauth/token")
//!         .header("content-type", "application/x-www-form-urlencoded")
//!         .body(Body::from(format!("grant_type=client_credentials&client_id=svc&client_secret={secret}")))
//!         .unwrap();
//!     // What `auth_tower::serve` says of a TLS connection: secrets travel over TLS only.
//!     req.extensions_mut().insert(ConnectionInfo::new(None, true, Vec::new()));
//!     req
//! };
//! let ok = app.clone().oneshot(token("s3cret")).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! assert_eq!(ok.headers()["cache-control"], "no-store");
//! let refused = app.oneshot(token("wrong")).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! # });
//! ```

use auth_core::oauth::form::MAX_FORM_LEN;
use auth_core::oauth::resource::{PATH as RESOURCE_PATH, ProtectedResource};
use auth_core::oauth::server::{AuthorizationServer, Endpoint, OAuthResponse, paths};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;

use crate::request::HeadView;
use crate::response::add_headers;

/// The authorization endpoint (`GET` and `POST`), the token,
/// introspection and revocation endpoints (`POST`), the JWKS and the
/// RFC 8414 metadata (`GET`) at their [`paths`]. Merge it into the
/// application's router, outside any auth layer (clients authenticate to
/// these endpoints themselves).
///
/// ```
/// use auth_core::oauth::client::ClientRegistry;
/// use auth_core::oauth::server::AuthorizationServer;
///
/// let registry = ClientRegistry::builder().build().unwrap();
/// let server = AuthorizationServer::builder("https://as.example", registry)
///     .audience("https://api.example")
///     .build()
///     .unwrap();
/// let app: axum::Router = auth_tower::oauth::router(server);
/// ```
pub fn router(server: AuthorizationServer) -> Router {
    let handler = |e: Endpoint| {
        move |State(server): State<AuthorizationServer>, req: Request| async move {
            let (parts, body) = req.into_parts();
            // `None` past the form limit (or when the body breaks off).
            let body = axum::body::to_bytes(body, MAX_FORM_LEN).await.ok();
            respond(
                server
                    .handle(e, &HeadView::new(&parts), body.as_deref())
                    .await,
            )
        }
    };
    let mut router =
        Router::new()
            .route(
                paths::METADATA,
                get(|State(server): State<AuthorizationServer>| async move {
                    respond(server.metadata())
                }),
            )
            .route(
                paths::JWKS,
                get(|State(server): State<AuthorizationServer>| async move {
                    respond(server.jwks_response())
                }),
            );
    for e in Endpoint::ALL {
        let route = if e.methods().contains(&"GET") {
            get(handler(e)).post(handler(e))
        } else {
            post(handler(e))
        };
        router = router.route(e.path(), route);
    }
    router.with_state(server)
}

/// RFC 9728 protected-resource metadata at its well-known
/// [`PATH`](auth_core::oauth::resource::PATH), for a resource server.
///
/// ```
/// use auth_core::oauth::resource::ProtectedResource;
///
/// let meta = ProtectedResource::builder("https://api.example")
///     .authorization_server("https://as.example")
///     .build()
///     .unwrap();
/// let app: axum::Router = auth_tower::oauth::resource_metadata(meta);
/// ```
pub fn resource_metadata(meta: ProtectedResource) -> Router {
    Router::new().route(
        RESOURCE_PATH,
        get(move || {
            let answer = meta.response();
            async move { respond(answer) }
        }),
    )
}

fn respond(r: OAuthResponse) -> Response {
    let mut res = Response::new(Body::from(r.body));
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    add_headers(res.headers_mut(), &r.headers);
    res
}
