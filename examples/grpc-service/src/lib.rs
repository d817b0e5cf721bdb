//! # grpc-service: a tonic service behind auth-tower
//!
//! A gRPC service (`proto/reports.proto`) whose methods take an API key
//! (`x-api-key` metadata, or `authorization: Bearer <key>`) or a JWT
//! (`authorization: Bearer <jwt>`), served by `auth_tower::Server` over
//! HTTP/2 (h2c here; give the server a TLS acceptor for h2 by ALPN).
//!
//! ```text
//! cargo run -p grpc-service                    # prints two API keys and a dev JWT
//! grpcurl -plaintext -import-path examples/grpc-service/proto -proto reports.proto \
//!     -H "x-api-key: $READER_KEY" 127.0.0.1:50051 reports.v1.Reports/WhoAmI        # OK
//! grpcurl -plaintext -import-path examples/grpc-service/proto -proto reports.proto \
//!     -H "x-api-key: $PLAIN_KEY" -d '{"name":"q3"}' 127.0.0.1:50051 reports.v1.Reports/GetReport
//!                                              # PermissionDenied: needs reports:read
//! grpcurl -plaintext -import-path examples/grpc-service/proto -proto reports.proto \
//!     127.0.0.1:50051 reports.v1.Reports/WhoAmI # Unauthenticated
//! ```
//!
//! What it shows:
//! - one [`RequireAuthLayer`] per method, as axum `route_layer`s over the
//!   tonic service, so `GetReport` needs the `reports:read` scope and
//!   `WhoAmI` any valid caller;
//! - refusals as gRPC statuses (`UNAUTHENTICATED`, `PERMISSION_DENIED`, …)
//!   with the `www-authenticate` challenge as metadata
//!   ([`auth_tower::grpc`]);
//! - the caller's [`Identity`] in the handler, from the request's
//!   extensions.
//!
//! `src/pb/reports.v1.rs` is what `tonic-prost-build` generates from
//! `proto/reports.proto` (checked in, so building needs no `protoc`; a
//! service of your own would generate it in `build.rs`).

use std::net::SocketAddr;

use auth_core::api_key::{ApiKey, ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::{AnyOf, Guard, Identity, Policy, Secret};
use auth_tower::RequireAuthLayer;
use auth_tower::server::Server;
use axum::Router;
use tonic::{Request, Response, Status};
use tower_layer::Layer as _;

/// The code generated from `proto/reports.proto`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod pb {
    include!("pb/reports.v1.rs");
}

use pb::reports_server::{Reports, ReportsServer};
use pb::{GetReportRequest, Report, WhoAmIReply, WhoAmIRequest};

/// The JWT issuer this service trusts.
pub const ISSUER: &str = "urn:grpc-service:dev";
/// The audience this service is.
pub const AUDIENCE: &str = "reports";
/// The scope `GetReport` needs.
pub const READ_SCOPE: &str = "reports:read";

/// The service's handlers.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportsService;

/// The caller the layer put in the request's extensions.
fn caller<T>(req: &Request<T>) -> Result<&Identity, Status> {
    // Only reachable without the layer: a configuration error, not the
    // caller's fault.
    req.extensions()
        .get::<Identity>()
        .ok_or_else(|| Status::internal("the auth layer is missing"))
}

#[tonic::async_trait]
impl Reports for ReportsService {
    async fn who_am_i(&self, req: Request<WhoAmIRequest>) -> Result<Response<WhoAmIReply>, Status> {
        let id = caller(&req)?;
        Ok(Response::new(WhoAmIReply {
            subject: id.subject().to_owned(),
            method: id.method().as_str().to_owned(),
            scopes: id.scopes().map(str::to_owned).collect(),
        }))
    }

    async fn get_report(&self, req: Request<GetReportRequest>) -> Result<Response<Report>, Status> {
        let id = caller(&req)?;
        let name = req.get_ref().name.clone();
        if name.is_empty() || name.len() > 64 {
            return Err(Status::invalid_argument("a report name is 1 to 64 bytes"));
        }
        Ok(Response::new(Report {
            body: format!("report {name} for {}", id.subject()),
            name,
        }))
    }
}

/// The router: `GetReport` needs [`READ_SCOPE`], `WhoAmI` any valid
/// caller, and any other path is authenticated before tonic answers it
/// (`UNIMPLEMENTED`).
pub fn router(guard: &Guard) -> Router {
    let grpc = ReportsServer::new(ReportsService);
    let scoped = Router::new()
        .route_service("/reports.v1.Reports/GetReport", grpc.clone())
        .route_layer(RequireAuthLayer::new(guard.clone()).policy(Policy::scope(READ_SCOPE)));
    let any_caller = Router::new()
        .route_service("/reports.v1.Reports/WhoAmI", grpc.clone())
        .route_layer(RequireAuthLayer::new(guard.clone()));
    scoped
        .merge(any_caller)
        .fallback_service(RequireAuthLayer::new(guard.clone()).layer(grpc))
}

/// The credentials of one run.
pub struct Credentials {
    /// An API key with [`READ_SCOPE`].
    pub reader_key: ApiKey,
    /// An API key with no scope.
    pub plain_key: ApiKey,
    /// The HS256 secret dev JWTs are signed with.
    pub jwt_secret: Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Why the service could not start.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A guard that takes API keys (in memory, two issued) and HS256 JWTs from
/// [`ISSUER`] for [`AUDIENCE`], with the credentials to call it.
pub async fn guard() -> Result<(Guard, Credentials), Error> {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (reader_key, _) = keys
        .issue(NewKey::new("reporter", Environment::Test).scopes([READ_SCOPE]))
        .await?;
    let (plain_key, _) = keys
        .issue(NewKey::new("watcher", Environment::Test))
        .await?;
    let jwt_secret = Secret::new(random_bytes());
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new(ISSUER)
                .audience(AUDIENCE)
                .key(JwtKey::hmac(&jwt_secret, jsonwebtoken::Algorithm::HS256)?),
        )
        .build()?;
    let guard = Guard::builder(AnyOf::new().or(ApiKeyAuthenticator::new(keys)).or(jwt))
        .realm("reports")
        .build()?;
    Ok((
        guard,
        Credentials {
            reader_key,
            plain_key,
            jwt_secret,
        },
    ))
}

fn random_bytes() -> Vec<u8> {
    use rand::Rng as _;
    let mut bytes = vec![0u8; 32];
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut bytes);
    bytes
}

/// A dev access token (RFC 9068 shape) for `subject` with `scope`, valid
/// for `ttl_secs`, signed with the run's secret.
pub fn dev_token(
    credentials: &Credentials,
    subject: &str,
    scope: &str,
    ttl_secs: u64,
) -> Result<String, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "client_id": "grpc-service-dev",
        "scope": scope,
        "iat": now,
        "exp": now + ttl_secs,
        "jti": format!("{now}-{subject}"),
    });
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(credentials.jwt_secret.expose())?,
    )?)
}

/// Serves the service on `addr` until `shutdown` completes; returns the
/// bound address through `bound` once listening.
pub async fn serve(
    addr: SocketAddr,
    guard: &Guard,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    bound(listener.local_addr()?);
    Server::new()
        .serve(listener, router(guard), shutdown)
        .await?;
    Ok(())
}
