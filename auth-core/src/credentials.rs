//! Parsing what a request presents: `Authorization` (RFC 9110 §11.6.2,
//! schemes case-insensitive), `X-API-Key`, and the query string (refused).
//!
//! Parsing happens once per request, in [`Guard`](crate::Guard); every
//! authenticator then looks at the same [`Credential`].
//!
//! ```
//! use auth_core::{Credential, SimpleRequest, AuthErrorKind};
//!
//! let req = SimpleRequest::get("/").header("authorization", "bEaReR abc.def");
//! assert!(matches!(Credential::from_head(&req), Ok(Credential::Bearer(_))));
//!
//! // Two ways at once is a malformed request (RFC 6750 §2).
//! let req = SimpleRequest::get("/")
//!     .header("authorization", "Bearer abc")
//!     .header("x-api-key", "abc");
//! assert_eq!(Credential::from_head(&req).unwrap_err().kind(), AuthErrorKind::InvalidRequest);
//!
//! // Tokens in URLs leak into logs and Referer headers.
//! let req = SimpleRequest::get("/?api_key=abc");
//! assert_eq!(Credential::from_head(&req).unwrap_err().status(), 400);
//! ```

use crate::error::{AuthError, AuthErrorKind, Scheme};
use crate::request::{HeaderOnce, RequestHead};
use crate::secret::SecretRef;

/// Query parameters that would carry a credential; their presence is refused.
pub const QUERY_CREDENTIAL_PARAMS: &[&str] = &["api_key", "access_token", "key"];

/// The credential a request presents in its headers, borrowed from them
/// (the request owns the bytes; nothing is copied on the request path).
#[derive(Debug)]
#[non_exhaustive]
pub enum Credential<'a> {
    /// No credential header.
    None,
    /// `Authorization: Bearer <token>`, token syntax already checked (RFC 6750 §2.1).
    Bearer(SecretRef<'a>),
    /// `Authorization: Basic <payload>`, payload not yet decoded.
    Basic(SecretRef<'a>),
    /// `X-API-Key: <key>`.
    ApiKeyHeader(SecretRef<'a>),
    /// `Authorization` with a scheme the core does not parse.
    Other {
        /// The scheme, as sent.
        scheme: &'a str,
    },
}

impl<'a> Credential<'a> {
    /// Parses the credential of `head`.
    ///
    /// Refuses with `InvalidRequest` (400) a credential in the query string,
    /// two `Authorization` or `X-API-Key` headers, or both at once; refuses
    /// with `InvalidCredentials` (401) a bearer token outside the RFC 6750
    /// syntax.
    pub fn from_head(head: &'a dyn RequestHead) -> Result<Self, AuthError> {
        if head.query().is_some_and(query_has_credential) {
            return Err(invalid_request(
                "credential_in_query",
                "credentials in the query string are not accepted; send them in the Authorization or X-API-Key header",
            ));
        }
        // A credential header sent twice is ambiguous: refused.
        let once = |name, reason, detail| match head.header_once(name) {
            HeaderOnce::Absent => Ok(None),
            HeaderOnce::Once(v) => Ok(Some(v)),
            HeaderOnce::Repeated => Err(invalid_request(reason, detail)),
        };
        let auth = once(
            "authorization",
            "multiple_authorization_headers",
            "more than one Authorization header was sent",
        )?;
        let key = once(
            "x-api-key",
            "multiple_api_key_headers",
            "more than one X-API-Key header was sent",
        )?;
        match (auth, key) {
            (None, None) => Ok(Self::None),
            (Some(_), Some(_)) => Err(invalid_request(
                "multiple_credentials",
                "credentials were sent in both the Authorization and X-API-Key headers; send one",
            )),
            (None, Some(key)) => {
                let key = key.trim_ascii();
                if key.is_empty() || !key.iter().all(|b| b.is_ascii_graphic()) {
                    return Err(AuthError::new(
                        AuthErrorKind::InvalidCredentials,
                        Scheme::ApiKeyHeader,
                    )
                    .with_reason("malformed_api_key")
                    .with_detail("the API key is malformed"));
                }
                Ok(Self::ApiKeyHeader(SecretRef::new(key)))
            }
            (Some(value), None) => parse_authorization(value),
        }
    }
}

fn invalid_request(reason: &'static str, detail: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidRequest, Scheme::Bearer)
        .with_reason(reason)
        .with_detail(detail)
}

fn parse_authorization(value: &[u8]) -> Result<Credential<'_>, AuthError> {
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (
            value.get(..i).unwrap_or_default(),
            value.get(i + 1..).unwrap_or_default().trim_ascii_start(),
        ),
        None => (value, &b""[..]),
    };
    if scheme.is_empty() || !scheme.iter().all(is_tchar) {
        return Err(invalid_request(
            "malformed_authorization",
            "the Authorization header is malformed",
        ));
    }
    if scheme.eq_ignore_ascii_case(b"bearer") {
        if !is_b64token(rest) {
            return Err(
                AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::Bearer)
                    .with_reason("malformed_token")
                    .with_detail("the bearer token is malformed"),
            );
        }
        Ok(Credential::Bearer(SecretRef::new(rest)))
    } else if scheme.eq_ignore_ascii_case(b"basic") {
        Ok(Credential::Basic(SecretRef::new(rest)))
    } else {
        Ok(Credential::Other {
            // tchar only, so ASCII.
            scheme: std::str::from_utf8(scheme).unwrap_or_default(),
        })
    }
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

    /// What a request parses to: the variant's name and its bytes.
    fn parse(req: &SimpleRequest) -> Result<(&'static str, Vec<u8>), AuthError> {
        Credential::from_head(req).map(|c| match c {
            Credential::None => ("none", Vec::new()),
            Credential::Bearer(t) => ("bearer", t.expose().to_vec()),
            Credential::Basic(t) => ("basic", t.expose().to_vec()),
            Credential::ApiKeyHeader(t) => ("x-api-key", t.expose().to_vec()),
            Credential::Other { scheme } => ("other", scheme.as_bytes().to_vec()),
        })
    }

    fn auth(value: &str) -> SimpleRequest {
        SimpleRequest::get("/").header("authorization", value)
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for s in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                parse(&auth(&format!("{s} tok"))).unwrap(),
                ("bearer", b"tok".to_vec())
            );
        }
        for s in ["Basic", "basic", "BASIC"] {
            assert_eq!(parse(&auth(&format!("{s} YTpi"))).unwrap().0, "basic");
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
        assert_eq!(e.scheme(), Scheme::Bearer);
        assert_eq!(parse(&auth("Bearer")).unwrap_err().status(), 401);
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
        let two_keys = SimpleRequest::get("/")
            .header("x-api-key", "a")
            .header("x-api-key", "b");
        let err = parse(&two_keys).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.reason(), "multiple_api_key_headers");
    }

    #[test]
    fn other_schemes_and_malformed() {
        assert_eq!(
            parse(&auth("Digest x=1")).unwrap(),
            ("other", b"Digest".to_vec())
        );
        assert_eq!(parse(&auth("")).unwrap_err().status(), 400);
        let spaced = SimpleRequest::get("/").header("x-api-key", "a b");
        assert_eq!(parse(&spaced).unwrap_err().scheme(), Scheme::ApiKeyHeader);
        let key = SimpleRequest::get("/").header("x-api-key", "  k1  ");
        assert_eq!(parse(&key).unwrap(), ("x-api-key", b"k1".to_vec()));
    }
}
