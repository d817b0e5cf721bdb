//! Parsing what a request presents: the one credential header it carries
//! (`Authorization`, RFC 9110 §11.6.2, schemes case-insensitive, or a header
//! an authenticator names, such as `X-API-Key`), and the query string
//! (refused).
//!
//! Parsing happens once per request, in [`Guard`](crate::Guard), over the
//! header names its authenticators declare; every authenticator then looks at
//! the same [`Credential`].
//!
//! ```
//! use auth_core::{AuthErrorKind, Credential, SimpleRequest};
//!
//! let names = ["authorization", "x-api-key"];
//! let req = SimpleRequest::get("/").header("authorization", "bEaReR abc.def");
//! let cred = Credential::from_head(&req, &names).unwrap();
//! assert_eq!(cred.bearer().unwrap().expose(), b"abc.def");
//!
//! let req = SimpleRequest::get("/").header("x-api-key", " k1 ");
//! let cred = Credential::from_head(&req, &names).unwrap();
//! assert_eq!(cred.header("x-api-key").unwrap().expose(), b"k1");
//!
//! // Two credentials at once is a malformed request (RFC 6750 §2).
//! let req = SimpleRequest::get("/")
//!     .header("authorization", "Bearer abc")
//!     .header("x-api-key", "abc");
//! let err = Credential::from_head(&req, &names).unwrap_err();
//! assert_eq!(err.kind(), AuthErrorKind::InvalidRequest);
//!
//! // Tokens in URLs leak into logs and Referer headers.
//! let req = SimpleRequest::get("/?api_key=abc");
//! assert_eq!(Credential::from_head(&req, &names).unwrap_err().status(), 400);
//! ```

use crate::error::{AuthError, AuthErrorKind};
use crate::rejection::Challenge;
use crate::request::{HeaderOnce, RequestHead};
use crate::secret::SecretRef;

/// Query parameters that would carry a credential; their presence is refused.
pub const QUERY_CREDENTIAL_PARAMS: &[&str] = &["api_key", "access_token", "key"];

/// The `Authorization` header's name, always a credential header.
pub const AUTHORIZATION: &str = "authorization";

/// The credential a request presents in its headers, borrowed from them
/// (the request owns the bytes; nothing is copied on the request path).
/// A request presents at most one: two credential headers are refused.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Credential<'a> {
    /// No credential header.
    None,
    /// `Authorization: <scheme> <value>`.
    Authorization(Authorization<'a>),
    /// Another credential header an authenticator named (e.g. `x-api-key`),
    /// its value trimmed of surrounding whitespace.
    Header {
        /// The header's name, lower-case, as the authenticator declared it.
        name: &'a str,
        /// The value.
        value: SecretRef<'a>,
    },
}

/// A parsed `Authorization` header: its scheme and what follows it.
#[derive(Clone, Copy, Debug)]
pub struct Authorization<'a> {
    scheme: &'a str,
    value: SecretRef<'a>,
}

impl<'a> Authorization<'a> {
    /// `Bearer <value>`, from a source other than the header (a cookie).
    pub(crate) fn from_bearer(value: SecretRef<'a>) -> Self {
        Self {
            scheme: "Bearer",
            value,
        }
    }

    /// The scheme, as sent (an RFC 9110 token).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// Whether the scheme is `scheme`, compared case-insensitively.
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// What follows the scheme (a token, or auth-params), untrimmed inside.
    pub fn value(&self) -> SecretRef<'a> {
        self.value
    }
}

/// The longest credential header value any method is shown, in bytes
/// (16 KiB). Each method has its own, lower cap (a JWT's
/// `max_token_len`, 8 KiB by default; a Basic user-id and password; an API
/// key's fixed length).
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;

impl<'a> Credential<'a> {
    /// Parses the credential of `head`, looking at `names` (lower-case
    /// header names; `authorization` is always looked at).
    ///
    /// Refuses with `InvalidRequest` (400) a credential in the query string,
    /// a credential header sent twice, or two credential headers at once;
    /// refuses with `InvalidCredentials` (401) a credential longer than
    /// [`MAX_CREDENTIAL_LEN`];
    /// refuses with `InvalidCredentials` (401) a bearer token outside the
    /// RFC 6750 syntax.
    pub fn from_head<S: AsRef<str>>(
        head: &'a dyn RequestHead,
        names: &'a [S],
    ) -> Result<Self, AuthError> {
        if head.query().is_some_and(query_has_credential) {
            return Err(invalid_request(
                "credential_in_query",
                "credentials in the query string are not accepted; send them in the Authorization or X-API-Key header",
            ));
        }
        let mut found: Option<(&'a str, &'a [u8])> = None;
        let authorization = std::iter::once(AUTHORIZATION);
        let others = names
            .iter()
            .map(AsRef::as_ref)
            .filter(|n| !n.eq_ignore_ascii_case(AUTHORIZATION));
        for name in authorization.chain(others) {
            match head.header_once(name) {
                HeaderOnce::Absent => {}
                // A credential header sent twice is ambiguous: refused.
                HeaderOnce::Repeated if name == AUTHORIZATION => {
                    return Err(invalid_request(
                        "multiple_authorization_headers",
                        "more than one Authorization header was sent",
                    ));
                }
                HeaderOnce::Repeated => {
                    return Err(invalid_request(
                        "multiple_credential_headers",
                        "a credential header was sent more than once",
                    ));
                }
                HeaderOnce::Once(_) if found.is_some() => {
                    return Err(invalid_request(
                        "multiple_credentials",
                        "credentials were sent in more than one header; send one",
                    ));
                }
                HeaderOnce::Once(v) => found = Some((name, v)),
            }
        }
        if let Some((name, value)) = found.filter(|(_, v)| v.len() > MAX_CREDENTIAL_LEN) {
            // A wrong credential (401), not a malformed request: a bearer
            // token gets RFC 6750's `invalid_token`, anything else the
            // challenges offered here.
            let bearer =
                name == AUTHORIZATION && split_scheme(value).0.eq_ignore_ascii_case(b"bearer");
            let err = AuthError::new(AuthErrorKind::InvalidCredentials)
                .with_reason("credential_too_long")
                .with_detail("the credential is longer than any credential accepted here");
            return Err(if bearer {
                err.with_challenge(Challenge::bearer_error("invalid_token"))
            } else {
                err
            });
        }
        match found {
            None => Ok(Self::None),
            Some((AUTHORIZATION, value)) => parse_authorization(value).map(Self::Authorization),
            Some((name, value)) => Ok(Self::Header {
                name,
                value: SecretRef::new(value.trim_ascii()),
            }),
        }
    }

    /// Whether no credential header was sent.
    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    /// The parsed `Authorization` header, if that is what was sent.
    pub fn authorization(&self) -> Option<&Authorization<'a>> {
        match self {
            Self::Authorization(a) => Some(a),
            _ => None,
        }
    }

    /// The token of `Authorization: Bearer <token>`, its syntax already
    /// checked (RFC 6750 §2.1).
    pub fn bearer(&self) -> Option<SecretRef<'a>> {
        self.authorization()
            .filter(|a| a.is("bearer"))
            .map(Authorization::value)
    }

    /// The value of credential header `name` (compared case-insensitively),
    /// if that is what was sent.
    pub fn header(&self, name: &str) -> Option<SecretRef<'a>> {
        match self {
            Self::Header { name: n, value } if n.eq_ignore_ascii_case(name) => Some(*value),
            _ => None,
        }
    }
}

fn invalid_request(reason: &'static str, detail: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidRequest)
        .with_challenge(Challenge::bearer_error("invalid_request"))
        .with_reason(reason)
        .with_detail(detail)
}

/// `Authorization`'s scheme and the rest, split at the first space.
fn split_scheme(value: &[u8]) -> (&[u8], &[u8]) {
    let value = value.trim_ascii();
    match value.iter().position(|b| *b == b' ') {
        Some(i) => (
            value.get(..i).unwrap_or_default(),
            value.get(i + 1..).unwrap_or_default().trim_ascii_start(),
        ),
        None => (value, &b""[..]),
    }
}

fn parse_authorization(value: &[u8]) -> Result<Authorization<'_>, AuthError> {
    let (scheme, rest) = split_scheme(value);
    if scheme.is_empty() || !scheme.iter().all(is_tchar) {
        return Err(invalid_request(
            "malformed_authorization",
            "the Authorization header is malformed",
        ));
    }
    if scheme.eq_ignore_ascii_case(b"bearer") && !is_b64token(rest) {
        return Err(AuthError::new(AuthErrorKind::InvalidCredentials)
            .with_challenge(Challenge::bearer_error("invalid_token"))
            .with_reason("malformed_token")
            .with_detail("the bearer token is malformed"));
    }
    Ok(Authorization {
        // tchar only, so ASCII.
        scheme: std::str::from_utf8(scheme).unwrap_or_default(),
        value: SecretRef::new(rest),
    })
}

/// RFC 9110 `tchar`.
fn is_tchar(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)
}

/// Whether `b` may appear in the body of an RFC 6750 `b64token`:
/// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/". Branch-free, so that
/// checking a whole token (hundreds of bytes, on every request) compiles to
/// vector code.
#[inline(always)]
fn is_b64token_char(b: u8) -> bool {
    let lower = b | 0x20;
    (lower.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    let (body, _) = token.split_at(body_len);
    !body.is_empty()
        && body
            .chunks(64)
            .all(|chunk| chunk.iter().fold(true, |ok, b| ok & is_b64token_char(*b)))
}

fn query_has_credential(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        QUERY_CREDENTIAL_PARAMS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p) || percent_decoded_eq(name, p))
    })
}

/// Compares a percent-encoded query name with an ASCII name, so that
/// `api%5Fkey` is caught too.
fn percent_decoded_eq(encoded: &str, plain: &str) -> bool {
    if !encoded.contains('%') {
        return false;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out.eq_ignore_ascii_case(plain.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn b64token_chars_are_exactly_the_rfc_6750_set() {
        for b in 0..=u8::MAX {
            let rfc = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(super::is_b64token_char(b), rfc, "byte {b:#04x}");
        }
        let long = "a".repeat(200);
        assert!(super::is_b64token(long.as_bytes()));
        for at in [0, 63, 64, 150, 199] {
            let mut bad = long.clone().into_bytes();
            bad[at] = b'!';
            assert!(!super::is_b64token(&bad), "a bad byte at {at}");
        }
        assert!(super::is_b64token(b"abc=="));
        assert!(!super::is_b64token(b"=="));
        assert!(!super::is_b64token(b"a=b"));
    }

    use super::*;
    use crate::request::SimpleRequest;

    const NAMES: [&str; 2] = ["authorization", "x-api-key"];

    /// What a request parses to: a name for the variant and its bytes.
    fn parse(req: &SimpleRequest) -> Result<(String, Vec<u8>), AuthError> {
        Credential::from_head(req, &NAMES).map(|c| match c {
            Credential::None => ("none".to_owned(), Vec::new()),
            Credential::Authorization(a) => {
                (a.scheme().to_ascii_lowercase(), a.value().expose().to_vec())
            }
            Credential::Header { name, value } => (name.to_owned(), value.expose().to_vec()),
        })
    }

    fn auth(value: &str) -> SimpleRequest {
        SimpleRequest::get("/").header("authorization", value)
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for s in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let req = auth(&format!("{s} tok"));
            let c = Credential::from_head(&req, &NAMES).unwrap();
            assert_eq!(c.bearer().unwrap().expose(), b"tok");
        }
        for s in ["Basic", "basic", "BASIC"] {
            let req = auth(&format!("{s} YTpi"));
            let c = Credential::from_head(&req, &NAMES).unwrap();
            assert!(c.authorization().unwrap().is("basic"));
            assert!(c.bearer().is_none());
        }
    }

    #[test]
    fn b64token_syntax() {
        assert!(is_b64token(b"abc"));
        assert!(is_b64token(b"a-b.c_d~e+f/g=="));
        assert!(!is_b64token(b""));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b"a b"));
        assert!(!is_b64token(b"a\"b"));
        assert!(!is_b64token("\u{e9}".as_bytes()));
        let e = parse(&auth("Bearer a,b")).unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::InvalidCredentials);
        assert_eq!(
            e.challenge(),
            Some(&Challenge::bearer_error("invalid_token"))
        );
        assert_eq!(parse(&auth("Bearer")).unwrap_err().status(), 401);
        // Other schemes are not held to the bearer syntax.
        assert_eq!(
            parse(&auth("Toy a,b")).unwrap(),
            ("toy".into(), b"a,b".to_vec())
        );
    }

    #[test]
    fn query_credentials_refused() {
        for q in [
            "api_key=x",
            "a=1&access_token=x",
            "KEY=x",
            "api%5Fkey=x",
            "access_token",
        ] {
            let e = parse(&SimpleRequest::get(&format!("/?{q}"))).unwrap_err();
            assert_eq!(e.kind(), AuthErrorKind::InvalidRequest, "{q}");
            assert!(e.detail().contains("header"));
        }
        assert_eq!(
            parse(&SimpleRequest::get("/?keys=1&monkey=2")).unwrap().0,
            "none"
        );
    }

    #[test]
    fn duplicates_refused() {
        let two_auth = auth("Bearer a").header("Authorization", "Bearer b");
        let err = parse(&two_auth).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.reason(), "multiple_authorization_headers");
        assert_eq!(
            err.challenge(),
            Some(&Challenge::bearer_error("invalid_request"))
        );
        let two_keys = SimpleRequest::get("/")
            .header("x-api-key", "a")
            .header("x-api-key", "b");
        let err = parse(&two_keys).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.reason(), "multiple_credential_headers");
        let both = auth("Basic YTpi").header("x-api-key", "a");
        let err = parse(&both).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.reason(), "multiple_credentials");
        // A header no authenticator names is not a credential.
        let other = auth("Bearer a").header("x-toy", "b");
        assert_eq!(parse(&other).unwrap().0, "bearer");
    }

    #[test]
    fn over_long_credentials_are_refused_before_any_method_sees_them() {
        let at = format!("Bearer {}", "a".repeat(MAX_CREDENTIAL_LEN - 7));
        assert_eq!(at.len(), MAX_CREDENTIAL_LEN);
        assert!(parse(&auth(&at)).is_ok());
        let over = format!("{at}a");
        let err = parse(&auth(&over)).unwrap_err();
        assert_eq!((err.status(), err.reason()), (401, "credential_too_long"));
        assert_eq!(
            err.challenge(),
            Some(&Challenge::bearer_error("invalid_token"))
        );
        // The scheme is read as the parser reads it: any case, any spacing.
        let spaced = format!("  bEaReR   {}", "a".repeat(MAX_CREDENTIAL_LEN));
        let err = parse(&auth(&spaced)).unwrap_err();
        assert_eq!(
            err.challenge(),
            Some(&Challenge::bearer_error("invalid_token"))
        );
        let basic = format!("Basic {}", "Q".repeat(MAX_CREDENTIAL_LEN));
        let err = parse(&auth(&basic)).unwrap_err();
        assert_eq!((err.status(), err.reason()), (401, "credential_too_long"));
        assert_eq!(err.challenge(), None, "the challenges offered answer it");
        let key = SimpleRequest::get("/").header("x-api-key", "k".repeat(MAX_CREDENTIAL_LEN + 1));
        let err = parse(&key).unwrap_err();
        assert_eq!((err.status(), err.reason()), (401, "credential_too_long"));
        let key = SimpleRequest::get("/").header("x-api-key", "k".repeat(MAX_CREDENTIAL_LEN));
        assert!(parse(&key).is_ok());
    }

    #[test]
    fn other_schemes_headers_and_malformed() {
        assert_eq!(
            parse(&auth("Digest x=1")).unwrap(),
            ("digest".into(), b"x=1".to_vec())
        );
        assert_eq!(parse(&auth("")).unwrap_err().status(), 400);
        assert_eq!(parse(&auth("B@d x")).unwrap_err().status(), 400);
        let key = SimpleRequest::get("/").header("X-Api-Key", "  k1  ");
        assert_eq!(parse(&key).unwrap(), ("x-api-key".into(), b"k1".to_vec()));
        let c = Credential::from_head(&key, &NAMES).unwrap();
        assert_eq!(c.header("X-API-KEY").unwrap().expose(), b"k1");
        assert!(c.header("x-toy").is_none() && c.bearer().is_none() && !c.is_none());
    }
}
