//! [`Identity`]: who the caller is, whatever the method.
//!
//! ```
//! use auth_core::{AuthMethod, Identity};
//!
//! let id = Identity::new("alice", AuthMethod::Basic)
//!     .with_scopes(["reports:read", "reports:write"])
//!     .with_roles(["analyst"]);
//! assert!(id.has_scope("reports:read"));
//! assert!(!id.has_scope("admin"));
//! assert!(id.has_role("analyst"));
//! assert_eq!(id.method().as_str(), "basic");
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

/// The verified claims of a token.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// An API key (`Authorization: Bearer` or `X-API-Key`).
    ApiKey,
    /// HTTP Basic (RFC 7617).
    Basic,
    /// A JWT verified locally.
    Jwt,
    /// An opaque OAuth token checked by introspection (RFC 7662).
    Introspection,
    /// A TLS client certificate.
    Mtls,
    /// An application-defined method.
    Custom,
}

impl AuthMethod {
    /// The wire name: `api_key`, `basic`, `jwt`, `introspection`, `mtls`, `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::Jwt => "jwt",
            Self::Introspection => "introspection",
            Self::Mtls => "mtls",
            Self::Custom => "custom",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller. Handlers read it through the adapters' extractors.
///
/// Holds no secret: it is safe to log with `Debug`. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity(Arc<Inner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    subject: String,
    method: AuthMethod,
    scopes: BTreeSet<String>,
    roles: BTreeSet<String>,
    key_id: Option<String>,
    client_id: Option<String>,
    expires_at: Option<SystemTime>,
    cert_thumbprint: Option<String>,
    actors: Vec<String>,
    claims: Option<Arc<Claims>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Same shape as a derived Debug of the fields.
        let i = &*self.0;
        f.debug_struct("Identity")
            .field("subject", &i.subject)
            .field("method", &i.method)
            .field("scopes", &i.scopes)
            .field("roles", &i.roles)
            .field("key_id", &i.key_id)
            .field("client_id", &i.client_id)
            .field("expires_at", &i.expires_at)
            .field("cert_thumbprint", &i.cert_thumbprint)
            .field("actors", &i.actors)
            .field("claims", &i.claims)
            .finish()
    }
}

impl Identity {
    /// A caller with the given subject, authenticated by `method`.
    pub fn new(subject: impl Into<String>, method: AuthMethod) -> Self {
        Self(Arc::new(Inner {
            subject: subject.into(),
            method,
            scopes: BTreeSet::new(),
            roles: BTreeSet::new(),
            key_id: None,
            client_id: None,
            expires_at: None,
            cert_thumbprint: None,
            actors: Vec::new(),
            claims: None,
        }))
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.0)
    }

    /// Adds scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner_mut()
            .scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds the scopes of a space-separated list (the OAuth `scope` form).
    pub fn with_scope_string(self, scope: &str) -> Self {
        self.with_scopes(scope.split(' ').filter(|s| !s.is_empty()))
    }

    /// Adds roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner_mut()
            .roles
            .extend(roles.into_iter().map(Into::into));
        self
    }

    /// Sets the public id of the key used.
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.inner_mut().key_id = Some(key_id.into());
        self
    }

    /// Sets the OAuth client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.inner_mut().client_id = Some(client_id.into());
        self
    }

    /// Sets when the credential stops being valid.
    pub fn with_expiry(mut self, at: SystemTime) -> Self {
        self.inner_mut().expires_at = Some(at);
        self
    }

    /// Sets the certificate thumbprint the credential is bound to
    /// (RFC 8705 `cnf.x5t#S256`, base64url of SHA-256 of the DER).
    pub fn with_cert_thumbprint(mut self, x5t_s256: impl Into<String>) -> Self {
        self.inner_mut().cert_thumbprint = Some(x5t_s256.into());
        self
    }

    /// Sets the actor chain of a delegated token (RFC 8693 `act`), the
    /// current actor first.
    pub fn with_actors(mut self, actors: Vec<String>) -> Self {
        self.inner_mut().actors = actors;
        self
    }

    /// Attaches the verified claims of a token.
    pub fn with_claims(mut self, claims: Arc<Claims>) -> Self {
        self.inner_mut().claims = Some(claims);
        self
    }

    /// The certificate thumbprint the credential is bound to, if any.
    pub fn cert_thumbprint(&self) -> Option<&str> {
        self.0.cert_thumbprint.as_deref()
    }

    /// The actor chain of a delegated token, current actor first.
    pub fn actors(&self) -> &[String] {
        &self.0.actors
    }

    /// The verified claims, for token-based methods.
    pub fn claims(&self) -> Option<&Claims> {
        self.0.claims.as_deref()
    }

    /// The verified claims as a typed value (the adapters' `Claims<T>`
    /// extractors). A caller without claims (an API key, Basic) or whose
    /// claims do not fit `T` is refused with 401 `invalid_token`.
    pub fn claims_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::AuthError> {
        let refuse = || {
            crate::AuthError::new(crate::AuthErrorKind::InvalidCredentials)
                .with_challenge(crate::Challenge::bearer_error("invalid_token"))
                .with_reason("claims_shape")
                .with_detail("the token lacks claims this resource needs")
        };
        let claims = self.0.claims.as_deref().ok_or_else(refuse)?;
        // Straight from the shared map, without copying it.
        T::deserialize(claims).map_err(|_| refuse())
    }

    /// The subject: a user name, key owner, `sub` claim or SPIFFE ID.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// How the caller authenticated.
    pub fn method(&self) -> AuthMethod {
        self.0.method
    }

    /// The granted scopes, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.scopes.iter().map(String::as_str)
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.contains(scope)
    }

    /// The roles, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.roles.iter().map(String::as_str)
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.contains(role)
    }

    /// The public id of the API key used, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }

    /// The OAuth client id, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }

    /// When the credential stops being valid, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.expires_at
    }
}
