//! The OAuth 2.0 authorization server's endpoints on actix-web: each
//! handler moves the request head and body into [`AuthorizationServer`]
//! and its [`OAuthResponse`] out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::oauth::OAuthError;
use auth_core::oauth::form::MAX_FORM_LEN;
use auth_core::oauth::resource::ProtectedResource;
use auth_core::oauth::server::{AuthorizationServer, OAuthResponse, paths};

use crate::request::HeadView;

/// Registers the token, introspection and revocation endpoints (`POST`)
/// and the RFC 8414 metadata (`GET`) at their [`paths`], outside any
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
            .route(paths::METADATA, web::get().to(metadata))
            .route(paths::TOKEN, web::post().to(token))
            .route(paths::INTROSPECT, web::post().to(introspect))
            .route(paths::REVOKE, web::post().to(revoke));
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
    let body = web::Bytes::copy_from_slice(meta.body());
    move |cfg| {
        cfg.route(
            auth_core::oauth::resource::PATH,
            web::get().to(move || {
                let body = body.clone();
                async move {
                    respond(OAuthResponse {
                        status: 200,
                        headers: vec![
                            ("content-type", "application/json".to_owned()),
                            ("cache-control", "max-age=300".to_owned()),
                        ],
                        body: body.to_vec(),
                    })
                }
            }),
        );
    }
}

async fn metadata(server: web::Data<AuthorizationServer>) -> HttpResponse {
    respond(server.metadata())
}

async fn token(
    server: web::Data<AuthorizationServer>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.token(&HeadView::new(&req), &body).await)
}

async fn introspect(
    server: web::Data<AuthorizationServer>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.introspect(&HeadView::new(&req), &body).await)
}

async fn revoke(
    server: web::Data<AuthorizationServer>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let Some(body) = read(body).await else {
        return respond(too_large());
    };
    respond(server.revoke(&HeadView::new(&req), &body).await)
}

/// The body, or `None` past [`MAX_FORM_LEN`] (or when it breaks off).
async fn read(body: web::Payload) -> Option<web::Bytes> {
    body.to_bytes_limited(MAX_FORM_LEN).await.ok()?.ok()
}

fn too_large() -> OAuthResponse {
    OAuthError::invalid_request("the request body is too large").into()
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
