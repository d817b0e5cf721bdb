//! [`AuthorizationServer`]: the authorization, token, introspection,
//! revocation, JWKS and metadata endpoints, framework-neutral. An adapter
//! moves the request in (its head and body) and the [`OAuthResponse`] out;
//! nothing else.
//!
//! Grants: `authorization_code` with PKCE `S256` (RFC 6749 §4.1, RFC 7636),
//! `client_credentials` (§4.4) for confidential clients, `refresh_token`
//! (§6) rotated on every use with reuse detection (RFC 9700 §4.14), and
//! token exchange (RFC 8693). Access tokens are RFC 9068 JWTs
//! (`typ: at+jwt`) signed with the server's key, which
//! [rotates](Self#key-rotation) without a restart, or, for clients
//! registered with [`opaque_tokens`](super::client::Client::opaque_tokens),
//! random opaque tokens that the introspection endpoint answers for.
//!
//! State (opaque tokens, codes, refresh-token families, revocations) lives
//! behind the [store](crate::store) traits.
//!
//! ```
//! use auth_core::basic::hash_password;
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::server::{AuthorizationServer, Endpoint};
//! use auth_core::SimpleRequest;
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
//!     .build() // no signing key: this server issues opaque tokens only
//!     .unwrap();
//! let post = |basic: &str| SimpleRequest::new("POST", "/oauth/token").tls(true)
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .header("authorization", format!("Basic {basic}"));
//! let json = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap();
//!
//! // As `svc:s3cret`: an opaque token, which the introspection endpoint vouches for.
//! let grant = Some(&b"grant_type=client_credentials"[..]);
//! let res = server.handle(Endpoint::Token, &post("c3ZjOnMzY3JldA=="), grant).await;
//! assert_eq!(res.status, 200);
//! assert!(res.headers.contains(&("cache-control", "no-store".to_owned())));
//! let token = json(&res.body)["access_token"].as_str().unwrap().to_owned();
//! let form = format!("token={token}");
//! let res = server.handle(Endpoint::Introspect, &post("c3ZjOnMzY3JldA=="), Some(form.as_bytes())).await;
//! assert_eq!(json(&res.body)["active"], true);
//!
//! // As `svc:wrong`: refused, with a challenge for client_secret_basic.
//! let res = server.handle(Endpoint::Token, &post("c3ZjOndyb25n"), grant).await;
//! assert_eq!(res.status, 401);
//! assert_eq!(json(&res.body)["error"], "invalid_client");
//! assert!(res.headers.iter().any(|(n, v)| *n == "www-authenticate" && v.starts_with("Basic ")));
//! # });
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{ClientAuthMethod, ClientRegistry, GrantType};
use super::form::Form;
use super::keys::{KeyRing, Signer};
use super::{OAuthError, OAuthErrorCode};
use crate::basic::BasicAuthenticator;
use crate::error::ConfigError;
use crate::identity::Claims;
use crate::request::RequestHead;
use crate::store::{
    GrantStore, Issued, MemoryGrants, MemoryRevocations, MemoryTokens, RevocationStore, TokenStore,
};

/// What an endpoint answers: status, headers (lower-case names), body.
/// Its `Debug` shows the body's length only: it may carry a token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl OAuthResponse {
    /// A JSON answer that must not be cached (tokens, introspection).
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("cache-control", "no-store".to_owned()),
                ("pragma", "no-cache".to_owned()),
            ],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }
}

impl std::fmt::Debug for OAuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl From<OAuthError> for OAuthResponse {
    fn from(e: OAuthError) -> Self {
        Self {
            status: e.status(),
            headers: e.headers(),
            body: e.body(),
        }
    }
}

/// The prefix of opaque access tokens: never three dot-separated segments
/// (a JWT) nor an API key's `ask_`.
pub(super) const OPAQUE_PREFIX: &str = "oat_";

/// The prefix of refresh tokens: `ort_<family>.<secret>`.
pub(super) const REFRESH_PREFIX: &str = "ort_";

/// How long past `exp` a revocation is kept: any resource server's leeway.
pub(super) const REVOCATION_SLACK: u64 = 120;

/// The paths the adapters mount, under the issuer's origin.
pub mod paths {
    /// RFC 8414 metadata.
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
    /// The authorization endpoint (`GET` and the login form's `POST`).
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// The token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// The introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/oauth/introspect";
    /// The revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// The JWKS: the server's public signing keys.
    pub const JWKS: &str = "/.well-known/jwks.json";
}

/// The endpoints that take a request body, for
/// [`AuthorizationServer::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET` and `POST /oauth/authorize`.
    Authorize,
    /// `POST /oauth/token`.
    Token,
    /// `POST /oauth/introspect`.
    Introspect,
    /// `POST /oauth/revoke`.
    Revoke,
}

impl Endpoint {
    /// Its methods: `GET` and `POST` for [`Authorize`](Self::Authorize),
    /// `POST` for the others.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Self::Authorize => &["GET", "POST"],
            _ => &["POST"],
        }
    }

    /// Every endpoint, for adapters to mount.
    pub const ALL: [Endpoint; 4] = [Self::Authorize, Self::Token, Self::Introspect, Self::Revoke];

    /// Its path (see [`paths`]).
    pub fn path(self) -> &'static str {
        match self {
            Self::Authorize => paths::AUTHORIZE,
            Self::Token => paths::TOKEN,
            Self::Introspect => paths::INTROSPECT,
            Self::Revoke => paths::REVOKE,
        }
    }
}

/// Builds an [`AuthorizationServer`].
pub struct AuthorizationServerBuilder {
    issuer: String,
    registry: ClientRegistry,
    audience: Option<String>,
    audiences: Vec<String>,
    signer: Option<(EncodingKey, Algorithm, String)>,
    extra_keys: Vec<Jwk>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    tokens: Option<Arc<dyn TokenStore>>,
    revocations: Option<Arc<dyn RevocationStore>>,
    grants: Option<Arc<dyn GrantStore>>,
    users: Option<BasicAuthenticator>,
    csrf_key: Option<crate::Secret>,
}

impl std::fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServerBuilder {
    /// The `aud` of the access tokens it issues (the resource servers').
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Other audiences a token exchange may name as its `audience` or
    /// `resource` (RFC 8693 §2.1); any other target is `invalid_target`.
    pub fn exchange_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// The key JWT access tokens are signed with (ES256, RS256, EdDSA…),
    /// published under `kid` in the server's JWKS. See
    /// [key rotation](AuthorizationServer#key-rotation) for its successors.
    pub fn signing_key(mut self, key: EncodingKey, alg: Algorithm, kid: impl Into<String>) -> Self {
        self.signer = Some((key, alg, kid.into()));
        self
    }

    /// Another public key for the JWKS, one the server does not sign with
    /// (the application's own). It needs a `kid`.
    pub fn publish_key(mut self, jwk: Jwk) -> Self {
        self.extra_keys.push(jwk);
        self
    }

    /// How long access tokens live (default 15 minutes).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// How long a refresh-token family lives from the authorization that
    /// started it, however often it rotates (default 30 days).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Where opaque tokens are kept (default: in process, 1,000,000).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.tokens = Some(store);
        self
    }

    /// Where revoked JWT access tokens are recorded: share it with the
    /// resource servers' [`JwtAuthenticator`](crate::jwt::JwtAuthenticator)
    /// (`revocations(..)`) so they refuse them. Default: in process.
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// Where authorization codes and refresh-token families are kept
    /// (default: in process, 100,000 of each).
    pub fn grant_store(mut self, store: Arc<dyn GrantStore>) -> Self {
        self.grants = Some(store);
        self
    }

    /// The key of the login page's CSRF check (at least 32 bytes; random
    /// per server by default). Give every process of one service the same
    /// key, so that a login page served by one can be posted to another.
    ///
    /// ```
    /// use auth_core::oauth::client::ClientRegistry;
    /// use auth_core::oauth::server::AuthorizationServer;
    /// use auth_core::Secret;
    ///
    /// let registry = || ClientRegistry::builder().build().unwrap();
    /// let server = |key: &[u8]| {
    ///     AuthorizationServer::builder("https://as.example", registry())
    ///         .audience("api")
    ///         .csrf_key(Secret::new(key.to_vec()))
    ///         .build()
    /// };
    /// assert!(server(&[7; 32]).is_ok());
    /// assert!(server(&[7; 31]).is_err());
    /// ```
    pub fn csrf_key(mut self, key: crate::Secret) -> Self {
        self.csrf_key = Some(key);
        self
    }

    /// The resource owners who may log in at `/authorize`: their names,
    /// password hashes and scopes, checked with everything the Basic
    /// authenticator does (lockout, bounded hashing, a dummy hash for
    /// unknown names). A token's scopes are what the client asked for and
    /// both the client and the user may have. Without users, `/authorize`
    /// refuses every request.
    pub fn users(mut self, users: BasicAuthenticator) -> Self {
        self.users = Some(users);
        self
    }

    /// The server. Fails without an audience, without a signing key when a
    /// client takes JWTs, or with a key whose algorithm has no public JWK
    /// (HMAC: resource servers could then mint tokens).
    pub fn build(self) -> Result<AuthorizationServer, ConfigError> {
        let audience = self
            .audience
            .ok_or_else(|| ConfigError::invalid("an authorization server needs an audience"))?;
        if self.issuer.is_empty() {
            return Err(ConfigError::invalid("the issuer must not be empty"));
        }
        let signer = self
            .signer
            .map(|(key, alg, kid)| Signer::new(key, alg, kid))
            .transpose()?;
        if signer.is_none() && self.registry.clients().any(|c| !c.wants_opaque_tokens()) {
            return Err(ConfigError::invalid(
                "a client takes JWT access tokens but no signing key is set",
            ));
        }
        if self.extra_keys.iter().any(|k| k.common.key_id.is_none()) {
            return Err(ConfigError::invalid("a published key needs a kid"));
        }
        let csrf = match &self.csrf_key {
            Some(key) if key.expose().len() < 32 => {
                return Err(ConfigError::invalid(
                    "the CSRF key must be at least 32 bytes",
                ));
            }
            Some(key) => crate::mac::keyed(key.expose()),
            None => {
                use rand::Rng as _;
                let mut random = [0u8; 32];
                crate::secret::os_rng().fill_bytes(&mut random);
                crate::mac::keyed(&random)
            }
        };
        let keep = self.access_ttl + Duration::from_secs(REVOCATION_SLACK);
        let mut audiences = self.audiences;
        audiences.push(audience.clone());
        // The checks of the server's own tokens, built once (each key adds
        // its algorithm when it joins the ring).
        let mut template = Validation::new(Algorithm::ES256);
        template.set_issuer(&[&self.issuer]);
        template.set_audience(&audiences);
        template.leeway = 0;
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                keys: KeyRing::new(signer, self.extra_keys, keep, template),
                issuer: self.issuer,
                registry: self.registry,
                audience,
                audiences,
                access_ttl: self.access_ttl,
                refresh_ttl: self.refresh_ttl,
                tokens: self
                    .tokens
                    .unwrap_or_else(|| Arc::new(MemoryTokens::new(1_000_000))),
                revocations: self
                    .revocations
                    .unwrap_or_else(|| Arc::new(MemoryRevocations::new())),
                grants: self
                    .grants
                    .unwrap_or_else(|| Arc::new(MemoryGrants::new(100_000))),
                users: self.users,
                csrf,
            }),
        })
    }
}

/// The authorization server's endpoints (see the [module documentation](self)).
///
/// # Key rotation
///
/// The signing key changes without a restart, in two steps:
/// [`publish_next_key`](Self::publish_next_key) puts the next key in the
/// JWKS while tokens are still signed with the current one; once resource
/// servers have had time to refetch it,
/// [`activate_next_key`](Self::activate_next_key) signs with it. The old
/// key stays published, and keeps verifying, until the tokens it signed
/// have expired (the access-token lifetime plus two minutes).
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) issuer: String,
    pub(super) registry: ClientRegistry,
    pub(super) audience: String,
    /// Every audience a token may be issued for (token exchange targets).
    pub(super) audiences: Vec<String>,
    pub(super) keys: KeyRing,
    pub(super) access_ttl: Duration,
    pub(super) refresh_ttl: Duration,
    pub(super) tokens: Arc<dyn TokenStore>,
    pub(super) revocations: Arc<dyn RevocationStore>,
    pub(super) grants: Arc<dyn GrantStore>,
    pub(super) users: Option<BasicAuthenticator>,
    /// Keys the login form's CSRF tokens.
    pub(super) csrf: hmac::Hmac<Sha256>,
}

/// Seconds since the epoch.
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `bytes` random bytes, base64url.
pub(super) fn random_b64(bytes: usize) -> String {
    use rand::Rng as _;
    let mut buf = vec![0u8; bytes];
    crate::secret::os_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn random_token() -> String {
    random_b64(32)
}

pub(super) fn unavailable() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::TemporarilyUnavailable,
        "the token store cannot answer; try again shortly",
    )
}

/// An access token about to be issued: its claims, and for an opaque
/// token the token itself. Nothing is stored or signed until
/// [`AuthorizationServer::commit`].
pub(super) struct Prepared {
    claims: serde_json::Map<String, Value>,
    opaque: Option<String>,
    /// What a family records of it.
    pub(super) issued: Issued,
    pub(super) scope: String,
    pub(super) expires_in: u64,
}

/// An authenticated token request.
pub(super) struct TokenRequest<'a> {
    pub(super) client: &'a super::client::Client,
    pub(super) form: &'a Form,
    /// The thumbprint the tokens are bound to, if any.
    pub(super) cnf: Option<String>,
    /// The thumbprint of the request's certificate, if it has one.
    pub(super) cert: Option<String>,
}

/// What an access token is issued for.
pub(super) struct Grant<'a> {
    pub(super) client: &'a super::client::Client,
    pub(super) subject: &'a str,
    pub(super) scope: String,
    pub(super) audience: Option<&'a str>,
    pub(super) auth_time: Option<u64>,
    /// RFC 8693 `act`.
    pub(super) act: Option<Value>,
    /// The latest `exp` it may have (a token exchange's subject token's).
    pub(super) not_after: Option<u64>,
    /// RFC 8705 `cnf.x5t#S256`.
    pub(super) cnf: Option<String>,
}

impl AuthorizationServer {
    /// A builder for the server whose `iss` is `issuer` (an `https` URL in
    /// production), with its clients.
    pub fn builder(
        issuer: impl Into<String>,
        registry: ClientRegistry,
    ) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder {
            issuer: issuer.into(),
            registry,
            audience: None,
            audiences: Vec::new(),
            signer: None,
            extra_keys: Vec::new(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            tokens: None,
            revocations: None,
            grants: None,
            users: None,
            csrf_key: None,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Publishes the next signing key in the JWKS, without signing with it
    /// yet (see [key rotation](Self#key-rotation)). Refuses an HMAC key and
    /// a `kid` in use.
    ///
    /// ```
    /// use auth_core::oauth::client::ClientRegistry;
    /// use auth_core::oauth::server::AuthorizationServer;
    /// use jsonwebtoken::{Algorithm, EncodingKey};
    ///
    /// let pem = |k: rcgen::KeyPair| EncodingKey::from_ec_pem(k.serialize_pem().as_bytes()).unwrap();
    /// let key = || pem(rcgen::KeyPair::generate().unwrap());
    /// let server = AuthorizationServer::builder("https://as.example", ClientRegistry::builder().build().unwrap())
    ///     .audience("https://api.example")
    ///     .signing_key(key(), Algorithm::ES256, "k1")
    ///     .build()
    ///     .unwrap();
    /// server.publish_next_key(key(), Algorithm::ES256, "k2").unwrap();
    /// assert_eq!(server.jwks().keys.len(), 2);
    /// server.activate_next_key().unwrap();
    /// // k1 stays published until the tokens it signed have expired.
    /// assert_eq!(server.jwks().keys.len(), 2);
    /// assert!(server.activate_next_key().is_err()); // no next key
    /// ```
    pub fn publish_next_key(
        &self,
        key: EncodingKey,
        alg: Algorithm,
        kid: impl Into<String>,
    ) -> Result<(), ConfigError> {
        self.inner
            .keys
            .publish_next(Signer::new(key, alg, kid.into())?)
    }

    /// Signs new tokens with the published next key; the old key stays in
    /// the JWKS until its tokens have expired. Fails if no next key is
    /// published.
    pub fn activate_next_key(&self) -> Result<(), ConfigError> {
        self.inner.keys.activate_next()
    }

    /// The published public keys.
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.jwks()
    }

    /// `GET /.well-known/jwks.json`. Its `Cache-Control: max-age=300` tells
    /// resource servers to refetch every five minutes: leave at least that
    /// long between [`publish_next_key`](Self::publish_next_key) and
    /// [`activate_next_key`](Self::activate_next_key).
    pub fn jwks_response(&self) -> OAuthResponse {
        OAuthResponse {
            status: 200,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("cache-control", "max-age=300".to_owned()),
            ],
            body: serde_json::to_vec(&self.jwks()).unwrap_or_default(),
        }
    }

    /// RFC 8414 metadata, for `GET /.well-known/oauth-authorization-server`.
    pub fn metadata(&self) -> OAuthResponse {
        let base = self.inner.issuer.trim_end_matches('/');
        let auth_methods = ["client_secret_basic", "client_secret_post"];
        let mut token_methods = auth_methods.to_vec();
        if self.inner.registry.clients().any(|c| !c.is_confidential()) {
            token_methods.push("none");
        }
        if self
            .inner
            .registry
            .clients()
            .any(|c| c.uses_tls_client_auth())
        {
            token_methods.push("tls_client_auth");
        }
        let mut grants: Vec<&str> = Vec::new();
        let mut scopes: Vec<&str> = Vec::new();
        for c in self.inner.registry.clients() {
            for g in c.allowed_grants() {
                if !grants.contains(&g.as_str()) {
                    grants.push(g.as_str());
                }
            }
            for s in c.allowed_scopes() {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
        }
        grants.sort_unstable();
        scopes.sort_unstable();
        let mut res = OAuthResponse::json(
            200,
            &json!({
                "issuer": self.inner.issuer,
                "authorization_endpoint": format!("{base}{}", paths::AUTHORIZE),
                "token_endpoint": format!("{base}{}", paths::TOKEN),
                "introspection_endpoint": format!("{base}{}", paths::INTROSPECT),
                "revocation_endpoint": format!("{base}{}", paths::REVOKE),
                "jwks_uri": format!("{base}{}", paths::JWKS),
                "grant_types_supported": grants,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": scopes,
                "authorization_response_iss_parameter_supported": true,
                "tls_client_certificate_bound_access_tokens": true,
                "token_endpoint_auth_methods_supported": token_methods,
                "introspection_endpoint_auth_methods_supported": auth_methods,
                "revocation_endpoint_auth_methods_supported": token_methods,
            }),
        );
        // Public metadata may be cached briefly.
        res.headers.retain(|(n, _)| *n == "content-type");
        res.headers
            .push(("cache-control", "max-age=300".to_owned()));
        res
    }

    /// One of the endpoints that take a body, for a request with `head`
    /// and `body` (empty for a `GET`); `None` for a body the adapter did
    /// not read in full (over [`MAX_FORM_LEN`](super::form::MAX_FORM_LEN),
    /// or broken off), which is refused with `invalid_request`. Adapters
    /// call this and only move the request in and the [`OAuthResponse`]
    /// out.
    pub async fn handle(
        &self,
        endpoint: Endpoint,
        head: &dyn RequestHead,
        body: Option<&[u8]>,
    ) -> OAuthResponse {
        let Some(body) = body else {
            return OAuthError::invalid_request("the request body is too large").into();
        };
        match endpoint {
            Endpoint::Authorize => self.authorize(head, body).await,
            Endpoint::Token => self.token(head, body).await,
            Endpoint::Introspect => self.introspect(head, body).await,
            Endpoint::Revoke => self.revoke(head, body).await,
        }
    }

    /// `POST /oauth/token`: `head` and the form `body`.
    pub async fn token(&self, head: &dyn RequestHead, body: &[u8]) -> OAuthResponse {
        match self.token_inner(head, body).await {
            Ok(r) => r,
            Err(e) => e.into(),
        }
    }

    async fn token_inner(
        &self,
        head: &dyn RequestHead,
        body: &[u8],
    ) -> Result<OAuthResponse, OAuthError> {
        let form = form_of(head, body)?;
        let grant = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let grant = GrantType::parse(grant)?;
        let (client, method) = self.inner.registry.authenticate(head, &form).await?;
        client.check_grant(grant)?;
        // RFC 8705 §3: bound to the certificate of this request.
        let cert = head
            .is_tls()
            .then(|| head.peer_certificate())
            .flatten()
            .map(|c| c.thumbprint().to_owned());
        let bind = client.binds_tokens() || method == ClientAuthMethod::TlsClientAuth;
        let req = TokenRequest {
            client,
            form: &form,
            cnf: cert.clone().filter(|_| bind),
            cert,
        };
        match grant {
            GrantType::ClientCredentials => self.client_credentials(&req).await,
            GrantType::AuthorizationCode => self.authorization_code(&req).await,
            GrantType::RefreshToken => self.refresh(&req).await,
            GrantType::TokenExchange => self.exchange(&req).await,
        }
    }

    /// The claims of an access token for `grant`, and for an opaque token
    /// the token; nothing is stored or signed yet.
    pub(super) fn prepare(&self, grant: Grant<'_>) -> Prepared {
        let now = now_secs();
        let mut exp = now.saturating_add(self.inner.access_ttl.as_secs());
        if let Some(limit) = grant.not_after {
            exp = exp.min(limit);
        }
        let jti = random_token();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".to_owned(), Value::from(self.inner.issuer.clone()));
        claims.insert("sub".to_owned(), Value::from(grant.subject));
        claims.insert(
            "aud".to_owned(),
            Value::from(grant.audience.unwrap_or(&self.inner.audience)),
        );
        claims.insert("client_id".to_owned(), Value::from(grant.client.id()));
        claims.insert("scope".to_owned(), Value::from(grant.scope.clone()));
        claims.insert("iat".to_owned(), Value::from(now));
        claims.insert("exp".to_owned(), Value::from(exp));
        claims.insert("jti".to_owned(), Value::from(jti.clone()));
        if let Some(t) = grant.auth_time {
            claims.insert("auth_time".to_owned(), Value::from(t));
        }
        if let Some(act) = grant.act {
            claims.insert("act".to_owned(), act);
        }
        if let Some(t) = grant.cnf {
            let mut cnf = serde_json::Map::new();
            cnf.insert("x5t#S256".to_owned(), Value::from(t));
            claims.insert("cnf".to_owned(), Value::Object(cnf));
        }
        let opaque = grant
            .client
            .wants_opaque_tokens()
            .then(|| format!("{OPAQUE_PREFIX}{}", random_token()));
        Prepared {
            issued: Issued {
                jti,
                exp,
                opaque: opaque.as_ref().map(|t| Sha256::digest(t).into()),
            },
            claims,
            opaque,
            scope: grant.scope,
            expires_in: exp.saturating_sub(now),
        }
    }

    /// Issues a prepared token: stores an opaque one, signs a JWT with the
    /// current key.
    pub(super) async fn commit(&self, p: Prepared) -> Result<String, OAuthError> {
        if let (Some(token), Some(hash)) = (p.opaque, p.issued.opaque) {
            let until = UNIX_EPOCH + Duration::from_secs(p.issued.exp);
            self.inner
                .tokens
                .insert(hash, Arc::new(p.claims), until)
                .await
                .map_err(|_| unavailable())?;
            return Ok(token);
        }
        let signer = self.inner.keys.current().ok_or_else(unavailable)?;
        let mut header = Header::new(signer.alg);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, &p.claims, &signer.key).map_err(|_| unavailable())
    }

    /// Issues a prepared token and answers with it (and `refresh`, and an
    /// `extra` member).
    pub(super) async fn issue(
        &self,
        p: Prepared,
        refresh: Option<&str>,
        extra: Option<(&str, &str)>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (scope, expires_in) = (p.scope.clone(), p.expires_in);
        let access = self.commit(p).await?;
        Ok(Self::token_response(
            &access, &scope, expires_in, refresh, extra,
        ))
    }

    /// The token response for `access` (and `refresh`).
    fn token_response(
        access: &str,
        p_scope: &str,
        expires_in: u64,
        refresh: Option<&str>,
        extra: Option<(&str, &str)>,
    ) -> OAuthResponse {
        let mut body = serde_json::Map::new();
        body.insert("access_token".to_owned(), Value::from(access));
        body.insert("token_type".to_owned(), Value::from("Bearer"));
        body.insert("expires_in".to_owned(), Value::from(expires_in));
        body.insert("scope".to_owned(), Value::from(p_scope));
        if let Some(r) = refresh {
            body.insert("refresh_token".to_owned(), Value::from(r));
        }
        if let Some((k, v)) = extra {
            body.insert(k.to_owned(), Value::from(v));
        }
        OAuthResponse::json(200, &Value::Object(body))
    }

    /// Revokes access tokens a family issued: JWTs by `jti` in the
    /// revocation store, opaque ones removed from the token store.
    pub(super) async fn revoke_issued(&self, issued: &[Issued]) -> Result<(), OAuthError> {
        for i in issued {
            match &i.opaque {
                Some(hash) => self.inner.tokens.remove(hash).await,
                None => {
                    let until =
                        UNIX_EPOCH + Duration::from_secs(i.exp.saturating_add(REVOCATION_SLACK));
                    self.inner
                        .revocations
                        .revoke(&self.inner.issuer, &i.jti, until)
                        .await
                }
            }
            .map_err(|_| unavailable())?;
        }
        Ok(())
    }

    /// `POST /oauth/introspect` (RFC 7662): for an authenticated
    /// confidential client, whether a token this server issued is active,
    /// and its claims.
    pub async fn introspect(&self, head: &dyn RequestHead, body: &[u8]) -> OAuthResponse {
        match self.introspect_inner(head, body).await {
            Ok(r) => r,
            Err(e) => e.into(),
        }
    }

    async fn introspect_inner(
        &self,
        head: &dyn RequestHead,
        body: &[u8],
    ) -> Result<OAuthResponse, OAuthError> {
        let form = form_of(head, body)?;
        let (client, _) = self.inner.registry.authenticate(head, &form).await?;
        if !client.is_confidential() {
            return Err(OAuthError::invalid_client(None));
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let answer = match self.live_claims(token).await? {
            Some(mut claims) => {
                claims.insert("active".to_owned(), Value::Bool(true));
                claims.insert("token_type".to_owned(), Value::from("Bearer"));
                Value::Object(claims)
            }
            None => json!({"active": false}),
        };
        Ok(OAuthResponse::json(200, &answer))
    }

    /// `POST /oauth/revoke` (RFC 7009): revokes a token this server issued
    /// to the authenticated client: an access token, or a refresh token
    /// with its whole family and the access tokens the family issued.
    /// Answers 200 whether or not the token was known (§2.2).
    pub async fn revoke(&self, head: &dyn RequestHead, body: &[u8]) -> OAuthResponse {
        match self.revoke_inner(head, body).await {
            Ok(r) => r,
            Err(e) => e.into(),
        }
    }

    async fn revoke_inner(
        &self,
        head: &dyn RequestHead,
        body: &[u8],
    ) -> Result<OAuthResponse, OAuthError> {
        let form = form_of(head, body)?;
        let (client, _) = self.inner.registry.authenticate(head, &form).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some((family, hash)) = super::grants::parse_refresh(token) {
            self.revoke_refresh(client.id(), family, hash).await?;
        } else if let Some(claims) = self.live_claims(token).await? {
            // Only the client the token was issued to may revoke it.
            if claims.get("client_id").and_then(Value::as_str) == Some(client.id()) {
                let issued = Issued {
                    jti: claims
                        .get("jti")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    exp: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
                    opaque: token
                        .starts_with(OPAQUE_PREFIX)
                        .then(|| Sha256::digest(token).into()),
                };
                if issued.opaque.is_some() || !issued.jti.is_empty() {
                    self.revoke_issued(&[issued]).await?;
                }
            }
        }
        Ok(OAuthResponse {
            status: 200,
            headers: vec![("cache-control", "no-store".to_owned())],
            body: Vec::new(),
        })
    }

    /// The claims of `token` if this server issued it and it is live: an
    /// opaque token from the store, a JWT verified with one of the
    /// server's keys and not revoked.
    pub(super) async fn live_claims(&self, token: &str) -> Result<Option<Claims>, OAuthError> {
        let inner = &self.inner;
        if token.starts_with(OPAQUE_PREFIX) {
            let hash: [u8; 32] = Sha256::digest(token).into();
            let found = inner.tokens.get(&hash).await.map_err(|_| unavailable())?;
            return Ok(found.map(|c| (*c).clone()).filter(|c| {
                c.get("exp")
                    .and_then(Value::as_u64)
                    .is_some_and(|e| e > now_secs())
            }));
        }
        if token.len() > 8 * 1024 {
            return Ok(None);
        }
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return Ok(None);
        };
        let Some(signer) = inner.keys.verifier(&kid) else {
            return Ok(None);
        };
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &signer.decoding, &signer.validation)
        else {
            return Ok(None);
        };
        let claims = data.claims;
        if let Some(jti) = claims.get("jti").and_then(Value::as_str)
            && inner
                .revocations
                .is_revoked(&inner.issuer, jti)
                .await
                .map_err(|_| unavailable())?
        {
            return Ok(None);
        }
        Ok(Some(claims))
    }
}

/// The form of a request to a token-type endpoint: `POST`, the form
/// content type, a form body.
pub(super) fn form_of(head: &dyn RequestHead, body: &[u8]) -> Result<Form, OAuthError> {
    if head.method() != "POST" {
        return Err(OAuthError::invalid_request("use POST"));
    }
    let form_type = head
        .header_values("content-type")
        .first()
        .is_some_and(|ct| {
            ct.split(|b| *b == b';').next().is_some_and(|t| {
                t.trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if head.query().is_some_and(|q| !q.is_empty()) {
        // Credentials and tokens never travel in the URL.
        return Err(OAuthError::invalid_request(
            "parameters go in the body, not the query",
        ));
    }
    Form::parse(body)
}
