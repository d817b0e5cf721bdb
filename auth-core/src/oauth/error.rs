//! [`OAuthError`]: an RFC 6749 §5.2 error response.

use serde::Serialize;

/// The `error` codes of RFC 6749 §4.1.2.1 and §5.2, RFC 8693 §2.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// A parameter is missing, repeated, unsupported or malformed.
    InvalidRequest,
    /// Client authentication failed (401).
    InvalidClient,
    /// The grant (code, refresh token, PKCE verifier) is invalid.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// A requested scope is unknown or not allowed.
    InvalidScope,
    /// The resource owner or server denied the request.
    AccessDenied,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// RFC 8693: the requested audience or resource is not known.
    InvalidTarget,
    /// The server cannot answer now (503).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as sent in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidTarget => "invalid_target",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error: its code and a fixed description that never contains
/// request content.
///
/// ```
/// use auth_core::oauth::{OAuthError, OAuthErrorCode};
///
/// let e = OAuthError::new(OAuthErrorCode::InvalidGrant, "the code is not valid");
/// assert_eq!(e.status(), 400);
/// assert_eq!(e.body(), br#"{"error":"invalid_grant","error_description":"the code is not valid"}"#);
/// assert!(e.headers().contains(&("cache-control", "no-store".to_owned())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    code: OAuthErrorCode,
    description: &'static str,
    challenge: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    /// An error with `code` and a fixed `description`.
    pub fn new(code: OAuthErrorCode, description: &'static str) -> Self {
        Self {
            code,
            description,
            challenge: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`, with the `WWW-Authenticate` challenge of the scheme
    /// the client tried (RFC 6749 §5.2), e.g. `Basic realm="oauth"`.
    pub fn invalid_client(challenge: Option<String>) -> Self {
        Self {
            code: OAuthErrorCode::InvalidClient,
            description: "client authentication failed",
            challenge,
        }
    }

    /// The error code.
    pub fn kind(&self) -> OAuthErrorCode {
        self.code
    }

    /// The description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// 401 for `invalid_client`, 503 for `temporarily_unavailable`, 400
    /// otherwise.
    pub fn status(&self) -> u16 {
        match self.code {
            OAuthErrorCode::InvalidClient => 401,
            OAuthErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    /// The response headers: `Content-Type`, `Cache-Control: no-store`,
    /// `Pragma: no-cache`, the challenge of a 401, `Retry-After` of a 503.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
            ("pragma", "no-cache".to_owned()),
        ];
        if let Some(c) = &self.challenge {
            h.push(("www-authenticate", c.clone()));
        }
        if self.code == OAuthErrorCode::TemporarilyUnavailable {
            h.push(("retry-after", "1".to_owned()));
        }
        h
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        // A struct of two strings always serialises.
        serde_json::to_vec(&Body {
            error: self.code.as_str(),
            error_description: self.description,
        })
        .unwrap_or_default()
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_headers() {
        let c = OAuthError::invalid_client(Some("Basic realm=\"oauth\"".to_owned()));
        assert_eq!(c.status(), 401);
        assert!(
            c.headers()
                .contains(&("www-authenticate", "Basic realm=\"oauth\"".to_owned()))
        );
        let busy = OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, "busy");
        assert_eq!(busy.status(), 503);
        assert!(busy.headers().contains(&("retry-after", "1".to_owned())));
        for code in [
            OAuthErrorCode::InvalidRequest,
            OAuthErrorCode::InvalidGrant,
            OAuthErrorCode::UnauthorizedClient,
            OAuthErrorCode::UnsupportedGrantType,
            OAuthErrorCode::InvalidScope,
            OAuthErrorCode::AccessDenied,
            OAuthErrorCode::UnsupportedResponseType,
            OAuthErrorCode::InvalidTarget,
        ] {
            let e = OAuthError::new(code, "d");
            assert_eq!(e.status(), 400, "{code:?}");
            assert!(
                !e.headers()
                    .iter()
                    .any(|(n, _)| *n == "www-authenticate" || *n == "retry-after")
            );
            let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap_or_default();
            assert_eq!(body["error"], code.as_str());
        }
    }
}
