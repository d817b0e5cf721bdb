//! The auth-stack demo service, as a library: the binary's `main` and the
//! conformance suite both start it through [`spawn`].
//!
//! DEMO.md (in the design notes) is its public contract: the routes, the
//! state directory, the status codes and challenges, the same on axum and on
//! actix-web.

mod app_actix;
mod app_axum;
pub mod log;
mod openapi;
mod pki;
mod state;
mod stores;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use auth_core::api_key::ApiKeyAuthenticator;
use auth_core::basic::BasicAuthenticator;
use auth_core::basic::hash_password;
use auth_core::introspection::Introspection;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::mtls::{MtlsAuthenticator, MtlsMode, MtlsRule};
use auth_core::oauth::resource::ProtectedResource;
use auth_core::oauth::server::AuthorizationServer;
use auth_core::rate_limit::{Quota, RateLimiter};
use auth_core::store::{RateLimitStore, RevocationStore};
use auth_core::tls::{ClientAuth, TlsConfig};
use auth_core::{AllOf, AnyOf, Guard, Identity, Policy, Secret};
use jsonwebtoken::Algorithm;
use serde::Serialize;

pub use state::{
    AUDIENCE, BasicUserCredentials, Credentials, INTERNAL_ISSUER, InternalIssuer, JwtFiles,
    MAIN_SCOPES, ROTATION_GRACE, STANDARD_SCOPES, SigningKeyFile, TlsFiles,
};

/// The realm named in every challenge.
pub const REALM: &str = "demo";

/// Which adapter serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// auth-tower on axum.
    Axum,
    /// auth-actix on actix-web.
    Actix,
}

impl std::str::FromStr for Framework {
    type Err = DemoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "axum" => Ok(Self::Axum),
            "actix" => Ok(Self::Actix),
            other => Err(DemoError::msg(format!(
                "unknown framework {other:?}: use axum or actix"
            ))),
        }
    }
}

/// How to start the demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Which adapter serves.
    pub framework: Framework,
    /// The plain HTTP listener (port 0 picks a free port).
    pub http: SocketAddr,
    /// The TLS listener.
    pub https: SocketAddr,
    /// Where keys, certificates and credentials live.
    pub state_dir: PathBuf,
    /// Where to write the bound addresses once listening.
    pub ready_file: Option<PathBuf>,
    /// The OAuth issuer identifier; default `http://` + the HTTP address.
    pub issuer: Option<String>,
    /// Basic lockout: failures allowed within the window (5 in 15 minutes).
    pub lockout: (usize, Duration),
    /// How long a verified Basic credential is remembered.
    pub basic_cache_ttl: Duration,
    /// How long a client has to send a request head (10 s); a new
    /// connection, to start its first request.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle (30 s).
    pub idle_timeout: Duration,
    /// The most connections open at once per listener (1,024).
    pub max_connections: usize,
    /// Keep shared state (API keys, revocations, tokens, refresh-token
    /// families, lockouts, rate limits) in the Redis at this URL
    /// (`redis://host:port`), so several processes act as one service.
    pub redis: Option<String>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            framework: Framework::Axum,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            https: SocketAddr::from(([127, 0, 0, 1], 8443)),
            state_dir: PathBuf::from("./demo-state"),
            ready_file: None,
            issuer: None,
            lockout: (5, Duration::from_secs(15 * 60)),
            basic_cache_ttl: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            redis: None,
        }
    }
}

/// Why the demo could not start.
#[derive(Debug)]
pub struct DemoError(String);

impl DemoError {
    pub(crate) fn msg(m: impl Into<String>) -> Self {
        Self(m.into())
    }
    /// An error with this message.
    pub fn msg_pub(m: String) -> Self {
        Self(m)
    }
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self(format!("{}: {e}", path.display()))
    }
    pub(crate) fn config(e: auth_core::ConfigError) -> Self {
        Self(e.to_string())
    }
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DemoError {}

/// A running demo. Dropping it stops the servers.
pub struct Running {
    /// The bound plain HTTP address.
    pub http: SocketAddr,
    /// The bound TLS address.
    pub https: SocketAddr,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The credentials written to `credentials.json`.
    pub credentials: Credentials,
    basic: BasicAuthenticator,
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// How many argon2 verifications the Basic authenticator has run.
    pub fn basic_verifications(&self) -> u64 {
        self.basic.verification_count()
    }

    /// Stops the servers and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Blocks until the servers stop on their own (e.g. a fatal error).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Everything both apps share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) guard: Guard,
    /// `/v1/limited`: the main guard and a rate limit per identity.
    pub(crate) limited_guard: Guard,
    /// `/v1/service`: a client certificate, nothing else.
    pub(crate) service_guard: Guard,
    /// `/v1/partner`: a client certificate and a token bound to it.
    pub(crate) partner_guard: Guard,
    /// The built-in authorization server's endpoints.
    pub(crate) oauth: AuthorizationServer,
    /// RFC 9728 metadata of the resource routes (none when the issuer is
    /// not a URL it accepts).
    pub(crate) resource: Option<ProtectedResource>,
    /// The OpenAPI document (`/openapi.json`), as served: each answer
    /// shares it, none copies it.
    pub(crate) openapi: bytes::Bytes,
}

/// The JSON of a `200` answer from `/v1/*`.
pub(crate) fn identity_json(id: &Identity) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        subject: &'a str,
        method: &'a str,
        scopes: Scopes<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    }
    /// The scopes, serialised straight from the identity.
    struct Scopes<'a>(&'a Identity);
    impl Serialize for Scopes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.scopes())
        }
    }
    let mut out = Vec::with_capacity(256);
    let body = Body {
        subject: id.subject(),
        method: id.method().as_str(),
        scopes: Scopes(id),
        key_id: id.key_id(),
        client_id: id.client_id(),
    };
    match serde_json::to_writer(&mut out, &body) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// `GET /healthz`.
pub(crate) const HEALTHZ_BODY: &[u8] = br#"{"status":"ok"}"#;
/// Any route that does not exist.
pub(crate) const NOT_FOUND_BODY: &[u8] =
    br#"{"type":"about:blank","title":"Not Found","status":404}"#;
/// A route that exists, with another method.
pub(crate) const METHOD_NOT_ALLOWED_BODY: &[u8] =
    br#"{"type":"about:blank","title":"Method Not Allowed","status":405}"#;

/// Stops something the demo started.
pub(crate) type Stop = Box<dyn FnOnce() + Send>;

/// The TLS listener's configuration (auth-core `tls`): the server
/// certificate, the demo CA for client certificates (asked for, not
/// required: each route decides) and the CRL. The files are polled on a
/// small runtime of its own, so a replaced certificate or CRL is used by new
/// handshakes without a restart; the returned closure stops the polling.
fn tls_config(state: &state::ServerState, ca: &Path) -> Result<(TlsConfig, Stop), DemoError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let tls = {
        let _enter = runtime.enter();
        TlsConfig::builder()
            .server_cert_files(&state.server_cert, &state.server_key)
            .client_cas_file(ca)
            .crl_file(state.dir.join(pki::CRL))
            .client_auth(ClientAuth::Optional)
            .build()
            .map_err(DemoError::config)?
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("auth-demo-tls".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let _ = rx.await;
            });
        })
        .map_err(|e| DemoError::msg(e.to_string()))?;
    Ok((
        tls,
        Box::new(move || {
            let _ = tx.send(());
        }),
    ))
}

fn bind(addr: SocketAddr) -> Result<TcpListener, DemoError> {
    let l = TcpListener::bind(addr).map_err(|e| DemoError::msg(format!("bind {addr}: {e}")))?;
    l.set_nonblocking(true)
        .map_err(|e| DemoError::msg(format!("bind {addr}: {e}")))?;
    Ok(l)
}

/// Where the demo reaches its own listener at `addr`: the loopback address
/// when it listens on every address.
fn loopback_of(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// The client id the resource routes introspect with.
const RESOURCE_SERVER_CLIENT: &str = "demo-resource-server";

/// A client trusting the demo CA only, for the resource routes' calls to
/// the demo's own introspection endpoint.
fn https_client(ca: &Path) -> Result<reqwest::Client, DemoError> {
    let pem = std::fs::read(ca).map_err(|e| DemoError::io(ca, e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| DemoError::msg(format!("{}: {e}", ca.display())))?;
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(certs)
        .build()
        .map_err(|e| DemoError::msg(format!("HTTP client: {e}")))
}

/// The built-in authorization server: the `service` client gets ES256 JWT
/// access tokens (bound to its certificate when it presents one) (the demo's own key, in its JWKS), `opaque` opaque ones;
/// the resource routes introspect as their own client.
fn authorization_server(
    state: &state::ServerState,
    rs_secret: &str,
    revocations: Arc<dyn RevocationStore>,
    users: BasicAuthenticator,
    shared: Option<&stores::SharedStores>,
) -> Result<AuthorizationServer, DemoError> {
    use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
    let hash = |secret: &str| hash_password(secret).map_err(DemoError::config);
    let mut registry = ClientRegistry::builder()
        .realm(REALM)
        .client(Client::confidential(
            RESOURCE_SERVER_CLIENT,
            hash(rs_secret)?,
        ));
    let all = ["reports:read", "reports:write", "admin"];
    for (name, opaque, scopes) in [
        ("service", false, &["reports:read", "reports:write"][..]),
        ("opaque", true, &["reports:read"][..]),
    ] {
        let (id, secret) = state.credentials.oauth_client(name);
        // A token requested with a client certificate is bound to it
        // (RFC 8705), as `/v1/partner` requires.
        let mut client = Client::confidential(id, hash(secret)?)
            .grants([GrantType::ClientCredentials, GrantType::TokenExchange])
            .scopes(scopes.iter().copied())
            .certificate_bound_tokens();
        if opaque {
            client = client.opaque_tokens();
        }
        registry = registry.client(client);
    }
    // The authorization-code clients: a confidential web app and a public
    // (native or browser) app, both with rotating refresh tokens.
    let code_grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    for name in ["confidential", "public"] {
        let Some(c) = state.credentials.oauth_clients.get(name) else {
            continue;
        };
        let client = match &c.client_secret {
            Some(secret) => Client::confidential(c.client_id.clone(), hash(secret)?)
                .grants(code_grants.into_iter().chain([GrantType::TokenExchange])),
            None => Client::public(c.client_id.clone()).grants(code_grants),
        };
        let client = match &c.redirect_uri {
            Some(uri) => client.redirect_uri(uri.clone()),
            None => client,
        };
        registry = registry.client(client.scopes(all));
    }
    let es256 = &state.credentials.jwt.es256;
    let key = state::encoding_key(&state.dir, es256, Algorithm::ES256)?;
    let mut server = AuthorizationServer::builder(
        state.credentials.issuer.clone(),
        registry.build().map_err(DemoError::config)?,
    );
    if let Some(shared) = shared {
        server = server
            .token_store(shared.tokens.clone())
            .grant_store(shared.grants.clone());
    }
    server
        .audience(AUDIENCE)
        .signing_key(key, Algorithm::ES256, es256.kid.clone())
        // The RS256 key signs no token of the server's; it is published for
        // the demo's users, who sign their own test tokens with it.
        .publish_key(state.rs256_jwk.clone())
        .users(users)
        .csrf_key(state.csrf_key.clone())
        .revocations(revocations)
        .build()
        .map_err(DemoError::config)
}

/// Starts the demo in the background and returns once both listeners are
/// bound. Installs no log subscriber (the binary does).
pub fn spawn(config: DemoConfig) -> Result<Running, DemoError> {
    let http = bind(config.http)?;
    let https = bind(config.https)?;
    let http_addr = http
        .local_addr()
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let https_addr = https
        .local_addr()
        .map_err(|e| DemoError::msg(e.to_string()))?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"));

    state::create_private_dir(&config.state_dir)?;
    // The state is set up on a thread of its own, so that `spawn` can be
    // called from inside an async runtime (the tests do).
    let state = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| DemoError::msg(e.to_string()))?
                    .block_on(state::open(&config.state_dir, &issuer))
            })
            .join()
            .unwrap_or_else(|_| Err(DemoError::msg("state setup panicked")))
    })?;

    let stores = match &config.redis {
        Some(url) => stores::Stores::redis(url)?,
        None => stores::Stores::in_process(),
    };
    let shared_stores = stores.shared.as_ref();
    let keys = match shared_stores {
        Some(shared) => std::thread::scope(|scope| {
            let store = shared.keys.clone();
            let file = &state.keys;
            scope
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| DemoError::msg(e.to_string()))?
                        .block_on(stores::share_keys(file, store))
                })
                .join()
                .unwrap_or_else(|_| Err(DemoError::msg("key setup panicked")))
        })?,
        None => state.keys.clone(),
    };
    let mut basic = BasicAuthenticator::builder()
        .users(state.users.iter().cloned())
        .lockout(config.lockout.0, config.lockout.1)
        .cache_ttl(config.basic_cache_ttl);
    if let Some(shared) = shared_stores {
        basic = basic.lockout_store(shared.counters.clone());
    }
    let basic = basic.build().map_err(DemoError::config)?;
    let rate_limits = stores.rate_limits.clone();
    // Shared with the authorization server: a JWT it revokes is refused.
    let revocations = stores.revocations.clone();
    let jwt = JwtAuthenticator::builder()
        .revocations(revocations.clone())
        .issuer(
            Issuer::new(state.credentials.issuer.clone())
                .audience(AUDIENCE)
                .algorithms([Algorithm::ES256, Algorithm::RS256])
                // Its own keys, from its own plain listener: allowed only
                // because that is a loopback address.
                .allow_plain_http_loopback()
                .jwks_url(format!(
                    "http://{}{}",
                    loopback_of(http_addr),
                    state.credentials.jwt.jwks_uri
                )),
        )
        .issuer(
            Issuer::new(INTERNAL_ISSUER)
                .audience(AUDIENCE)
                .key(
                    JwtKey::hmac(&state.internal_secret, Algorithm::HS256)
                        .map_err(DemoError::config)?,
                )
                .token_types(["JWT", "at+jwt"]),
        )
        .build()
        .map_err(DemoError::config)?;
    // The resource routes check opaque tokens at the demo's own
    // introspection endpoint, over HTTPS, as a separate resource server
    // would, with client credentials of their own (new every start).
    let rs_secret = state::random_password();
    let opaque = Introspection::builder(
        format!("https://127.0.0.1:{}/oauth/introspect", https_addr.port()),
        RESOURCE_SERVER_CLIENT,
        Secret::new(rs_secret.clone().into_bytes()),
    )
    .issuer(state.credentials.issuer.clone())
    .audience(AUDIENCE)
    // A revoked opaque token is refused within 2 s.
    .max_ttl(Duration::from_secs(2))
    .http_client(https_client(
        &config.state_dir.join(&state.credentials.tls.ca),
    )?)
    .build()
    .map_err(DemoError::config)?;
    // Resource owners log in at `/oauth/authorize` as the Basic users, with
    // the same lockout.
    let oauth = authorization_server(
        &state,
        &rs_secret,
        revocations,
        basic.clone(),
        shared_stores,
    )?;
    // Client certificates of the demo's trust domain: the SPIFFE ID is the
    // subject. Permissive in the any-of (a header credential decides when
    // there is one), strict on the certificate routes.
    let mtls = MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix(format!("{}/", pki::TRUST_DOMAIN)))
        .mode(MtlsMode::Permissive)
        .build()
        .map_err(DemoError::config)?;
    let service_guard = Guard::builder(mtls.strict())
        .realm(REALM)
        .log_allowed_at(tracing::Level::DEBUG)
        .build()
        .map_err(DemoError::config)?;
    // The token decides who the caller is; the certificate must be there and
    // the token bound to it (RFC 8705: the JWT and introspection
    // authenticators compare `cnf.x5t#S256` with the certificate).
    let partner_guard = Guard::builder(
        AllOf::new()
            .and(AnyOf::new().or(jwt.clone()).or(opaque.clone()))
            .and(mtls.strict()),
    )
    .realm(REALM)
    .log_allowed_at(tracing::Level::DEBUG)
    .build()
    .map_err(DemoError::config)?;
    let authn = AnyOf::new()
        .or(ApiKeyAuthenticator::new(keys))
        .or(basic.clone())
        .or(jwt.clone())
        .or(opaque)
        .or(mtls);
    // Refusals are logged at `info`, allowed requests at `debug`
    // (`RUST_LOG=auth_core::decision=debug` shows them): formatting a line
    // for every allowed request costs more throughput than the demo's load
    // target leaves.
    let guard = Guard::builder(authn)
        .realm(REALM)
        .log_allowed_at(tracing::Level::DEBUG)
        .build()
        .map_err(DemoError::config)?;
    let (tls, stop_tls) = tls_config(&state, &config.state_dir.join(&state.credentials.tls.ca))?;
    // The demo is its own authorization server: the resource is named by
    // the same URL as the issuer.
    let resource = ProtectedResource::builder(state.credentials.issuer.clone())
        .authorization_server(state.credentials.issuer.clone())
        .scopes(["reports:read", "reports:write", "admin"])
        .name("auth-stack demo")
        .build()
        .inspect_err(|e| tracing::warn!(error = %e, "no protected-resource metadata"))
        .ok();
    let limited_guard = guard.with_limit(limited_quota(rate_limits));
    let shared = Shared {
        guard,
        limited_guard,
        openapi: bytes::Bytes::new(),
        service_guard,
        partner_guard,
        oauth,
        resource,
    };
    let shared = Shared {
        openapi: bytes::Bytes::from(openapi::document(&shared, &state.credentials.issuer)),
        ..shared
    };

    let (stop, thread) = match config.framework {
        Framework::Axum => app_axum::start(shared, http, https, tls.server_config(), &config)?,
        Framework::Actix => app_actix::start(shared, http, https, tls.server_config(), &config)?,
    };
    let stop_redis = stores.shared.map(|s| s.stop);
    let stop: Stop = Box::new(move || {
        stop();
        stop_tls();
        if let Some(stop_redis) = stop_redis {
            stop_redis();
        }
    });

    // The resource routes verify tokens with the JWKS the demo serves itself,
    // fetched over HTTP like any resource server would: wait for that first load.
    let loaded = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(jwt.ready(Duration::from_secs(15))))
                    .unwrap_or(false)
            })
            .join()
            .unwrap_or(false)
    });
    if !loaded {
        tracing::warn!("the JWKS has not loaded yet; JWT requests get 503 until it does");
    }
    if let Some(path) = &config.ready_file {
        let ready =
            serde_json::json!({"http": http_addr.to_string(), "https": https_addr.to_string()});
        std::fs::write(path, ready.to_string()).map_err(|e| DemoError::io(path, e))?;
    }
    Ok(Running {
        http: http_addr,
        https: https_addr,
        state_dir: config.state_dir,
        credentials: state.credentials,
        basic,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The quota of `/v1/limited`: 5 requests per 60 s per identity, in bursts
/// of up to 5.
pub const LIMITED_QUOTA: (u32, Duration) = (5, Duration::from_secs(60));

/// `/v1/limited`'s limiter: every identity its own partition, every answer
/// with `RateLimit-Policy` and `RateLimit`.
fn limited_quota(store: Arc<dyn RateLimitStore>) -> RateLimiter {
    let (limit, window) = LIMITED_QUOTA;
    // The name and numbers are constants that `Quota::new` accepts.
    let quota = Quota::new("limited", limit, window).map(|q| q.with_burst(limit));
    let mut limiter = RateLimiter::builder().store(store);
    if let Ok(quota) = quota {
        limiter = limiter.default_quota(quota);
    }
    limiter.build()
}

/// The policy of `/v1/service`: the billing workload only.
pub(crate) fn service_policy() -> Policy {
    Policy::subject_in([format!("{}/billing", pki::TRUST_DOMAIN)])
}

/// The policy of `/v1/partner`: the token is bound to a certificate (the
/// authenticators have checked it is this connection's).
pub(crate) fn partner_policy() -> Policy {
    Policy::predicate("certificate_bound_token", |id| {
        id.cert_thumbprint().is_some()
    })
}
