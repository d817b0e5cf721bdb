//! The demo on actix-web, through auth-actix.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::http::{KeepAlive, StatusCode};
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{Auth, RequireAuth};
use auth_core::Policy;

use crate::{
    DemoConfig, DemoError, HEALTHZ_BODY, METHOD_NOT_ALLOWED_BODY, NOT_FOUND_BODY, Shared,
    identity_json, partner_policy, service_policy,
};

fn json(
    status: StatusCode,
    content_type: &'static str,
    body: impl actix_web::body::MessageBody + 'static,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("content-type", content_type))
        .body(body)
}

async fn whoami(Auth(id): Auth) -> HttpResponse {
    json(StatusCode::OK, "application/json", identity_json(&id))
}

async fn method_not_allowed() -> HttpResponse {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        "application/problem+json",
        METHOD_NOT_ALLOWED_BODY.to_vec(),
    )
}

fn configure(shared: &Shared, cfg: &mut web::ServiceConfig) {
    auth_actix::oauth::configure(shared.oauth.clone())(cfg);
    if let Some(meta) = shared.resource.clone() {
        auth_actix::oauth::resource_metadata(meta)(cfg);
    }
    let doc = shared.openapi.clone();
    cfg.route(
        "/openapi.json",
        web::get().to(move || {
            let doc = doc.clone();
            async move { json(StatusCode::OK, "application/json", doc) }
        }),
    );
    let guard = &shared.guard;
    let any = || RequireAuth::new(guard.clone());
    let scope = |s: &str| RequireAuth::new(guard.clone()).policy(Policy::scope(s));
    cfg.route(
        "/healthz",
        web::get().to(|| async { json(StatusCode::OK, "application/json", HEALTHZ_BODY.to_vec()) }),
    )
    .service(
        web::resource("/v1/whoami")
            .route(web::get().to(whoami).wrap(any()))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/reports")
            .route(web::get().to(whoami).wrap(scope("reports:read")))
            .route(web::post().to(whoami).wrap(scope("reports:write")))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/service")
            .route(
                web::get()
                    .to(whoami)
                    .wrap(RequireAuth::new(shared.service_guard.clone()).policy(service_policy())),
            )
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/partner")
            .route(
                web::get()
                    .to(whoami)
                    .wrap(RequireAuth::new(shared.partner_guard.clone()).policy(partner_policy())),
            )
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/limited")
            .route(
                web::get()
                    .to(whoami)
                    .wrap(RequireAuth::new(shared.limited_guard.clone())),
            )
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/admin")
            .route(web::get().to(whoami).wrap(scope("admin")))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(|| async {
        json(
            StatusCode::NOT_FOUND,
            "application/problem+json",
            NOT_FOUND_BODY.to_vec(),
        )
    }));
}

type Started = (Box<dyn FnOnce() + Send>, JoinHandle<()>);

pub(crate) fn start(
    shared: Shared,
    http: TcpListener,
    https: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: &DemoConfig,
) -> Result<Started, DemoError> {
    let header_read_timeout = config.header_read_timeout;
    let idle_timeout = config.idle_timeout;
    let workers = 2;
    // actix counts connections per worker.
    let per_worker = config.max_connections.div_ceil(workers).max(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let tls = Arc::unwrap_or_clone(tls);
    let thread = std::thread::Builder::new()
        .name("auth-demo-actix".to_owned())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            let server = HttpServer::new(move || {
                let shared = shared.clone();
                App::new().configure(move |cfg| configure(&shared, cfg))
            })
            .on_connect(auth_actix::on_connect)
            .workers(workers)
            .client_request_timeout(header_read_timeout)
            .keep_alive(KeepAlive::Timeout(idle_timeout))
            .max_connections(per_worker)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(http)
            .and_then(|s| s.listen_rustls_0_23(https, tls));
            match server {
                Ok(server) => {
                    let server = server.run();
                    let _ = tx.send(Ok(server.handle()));
                    if let Err(e) = system.block_on(server) {
                        tracing::error!(error = %e, "server stopped with an error");
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        })
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let handle = rx
        .recv()
        .map_err(|_| DemoError::msg("actix server thread ended early"))?
        .map_err(DemoError::msg)?;
    let stop = Box::new(move || {
        // The stop command is sent at once; the thread ends when the server has.
        drop(handle.stop(true));
    });
    Ok((stop, thread))
}
