//! [`AuthorizationServer`]: the token, introspection, revocation and
//! metadata endpoints, framework-neutral. An adapter moves the request in
//! (its head and body) and the [`OAuthResponse`] out; nothing else.
//!
//! Grants so far: `client_credentials` (RFC 6749 §4.4) for confidential
//! clients. Access tokens are RFC 9068 JWTs (`typ: at+jwt`) signed with the
//! server's key, or, for clients registered with
//! [`opaque_tokens`](super::client::Client::opaque_tokens), random opaque
//! tokens that the introspection endpoint answers for.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{ClientRegistry, GrantType};
use super::form::Form;
use super::{OAuthError, OAuthErrorCode};
use crate::error::ConfigError;
use crate::identity::Claims;
use crate::request::RequestHead;
use crate::store::{MemoryRevocations, MemoryTokens, RevocationStore, TokenStore};

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
const OPAQUE_PREFIX: &str = "oat_";

/// The paths the adapters mount, under the issuer's origin.
pub mod paths {
    /// RFC 8414 metadata.
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
    /// The token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// The introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/oauth/introspect";
    /// The revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// The JWKS (served by the application).
    pub const JWKS: &str = "/.well-known/jwks.json";
}

/// The endpoints that take a form body, for [`AuthorizationServer::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /oauth/token`.
    Token,
    /// `POST /oauth/introspect`.
    Introspect,
    /// `POST /oauth/revoke`.
    Revoke,
}

impl Endpoint {
    /// Its path (see [`paths`]).
    pub fn path(self) -> &'static str {
        match self {
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
    signer: Option<(EncodingKey, Algorithm, String)>,
    access_ttl: Duration,
    tokens: Option<Arc<dyn TokenStore>>,
    revocations: Option<Arc<dyn RevocationStore>>,
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

    /// The key JWT access tokens are signed with (ES256, RS256, EdDSA…),
    /// published under `kid` in the application's JWKS.
    pub fn signing_key(mut self, key: EncodingKey, alg: Algorithm, kid: impl Into<String>) -> Self {
        self.signer = Some((key, alg, kid.into()));
        self
    }

    /// How long access tokens live (default 15 minutes).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
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

    /// The server. Fails without an audience, without a signing key when a
    /// client takes JWTs, or with a key whose algorithm has no public JWK
    /// (HMAC: resource servers could then mint tokens).
    pub fn build(self) -> Result<AuthorizationServer, ConfigError> {
        let audience = self
            .audience
            .ok_or_else(|| ConfigError::invalid("an authorization server needs an audience"))?;
        let validation = self.signer.as_ref().map(|(_, alg, _)| {
            let mut v = Validation::new(*alg);
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&[&audience]);
            v.leeway = 0;
            v
        });
        let verifier = match &self.signer {
            // An HMAC key's "public" JWK is the secret itself.
            Some((_, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, _)) => {
                return Err(ConfigError::invalid(
                    "the signing key must be asymmetric (ES256, RS256, EdDSA…): resource servers verify with its public half",
                ));
            }
            Some((key, alg, _)) => {
                let jwk = Jwk::from_encoding_key(key, *alg).map_err(|_| {
                    ConfigError::invalid(
                        "the signing key must be asymmetric (ES256, RS256, EdDSA…): resource servers verify with its public half",
                    )
                })?;
                Some(
                    DecodingKey::from_jwk(&jwk)
                        .map_err(|e| ConfigError::invalid(format!("signing key: {e}")))?,
                )
            }
            None => None,
        };
        if self.signer.is_none() && self.registry.clients().any(|c| !c.wants_opaque_tokens()) {
            return Err(ConfigError::invalid(
                "a client takes JWT access tokens but no signing key is set",
            ));
        }
        if self.issuer.is_empty() {
            return Err(ConfigError::invalid("the issuer must not be empty"));
        }
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                registry: self.registry,
                audience,
                signer: self.signer,
                verifier: verifier.zip(validation),
                access_ttl: self.access_ttl,
                tokens: self
                    .tokens
                    .unwrap_or_else(|| Arc::new(MemoryTokens::new(1_000_000))),
                revocations: self
                    .revocations
                    .unwrap_or_else(|| Arc::new(MemoryRevocations::new())),
            }),
        })
    }
}

/// The authorization server's endpoints (see the [module documentation](self)).
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

struct Inner {
    issuer: String,
    registry: ClientRegistry,
    audience: String,
    signer: Option<(EncodingKey, Algorithm, String)>,
    /// The public key and the checks for the server's own JWTs.
    verifier: Option<(DecodingKey, Validation)>,
    access_ttl: Duration,
    tokens: Arc<dyn TokenStore>,
    revocations: Arc<dyn RevocationStore>,
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unavailable() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::TemporarilyUnavailable,
        "the token store cannot answer; try again shortly",
    )
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
            signer: None,
            access_ttl: Duration::from_secs(15 * 60),
            tokens: None,
            revocations: None,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// RFC 8414 metadata, for `GET /.well-known/oauth-authorization-server`.
    /// It lists what is built: the token, introspection and revocation
    /// endpoints and the `client_credentials` grant.
    pub fn metadata(&self) -> OAuthResponse {
        let base = self.inner.issuer.trim_end_matches('/');
        let auth_methods = ["client_secret_basic", "client_secret_post"];
        let mut res = OAuthResponse::json(
            200,
            &json!({
                "issuer": self.inner.issuer,
                "token_endpoint": format!("{base}{}", paths::TOKEN),
                "introspection_endpoint": format!("{base}{}", paths::INTROSPECT),
                "revocation_endpoint": format!("{base}{}", paths::REVOKE),
                "jwks_uri": format!("{base}{}", paths::JWKS),
                "grant_types_supported": [GrantType::ClientCredentials.as_str()],
                "response_types_supported": [],
                "token_endpoint_auth_methods_supported": auth_methods,
                "introspection_endpoint_auth_methods_supported": auth_methods,
                "revocation_endpoint_auth_methods_supported": auth_methods,
            }),
        );
        // Public metadata may be cached briefly.
        res.headers.retain(|(n, _)| *n == "content-type");
        res.headers
            .push(("cache-control", "max-age=300".to_owned()));
        res
    }

    /// One of the form endpoints for a request with `head` and `body`;
    /// `None` for a body the adapter did not read in full (over
    /// [`MAX_FORM_LEN`](super::form::MAX_FORM_LEN), or broken off), which
    /// is refused with `invalid_request`. Adapters call this and only move
    /// the request in and the [`OAuthResponse`] out.
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
        let (client, _) = self.inner.registry.authenticate(head, &form).await?;
        if grant != GrantType::ClientCredentials {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "the grant type is not supported",
            ));
        }
        client.check_grant(grant)?;
        if !client.is_confidential() {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "client_credentials needs a confidential client",
            ));
        }
        let scopes = client.grant_scopes(form.get("scope"))?;
        let scope = scopes.join(" ");
        let now = now_secs();
        let exp = now.saturating_add(self.inner.access_ttl.as_secs());
        let claims = json!({
            "iss": self.inner.issuer,
            "sub": client.id(),
            "aud": self.inner.audience,
            "client_id": client.id(),
            "scope": scope,
            "iat": now,
            "exp": exp,
            "jti": random_token(),
        });
        let token = if client.wants_opaque_tokens() {
            let token = format!("{OPAQUE_PREFIX}{}", random_token());
            let Value::Object(claims) = claims else {
                return Err(unavailable());
            };
            let until = UNIX_EPOCH + Duration::from_secs(exp);
            self.inner
                .tokens
                .insert(Sha256::digest(&token).into(), Arc::new(claims), until)
                .await
                .map_err(|_| unavailable())?;
            token
        } else {
            let Some((key, alg, kid)) = &self.inner.signer else {
                return Err(unavailable());
            };
            let mut header = Header::new(*alg);
            header.typ = Some("at+jwt".to_owned());
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, &claims, key).map_err(|_| unavailable())?
        };
        Ok(OAuthResponse::json(
            200,
            &json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.inner.access_ttl.as_secs(),
                "scope": scope,
            }),
        ))
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
    /// to the authenticated client. Answers 200 whether or not the token
    /// was known (§2.2).
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
        if let Some(claims) = self.live_claims(token).await? {
            // Only the client the token was issued to may revoke it.
            if claims.get("client_id").and_then(Value::as_str) == Some(client.id()) {
                if token.starts_with(OPAQUE_PREFIX) {
                    self.inner
                        .tokens
                        .remove(&Sha256::digest(token).into())
                        .await
                        .map_err(|_| unavailable())?;
                } else if let (Some(jti), Some(exp)) = (
                    claims.get("jti").and_then(Value::as_str),
                    claims.get("exp").and_then(Value::as_u64),
                ) {
                    // Past `exp` plus any resource server's leeway.
                    let until = UNIX_EPOCH + Duration::from_secs(exp.saturating_add(120));
                    self.inner
                        .revocations
                        .revoke(&self.inner.issuer, jti, until)
                        .await
                        .map_err(|_| unavailable())?;
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
    /// opaque token from the store, a JWT verified with the server's key
    /// and not revoked.
    async fn live_claims(&self, token: &str) -> Result<Option<Claims>, OAuthError> {
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
        let Some((verifier, validation)) = &inner.verifier else {
            return Ok(None);
        };
        if token.len() > 8 * 1024 {
            return Ok(None);
        }
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, verifier, validation) else {
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
fn form_of(head: &dyn RequestHead, body: &[u8]) -> Result<Form, OAuthError> {
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
