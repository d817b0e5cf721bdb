//! The one mapping from an [`AuthError`] to the wire: status,
//! `WWW-Authenticate` challenges (RFC 9110 §11) and an RFC 9457 problem body.
//!
//! Both adapters render a [`Rejection`] as it is; neither invents its own.
//!
//! ```
//! use auth_core::{AuthError, AuthErrorKind, Challenge, Rejection, Scheme};
//!
//! let offered = [Challenge::Bearer, Challenge::Basic];
//! let missing = AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None);
//! let r = Rejection::from_error(&missing, "demo", &offered);
//! assert_eq!(r.status(), 401);
//! assert_eq!(
//!     r.header_values("www-authenticate").collect::<Vec<_>>(),
//!     ["Bearer realm=\"demo\"", "Basic realm=\"demo\", charset=\"UTF-8\""],
//! );
//!
//! let bad = AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::Bearer);
//! let r = Rejection::from_error(&bad, "demo", &offered);
//! assert_eq!(
//!     r.header_values("www-authenticate").collect::<Vec<_>>(),
//!     ["Bearer realm=\"demo\", error=\"invalid_token\""],
//! );
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::error::{AuthError, AuthErrorKind, Scheme};

/// The header that carries API keys outside `Authorization`.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// A scheme an authenticator offers in a `WWW-Authenticate` challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Challenge {
    /// `Bearer realm="…"` (RFC 6750).
    Bearer,
    /// `Basic realm="…", charset="UTF-8"` (RFC 7617).
    Basic,
    /// `ApiKey realm="…", header="X-API-Key"`.
    ApiKey,
}

/// A refusal, ready for an adapter to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
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
        let mut headers = Vec::with_capacity(4);
        let mut challenge = |value: String| headers.push(("www-authenticate", value));
        match kind {
            AuthErrorKind::MissingCredentials | AuthErrorKind::InsecureTransport => {
                let mut seen = Vec::with_capacity(offered.len());
                for c in offered {
                    if !seen.contains(c) {
                        seen.push(*c);
                        challenge(render_challenge(*c, realm, &[]));
                    }
                }
            }
            AuthErrorKind::InvalidRequest => challenge(render_challenge(
                Challenge::Bearer,
                realm,
                &[("error", "invalid_request")],
            )),
            AuthErrorKind::InvalidCredentials
            | AuthErrorKind::ExpiredCredentials
            | AuthErrorKind::RevokedCredentials => match err.scheme() {
                Scheme::Basic => challenge(render_challenge(Challenge::Basic, realm, &[])),
                Scheme::ApiKeyHeader => challenge(render_challenge(Challenge::ApiKey, realm, &[])),
                Scheme::Bearer | Scheme::None => challenge(render_challenge(
                    Challenge::Bearer,
                    realm,
                    &[("error", "invalid_token")],
                )),
            },
            AuthErrorKind::InsufficientScope => {
                let mut params = vec![("error", "insufficient_scope")];
                if let Some(scope) = err.required_scope() {
                    params.push(("scope", scope));
                }
                challenge(render_challenge(Challenge::Bearer, realm, &params));
            }
            AuthErrorKind::Forbidden
            | AuthErrorKind::LockedOut
            | AuthErrorKind::RateLimited
            | AuthErrorKind::Unavailable => {}
        }
        if let Some(after) = err.retry_after() {
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
            status,
            headers,
            body,
        }
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

    /// The `application/problem+json` body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3, RFC 6585).
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

fn render_challenge(c: Challenge, realm: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(match c {
        Challenge::Bearer => "Bearer",
        Challenge::Basic => "Basic",
        Challenge::ApiKey => "ApiKey",
    });
    out.push_str(" realm=");
    push_quoted(&mut out, realm);
    match c {
        Challenge::Basic => out.push_str(", charset=\"UTF-8\""),
        Challenge::ApiKey => {
            out.push_str(", header=");
            push_quoted(&mut out, API_KEY_HEADER);
        }
        Challenge::Bearer => {}
    }
    for (name, value) in params {
        out.push_str(", ");
        out.push_str(name);
        out.push('=');
        push_quoted(&mut out, value);
    }
    out
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
pub(crate) fn valid_realm(realm: &str) -> bool {
    !realm.is_empty() && realm.chars().all(|c| !c.is_control())
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

    #[test]
    fn quoting_escapes_quote_and_backslash() {
        let mut s = String::new();
        push_quoted(&mut s, r#"a"b\c"#);
        assert_eq!(s, r#""a\"b\\c""#);
        let e = AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None);
        let r = Rejection::from_error(&e, r#"my "realm""#, &[Challenge::Bearer]);
        assert_eq!(www(&r), [r#"Bearer realm="my \"realm\"""#]);
    }

    #[test]
    fn statuses_and_challenges() {
        let offered = [Challenge::Bearer, Challenge::Basic, Challenge::Bearer];
        let cases: Vec<(AuthError, u16, Vec<&str>)> = vec![
            (
                AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None),
                401,
                vec!["Bearer realm=\"r\"", "Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                AuthError::new(AuthErrorKind::InvalidRequest, Scheme::Bearer),
                400,
                vec!["Bearer realm=\"r\", error=\"invalid_request\""],
            ),
            (
                AuthError::new(AuthErrorKind::RevokedCredentials, Scheme::Bearer),
                401,
                vec!["Bearer realm=\"r\", error=\"invalid_token\""],
            ),
            (
                AuthError::new(AuthErrorKind::ExpiredCredentials, Scheme::ApiKeyHeader),
                401,
                vec!["ApiKey realm=\"r\", header=\"X-API-Key\""],
            ),
            (
                AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::Basic),
                401,
                vec!["Basic realm=\"r\", charset=\"UTF-8\""],
            ),
            (
                AuthError::insufficient_scope(["admin", "reports:write"]),
                403,
                vec![
                    "Bearer realm=\"r\", error=\"insufficient_scope\", scope=\"admin reports:write\"",
                ],
            ),
            (
                AuthError::new(AuthErrorKind::Forbidden, Scheme::None),
                403,
                vec![],
            ),
            (
                AuthError::locked_out(Duration::from_millis(1500)),
                429,
                vec![],
            ),
            (
                AuthError::new(AuthErrorKind::Unavailable, Scheme::None),
                503,
                vec![],
            ),
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
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
        let r = Rejection::from_error(
            &AuthError::locked_out(Duration::from_millis(2500)),
            "r",
            &[],
        );
        assert_eq!(r.header_values("retry-after").collect::<Vec<_>>(), ["3"]);
    }
}
