//! Opaque OAuth 2.0 access tokens, checked by RFC 7662 token introspection.
//!
//! [`Introspection`] is an [`Authenticator`] that claims any bearer token no
//! more specific method recognises ([`Specificity::Any`]): in an
//! [`AnyOf`](crate::AnyOf) beside API keys and JWTs it gets the tokens that
//! are neither. It asks the authorization server's introspection endpoint
//! about the token (`POST`, `token=…&token_type_hint=access_token`, with the
//! resource server's own client credentials as HTTP Basic, RFC 6749
//! §2.3.1), and maps an active answer to an [`Identity`] through the same
//! [`ClaimsMapping`] as JWT claims.
//!
//! - **Cache.** Answers are cached by the SHA-256 of the token, never the
//!   token: an active one until `min(exp, max_ttl)`, an inactive one for
//!   `inactive_ttl` (10 s). Concurrent lookups of one token share one call.
//! - **Failures are 503.** An endpoint that cannot be reached, answers an
//!   error (including a refusal of our own client credentials), or answers
//!   something that is not an introspection response makes the request
//!   `503` with `Retry-After`, never `401`: the caller's token may be fine.
//! - **Bounded.** At most `max_concurrent` calls (32) are in flight; a token
//!   that would need one more is refused at once with `503`, so a flood of
//!   made-up tokens cannot queue unbounded work against the endpoint. Each
//!   call has a timeout (5 s) and a response cap (64 KiB).
//! - **Certificate-bound tokens.** An answer with `cnf.x5t#S256` (RFC
//!   8705) is accepted only from a request presenting that client
//!   certificate, checked on every request, cached answer or not
//!   ([`check_certificate_binding`](crate::claims::check_certificate_binding)).
//! - **Where it calls.** Only the configured endpoint, over `https` (plain
//!   `http` only to a loopback address, by
//!   [`allow_plain_http_loopback`](IntrospectionBuilder::allow_plain_http_loopback)),
//!   following redirects only within its origin. Token content never picks
//!   a destination.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::introspection::Introspection;
//! use auth_core::{AnyOf, Guard, Secret, SimpleRequest};
//! # use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
//! # let keys = ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate()));
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # // The authorization server's endpoint: `oat_good` is active, nothing else.
//! # let app = axum::Router::new().route("/introspect", axum::routing::post(|body: String| async move {
//! #     if body.split('&').any(|kv| kv == "token=oat_good") {
//! #         r#"{"active":true,"sub":"svc","scope":"reports:read","iss":"https://as.example.com","aud":"https://api.example.com"}"#
//! #     } else {
//! #         r#"{"active":false}"#
//! #     }
//! # }));
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! # let endpoint = format!("http://{}/introspect", listener.local_addr().unwrap());
//! # tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
//!
//! // `endpoint`: in production `https://as.example.com/oauth/introspect`.
//! let opaque = Introspection::builder(endpoint, "resource-server", Secret::from("its client secret"))
//!     .allow_plain_http_loopback() // this example's endpoint is on 127.0.0.1
//!     .issuer("https://as.example.com")
//!     .audience("https://api.example.com")
//!     .max_ttl(Duration::from_secs(120))
//!     .build()?;
//! let guard = Guard::builder(AnyOf::new().or(keys).or(opaque)).build()?;
//!
//! let active = SimpleRequest::get("/").header("authorization", "Bearer oat_good");
//! let id = guard.check(&active).await.unwrap().into_identity().unwrap();
//! assert!(id.subject() == "svc" && id.has_scope("reports:read"));
//! let inactive = SimpleRequest::get("/").header("authorization", "Bearer oat_revoked");
//! assert_eq!(guard.check(&inactive).await.unwrap_err().status(), 401);
//! # Ok::<(), auth_core::ConfigError>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::authenticate::{AuthRequest, Authenticator, BoxFuture, Specificity};
use crate::claims::ClaimsMapping;
use crate::client_auth::{basic_client_auth, form_encode_into};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::{AuthMethod, Claims, Identity};
use crate::jwt::jwks::{fetchable_as, same_origin_redirects};
use crate::rejection::Challenge;
use crate::request::RequestHead;
use crate::secret::Secret;

/// Builds an [`Introspection`] authenticator.
pub struct IntrospectionBuilder {
    endpoint: String,
    client_id: String,
    client_secret: Secret,
    plain_loopback: bool,
    issuer: Option<String>,
    audience: Option<String>,
    mapping: ClaimsMapping,
    max_ttl: Duration,
    inactive_ttl: Duration,
    timeout: Duration,
    max_response: usize,
    max_concurrent: usize,
    capacity: u64,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl IntrospectionBuilder {
    /// Checks `iss`, when the answer has one: it must be this issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` (a string or an array) to name this resource server;
    /// an answer without `aud` is then refused.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How the answer's claims become an identity (by default the standard
    /// claims: `sub`, `scope`, `client_id`, `exp`, `act`, `cnf`).
    pub fn claims_mapping(mut self, mapping: ClaimsMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// The longest an active answer is reused (default 60 s); never past
    /// the token's `exp`.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused (default 10 s).
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// The timeout of one call (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest answer read (default 64 KiB).
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// The most calls in flight at once (default 32, at least 1).
    pub fn max_concurrent(mut self, calls: usize) -> Self {
        self.max_concurrent = calls.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The most answers cached (default 100,000).
    pub fn capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self
    }

    /// Allows a plain `http` endpoint on a loopback IP address (tests,
    /// a sidecar); anything else must be `https`.
    pub fn allow_plain_http_loopback(mut self) -> Self {
        self.plain_loopback = true;
        self
    }

    /// The HTTP client to call with (e.g. with a private CA). Whatever its
    /// redirect policy, an answer from another origin is refused.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The authenticator. Fails on an endpoint that is not `https` (or
    /// allowed loopback `http`), or when the HTTP client cannot be built.
    pub fn build(self) -> Result<Introspection, ConfigError> {
        let endpoint = fetchable_as(
            "introspection endpoint",
            &self.endpoint,
            self.plain_loopback,
        )
        .map_err(ConfigError::invalid)?;
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| ConfigError::invalid(format!("HTTP client: {e}")))?,
        };
        let authorization = basic_client_auth(&self.client_id, &self.client_secret);
        Ok(Introspection {
            inner: Arc::new(Inner {
                endpoint,
                authorization,
                issuer: self.issuer,
                audience: self.audience,
                mapping: self.mapping,
                timeout: self.timeout,
                max_response: self.max_response,
                permits: Semaphore::new(self.max_concurrent),
                client,
                cache: moka::future::Cache::builder()
                    .max_capacity(self.capacity)
                    .expire_after(AnswerExpiry {
                        max_ttl: self.max_ttl,
                        inactive_ttl: self.inactive_ttl,
                    })
                    .build(),
                calls: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// RFC 7662 token introspection as an [`Authenticator`] (see the
/// [module documentation](self)).
#[derive(Clone)]
pub struct Introspection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.inner.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    endpoint: reqwest::Url,
    /// `Basic base64(client_id:client_secret)`, form-encoded first.
    authorization: Secret,
    issuer: Option<String>,
    audience: Option<String>,
    mapping: ClaimsMapping,
    timeout: Duration,
    max_response: usize,
    permits: Semaphore,
    client: reqwest::Client,
    cache: moka::future::Cache<[u8; 32], Answer>,
    calls: std::sync::atomic::AtomicU64,
}

/// An introspection answer, as cached.
#[derive(Clone)]
enum Answer {
    Active {
        identity: Identity,
        /// `exp` in seconds since the epoch, if the answer had one.
        exp: Option<u64>,
    },
    Inactive,
}

struct AnswerExpiry {
    max_ttl: Duration,
    inactive_ttl: Duration,
}

impl Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Answer,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match value {
            Answer::Inactive => self.inactive_ttl,
            Answer::Active { exp: None, .. } => self.max_ttl,
            Answer::Active { exp: Some(exp), .. } => UNIX_EPOCH
                .checked_add(Duration::from_secs(*exp))
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO)
                .min(self.max_ttl),
        })
    }
}

impl Introspection {
    /// A builder for `endpoint`, authenticating to it as `client_id` with
    /// `client_secret`.
    pub fn builder(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret,
            plain_loopback: false,
            issuer: None,
            audience: None,
            mapping: ClaimsMapping::new(),
            max_ttl: Duration::from_secs(60),
            inactive_ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_response: 64 * 1024,
            max_concurrent: 32,
            capacity: 100_000,
            client: None,
        }
    }

    /// How many calls the endpoint has been sent (for tests and metrics).
    pub fn call_count(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn answer(&self, token: &[u8]) -> Result<Answer, AuthError> {
        let key: [u8; 32] = Sha256::digest(token).into();
        let inner = &self.inner;
        inner
            .cache
            .try_get_with(key, async { self.call(token).await })
            .await
            .map_err(|e| (*e).clone())
    }

    async fn call(&self, token: &[u8]) -> Result<Answer, AuthError> {
        let inner = &self.inner;
        let Ok(_permit) = inner.permits.try_acquire() else {
            return Err(unavailable("introspection_busy", Duration::from_secs(1)));
        };
        inner
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut body = b"token_type_hint=access_token&token=".to_vec();
        form_encode_into(token, &mut body);
        let sent = inner
            .client
            .post(inner.endpoint.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                inner.authorization.expose_str().unwrap_or_default(),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(inner.timeout)
            .body(body)
            .send()
            .await;
        let mut res = sent.map_err(|e| {
            tracing::warn!(target: "auth_core::introspection", error = %e, "introspection endpoint unreachable");
            unavailable("introspection_unreachable", Duration::from_secs(5))
        })?;
        if res.url().origin() != inner.endpoint.origin() || !res.status().is_success() {
            tracing::warn!(target: "auth_core::introspection", status = res.status().as_u16(), "introspection endpoint answered an error");
            return Err(unavailable("introspection_failed", Duration::from_secs(5)));
        }
        let mut bytes = Vec::new();
        loop {
            let chunk = res.chunk().await.map_err(|e| {
                tracing::warn!(target: "auth_core::introspection", error = %e, "introspection answer cut short");
                unavailable("introspection_failed", Duration::from_secs(5))
            })?;
            let Some(chunk) = chunk else { break };
            if bytes.len() + chunk.len() > inner.max_response {
                tracing::warn!(target: "auth_core::introspection", "introspection answer too large");
                return Err(unavailable("introspection_failed", Duration::from_secs(5)));
            }
            bytes.extend_from_slice(&chunk);
        }
        self.interpret(&bytes)
    }

    /// An answer from the endpoint's JSON.
    fn interpret(&self, bytes: &[u8]) -> Result<Answer, AuthError> {
        let malformed = || {
            tracing::warn!(target: "auth_core::introspection", "introspection answer is not an RFC 7662 response");
            unavailable("introspection_failed", Duration::from_secs(5))
        };
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(malformed());
        };
        match claims.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(Answer::Inactive),
            _ => return Err(malformed()),
        }
        let inner = &self.inner;
        // What the answer says about the token: a token for another issuer
        // or audience, or whose times are off, is treated as inactive.
        if let (Some(want), Some(got)) = (&inner.issuer, claims.get("iss"))
            && got.as_str() != Some(want.as_str())
        {
            return Ok(Answer::Inactive);
        }
        if let Some(want) = &inner.audience {
            let named = match claims.get("aud") {
                Some(Value::String(a)) => a == want,
                Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(want)),
                _ => false,
            };
            if !named {
                return Ok(Answer::Inactive);
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let exp = match claims.get("exp") {
            None => None,
            Some(v) => match v.as_u64() {
                // Past year 9999 (253402300799), or not a whole number.
                Some(e) if e <= 253_402_300_799 => Some(e),
                _ => return Ok(Answer::Inactive),
            },
        };
        if exp.is_some_and(|e| e <= now) {
            return Ok(Answer::Inactive);
        }
        if claims
            .get("nbf")
            .is_some_and(|n| n.as_u64().is_none_or(|n| n > now.saturating_add(30)))
        {
            return Ok(Answer::Inactive);
        }
        let claims: Claims = claims;
        let identity = inner
            .mapping
            .to_identity(&claims, AuthMethod::Introspection)
            .with_claims(Arc::new(claims));
        if identity.subject().is_empty() && identity.client_id().is_none() {
            // Neither a user nor a client: nothing to call the caller.
            return Err(malformed());
        }
        Ok(Answer::Active { identity, exp })
    }
}

impl Authenticator for Introspection {
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        crate::openapi::Security::scheme("bearer", crate::openapi::bearer(None))
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        req.credential().bearer().map(|_| Specificity::Any)
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let token = req.credential().bearer();
        Box::pin(async move {
            let Some(token) = token else {
                return Err(AuthError::new(AuthErrorKind::MissingCredentials));
            };
            match self.answer(token.expose()).await? {
                Answer::Active { identity, exp } => {
                    // A cached answer never outlives `exp`; checked again
                    // for the second it may be read in.
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    if exp.is_some_and(|e| e <= now) {
                        return Err(inactive());
                    }
                    // Per request, after the answer cache: a cached answer
                    // says nothing about this request's certificate.
                    crate::claims::check_certificate_binding(&identity, req)?;
                    Ok(identity)
                }
                Answer::Inactive => Err(inactive()),
            }
        })
    }

    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::bearer());
    }
}

fn inactive() -> AuthError {
    AuthError::new(AuthErrorKind::InvalidCredentials)
        .with_challenge(Challenge::bearer_error("invalid_token"))
        .with_reason("token_inactive")
        .with_detail("the access token is not active")
}

fn unavailable(reason: &'static str, retry_after: Duration) -> AuthError {
    AuthError::new(AuthErrorKind::Unavailable)
        .with_reason(reason)
        .with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authn() -> Introspection {
        Introspection::builder(
            "http://127.0.0.1:1/introspect",
            "rs",
            Secret::new(b"s3cret".to_vec()),
        )
        .allow_plain_http_loopback()
        .issuer("https://as")
        .audience("api")
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn interpret(json: &str) -> Result<Answer, AuthError> {
        authn().interpret(json.as_bytes())
    }

    fn far() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600
    }

    #[test]
    fn active_answers_map_like_jwt_claims() {
        let at = far();
        let json = format!(
            r#"{{"active":true,"sub":"ada","scope":"read write","client_id":"app","iss":"https://as","aud":["api","x"],"exp":{at}}}"#
        );
        let Ok(Answer::Active { identity, exp }) = interpret(&json) else {
            panic!("not active");
        };
        assert_eq!(identity.subject(), "ada");
        assert_eq!(identity.method(), AuthMethod::Introspection);
        assert!(identity.has_scope("read") && identity.has_scope("write"));
        assert_eq!(identity.client_id(), Some("app"));
        assert_eq!(exp, Some(at));
        // `nbf` up to the 30 s leeway ahead is accepted.
        let soon = at - 3600 + 30;
        let json =
            format!(r#"{{"active":true,"sub":"a","iss":"https://as","aud":"api","nbf":{soon}}}"#);
        assert!(
            matches!(interpret(&json), Ok(Answer::Active { .. })),
            "{json}"
        );
        // A client-credentials token: no `sub`, a client.
        let json = r#"{"active":true,"client_id":"svc","iss":"https://as","aud":"api"}"#;
        assert!(matches!(interpret(json), Ok(Answer::Active { .. })));
    }

    #[test]
    fn inactive_foreign_and_expired_answers_are_inactive() {
        let f = far();
        for json in [
            r#"{"active":false}"#.to_owned(),
            format!(r#"{{"active":true,"sub":"a","iss":"https://other","aud":"api","exp":{f}}}"#),
            format!(r#"{{"active":true,"sub":"a","iss":"https://as","aud":"other","exp":{f}}}"#),
            format!(r#"{{"active":true,"sub":"a","iss":"https://as","exp":{f}}}"#),
            r#"{"active":true,"sub":"a","aud":"api","exp":1000}"#.to_owned(),
            r#"{"active":true,"sub":"a","aud":"api","exp":253402300800}"#.to_owned(),
            r#"{"active":true,"sub":"a","aud":"api","exp":18446744073709551615}"#.to_owned(),
            r#"{"active":true,"sub":"a","aud":"api","exp":-5}"#.to_owned(),
            r#"{"active":true,"sub":"a","aud":"api","exp":1.5}"#.to_owned(),
            format!(r#"{{"active":true,"sub":"a","aud":"api","nbf":{f}}}"#),
            r#"{"active":true,"sub":"a","aud":"api","nbf":"soon"}"#.to_owned(),
            format!(
                r#"{{"active":true,"sub":"a","iss":"https://as","aud":["other","x"],"exp":{f}}}"#
            ),
        ] {
            assert!(matches!(interpret(&json), Ok(Answer::Inactive)), "{json}");
        }
    }

    #[test]
    fn answers_that_are_not_introspection_responses_are_failures() {
        for json in [
            "",
            "[]",
            "null",
            r#"{"sub":"a"}"#,
            r#"{"active":"true","aud":"api"}"#,
            r#"{"active":1,"aud":"api"}"#,
            r#"{"active":true,"aud":"api"}"#,
            "{\"active\":true,",
        ] {
            let err = interpret(json).err().map(|e| e.kind());
            assert_eq!(err, Some(AuthErrorKind::Unavailable), "{json}");
        }
    }

    #[test]
    fn endpoints_must_be_https_or_allowed_loopback() {
        let b = |url: &str| Introspection::builder(url, "rs", Secret::new(b"s".to_vec()));
        assert!(b("https://as.example/introspect").build().is_ok());
        assert!(b("http://127.0.0.1:9/i").build().is_err());
        assert!(
            b("http://127.0.0.1:9/i")
                .allow_plain_http_loopback()
                .build()
                .is_ok()
        );
        assert!(
            b("http://as.example/i")
                .allow_plain_http_loopback()
                .build()
                .is_err()
        );
        assert!(b("ftp://as.example/i").build().is_err());
        let secret = || Secret::new(b"topsecretvalue".to_vec());
        let builder = Introspection::builder("https://as.example/i", "rs", secret());
        let shown = format!("{builder:?}");
        assert!(
            shown.contains("as.example/i") && shown.contains("\"rs\""),
            "{shown}"
        );
        assert!(!shown.contains("topsecret"));
        let built = builder.build().unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{built:?}");
        assert!(shown.contains("https://as.example/i"), "{shown}");
        assert!(!shown.contains("topsecret"));
    }
}
