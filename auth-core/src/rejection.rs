//! The one mapping from an [`AuthError`] to the wire: status,
//! `WWW-Authenticate` challenges (RFC 9110 §11) and an RFC 9457 problem body.
//!
//! Both adapters render a [`Rejection`] as it is; neither invents its own.
//! A [`Challenge`] is data (a scheme and its parameters) that authenticators
//! provide, so a new method brings its own challenge without touching this
//! module.
//!
//! ```
//! use auth_core::{AuthError, AuthErrorKind, Challenge, Rejection};
//!
//! let offered = [
//!     Challenge::bearer(),
//!     Challenge::new("Basic").with_param("charset", "UTF-8"),
//! ];
//! let missing = AuthError::new(AuthErrorKind::MissingCredentials);
//! let r = Rejection::from_error(&missing, "demo", &offered);
//! assert_eq!(r.status(), 401);
//! assert_eq!(
//!     r.header_values("www-authenticate").collect::<Vec<_>>(),
//!     ["Bearer realm=\"demo\"", "Basic realm=\"demo\", charset=\"UTF-8\""],
//! );
//!
//! // A refusal carries the challenge of the method that refused it.
//! let bad = AuthError::new(AuthErrorKind::InvalidCredentials)
//!     .with_challenge(Challenge::bearer_error("invalid_token"));
//! let r = Rejection::from_error(&bad, "demo", &offered);
//! assert_eq!(
//!     r.header_values("www-authenticate").collect::<Vec<_>>(),
//!     ["Bearer realm=\"demo\", error=\"invalid_token\""],
//! );
//! ```
//!
//! # What each refusal answers
//!
//! | kind | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no credential, or one only accepted over TLS | 401 | every challenge offered where the request arrived, without `error` |
//! | malformed request (two credentials, a credential in the query) | 400 | the error's challenge (`Bearer …, error="invalid_request"`) |
//! | invalid, expired or revoked credential | 401 | the challenge of the method that refused it; if it names none, the offered ones |
//! | missing scope | 403 | the error's challenge plus `error="insufficient_scope"` and `scope` |
//! | forbidden, locked out, rate limited, unavailable | 403, 429, 503 | none |
//!
//! A refused TLS client certificate has no HTTP authentication scheme to
//! name: its authenticator attaches no challenge, so the 401 lists the
//! header schemes the route also accepts, or carries no `WWW-Authenticate`
//! field when the route accepts certificates only (the client can only try
//! again on a new connection with another certificate).

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

use crate::error::{AuthError, AuthErrorKind};
use crate::request::RequestHead;

/// The header that carries API keys outside `Authorization`.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// A `WWW-Authenticate` challenge (RFC 9110 §11.3): a scheme and its
/// auth-params, as data. The realm is added when it is rendered, first.
///
/// ```
/// use auth_core::Challenge;
///
/// let c = Challenge::new("ApiKey").with_param("header", "X-API-Key");
/// assert_eq!(c.scheme(), "ApiKey");
/// assert_eq!(c.render("demo", &[]), "ApiKey realm=\"demo\", header=\"X-API-Key\"");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Challenge {
    scheme: Cow<'static, str>,
    params: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl Challenge {
    /// A challenge for `scheme` (an RFC 9110 token, e.g. `Bearer`).
    pub fn new(scheme: impl Into<Cow<'static, str>>) -> Self {
        Self {
            scheme: scheme.into(),
            params: Vec::new(),
        }
    }

    /// `Bearer` (RFC 6750), the scheme of tokens and API keys in `Authorization`.
    pub fn bearer() -> Self {
        Self::new("Bearer")
    }

    /// `Bearer` with an RFC 6750 §3.1 `error` code (`invalid_request`,
    /// `invalid_token`).
    pub fn bearer_error(code: &'static str) -> Self {
        Self::bearer().with_param("error", code)
    }

    /// Adds an auth-param; its value is sent as a quoted string.
    pub fn with_param(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The scheme.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The auth-params, in order (without the realm).
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Renders the challenge: `scheme realm="…"`, its own params, then
    /// `extra` (values quoted and escaped).
    pub fn render(&self, realm: &str, extra: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(64);
        out.push_str(&self.scheme);
        out.push_str(" realm=");
        push_quoted(&mut out, realm);
        let own = self.params.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
        for (name, value) in own.chain(extra.iter().copied()) {
            out.push_str(", ");
            out.push_str(name);
            out.push('=');
            push_quoted(&mut out, value);
        }
        out
    }

    /// Whether the scheme and every param name are RFC 9110 tokens and
    /// every value is visible ASCII or space, so the challenge can be sent.
    pub fn is_valid(&self) -> bool {
        is_token(&self.scheme)
            && self
                .params
                .iter()
                .all(|(n, v)| is_token(n) && valid_param_value(v))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_param_value(v: &str) -> bool {
    v.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// A refusal, ready for an adapter to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    kind: AuthErrorKind,
    status: u16,
    detail: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Rejection {
    /// Maps `err` to its status, challenges and problem body. `offered` are
    /// the schemes enabled where the request arrived; they answer a request
    /// that presented no (usable) credential.
    pub fn from_error(err: &AuthError, realm: &str, offered: &[Challenge]) -> Self {
        let kind = err.kind();
        let offered_once = || {
            let mut seen: Vec<&Challenge> = Vec::with_capacity(offered.len());
            for c in offered {
                if !seen.contains(&c) {
                    seen.push(c);
                }
            }
            seen
        };
        let own = || err.challenge().into_iter().collect::<Vec<_>>();
        let mut extra = Vec::new();
        let chosen = match kind {
            AuthErrorKind::MissingCredentials | AuthErrorKind::InsecureTransport => offered_once(),
            AuthErrorKind::InsufficientScope => {
                extra.push(("error", "insufficient_scope"));
                if let Some(scope) = err.required_scope() {
                    extra.push(("scope", scope));
                }
                own()
            }
            AuthErrorKind::InvalidCredentials
            | AuthErrorKind::ExpiredCredentials
            | AuthErrorKind::RevokedCredentials => match err.challenge() {
                Some(c) => vec![c],
                // RFC 9110 §11.6.1: a 401 names what would be accepted.
                None => offered_once(),
            },
            AuthErrorKind::InvalidRequest
            | AuthErrorKind::Forbidden
            | AuthErrorKind::LockedOut
            | AuthErrorKind::RateLimited
            | AuthErrorKind::Unavailable => own(),
        };
        // An extra param (a required scope) that cannot be sent is dropped.
        extra.retain(|(_, v)| valid_param_value(v));
        // A realm that cannot be sent (a guard checks its own at build;
        // this function is public) leaves every challenge out, checked once.
        let realm_ok = valid_realm(realm);
        let mut headers = Vec::with_capacity(chosen.len() + 3);
        for c in chosen {
            // A challenge a method built that cannot be sent as a header
            // field is left out rather than sent broken.
            if realm_ok && c.is_valid() {
                headers.push(("www-authenticate", c.render(realm, &extra)));
            } else {
                tracing::warn!(target: "auth_core", scheme = c.scheme(), "a challenge that cannot be sent was left out");
            }
        }
        // Every 503 says when to come back (1 s unless the error says).
        let retry_after = err
            .retry_after()
            .or_else(|| (kind == AuthErrorKind::Unavailable).then_some(Duration::from_secs(1)));
        if let Some(after) = retry_after {
            headers.push(("retry-after", retry_after_secs(after).to_string()));
        }
        headers.push(("content-type", "application/problem+json".to_owned()));
        headers.push(("cache-control", "no-store".to_owned()));
        let status = kind.status();
        let problem = Problem {
            kind: problem_type(kind),
            title: title(kind),
            status,
            detail: err.detail(),
        };
        // Serialising a struct of strings and an integer cannot fail.
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        Self {
            kind,
            status,
            detail: err.detail(),
            headers,
            body,
        }
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The problem's short, fixed title (e.g. `Authentication required`).
    pub fn title(&self) -> &'static str {
        title(self.kind)
    }

    /// The problem's fixed explanation; it never contains request content.
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// The problem type URI (e.g. `urn:auth-stack:problem:missing-credentials`).
    pub fn problem_type(&self) -> &'static str {
        problem_type(self.kind)
    }

    /// The same refusal with its body and `Content-Type` replaced; the
    /// status, challenges, `Cache-Control` and `Retry-After` stay. A
    /// content type that cannot be sent as a header value (control
    /// characters, non-ASCII) leaves the rejection unchanged.
    ///
    /// ```
    /// use auth_core::{AuthError, AuthErrorKind, Rejection};
    ///
    /// let missing = AuthError::new(AuthErrorKind::MissingCredentials);
    /// let problem = Rejection::from_error(&missing, "api", &[]);
    /// let page = problem
    ///     .clone()
    ///     .with_body("text/html; charset=utf-8", b"<h1>Please sign in</h1>".to_vec());
    /// assert_eq!(page.status(), 401);
    /// assert_eq!(page.header_values("content-type").collect::<Vec<_>>(), ["text/html; charset=utf-8"]);
    /// assert_eq!(page.header_values("cache-control").collect::<Vec<_>>(), ["no-store"]);
    /// assert_eq!(page.body(), b"<h1>Please sign in</h1>");
    /// ```
    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        if content_type.is_empty() || !valid_param_value(content_type) {
            tracing::warn!(target: "auth_core", "a rendered rejection's content type cannot be sent; the problem body was kept");
            return self;
        }
        for (name, value) in &mut self.headers {
            if *name == "content-type" {
                content_type.clone_into(value);
            }
        }
        self.body = body;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header, in order; names are lower-case. A name may repeat
    /// (`www-authenticate` carries one challenge per field).
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The values of one header.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a header (e.g. rate-limit fields).
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body: the `application/problem+json` document, unless a
    /// [`RenderRejection`] or [`with_body`](Self::with_body) replaced it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A refusal's body in the application's own format, from a
/// [`RenderRejection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The `Content-Type` of `body` (visible ASCII and spaces).
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// Renders refusals in the application's own format: an HTML page for
/// browsers, or an API's own error shape. Set on a guard with
/// [`GuardBuilder::render_rejections`](crate::GuardBuilder::render_rejections);
/// both adapters then send what it renders.
///
/// It chooses only the body and its content type. The status, the
/// `WWW-Authenticate` challenges, `Cache-Control: no-store` and
/// `Retry-After` are the guard's and are kept whatever it returns. `None`
/// keeps the RFC 9457 problem body. gRPC requests are answered with gRPC
/// statuses by `auth-tower` and are not rendered.
///
/// A closure `Fn(&Rejection, &dyn RequestHead) -> Option<Rendered>` is one.
///
/// ```
/// use auth_core::{Guard, RequestHead, Rejection, Rendered};
/// # use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
/// # let authn = ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate()));
///
/// let guard = Guard::builder(authn)
///     .render_rejections(|r: &Rejection, head: &dyn RequestHead| {
///         let accept = head.header_values("accept");
///         let wants_html = accept.iter().any(|v| v.windows(9).any(|w| w == b"text/html"));
///         wants_html.then(|| Rendered {
///             content_type: "text/html; charset=utf-8".to_owned(),
///             body: format!("<h1>{}</h1><p>{}</p>", r.title(), r.detail()).into_bytes(),
///         })
///     })
///     .build()
///     .unwrap();
/// ```
pub trait RenderRejection: Send + Sync + 'static {
    /// The body for `rejection` of a request with `head`, or `None` for the
    /// problem body.
    fn render(&self, rejection: &Rejection, head: &dyn RequestHead) -> Option<Rendered>;
}

impl<F> RenderRejection for F
where
    F: Fn(&Rejection, &dyn RequestHead) -> Option<Rendered> + Send + Sync + 'static,
{
    fn render(&self, rejection: &Rejection, head: &dyn RequestHead) -> Option<Rendered> {
        self(rejection, head)
    }
}

/// Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3, RFC 6585).
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// Appends `value` as an RFC 9110 quoted-string, escaping `"` and `\`.
pub fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Whether `realm` can be sent in a challenge: printable, no control characters.
/// A realm is sent as a quoted string in every challenge: visible ASCII
/// and spaces only, so that no header value is ever refused by the HTTP
/// stack (a non-ASCII byte made actix-web answer 500).
pub(crate) fn valid_realm(realm: &str) -> bool {
    !realm.is_empty() && valid_param_value(realm)
}

fn problem_type(kind: AuthErrorKind) -> &'static str {
    match kind {
        AuthErrorKind::MissingCredentials => "urn:auth-stack:problem:missing-credentials",
        AuthErrorKind::InvalidRequest => "urn:auth-stack:problem:invalid-request",
        AuthErrorKind::InvalidCredentials => "urn:auth-stack:problem:invalid-credentials",
        AuthErrorKind::ExpiredCredentials => "urn:auth-stack:problem:expired-credentials",
        AuthErrorKind::RevokedCredentials => "urn:auth-stack:problem:revoked-credentials",
        AuthErrorKind::InsecureTransport => "urn:auth-stack:problem:tls-required",
        AuthErrorKind::InsufficientScope => "urn:auth-stack:problem:insufficient-scope",
        AuthErrorKind::Forbidden => "urn:auth-stack:problem:forbidden",
        AuthErrorKind::LockedOut => "urn:auth-stack:problem:locked-out",
        AuthErrorKind::RateLimited => "urn:auth-stack:problem:rate-limited",
        AuthErrorKind::Unavailable => "urn:auth-stack:problem:unavailable",
    }
}

fn title(kind: AuthErrorKind) -> &'static str {
    match kind {
        AuthErrorKind::MissingCredentials => "Authentication required",
        AuthErrorKind::InvalidRequest => "Invalid request",
        AuthErrorKind::InvalidCredentials => "Invalid credentials",
        AuthErrorKind::ExpiredCredentials => "Expired credentials",
        AuthErrorKind::RevokedCredentials => "Revoked credentials",
        AuthErrorKind::InsecureTransport => "TLS required",
        AuthErrorKind::InsufficientScope => "Insufficient scope",
        AuthErrorKind::Forbidden => "Forbidden",
        AuthErrorKind::LockedOut => "Too many failed attempts",
        AuthErrorKind::RateLimited => "Too many requests",
        AuthErrorKind::Unavailable => "Service unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn www(r: &Rejection) -> Vec<&str> {
        r.header_values("www-authenticate").collect()
    }

    fn basic() -> Challenge {
        Challenge::new("Basic").with_param("charset", "UTF-8")
    }

    #[test]
    fn with_body_keeps_the_guards_headers_and_refuses_unsendable_types() {
        let err =
            AuthError::new(AuthErrorKind::Unavailable).with_retry_after(Duration::from_secs(7));
        let r = Rejection::from_error(&err, "r", &[]);
        assert_eq!(r.kind(), AuthErrorKind::Unavailable);
        assert_eq!(r.title(), "Service unavailable");
        assert_eq!(r.problem_type(), "urn:auth-stack:problem:unavailable");
        assert_eq!(r.detail(), err.detail());
        assert_eq!(r.detail(), "the authentication service is unavailable");
        let page = r.clone().with_body("text/html", b"<p>later</p>".to_vec());
        assert_eq!(page.status(), 503);
        assert_eq!(page.header_values("retry-after").collect::<Vec<_>>(), ["7"]);
        assert_eq!(
            page.header_values("cache-control").collect::<Vec<_>>(),
            ["no-store"]
        );
        assert_eq!(
            page.header_values("content-type").collect::<Vec<_>>(),
            ["text/html"]
        );
        assert_eq!(page.body(), b"<p>later</p>");
        for bad in ["", "text/html\r\nx: y", "text/hé"] {
            assert_eq!(r.clone().with_body(bad, b"x".to_vec()), r, "{bad:?}");
        }
    }

    #[test]
    fn quoting_escapes_quote_and_backslash() {
        let mut s = String::new();
        push_quoted(&mut s, r#"a"b\c"#);
        assert_eq!(s, r#""a\"b\\c""#);
        let e = AuthError::new(AuthErrorKind::MissingCredentials);
        let r = Rejection::from_error(&e, r#"my "realm""#, &[Challenge::bearer()]);
        assert_eq!(www(&r), [r#"Bearer realm="my \"realm\"""#]);
        let c = Challenge::new("Toy").with_param("hint", r#"say "hi""#);
        assert_eq!(c.render("r", &[]), r#"Toy realm="r", hint="say \"hi\"""#);
    }

    #[test]
    fn challenge_validity() {
        assert!(Challenge::bearer_error("invalid_token").is_valid());
        assert!(basic().is_valid());
        assert!(!Challenge::new("").is_valid());
        assert!(!Challenge::new("Two words").is_valid());
        assert!(!Challenge::new("Toy").with_param("a b", "v").is_valid());
        assert!(
            !Challenge::new("Toy")
                .with_param("a", "line\nbreak")
                .is_valid()
        );
        assert!(
            !Challenge::new("Toy")
                .with_param("a", "caf\u{e9}")
                .is_valid()
        );
        let c = Challenge::new("Toy")
            .with_param("a", "1")
            .with_param("b", "2");
        assert_eq!(c.params().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(c.scheme(), "Toy");
        assert_eq!(Challenge::bearer().scheme(), "Bearer");
    }

    #[test]
    fn statuses_and_challenges() {
        let offered = [Challenge::bearer(), basic(), Challenge::bearer()];
        let api_key = Challenge::new("ApiKey").with_param("header", "X-API-Key");
        let new = AuthError::new;
        let cases: Vec<(AuthError, u16, Vec<&str>)> = vec![
            (
                new(AuthErrorKind::MissingCredentials),
                401,
                vec!["Bearer realm=\"r\"", "Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                // Even if a method named its own: a missing credential is
                // answered with every challenge offered.
                new(AuthErrorKind::InsecureTransport).with_challenge(api_key.clone()),
                401,
                vec!["Bearer realm=\"r\"", "Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                new(AuthErrorKind::InvalidRequest)
                    .with_challenge(Challenge::bearer_error("invalid_request")),
                400,
                vec!["Bearer realm=\"r\", error=\"invalid_request\""],
            ),
            (
                new(AuthErrorKind::RevokedCredentials)
                    .with_challenge(Challenge::bearer_error("invalid_token")),
                401,
                vec!["Bearer realm=\"r\", error=\"invalid_token\""],
            ),
            (
                new(AuthErrorKind::ExpiredCredentials).with_challenge(api_key.clone()),
                401,
                vec!["ApiKey realm=\"r\", header=\"X-API-Key\""],
            ),
            (
                new(AuthErrorKind::InvalidCredentials).with_challenge(basic()),
                401,
                vec!["Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                // A refusal without a challenge of its own (a client
                // certificate): what the route offers.
                new(AuthErrorKind::InvalidCredentials),
                401,
                vec!["Bearer realm=\"r\"", "Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                AuthError::insufficient_scope(["admin", "reports:write"])
                    .with_challenge(Challenge::bearer()),
                403,
                vec![
                    "Bearer realm=\"r\", error=\"insufficient_scope\", scope=\"admin reports:write\"",
                ],
            ),
            (AuthError::insufficient_scope(["admin"]), 403, vec![]),
            (new(AuthErrorKind::Forbidden), 403, vec![]),
            (
                new(AuthErrorKind::LockedOut).with_retry_after(Duration::from_millis(1500)),
                429,
                vec![],
            ),
            (new(AuthErrorKind::RateLimited), 429, vec![]),
            (new(AuthErrorKind::Unavailable), 503, vec![]),
        ];
        for (err, status, challenges) in cases {
            let r = Rejection::from_error(&err, "r", &offered);
            assert_eq!(r.status(), status, "{err:?}");
            assert_eq!(www(&r), challenges, "{err:?}");
            let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(body["status"], status);
            assert!(
                body["type"]
                    .as_str()
                    .unwrap()
                    .starts_with("urn:auth-stack:problem:")
            );
            assert!(!body["title"].as_str().unwrap().is_empty());
            assert!(!body["detail"].as_str().unwrap().is_empty());
            assert_eq!(
                r.header_values("content-type").collect::<Vec<_>>(),
                ["application/problem+json"]
            );
        }
        // Every header, in order, and the body's exact text.
        let r = Rejection::from_error(
            &new(AuthErrorKind::LockedOut).with_retry_after(Duration::from_secs(2)),
            "r",
            &offered,
        );
        assert_eq!(
            r.headers(),
            [
                ("retry-after", "2".to_owned()),
                ("content-type", "application/problem+json".to_owned()),
                ("cache-control", "no-store".to_owned()),
            ]
        );
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["title"], "Too many failed attempts");
        assert_eq!(body["type"], "urn:auth-stack:problem:locked-out");
        // A challenge that cannot be sent is left out, the others stay.
        let broken = Challenge::new("Toy").with_param("hint", "a\r\nSet-Cookie: x=1");
        let r = Rejection::from_error(
            &new(AuthErrorKind::MissingCredentials),
            "r",
            &[broken.clone(), Challenge::bearer()],
        );
        assert_eq!(www(&r), ["Bearer realm=\"r\""]);
        let r = Rejection::from_error(
            &new(AuthErrorKind::InvalidCredentials).with_challenge(broken),
            "r",
            &[],
        );
        assert!(www(&r).is_empty());
        // A route that offers nothing (certificates only): no challenge.
        let r = Rejection::from_error(&new(AuthErrorKind::InvalidCredentials), "r", &[]);
        assert!(www(&r).is_empty());
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
        let r = Rejection::from_error(
            &AuthError::new(AuthErrorKind::LockedOut).with_retry_after(Duration::from_millis(2500)),
            "r",
            &[],
        );
        assert_eq!(r.header_values("retry-after").collect::<Vec<_>>(), ["3"]);
    }

    #[test]
    fn every_503_carries_retry_after() {
        let retry = |e: &AuthError| {
            let r = Rejection::from_error(e, "r", &[]);
            assert_eq!(r.status(), 503);
            r.header_values("retry-after").collect::<Vec<_>>().join(",")
        };
        assert_eq!(retry(&AuthError::new(AuthErrorKind::Unavailable)), "1");
        let own =
            AuthError::new(AuthErrorKind::Unavailable).with_retry_after(Duration::from_secs(7));
        assert_eq!(retry(&own), "7");
        let down = AuthError::from(crate::StoreError::new("redis", None));
        assert_eq!(down.reason(), "store_unavailable");
        assert_eq!(retry(&down), "1");
        let full = AuthError::from(crate::StoreError::full("revocations"));
        assert_eq!(full.reason(), "store_full");
        assert_eq!(retry(&full), "60");
        // Other refusals get none unless they say.
        let r = Rejection::from_error(&AuthError::new(AuthErrorKind::RateLimited), "r", &[]);
        assert_eq!(r.header_values("retry-after").count(), 0);
    }
}
