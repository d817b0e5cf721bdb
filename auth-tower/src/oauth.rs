//! The OAuth 2.0 authorization server's endpoints as an axum [`Router`]:
//! each handler moves the request head and body into
//! [`AuthorizationServer`] and its [`OAuthResponse`] out.

use auth_core::oauth::OAuthError;
use auth_core::oauth::form::MAX_FORM_LEN;
use auth_core::oauth::resource::ProtectedResource;
use auth_core::oauth::server::{AuthorizationServer, OAuthResponse, paths};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::request::HeadView;

/// The token, introspection and revocation endpoints (`POST`) and the
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
    Router::new()
        .route(paths::METADATA, get(metadata))
        .route(paths::TOKEN, post(token))
        .route(paths::INTROSPECT, post(introspect))
        .route(paths::REVOKE, post(revoke))
        .with_state(server)
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
    let body = bytes::Bytes::copy_from_slice(meta.body());
    Router::new().route(
        auth_core::oauth::resource::PATH,
        get(move || {
            let body = body.clone();
            async move { respond(resource_response(body.to_vec())) }
        }),
    )
}

/// The answer carrying a resource-metadata document.
pub(crate) fn resource_response(body: Vec<u8>) -> OAuthResponse {
    OAuthResponse {
        status: 200,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "max-age=300".to_owned()),
        ],
        body,
    }
}

async fn metadata(State(server): State<AuthorizationServer>) -> Response {
    respond(server.metadata())
}

async fn token(State(server): State<AuthorizationServer>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.token(&HeadView::new(&parts), &body).await)
}

async fn introspect(State(server): State<AuthorizationServer>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.introspect(&HeadView::new(&parts), &body).await)
}

async fn revoke(State(server): State<AuthorizationServer>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.revoke(&HeadView::new(&parts), &body).await)
}

/// The body, or `None` past [`MAX_FORM_LEN`] (or when it breaks off).
async fn read(body: Body) -> Option<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_FORM_LEN).await.ok()
}

fn too_large() -> OAuthResponse {
    OAuthError::invalid_request("the request body is too large").into()
}

fn respond(r: OAuthResponse) -> Response {
    let mut res = Response::new(Body::from(r.body));
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    res
}
