//! RFC 9728 OAuth 2.0 protected-resource metadata: what a resource server
//! publishes at `/.well-known/oauth-protected-resource` so clients can find
//! its authorization servers and scopes.
//!
//! ```
//! use auth_core::oauth::resource::{PATH, ProtectedResource};
//!
//! let meta = ProtectedResource::builder("https://api.example.com")
//!     .authorization_server("https://as.example.com")
//!     .scopes(["reports:read"])
//!     .build()
//!     .unwrap();
//! // What `GET /.well-known/oauth-protected-resource` answers.
//! assert_eq!(PATH, "/.well-known/oauth-protected-resource");
//! let res = meta.response();
//! assert_eq!(res.status, 200);
//! let json: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
//! assert_eq!(json["authorization_servers"], serde_json::json!(["https://as.example.com"]));
//!
//! // A resource identifier must be https (or http to a loopback address).
//! assert!(ProtectedResource::builder("http://api.example.com").build().is_err());
//! ```

use serde::Serialize;

use crate::error::ConfigError;

/// Where the document is served, for a resource identifier without a path.
pub const PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata document (RFC 9728 §2).
///
/// ```
/// use auth_core::oauth::resource::ProtectedResource;
///
/// let meta = ProtectedResource::builder("https://api.example.com")
///     .authorization_server("https://as.example.com")
///     .scopes(["reports:read", "reports:write"])
///     .name("Reports API")
///     .build()
///     .unwrap();
/// let json: serde_json::Value = serde_json::from_slice(meta.body()).unwrap();
/// assert_eq!(json["resource"], "https://api.example.com");
/// assert_eq!(json["bearer_methods_supported"], serde_json::json!(["header"]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedResource {
    doc: Document,
    body: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct Document {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
}

/// Builds a [`ProtectedResource`].
#[derive(Clone, Debug)]
pub struct ProtectedResourceBuilder {
    doc: Document,
}

impl ProtectedResource {
    /// The metadata of the resource identified by `resource` (an `https`
    /// URL without a fragment, RFC 9728 §1.2).
    pub fn builder(resource: impl Into<String>) -> ProtectedResourceBuilder {
        ProtectedResourceBuilder {
            doc: Document {
                resource: resource.into(),
                // Tokens are accepted in the Authorization header only
                // (never the query; a cookie only where configured).
                bearer_methods_supported: vec!["header"],
                ..Document::default()
            },
        }
    }

    /// The JSON document.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The answer for `GET` [`PATH`]: the document, cacheable for five
    /// minutes.
    pub fn response(&self) -> super::server::OAuthResponse {
        super::server::OAuthResponse {
            status: 200,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("cache-control", "max-age=300".to_owned()),
            ],
            body: self.body.clone(),
        }
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.doc.resource
    }
}

impl ProtectedResourceBuilder {
    /// An authorization server (its issuer identifier) that issues tokens
    /// for this resource.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.doc.authorization_servers.push(issuer.into());
        self
    }

    /// Where the resource's own signing keys are published, if it signs.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.doc.jwks_uri = Some(uri.into());
        self
    }

    /// The scopes the resource understands.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.doc
            .scopes_supported
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// A human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.doc.resource_name = Some(name.into());
        self
    }

    /// The document. Fails on a resource identifier that is not an `https`
    /// URL (or `http` to a loopback address, for development) or has a
    /// fragment.
    pub fn build(self) -> Result<ProtectedResource, ConfigError> {
        let r = &self.doc.resource;
        let loopback_http = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
            .iter()
            .any(|p| {
                r.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if !(r.starts_with("https://") && r.len() > "https://".len() || loopback_http)
            || r.contains('#')
        {
            return Err(ConfigError::invalid(
                "the resource identifier must be an https URL without a fragment",
            ));
        }
        let body = serde_json::to_vec(&self.doc)
            .map_err(|e| ConfigError::invalid(format!("resource metadata: {e}")))?;
        Ok(ProtectedResource {
            doc: self.doc,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_identifiers_are_checked() {
        for ok in [
            "https://api.example",
            "https://api.example/v1",
            "http://127.0.0.1:8080",
            "http://localhost",
        ] {
            assert!(ProtectedResource::builder(ok).build().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "https://",
            "http://api.example",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil",
            "https://api.example/#x",
            "demo-api",
        ] {
            assert!(ProtectedResource::builder(bad).build().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_document_has_what_was_set_and_omits_the_rest() {
        let minimal = ProtectedResource::builder("https://api.example")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            minimal.body(),
            br#"{"resource":"https://api.example","bearer_methods_supported":["header"]}"#
        );
        let full = ProtectedResource::builder("https://api.example")
            .authorization_server("https://as.example")
            .jwks_uri("https://api.example/jwks")
            .scopes(["a", "b"])
            .name("API")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let json: serde_json::Value = serde_json::from_slice(full.body()).unwrap_or_default();
        assert_eq!(
            json["authorization_servers"],
            serde_json::json!(["https://as.example"])
        );
        assert_eq!(json["jwks_uri"], "https://api.example/jwks");
        assert_eq!(json["scopes_supported"], serde_json::json!(["a", "b"]));
        assert_eq!(json["resource_name"], "API");
        assert_eq!(full.resource(), "https://api.example");
    }
}
