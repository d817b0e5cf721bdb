//! JWT bearer tokens (RFC 7519, RFC 8725, RFC 9068), verified with
//! jsonwebtoken against keys that come only from configuration: PEM, JWK,
//! JWKS documents, JWKS URLs or issuer metadata, cached per issuer.
//!
//! The builder cannot make an unsafe validator: every issuer needs an
//! audience (or an explicit [`IssuerBuilder::any_audience`]) and keys bound
//! to algorithms; `none` cannot be expressed; HMAC secrets under 32 bytes are
//! refused.
//!
//! ```
//! use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
//! use auth_core::{Guard, Secret, SimpleRequest};
//! use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let secret = Secret::from("an example secret of at least 32 bytes!!");
//! let jwt = JwtAuthenticator::builder()
//!     .issuer(
//!         Issuer::new("urn:example")
//!             .audience("api")
//!             .key(JwtKey::hmac(&secret, Algorithm::HS256).unwrap())
//!             .token_types(["JWT"]),
//!     )
//!     .build()
//!     .unwrap();
//! let guard = Guard::builder(jwt).realm("demo").build().unwrap();
//!
//! let claims = serde_json::json!({
//!     "iss": "urn:example", "aud": "api", "sub": "svc", "exp": 4102444800u64, "scope": "read"
//! });
//! let token = encode(&Header::new(Algorithm::HS256), &claims,
//!     &EncodingKey::from_secret(secret.expose()).unwrap()).unwrap();
//! let ok = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
//! let id = guard.check(&ok).await.unwrap().into_identity().unwrap();
//! assert_eq!(id.subject(), "svc");
//! assert!(id.has_scope("read"));
//!
//! // Another audience: refused.
//! let claims = serde_json::json!({"iss": "urn:example", "aud": "other", "sub": "svc", "exp": 4102444800u64});
//! let token = encode(&Header::new(Algorithm::HS256), &claims,
//!     &EncodingKey::from_secret(secret.expose()).unwrap()).unwrap();
//! let bad = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
//! let refused = guard.check(&bad).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! # });
//! ```
//!
//! # Security considerations
//!
//! - A token's `iss` picks the issuer; only that issuer's keys and algorithms
//!   can verify it.
//! - `jku`, `x5u`, `x5c` and `jwk` headers are never read, and `kid` is only
//!   a bounded lookup key: no token content causes a request.
//! - Clocks: `exp`, `nbf` and `iat` are checked with a leeway (30 s by
//!   default, [`JwtAuthenticatorBuilder::leeway`]).
//! - Certificate-bound tokens (RFC 8705, `cnf.x5t#S256`) are accepted only
//!   with their certificate: the authenticator checks the binding on every
//!   request, cache hit or not
//!   ([`check_certificate_binding`](crate::claims::check_certificate_binding)).
//!   [`JwtAuthenticator::verify`] has no request and does not.

mod cache;
mod config;
pub(crate) mod jwks;
mod keys;
mod validate;
mod verify;

#[cfg(test)]
mod tests;

use crate::authenticate::{AuthRequest, Authenticator, BoxFuture, Specificity};
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::Identity;
use crate::rejection::Challenge;
use crate::request::RequestHead;

pub use crate::store::{MemoryRevocations, RevocationStore};
pub use config::{Issuer, IssuerBuilder, JwtAuthenticatorBuilder};
pub use jwks::{JwksCache, JwksConfig};
pub use keys::JwtKey;
pub use verify::JwtAuthenticator;

impl Authenticator for JwtAuthenticator {
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        crate::openapi::Security::scheme("bearer_jwt", crate::openapi::bearer(Some("JWT")))
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        let token = req.credential().bearer()?;
        validate::is_jwt_shaped(token.expose()).then_some(Specificity::Shape)
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let Some(token) = req.credential().bearer() else {
                return Err(AuthError::new(AuthErrorKind::MissingCredentials));
            };
            let identity = self.verify(token.expose()).await?;
            // Per request, after the verified-token cache: a cache hit
            // says nothing about this request's certificate.
            crate::claims::check_certificate_binding(&identity, req)?;
            Ok(identity)
        })
    }

    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::bearer());
    }
}
