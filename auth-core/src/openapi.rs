//! OpenAPI security schemes (utoipa) for what a guard accepts (feature
//! `openapi`): each method names its scheme (`apiKey`, `http` basic or
//! bearer, `mutualTLS`), [`AnyOf`](crate::AnyOf) offers its members'
//! schemes as alternatives and [`AllOf`](crate::AllOf) requires them
//! together, and [`Guard::openapi_security`](crate::Guard::openapi_security)
//! gives the whole as components and security requirements for an
//! operation. An authorization server adds its `oauth2` flows with
//! [`oauth2_scheme`].
//!
//! ```
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
//! use auth_core::basic::BasicAuthenticator;
//! use auth_core::{AnyOf, Guard};
//!
//! let keys = ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate()));
//! let basic = BasicAuthenticator::builder().build().unwrap();
//! let guard = Guard::builder(AnyOf::new().or(keys).or(basic)).build().unwrap();
//! let security = guard.openapi_security();
//! // Three ways in: an API key in its header, or as a bearer token, or Basic.
//! let names: Vec<&str> = security.schemes().map(|(name, _)| name).collect();
//! assert_eq!(names, ["api_key", "basic", "bearer"]);
//! assert_eq!(security.requirements(&[]).len(), 3);
//! // Nothing is accepted without a credential: no empty requirement.
//! assert!(!security.is_empty());
//! ```

use std::collections::BTreeMap;

pub use utoipa;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};

/// Security schemes by name, and the ways to satisfy them: each
/// alternative is a set of scheme names presented together.
#[derive(Clone, Default)]
pub struct Security {
    schemes: BTreeMap<String, SecurityScheme>,
    alternatives: Vec<Vec<String>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("schemes", &self.schemes.keys().collect::<Vec<_>>())
            .field("alternatives", &self.alternatives)
            .finish()
    }
}

impl Security {
    /// Nothing described.
    pub fn none() -> Self {
        Self::default()
    }

    /// One scheme, enough by itself.
    pub fn scheme(name: impl Into<String>, scheme: SecurityScheme) -> Self {
        let name = name.into();
        Self {
            schemes: BTreeMap::from([(name.clone(), scheme)]),
            alternatives: vec![vec![name]],
        }
    }

    /// `self` or `other`: the alternatives of both.
    pub fn or(mut self, other: Security) -> Self {
        self.schemes.extend(other.schemes);
        for alt in other.alternatives {
            if !self.alternatives.contains(&alt) {
                self.alternatives.push(alt);
            }
        }
        self
    }

    /// `self` and `other` together: every alternative of one with every
    /// alternative of the other. A side with nothing described adds
    /// nothing.
    pub fn and(mut self, other: Security) -> Self {
        if other.alternatives.is_empty() {
            self.schemes.extend(other.schemes);
            return self;
        }
        if self.alternatives.is_empty() {
            return other.or(self);
        }
        let mut product = Vec::new();
        for a in &self.alternatives {
            for b in &other.alternatives {
                let mut both = a.clone();
                for name in b {
                    if !both.contains(name) {
                        both.push(name.clone());
                    }
                }
                both.sort();
                if !product.contains(&both) {
                    product.push(both);
                }
            }
        }
        self.schemes.extend(other.schemes);
        self.alternatives = product;
        self
    }

    /// Also without any credential (an empty requirement, `{}`).
    pub fn or_anonymous(mut self) -> Self {
        if !self.alternatives.iter().any(Vec::is_empty) {
            self.alternatives.push(Vec::new());
        }
        self
    }

    /// Whether nothing is described.
    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// The schemes by name, for the document's components.
    pub fn schemes(&self) -> impl Iterator<Item = (&str, &SecurityScheme)> {
        self.schemes.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// The operation's security requirements, one per alternative, each
    /// scheme listing `scopes` (the route's required scopes; OpenAPI 3.1
    /// lets any scheme name them).
    pub fn requirements(&self, scopes: &[&str]) -> Vec<SecurityRequirement> {
        self.alternatives
            .iter()
            .map(|alt| {
                alt.iter()
                    .fold(SecurityRequirement::default(), |req, name| {
                        req.add(name.clone(), scopes.iter().copied())
                    })
            })
            .collect()
    }
}

/// An API key in `header`.
pub fn api_key_header(header: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header)))
}

/// HTTP `Bearer` (`format`: e.g. `JWT`).
pub fn bearer(format: Option<&str>) -> SecurityScheme {
    let http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer);
    SecurityScheme::Http(match format {
        Some(f) => http.bearer_format(f).build(),
        None => http.build(),
    })
}

/// HTTP `Basic`.
pub fn basic() -> SecurityScheme {
    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build())
}

/// A TLS client certificate (OpenAPI 3.1 `mutualTLS`).
pub fn mutual_tls() -> SecurityScheme {
    SecurityScheme::MutualTls {
        description: Some("a TLS client certificate".to_owned()),
        deprecated: None,
        extensions: None,
    }
}

/// The `oauth2` flows of an authorization server at `issuer` (its
/// `/oauth/authorize` and `/oauth/token`): authorization code (with PKCE,
/// which OpenAPI does not describe) and client credentials, with `scopes`.
pub fn oauth2_scheme(issuer: &str, scopes: &[&str]) -> SecurityScheme {
    use utoipa::openapi::security::{AuthorizationCode, ClientCredentials, Flow, OAuth2, Scopes};
    let base = issuer.trim_end_matches('/');
    let all = || Scopes::from_iter(scopes.iter().map(|s| (*s, *s)));
    SecurityScheme::OAuth2(OAuth2::new([
        Flow::AuthorizationCode(AuthorizationCode::new(
            format!("{base}/oauth/authorize"),
            format!("{base}/oauth/token"),
            all(),
        )),
        Flow::ClientCredentials(ClientCredentials::new(format!("{base}/oauth/token"), all())),
    ]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn names(s: &Security) -> Vec<Vec<String>> {
        s.alternatives.clone()
    }

    #[test]
    fn or_offers_alternatives_and_and_requires_them_together() {
        let key = Security::scheme("api_key", api_key_header("X-API-Key"));
        let jwt = Security::scheme("bearer_jwt", bearer(Some("JWT")));
        let cert = Security::scheme("mutual_tls", mutual_tls());
        let any = key.clone().or(jwt.clone());
        assert_eq!(names(&any), [vec!["api_key"], vec!["bearer_jwt"]]);
        // The same alternative twice is kept once.
        assert_eq!(names(&any.clone().or(key.clone())).len(), 2);
        let bound = any.clone().and(cert.clone());
        assert_eq!(
            names(&bound),
            [
                vec!["api_key", "mutual_tls"],
                vec!["bearer_jwt", "mutual_tls"]
            ]
        );
        assert_eq!(bound.schemes().count(), 3);
        // A side with nothing described adds nothing, on either side.
        assert_eq!(
            names(&cert.clone().and(Security::none())),
            [vec!["mutual_tls"]]
        );
        assert_eq!(
            names(&Security::none().and(cert.clone())),
            [vec!["mutual_tls"]]
        );
        assert!(Security::none().is_empty() && !cert.is_empty());
        // Requiring a scheme twice is requiring it once.
        assert_eq!(names(&cert.clone().and(cert.clone())), [vec!["mutual_tls"]]);
        // Anonymous: an empty requirement, once.
        let open = any.or_anonymous().or_anonymous();
        assert_eq!(names(&open), [vec!["api_key"], vec!["bearer_jwt"], vec![]]);
    }

    #[test]
    fn requirements_render_as_openapi_security_objects() {
        let s = Security::scheme("api_key", api_key_header("X-API-Key"))
            .and(Security::scheme("mutual_tls", mutual_tls()))
            .or(Security::scheme("basic", basic()))
            .or_anonymous();
        let json = serde_json::to_value(s.requirements(&["reports:read"])).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"api_key": ["reports:read"], "mutual_tls": ["reports:read"]},
                {"basic": ["reports:read"]},
                {}
            ])
        );
        let schemes: BTreeMap<&str, serde_json::Value> = s
            .schemes()
            .map(|(n, sc)| (n, serde_json::to_value(sc).unwrap()))
            .collect();
        assert_eq!(
            schemes["api_key"],
            serde_json::json!({"type": "apiKey", "in": "header", "name": "X-API-Key"})
        );
        assert_eq!(
            schemes["basic"],
            serde_json::json!({"type": "http", "scheme": "basic"})
        );
        assert_eq!(schemes["mutual_tls"]["type"], "mutualTLS");
        let jwt = serde_json::to_value(bearer(Some("JWT"))).unwrap();
        assert_eq!(
            jwt,
            serde_json::json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        );
        let oauth = serde_json::to_value(oauth2_scheme("https://as.example/", &["a"])).unwrap();
        assert_eq!(oauth["type"], "oauth2");
        assert_eq!(
            oauth["flows"]["authorizationCode"]["tokenUrl"],
            "https://as.example/oauth/token"
        );
        assert_eq!(oauth["flows"]["clientCredentials"]["scopes"]["a"], "a");
    }
}
