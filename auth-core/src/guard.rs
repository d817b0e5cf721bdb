//! [`Guard`]: authentication plus policy, the one decision both adapters ask for.
//!
//! ```
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, KeyTier, NewKey, Pepper};
//! use auth_core::{Guard, Policy, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let keys = ApiKeys::in_memory(Pepper::generate());
//! let (key, _) = keys
//!     .issue(NewKey::new("acme", Environment::Test).scopes(["reports:read"]).tier(KeyTier::Standard))
//!     .await
//!     .unwrap();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).realm("demo").build().unwrap();
//!
//! let req = SimpleRequest::get("/v1/reports").header("x-api-key", key.expose());
//! let id = guard.check(&req).await.unwrap().unwrap();
//! assert_eq!(id.subject(), "acme");
//!
//! // Same guard, stricter policy for one route.
//! let admin = guard.with_policy(Policy::scope("admin"));
//! let refused = admin.check(&req).await.unwrap_err();
//! assert_eq!(refused.status(), 403);
//! # });
//! ```

use std::sync::Arc;

use crate::authenticate::{AuthRequest, Authenticator};
use crate::credentials::Credential;
use crate::error::{AuthError, AuthErrorKind, ConfigError, Scheme};
use crate::identity::Identity;
use crate::policy::Policy;
use crate::rejection::{Challenge, Rejection, valid_realm};
use crate::request::RequestHead;

/// Authentication plus a policy. Cheap to clone (one reference count, as
/// adapters clone it per request): per-route guards share the authenticator.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<GuardInner>,
}

#[derive(Clone)]
struct GuardInner {
    shared: Arc<Shared>,
    policy: Option<Policy>,
    anonymous: bool,
}

struct Shared {
    authenticator: Box<dyn Authenticator>,
    realm: String,
}

/// Builds a [`Guard`].
pub struct GuardBuilder {
    authenticator: Box<dyn Authenticator>,
    realm: String,
}

impl GuardBuilder {
    /// The realm named in challenges (default `"api"`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Builds the guard; refuses a realm that cannot be sent in a header.
    pub fn build(self) -> Result<Guard, ConfigError> {
        if !valid_realm(&self.realm) {
            return Err(ConfigError::invalid("realm"));
        }
        Ok(Guard {
            inner: Arc::new(GuardInner {
                shared: Arc::new(Shared {
                    authenticator: self.authenticator,
                    realm: self.realm,
                }),
                policy: None,
                anonymous: false,
            }),
        })
    }
}

impl Guard {
    /// A builder around `authenticator` (often an [`AnyOf`](crate::AnyOf)).
    pub fn builder(authenticator: impl Authenticator) -> GuardBuilder {
        GuardBuilder {
            authenticator: Box::new(authenticator),
            realm: "api".to_owned(),
        }
    }

    /// The same guard with `policy` checked after authentication.
    pub fn with_policy(&self, policy: Policy) -> Self {
        Self {
            inner: Arc::new(GuardInner {
                policy: Some(policy),
                ..(*self.inner).clone()
            }),
        }
    }

    /// The same guard, letting requests without any credential through
    /// anonymously. A credential that is presented must still be valid.
    pub fn allow_anonymous(&self) -> Self {
        Self {
            inner: Arc::new(GuardInner {
                anonymous: true,
                ..(*self.inner).clone()
            }),
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.inner.shared.realm
    }

    /// The decision for one request: `Ok(Some(identity))`, `Ok(None)` for an
    /// allowed anonymous request, or the [`Rejection`] to send.
    ///
    /// Logs one `tracing` event per decision (target `auth_core::decision`)
    /// with the method, subject, outcome and reason code; never a credential.
    pub async fn check(&self, head: &dyn RequestHead) -> Result<Option<Identity>, Rejection> {
        match self.decide(head).await {
            Ok(Some(id)) => {
                tracing::info!(
                    target: "auth_core::decision",
                    method = id.method().as_str(),
                    subject = id.subject(),
                    outcome = "allow",
                    path = head.path(),
                );
                Ok(Some(id))
            }
            Ok(None) => {
                tracing::debug!(target: "auth_core::decision", outcome = "anonymous", path = head.path());
                Ok(None)
            }
            Err((err, subject)) => {
                tracing::info!(
                    target: "auth_core::decision",
                    outcome = "deny",
                    scheme = err.scheme().as_str(),
                    kind = err.kind().code(),
                    reason = err.reason(),
                    status = err.status(),
                    subject = subject.as_ref().map(Identity::subject),
                    path = head.path(),
                );
                Err(self.reject(&err, head))
            }
        }
    }

    /// Renders `err` as this guard's rejection for `head`.
    pub fn reject(&self, err: &AuthError, head: &dyn RequestHead) -> Rejection {
        let mut offered: Vec<Challenge> = Vec::with_capacity(3);
        self.inner
            .shared
            .authenticator
            .challenges(head, &mut offered);
        Rejection::from_error(err, &self.inner.shared.realm, &offered)
    }

    async fn decide(
        &self,
        head: &dyn RequestHead,
    ) -> Result<Option<Identity>, (AuthError, Option<Identity>)> {
        let credential = Credential::from_head(head).map_err(|e| (e, None))?;
        let req = AuthRequest::new(head, &credential);
        let authn = &self.inner.shared.authenticator;
        let identity = if let Some(verifying) = authn.try_authenticate(&req) {
            verifying.await.map_err(|e| (e, None))?
        } else {
            return match &credential {
                Credential::None if self.inner.anonymous => Ok(None),
                Credential::None => Err((
                    AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None),
                    None,
                )),
                Credential::Bearer(_) => Err((
                    AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::Bearer)
                        .with_reason("unrecognised_token")
                        .with_detail("the bearer token is not recognised"),
                    None,
                )),
                Credential::ApiKeyHeader(_) => Err((
                    AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::ApiKeyHeader)
                        .with_reason("unrecognised_api_key")
                        .with_detail("the API key is not recognised"),
                    None,
                )),
                Credential::Basic(_) | Credential::Other { .. } => Err((
                    AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None)
                        .with_reason("unsupported_scheme")
                        .with_detail("this authentication scheme is not accepted here"),
                    None,
                )),
            };
        };
        if let Some(Err(e)) = self.inner.policy.as_ref().map(|p| p.check(&identity)) {
            return Err((e, Some(identity)));
        }
        Ok(Some(identity))
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("realm", &self.inner.shared.realm)
            .field("policy", &self.inner.policy)
            .field("anonymous", &self.inner.anonymous)
            .finish_non_exhaustive()
    }
}
