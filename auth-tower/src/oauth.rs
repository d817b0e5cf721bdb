//! The OAuth 2.0 authorization server's endpoints as an axum [`Router`]:
//! each handler moves the request head and body into
//! [`AuthorizationServer`] and its [`OAuthResponse`] out.

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
