//! Errors: [`AuthError`] for refused requests, [`ConfigError`] for mistakes
//! found while building a layer.
//!
//! Both are opaque; match on [`AuthError::kind`] / [`ConfigError::kind`]. An
//! `AuthError` carries only static text, so a credential can never be
//! formatted into it, its `Display`, its `Debug` or the problem body made from
//! it.
//!
//! ```
//! use auth_core::{AuthError, AuthErrorKind, Challenge};
//!
//! let err = AuthError::new(AuthErrorKind::ExpiredCredentials)
//!     .with_challenge(Challenge::bearer_error("invalid_token"))
//!     .with_detail("the API key has expired");
//! assert_eq!(err.kind(), AuthErrorKind::ExpiredCredentials);
//! assert_eq!(err.status(), 401);
//! assert_eq!(err.challenge().map(Challenge::scheme), Some("Bearer"));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use crate::rejection::Challenge;

/// What went wrong, for callers to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No credential was presented (or none of a supported scheme). 401.
    MissingCredentials,
    /// The request itself is malformed: two credentials, a credential in the
    /// query string. 400.
    InvalidRequest,
    /// The credential is malformed, unknown or fails verification. 401.
    InvalidCredentials,
    /// The credential has expired (including a rotated key past its grace). 401.
    ExpiredCredentials,
    /// The credential was revoked. 401.
    RevokedCredentials,
    /// The credential may not be sent over a plaintext transport. 401.
    InsecureTransport,
    /// Authenticated, but a required scope is missing. 403.
    InsufficientScope,
    /// Authenticated, but the policy refuses the caller. 403.
    Forbidden,
    /// Too many failed attempts for this account; try again later. 429.
    LockedOut,
    /// Over the rate limit. 429.
    RateLimited,
    /// A dependency needed to decide is unavailable. 503.
    Unavailable,
}

impl AuthErrorKind {
    /// The HTTP status this kind maps to.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::MissingCredentials
            | Self::InvalidCredentials
            | Self::ExpiredCredentials
            | Self::RevokedCredentials
            | Self::InsecureTransport => 401,
            Self::InsufficientScope | Self::Forbidden => 403,
            Self::LockedOut | Self::RateLimited => 429,
            Self::Unavailable => 503,
        }
    }

    /// A stable snake_case code, used in logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidCredentials => "invalid_credentials",
            Self::ExpiredCredentials => "expired_credentials",
            Self::RevokedCredentials => "revoked_credentials",
            Self::InsecureTransport => "insecure_transport",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "forbidden",
            Self::LockedOut => "locked_out",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A refused request: opaque, with a [`kind`](Self::kind).
#[derive(Clone)]
pub struct AuthError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: AuthErrorKind,
    challenge: Option<Challenge>,
    reason: &'static str,
    detail: &'static str,
    scope: Option<String>,
    retry_after: Option<Duration>,
}

impl AuthError {
    /// An error of `kind`, with no challenge of its own yet.
    pub fn new(kind: AuthErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            challenge: None,
            reason: kind.code(),
            detail: default_detail(kind),
            scope: None,
            retry_after: None,
        }))
    }

    /// Sets the short human explanation that goes into the problem body.
    /// It is `'static` on purpose: no credential can end up in it.
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.0.detail = detail;
        self
    }

    /// Sets the fine-grained reason code logged with the decision
    /// (e.g. `key_expired`, `bad_checksum`).
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.0.reason = reason;
        self
    }

    /// The challenge that answers this refusal (e.g. `Bearer` with
    /// `error="invalid_token"` for a bad token, `Basic` for a wrong
    /// password): the refusing method knows how its credential is presented.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.0.challenge = Some(challenge);
        self
    }

    /// A 403 for missing scopes; `scopes` go into the challenge's `scope`
    /// parameter. The guard supplies the challenge (its scope challenge,
    /// `Bearer` by default, RFC 6750 §3.1) unless one is set.
    pub fn insufficient_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let mut e = Self::new(AuthErrorKind::InsufficientScope);
        e.0.scope = Some(list.join(" "));
        e
    }

    /// Sets the `Retry-After` hint.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.0.retry_after = Some(retry_after);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> AuthErrorKind {
        self.0.kind
    }

    /// The challenge that answers this refusal, if the refusing method
    /// named one.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.0.challenge.as_ref()
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.kind.status()
    }

    /// The fine-grained reason code, for logs.
    pub fn reason(&self) -> &'static str {
        self.0.reason
    }

    /// The short explanation for the problem body.
    pub fn detail(&self) -> &'static str {
        self.0.detail
    }

    /// The scopes a 403 asks for, space-separated.
    pub fn required_scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// The `Retry-After` hint of a 429 or 503.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }
}

fn default_detail(kind: AuthErrorKind) -> &'static str {
    match kind {
        AuthErrorKind::MissingCredentials => "authentication is required",
        AuthErrorKind::InvalidRequest => "the request is malformed",
        AuthErrorKind::InvalidCredentials => "the credentials are invalid",
        AuthErrorKind::ExpiredCredentials => "the credentials have expired",
        AuthErrorKind::RevokedCredentials => "the credentials were revoked",
        AuthErrorKind::InsecureTransport => "these credentials are only accepted over TLS (https)",
        AuthErrorKind::InsufficientScope => "the credentials lack a required scope",
        AuthErrorKind::Forbidden => "access to this resource is not allowed",
        AuthErrorKind::LockedOut => "too many failed attempts; try again later",
        AuthErrorKind::RateLimited => "rate limit exceeded; try again later",
        AuthErrorKind::Unavailable => "the authentication service is unavailable",
    }
}

impl std::fmt::Debug for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.0.kind)
            .field(
                "challenge",
                &self.0.challenge.as_ref().map(Challenge::scheme),
            )
            .field("reason", &self.0.reason)
            .finish()
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0.detail, self.0.reason)
    }
}

impl std::error::Error for AuthError {}

/// What kind of configuration mistake was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A value is out of range or unsafe (a short secret, a bad realm).
    InvalidValue,
    /// A file could not be read or written.
    Io,
    /// A file could not be parsed.
    Parse,
}

/// A configuration mistake, found when a layer or store is built, never at
/// request time.
#[derive(Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    what: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    /// An invalid value; `what` names the setting (never its value).
    pub fn invalid(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: ConfigErrorKind::InvalidValue,
            what: what.into(),
            source: None,
        }
    }

    /// An I/O failure on `what` (a path).
    pub fn io(what: impl Into<Cow<'static, str>>, source: std::io::Error) -> Self {
        Self {
            kind: ConfigErrorKind::Io,
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A parse failure on `what`.
    pub fn parse(
        what: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind: ConfigErrorKind::Parse,
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The kind of mistake.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ConfigErrorKind::InvalidValue => write!(f, "invalid configuration: {}", self.what),
            ConfigErrorKind::Io => write!(f, "cannot access {}", self.what),
            ConfigErrorKind::Parse => write!(f, "cannot parse {}", self.what),
        }?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a store could not do what it was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached or failed (I/O, Redis down).
    Unavailable,
    /// The store is at its capacity and would have to drop an entry it must
    /// keep (a revocation) to take a new one.
    Full,
}

/// A state store could not answer (I/O, Redis down) or is full. Maps to a
/// 503 with `Retry-After`.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    what: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store failure; `what` says what failed (never a secret).
    pub fn new(
        what: impl Into<Cow<'static, str>>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind: StoreErrorKind::Unavailable,
            what: what.into(),
            source,
        }
    }

    /// A store at its capacity refusing a new entry.
    pub fn full(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: StoreErrorKind::Full,
            what: what.into(),
            source: None,
        }
    }

    /// Why it failed.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            StoreErrorKind::Unavailable => write!(f, "store unavailable: {}", self.what)?,
            StoreErrorKind::Full => write!(f, "store full: {}", self.what)?,
        }
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(target: "auth_core", error = %e, "store failure");
        let (reason, retry) = match e.kind {
            StoreErrorKind::Unavailable => ("store_unavailable", 1),
            // Space comes back as stored entries expire.
            StoreErrorKind::Full => ("store_full", 60),
        };
        AuthError::new(AuthErrorKind::Unavailable)
            .with_reason(reason)
            .with_retry_after(std::time::Duration::from_secs(retry))
    }
}
