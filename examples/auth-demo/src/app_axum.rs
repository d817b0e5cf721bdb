//! The demo on axum, through auth-tower.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use auth_core::Policy;
use auth_tower::{Auth, RequireAuthLayer, Server};
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;

use crate::{
    DemoConfig, DemoError, HEALTHZ_BODY, METHOD_NOT_ALLOWED_BODY, NOT_FOUND_BODY, Shared,
    identity_json, partner_policy, service_policy,
};

fn json(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    res
}

async fn whoami(Auth(id): Auth) -> Response {
    json(StatusCode::OK, "application/json", identity_json(&id))
}

pub(crate) fn router(shared: &Shared) -> Router {
    let guard = &shared.guard;
    let any = || RequireAuthLayer::new(guard.clone());
    let scope = |s: &str| RequireAuthLayer::new(guard.clone()).policy(Policy::scope(s));
    Router::new()
        .route(
            "/healthz",
            get(|| async { json(StatusCode::OK, "application/json", HEALTHZ_BODY.to_vec()) }),
        )
        .route("/openapi.json", {
            let doc = shared.openapi.clone();
            get(move || {
                let doc = doc.clone();
                async move { json(StatusCode::OK, "application/json", doc) }
            })
        })
        .route("/v1/whoami", get(whoami).route_layer(any()))
        .route(
            "/v1/reports",
            get(whoami)
                .route_layer(scope("reports:read"))
                .merge(post(whoami).route_layer(scope("reports:write"))),
        )
        .route("/v1/admin", get(whoami).route_layer(scope("admin")))
        .route(
            "/v1/limited",
            get(whoami).route_layer(RequireAuthLayer::new(shared.limited_guard.clone())),
        )
        .route(
            "/v1/service",
            get(whoami).route_layer(
                RequireAuthLayer::new(shared.service_guard.clone()).policy(service_policy()),
            ),
        )
        .route(
            "/v1/partner",
            get(whoami).route_layer(
                RequireAuthLayer::new(shared.partner_guard.clone()).policy(partner_policy()),
            ),
        )
        .merge(auth_tower::oauth::router(shared.oauth.clone()))
        .merge(
            shared
                .resource
                .clone()
                .map(auth_tower::oauth::resource_metadata)
                .unwrap_or_default(),
        )
        .fallback(|| async {
            json(
                StatusCode::NOT_FOUND,
                "application/problem+json",
                NOT_FOUND_BODY.to_vec(),
            )
        })
        .method_not_allowed_fallback(|| async {
            json(
                StatusCode::METHOD_NOT_ALLOWED,
                "application/problem+json",
                METHOD_NOT_ALLOWED_BODY.to_vec(),
            )
        })
}

type Started = (Box<dyn FnOnce() + Send>, JoinHandle<()>);

pub(crate) fn start(
    shared: Shared,
    http: TcpListener,
    https: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: &DemoConfig,
) -> Result<Started, DemoError> {
    let server = Server::new()
        .header_read_timeout(config.header_read_timeout)
        .idle_timeout(config.idle_timeout)
        .max_connections(config.max_connections)
        .drain_timeout(Duration::from_secs(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let app = router(&shared);
    let http = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(http).map_err(|e| DemoError::msg(e.to_string()))?
    };
    let https = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(https).map_err(|e| DemoError::msg(e.to_string()))?
    };
    let thread = std::thread::Builder::new()
        .name("auth-demo-axum".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                let (a, b) = tokio::join!(
                    server.clone().serve(http, app.clone(), stopped(rx.clone())),
                    server.tls(acceptor).serve(https, app, stopped(rx)),
                );
                for r in [a, b] {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "server stopped with an error");
                    }
                }
            });
        })
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let stop = Box::new(move || {
        let _ = tx.send(true);
    });
    Ok((stop, thread))
}
