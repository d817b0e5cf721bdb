//! Credentials for this service's own outgoing calls.
//!
//! A [`TokenSource`] says which credential header to send now, and hears
//! when the called server refused one ([`TokenSource::invalidate`]). Two
//! kinds are built:
//!
//! - [`ClientCredentials`]: OAuth 2.0 access tokens from a token endpoint
//!   by the client-credentials grant (RFC 6749 §4.4), fetched once and
//!   shared, refreshed in the background ahead of expiry (with jitter), one
//!   fetch in flight however many requests wait.
//! - [`StaticSource`]: a bearer token, an API key or a Basic password, read
//!   from the environment or a file ([`SecretFrom`]); a file that changes
//!   is read again, without a restart.
//!
//! auth-tower's `outbound::AddCredentialLayer` puts a source in front of a
//! Tower client (hyper-util's): it sets the header and, on a `401`,
//! invalidates what it sent and retries once with the fresh credential
//! when the request body can be sent again. For reqwest, see
//! [below](#with-reqwest).
//!
//! ```
//! use auth_core::outbound::{SecretFrom, StaticSource, TokenSource};
//! use auth_core::Secret;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let source = StaticSource::api_key("X-API-Key", SecretFrom::Value(Secret::from("sk_123")))?;
//! let sent = source.credential().await?;
//! assert_eq!(sent.name(), "x-api-key");
//! assert_eq!(sent.value().expose(), b"sk_123");
//! assert_eq!(format!("{sent:?}"), r#"CredentialHeader { name: "x-api-key", value: Secret([redacted]) }"#);
//!
//! // The server refused it: a static value has nothing newer to offer, so
//! // the same one comes back (and a caller does not retry with it).
//! source.invalidate(&sent).await;
//! assert_eq!(source.credential().await?, sent);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # With reqwest
//!
//! reqwest has no middleware of its own; a few lines around `send` do what
//! the Tower layer does. `RequestBuilder::try_clone` is `None` for a
//! streamed body, which is then never sent twice.
//!
//! ```no_run
//! use auth_core::outbound::{ClientCredentials, CredentialHeader, TokenSource};
//! use auth_core::Secret;
//! use reqwest::header::HeaderValue;
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! /// Sends `request` with the credential of `source`; on a 401, once
//! /// more with a fresh one, if the body can be sent again.
//! async fn send(
//!     source: &dyn TokenSource,
//!     request: reqwest::RequestBuilder,
//! ) -> Result<reqwest::Response, Error> {
//!     let again = request.try_clone();
//!     let sent = source.credential().await?;
//!     let res = with(request, &sent)?.send().await?;
//!     if res.status() != reqwest::StatusCode::UNAUTHORIZED {
//!         return Ok(res);
//!     }
//!     source.invalidate(&sent).await;
//!     let fresh = source.credential().await?;
//!     match again {
//!         Some(again) if fresh != sent => Ok(with(again, &fresh)?.send().await?),
//!         _ => Ok(res),
//!     }
//! }
//!
//! fn with(request: reqwest::RequestBuilder, c: &CredentialHeader) -> Result<reqwest::RequestBuilder, Error> {
//!     let mut value = HeaderValue::from_bytes(c.value().expose())?;
//!     value.set_sensitive(true);
//!     Ok(request.header(c.name(), value))
//! }
//!
//! # async fn run() -> Result<(), Error> {
//! let source = ClientCredentials::builder(
//!     "https://as.example.com/oauth/token",
//!     "reports-job",
//!     Secret::from("its client secret"),
//! )
//! .scope("reports:read")
//! .build()?;
//! let http = reqwest::Client::new();
//! let res = send(&source, http.get("https://api.example.com/reports")).await?;
//! # let _ = res; Ok(()) }
//! ```
//!
//! # Security considerations
//!
//! - Client secrets, tokens and keys are [`Secret`]s: `Debug` is redacted,
//!   and no error, log line or `Debug` output of this module contains one.
//! - The token endpoint must be `https` (plain `http` only to a loopback
//!   address, by `allow_plain_http_loopback`); redirects are followed only
//!   within its origin.
//! - A refused token is dropped at most once per cooldown (1 s), so a
//!   server that refuses every token (a wrong audience) costs one token
//!   fetch per cooldown, not one per request.

use std::borrow::Cow;
use std::sync::Arc;

use crate::authenticate::BoxFuture;
use crate::secret::Secret;

mod client_credentials;
mod static_source;

pub use client_credentials::{ClientCredentials, ClientCredentialsBuilder};
pub use static_source::{SecretFrom, StaticSource};

/// Where an outgoing request's credential comes from.
///
/// Implementations are shared by every request of a client: `credential`
/// is called once per request (and once more for a retry), so it should
/// answer from memory while what it holds is good.
pub trait TokenSource: Send + Sync + 'static {
    /// The credential to send now. It may wait for a fetch (only one is in
    /// flight at a time; concurrent callers share its outcome).
    fn credential(&self) -> BoxFuture<'_, Result<CredentialHeader, OutboundError>>;

    /// The called server refused `sent` (a `401`): forget it if it is still
    /// the current credential, so that the next
    /// [`credential`](Self::credential) is a fresh one. A credential that
    /// was already replaced is left alone, so many refusals of one stale
    /// credential cause a single refresh. A source with nothing fresher
    /// (a static value that has not changed) gives the same one again; a
    /// caller then does not retry.
    fn invalidate<'a>(&'a self, sent: &'a CredentialHeader) -> BoxFuture<'a, ()>;
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn credential(&self) -> BoxFuture<'_, Result<CredentialHeader, OutboundError>> {
        (**self).credential()
    }

    fn invalidate<'a>(&'a self, sent: &'a CredentialHeader) -> BoxFuture<'a, ()> {
        (**self).invalidate(sent)
    }
}

/// A request header that carries a credential: its (lowercase) name and
/// its value, a [`Secret`]. `Debug` shows the name only; equality is
/// constant-time on the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialHeader {
    name: Cow<'static, str>,
    value: Secret,
}

impl CredentialHeader {
    /// A header `name: value`. `None` if `name` is not a header name, or
    /// `value` is empty or has a byte a header value may not have (a
    /// control character, a line break). The name is kept in lowercase.
    pub fn new(name: impl Into<Cow<'static, str>>, value: Secret) -> Option<Self> {
        let mut name = name.into();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return None;
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name = Cow::Owned(name.to_ascii_lowercase());
        }
        let ok = !value.is_empty()
            && value
                .expose()
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        ok.then_some(Self { name, value })
    }

    /// `Authorization: Bearer <token>`. `None` if `token` is empty or has
    /// a byte other than visible ASCII.
    pub fn bearer(token: &Secret) -> Option<Self> {
        if !is_visible_ascii(token.expose()) {
            return None;
        }
        let mut value = Vec::with_capacity(7 + token.len());
        value.extend_from_slice(b"Bearer ");
        value.extend_from_slice(token.expose());
        Self::new("authorization", Secret::new(value))
    }

    /// The header name, in lowercase.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header value. Expose it only to put it on the request.
    pub fn value(&self) -> &Secret {
        &self.value
    }
}

/// RFC 9110 `tchar`: what a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Non-empty, and every byte visible ASCII (no space, no control).
fn is_visible_ascii(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// What went wrong while getting a credential, for callers to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutboundErrorKind {
    /// The token endpoint could not be reached (connection refused, DNS,
    /// TLS, a redirect to another origin, a connection cut mid-answer).
    Unreachable,
    /// No complete answer within the timeout.
    Timeout,
    /// The token endpoint answered with an HTTP error: `401` for our own
    /// client credentials (`invalid_client`), `400` for a refused scope or
    /// resource, `5xx` for its own failures. See
    /// [`OutboundError::oauth_error`].
    Refused {
        /// The HTTP status of the answer.
        status: u16,
    },
    /// The answer is not a usable token response: not a JSON object, no
    /// `access_token`, a token type other than `Bearer`, too large.
    BadResponse,
}

/// A credential could not be had. Opaque; match on [`kind`](Self::kind).
/// It never holds a secret or a token: its text is static or names the
/// endpoint.
#[derive(Clone)]
pub struct OutboundError(Box<ErrorInner>);

#[derive(Clone)]
struct ErrorInner {
    kind: OutboundErrorKind,
    what: Cow<'static, str>,
    oauth_error: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl OutboundError {
    /// An error of `kind`; `what` says what failed (never a secret). For
    /// token sources of one's own.
    pub fn new(kind: OutboundErrorKind, what: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(ErrorInner {
            kind,
            what: what.into(),
            oauth_error: None,
            source: None,
        }))
    }

    /// With the underlying error (which must not hold a secret either).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// With the RFC 6749 §5.2 `error` code of a refusal.
    pub(crate) fn with_oauth_error(mut self, code: String) -> Self {
        self.0.oauth_error = Some(code);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> OutboundErrorKind {
        self.0.kind
    }

    /// The RFC 6749 §5.2 `error` code the token endpoint refused with
    /// (`invalid_client`, `invalid_scope`, …), when it sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        self.0.oauth_error.as_deref()
    }
}

impl std::fmt::Debug for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundError")
            .field("kind", &self.0.kind)
            .field("what", &self.0.what)
            .field("oauth_error", &self.0.oauth_error)
            .field("source", &self.0.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.what)?;
        if let OutboundErrorKind::Refused { status } = self.0.kind {
            write!(f, ": HTTP {status}")?;
        }
        if let Some(code) = &self.0.oauth_error {
            write!(f, " ({code})")?;
        }
        if let Some(source) = &self.0.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OutboundError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_checked_and_redacted() {
        let h = CredentialHeader::new("X-Api-Key", Secret::from("k 1")).unwrap();
        assert_eq!(h.name(), "x-api-key");
        assert!(!format!("{h:?}").contains("k 1"));
        assert!(CredentialHeader::new("", Secret::from("k")).is_none());
        assert!(CredentialHeader::new("x key", Secret::from("k")).is_none());
        assert!(CredentialHeader::new("x-key", Secret::from("a\r\nb: c")).is_none());
        assert!(CredentialHeader::new("x-key", Secret::from("a\0")).is_none());
        assert!(CredentialHeader::new("x-key", Secret::from("")).is_none());

        let b = CredentialHeader::bearer(&Secret::from("abc.def-_~+/=")).unwrap();
        assert_eq!(
            (b.name(), b.value().expose()),
            ("authorization", &b"Bearer abc.def-_~+/="[..])
        );
        for bad in ["", "a b", "a\nb", "é"] {
            assert!(
                CredentialHeader::bearer(&Secret::from(bad)).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_show_kind_status_and_code() {
        let e = OutboundError::new(
            OutboundErrorKind::Refused { status: 401 },
            "the token endpoint refused the request",
        )
        .with_oauth_error("invalid_client".to_owned());
        assert_eq!(e.kind(), OutboundErrorKind::Refused { status: 401 });
        assert_eq!(e.oauth_error(), Some("invalid_client"));
        assert_eq!(
            e.to_string(),
            "the token endpoint refused the request: HTTP 401 (invalid_client)"
        );
        let io = std::io::Error::other("boom");
        let e = OutboundError::new(OutboundErrorKind::Unreachable, "x").with_source(io);
        assert_eq!(e.to_string(), "x: boom");
        assert!(std::error::Error::source(&e).is_some());
    }
}
