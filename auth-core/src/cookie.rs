//! [`BearerCookie`]: bearer tokens from a cookie, for browser front-ends.
//!
//! Off by default. Turned on with
//! [`GuardBuilder::bearer_cookie`](crate::GuardBuilder::bearer_cookie), the
//! guard reads a bearer token (a JWT or an opaque token) from the named
//! cookie when the request carries no credential header at all: an
//! `Authorization` or `X-API-Key` header always wins, and the cookie is then
//! ignored.
//!
//! ```
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::cookie::BearerCookie;
//! use auth_core::{Guard, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let keys = ApiKeys::in_memory(Pepper::generate());
//! # let (key, _) = keys.issue(NewKey::new("acme", Environment::Live)).await.unwrap();
//! // `key` is a bearer credential: here an API key, a JWT works the same.
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
//!     .bearer_cookie(BearerCookie::new("at").allowed_origins(["https://app.example.com"]))
//!     .build()
//!     .unwrap();
//! let cookie = format!("theme=dark; at={}", key.expose());
//!
//! let get = SimpleRequest::get("/v1/reports").header("cookie", &cookie);
//! assert_eq!(guard.check(&get).await.unwrap().into_identity().unwrap().subject(), "acme");
//! let post = |origin: &str| {
//!     SimpleRequest::new("POST", "/v1/reports").header("cookie", &cookie).header("origin", origin)
//! };
//! assert!(guard.check(&post("https://app.example.com")).await.is_ok());
//!
//! // A page on another origin made the browser send it: refused.
//! let refused = guard.check(&post("https://evil.example")).await.unwrap_err();
//! assert_eq!(refused.status(), 403);
//! # });
//! ```
//!
//! # CSRF
//!
//! A browser attaches cookies to requests that other sites make it send
//! (cross-site request forgery), so a cookie credential authenticates
//! requests its owner never meant. Two defences, best used together:
//!
//! - **`SameSite`**, set where the cookie is issued: `SameSite=Strict` (or
//!   `Lax`, which still sends it on top-level `GET` navigations) keeps the
//!   browser from sending it on cross-site requests at all. Set `Secure`
//!   and `HttpOnly` too, so it only travels over TLS and scripts cannot read
//!   it. SameSite does not separate *sites* that share a registrable domain
//!   (`evil.example.com` is same-site with `app.example.com`).
//! - **An `Origin` check**, here: with
//!   [`allowed_origins`](BearerCookie::allowed_origins), a request that is
//!   authenticated by the cookie and whose method is not safe (anything but
//!   `GET`, `HEAD`, `OPTIONS`, `TRACE`) must carry an `Origin` header equal
//!   to one of the listed origins, or it is refused with 403. Browsers send
//!   `Origin` on every cross-origin request and on same-origin `POST`s, and
//!   a page cannot forge it. Safe methods must then not change anything.
//!
//! Requests with a header credential are not exposed: a browser never adds
//! an `Authorization` header on its own.
//!
//! A named cookie sent more than once is refused (400): two cookies of one
//! name are how a sibling subdomain plants its own token ("cookie tossing").

use crate::credentials::{Authorization, MAX_CREDENTIAL_LEN, is_b64token};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::rejection::Challenge;
use crate::request::RequestHead;
use crate::secret::SecretRef;

/// Where a bearer token may be read from besides the `Authorization`
/// header: one cookie (see the [module documentation](self) for CSRF).
///
/// ```
/// use auth_core::cookie::BearerCookie;
///
/// let cookie = BearerCookie::new("access_token")
///     .allowed_origins(["https://app.example.com"]);
/// assert_eq!(cookie.name(), "access_token");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerCookie {
    name: String,
    allowed_origins: Option<Vec<String>>,
}

impl BearerCookie {
    /// Reads the bearer token from the cookie `name` (compared exactly, as
    /// browsers do).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            allowed_origins: None,
        }
    }

    /// Requires an `Origin` header from this list (exact, e.g.
    /// `https://app.example.com`) on unsafe methods authenticated by the
    /// cookie. Without it, no `Origin` check is made.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the configuration: the name must be an RFC 6265 cookie-name
    /// (an RFC 9110 token).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if !token(&self.name) {
            return Err(ConfigError::invalid(
                "a bearer cookie's name must be a token (letters, digits, !#$%&'*+-.^_`|~)",
            ));
        }
        Ok(())
    }

    /// The bearer token from `head`'s cookies: `Ok(None)` when the cookie
    /// is absent, an `Authorization` with scheme `Bearer` when present once.
    ///
    /// Refuses a cookie sent twice (400 `invalid_request`), an empty,
    /// over-long or malformed token (401 `invalid_token`), and an unsafe
    /// method from an origin not allowed (403), in that order of checks.
    pub fn read<'a>(
        &self,
        head: &'a dyn RequestHead,
    ) -> Result<Option<Authorization<'a>>, AuthError> {
        let mut found: Option<&'a [u8]> = None;
        for field in head.header_values("cookie") {
            for pair in field.split(|b| *b == b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                    continue;
                };
                let (name, value) = pair.split_at(eq);
                if name.trim_ascii() != self.name.as_bytes() {
                    continue;
                }
                if found.is_some() {
                    return Err(AuthError::new(AuthErrorKind::InvalidRequest)
                        .with_challenge(Challenge::bearer_error("invalid_request"))
                        .with_reason("repeated_cookie")
                        .with_detail("the credential cookie was sent more than once"));
                }
                found = Some(value.get(1..).unwrap_or_default().trim_ascii());
            }
        }
        let Some(mut token) = found else {
            return Ok(None);
        };
        // RFC 6265 §4.1.1: a cookie-value may be in double quotes.
        if let [b'"', inner @ .., b'"'] = token {
            token = inner;
        }
        if token.len() > MAX_CREDENTIAL_LEN || !is_b64token(token) {
            return Err(AuthError::new(AuthErrorKind::InvalidCredentials)
                .with_challenge(Challenge::bearer_error("invalid_token"))
                .with_reason("malformed_cookie_token")
                .with_detail("the bearer token is malformed"));
        }
        if let Some(allowed) = &self.allowed_origins
            && !is_safe_method(head.method())
        {
            let origin = head.header_values("origin");
            let ok =
                matches!(origin.as_slice(), [one] if allowed.iter().any(|a| a.as_bytes() == *one));
            if !ok {
                return Err(AuthError::new(AuthErrorKind::Forbidden)
                    .with_reason("cookie_origin_not_allowed")
                    .with_detail(
                        "a request authenticated by cookie must come from an allowed origin",
                    ));
            }
        }
        Ok(Some(Authorization::from_bearer(SecretRef::new(token))))
    }
}

/// RFC 9110 §9.2.1 safe methods.
fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::SimpleRequest;

    fn read(cookie: &BearerCookie, req: &SimpleRequest) -> Result<Option<Vec<u8>>, AuthError> {
        cookie
            .read(req)
            .map(|a| a.map(|a| a.value().expose().to_vec()))
    }

    #[test]
    fn the_named_cookie_is_read_among_others() {
        let c = BearerCookie::new("at");
        let req = SimpleRequest::get("/").header("cookie", "theme=dark; at=abc.def-_~+/=; x=1");
        assert_eq!(read(&c, &req).ok(), Some(Some(b"abc.def-_~+/=".to_vec())));
        // Split over two fields, as HTTP/2 may send them; quoted.
        let req = SimpleRequest::get("/")
            .header("cookie", "theme=dark")
            .header("cookie", "at=\"tok\"");
        assert_eq!(read(&c, &req).ok(), Some(Some(b"tok".to_vec())));
        // Names are exact: not a prefix, not case-insensitive.
        for other in ["att=tok", "AT=tok", "a=tok", "at", "xat=tok"] {
            let req = SimpleRequest::get("/").header("cookie", other);
            assert_eq!(read(&c, &req).ok(), Some(None), "{other}");
        }
        assert_eq!(read(&c, &SimpleRequest::get("/")).ok(), Some(None));
    }

    #[test]
    fn a_repeated_cookie_is_refused() {
        let c = BearerCookie::new("at");
        for req in [
            SimpleRequest::get("/").header("cookie", "at=one; at=two"),
            SimpleRequest::get("/")
                .header("cookie", "at=one")
                .header("cookie", "at=one"),
        ] {
            let err = read(&c, &req).unwrap_err();
            assert_eq!(err.kind(), AuthErrorKind::InvalidRequest);
            assert_eq!(err.reason(), "repeated_cookie");
        }
    }

    #[test]
    fn malformed_empty_and_long_tokens_are_invalid_tokens() {
        let c = BearerCookie::new("at");
        let long = format!("at={}", "a".repeat(MAX_CREDENTIAL_LEN + 1));
        let limit = format!("at={}", "a".repeat(MAX_CREDENTIAL_LEN));
        for bad in ["at=", "at=\"\"", "at=a b", "at=é", "at=a,b", long.as_str()] {
            let req = SimpleRequest::get("/").header("cookie", bad);
            let err = read(&c, &req).unwrap_err();
            assert_eq!(err.kind(), AuthErrorKind::InvalidCredentials, "{bad}");
            assert_eq!(
                err.challenge()
                    .and_then(|ch| ch.params().find(|(k, _)| *k == "error")),
                Some(("error", "invalid_token"))
            );
        }
        let req = SimpleRequest::get("/").header("cookie", limit.as_str());
        assert!(read(&c, &req).is_ok_and(|t| t.is_some()));
    }

    #[test]
    fn unsafe_methods_need_an_allowed_origin() {
        let c = BearerCookie::new("at").allowed_origins(["https://app.example"]);
        let post = |origin: Option<&str>| {
            let mut req = SimpleRequest::new("POST", "/").header("cookie", "at=tok");
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            req
        };
        assert!(read(&c, &post(Some("https://app.example"))).is_ok_and(|t| t.is_some()));
        for origin in [
            None,
            Some("https://evil.example"),
            Some("https://app.example.evil"),
            Some("null"),
            Some("http://app.example"),
        ] {
            let err = read(&c, &post(origin)).unwrap_err();
            assert_eq!(err.kind(), AuthErrorKind::Forbidden, "{origin:?}");
        }
        // Two Origin headers are not one allowed origin.
        let twice = post(Some("https://app.example")).header("origin", "https://app.example");
        assert!(read(&c, &twice).is_err());
        // Safe methods need none.
        for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            let req = SimpleRequest::new(method, "/").header("cookie", "at=tok");
            assert!(read(&c, &req).is_ok_and(|t| t.is_some()), "{method}");
        }
        // Without a cookie there is nothing to check.
        let req = SimpleRequest::new("POST", "/");
        assert!(read(&c, &req).is_ok_and(|t| t.is_none()));
        // Without a list, no check.
        let open = BearerCookie::new("at");
        assert!(read(&open, &post(None)).is_ok_and(|t| t.is_some()));
    }

    #[test]
    fn names_must_be_tokens() {
        assert!(BearerCookie::new("access_token").validate().is_ok());
        for bad in ["", "a b", "a;b", "a=b", "é", "a\"b"] {
            assert!(BearerCookie::new(bad).validate().is_err(), "{bad:?}");
        }
    }
}
