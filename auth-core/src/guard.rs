//! [`Guard`]: authentication, policy and limits, the one decision both
//! adapters ask for.
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
//! let decision = guard.check(&req).await.unwrap();
//! assert_eq!(decision.identity().unwrap().subject(), "acme");
//!
//! // Same guard, stricter policy for one route.
//! let admin = guard.with_policy(Policy::scope("admin"));
//! let refused = admin.check(&req).await.unwrap_err();
//! assert_eq!(refused.status(), 403);
//! # });
//! ```
//!
//! A decision runs in three stages: authentication (the credential decides
//! which method verifies it), the route's [`Policy`], then the limits stage
//! ([`Limit`]s such as rate limits), which may add response headers to the
//! allowed response and to its own refusals.

use std::sync::Arc;

use crate::authenticate::{AuthRequest, Authenticator};
use crate::credentials::{AUTHORIZATION, Credential};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::Identity;
use crate::limits::{Limit, ResponseHeaders};
use crate::policy::Policy;
use crate::rejection::{Challenge, Rejection, valid_realm};
use crate::request::RequestHead;

/// Authentication, a policy and limits. Cheap to clone (one reference
/// count, as adapters clone it per request): per-route guards share the
/// authenticator.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<GuardInner>,
}

#[derive(Clone)]
struct GuardInner {
    shared: Arc<Shared>,
    policy: Option<Policy>,
    anonymous: bool,
    limits: Vec<Arc<dyn Limit>>,
}

struct Shared {
    authenticator: Box<dyn Authenticator>,
    realm: String,
    /// `authorization` first, then every other credential header, once each.
    credential_headers: Vec<&'static str>,
    /// The credential headers plus every other header carrying a secret.
    sensitive_headers: Vec<&'static str>,
    scope_challenge: Challenge,
}

/// What the guard allowed: the caller (none for an allowed anonymous
/// request) and the headers the limits stage adds to the response.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    identity: Option<Identity>,
    headers: ResponseHeaders,
}

impl Decision {
    /// The caller, or `None` for an anonymous request the guard allows.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The caller, owned.
    pub fn into_identity(self) -> Option<Identity> {
        self.identity
    }

    /// Headers to add to the response (lower-case names).
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The caller and the response headers.
    pub fn into_parts(self) -> (Option<Identity>, ResponseHeaders) {
        (self.identity, self.headers)
    }
}

/// Builds a [`Guard`].
pub struct GuardBuilder {
    authenticator: Box<dyn Authenticator>,
    realm: String,
    limits: Vec<Arc<dyn Limit>>,
    scope_challenge: Challenge,
}

impl GuardBuilder {
    /// The realm named in challenges (default `"api"`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// A limit every route of this guard runs after authentication and
    /// policy (see [`Guard::with_limit`] for one route).
    pub fn limit(mut self, limit: impl Limit) -> Self {
        self.limits.push(Arc::new(limit));
        self
    }

    /// The challenge a `403 insufficient_scope` names (default `Bearer`,
    /// RFC 6750 §3.1); `error` and `scope` are added to it.
    pub fn scope_challenge(mut self, challenge: Challenge) -> Self {
        self.scope_challenge = challenge;
        self
    }

    /// Builds the guard; refuses a realm or a challenge that cannot be sent
    /// in a header, and header names that are not lower-case tokens.
    pub fn build(self) -> Result<Guard, ConfigError> {
        if !valid_realm(&self.realm) {
            return Err(ConfigError::invalid("realm"));
        }
        if !self.scope_challenge.is_valid() {
            return Err(ConfigError::invalid("scope challenge"));
        }
        let mut named = Vec::new();
        self.authenticator.credential_headers(&mut named);
        let mut credential_headers = vec![AUTHORIZATION];
        push_unique(&mut credential_headers, named)?;
        let mut extra = Vec::new();
        self.authenticator.sensitive_headers(&mut extra);
        let mut sensitive_headers = credential_headers.clone();
        push_unique(&mut sensitive_headers, extra)?;
        Ok(Guard {
            inner: Arc::new(GuardInner {
                shared: Arc::new(Shared {
                    authenticator: self.authenticator,
                    realm: self.realm,
                    credential_headers,
                    sensitive_headers,
                    scope_challenge: self.scope_challenge,
                }),
                policy: None,
                anonymous: false,
                limits: self.limits,
            }),
        })
    }
}

fn push_unique(out: &mut Vec<&'static str>, names: Vec<&'static str>) -> Result<(), ConfigError> {
    for name in names {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !token {
            return Err(ConfigError::invalid("credential header name"));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(())
}

impl Guard {
    /// A builder around `authenticator` (often an [`AnyOf`](crate::AnyOf)).
    pub fn builder(authenticator: impl Authenticator) -> GuardBuilder {
        GuardBuilder {
            authenticator: Box::new(authenticator),
            realm: "api".to_owned(),
            limits: Vec::new(),
            scope_challenge: Challenge::bearer(),
        }
    }

    /// The same guard with `policy` checked after authentication.
    pub fn with_policy(&self, policy: Policy) -> Self {
        self.derive(|g| g.policy = Some(policy))
    }

    /// The same guard with one more limit, run after the policy.
    pub fn with_limit(&self, limit: impl Limit) -> Self {
        self.derive(|g| g.limits.push(Arc::new(limit)))
    }

    /// The same guard, letting requests without any credential through
    /// anonymously. A credential that is presented must still be valid.
    pub fn allow_anonymous(&self) -> Self {
        self.derive(|g| g.anonymous = true)
    }

    fn derive(&self, change: impl FnOnce(&mut GuardInner)) -> Self {
        let mut inner = (*self.inner).clone();
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.inner.shared.realm
    }

    /// The lower-case names of the headers a credential may arrive in
    /// (`authorization` first); two at once are refused.
    pub fn credential_headers(&self) -> &[&'static str] {
        &self.inner.shared.credential_headers
    }

    /// Every header that carries a secret for this guard's methods:
    /// adapters mark them sensitive so that they stay out of `Debug` output
    /// and HPACK tables.
    pub fn sensitive_headers(&self) -> &[&'static str] {
        &self.inner.shared.sensitive_headers
    }

    /// The decision for one request: a [`Decision`] (the caller, or none for
    /// an allowed anonymous request, plus response headers), or the
    /// [`Rejection`] to send.
    ///
    /// Logs one `tracing` event per decision (target `auth_core::decision`)
    /// with the method, subject, outcome and reason code; never a credential.
    pub async fn check(&self, head: &dyn RequestHead) -> Result<Decision, Rejection> {
        match self.decide(head).await {
            Ok(decision) => {
                match &decision.identity {
                    Some(id) => tracing::info!(
                        target: "auth_core::decision",
                        method = id.method().as_str(),
                        subject = id.subject(),
                        outcome = "allow",
                        path = head.path(),
                    ),
                    None => tracing::debug!(
                        target: "auth_core::decision",
                        outcome = "anonymous",
                        path = head.path(),
                    ),
                }
                Ok(decision)
            }
            Err(Refused {
                err,
                subject,
                headers,
            }) => {
                tracing::info!(
                    target: "auth_core::decision",
                    outcome = "deny",
                    challenge = err.challenge().map(Challenge::scheme),
                    kind = err.kind().code(),
                    reason = err.reason(),
                    status = err.status(),
                    subject = subject.as_ref().map(Identity::subject),
                    path = head.path(),
                );
                let mut rejection = self.reject(&err, head);
                for (name, value) in headers {
                    rejection = rejection.with_header(name, value);
                }
                Err(rejection)
            }
        }
    }

    /// Renders `err` as this guard's rejection for `head`: the challenges
    /// offered where `head` arrived answer a missing credential, and the
    /// guard's scope challenge names a missing scope.
    pub fn reject(&self, err: &AuthError, head: &dyn RequestHead) -> Rejection {
        let mut offered: Vec<Challenge> = Vec::with_capacity(3);
        let shared = &self.inner.shared;
        shared.authenticator.challenges(head, &mut offered);
        if err.kind() == AuthErrorKind::InsufficientScope && err.challenge().is_none() {
            let err = err.clone().with_challenge(shared.scope_challenge.clone());
            return Rejection::from_error(&err, &shared.realm, &offered);
        }
        Rejection::from_error(err, &shared.realm, &offered)
    }

    async fn decide(&self, head: &dyn RequestHead) -> Result<Decision, Refused> {
        let shared = &self.inner.shared;
        let credential =
            Credential::from_head(head, &shared.credential_headers).map_err(Refused::plain)?;
        let req = AuthRequest::new(head, &credential);
        let identity = match shared.authenticator.try_authenticate(&req) {
            Some(verifying) => Some(verifying.await.map_err(Refused::plain)?),
            None if credential.is_none() && self.inner.anonymous => None,
            None => return Err(Refused::plain(unrecognised(&credential))),
        };
        if let (Some(policy), Some(id)) = (&self.inner.policy, &identity)
            && let Err(err) = policy.check(id)
        {
            return Err(Refused {
                err,
                subject: identity,
                headers: Vec::new(),
            });
        }
        let mut headers = ResponseHeaders::new();
        for limit in &self.inner.limits {
            if let Err(err) = limit.check(head, identity.as_ref(), &mut headers).await {
                return Err(Refused {
                    err,
                    subject: identity,
                    headers,
                });
            }
        }
        Ok(Decision { identity, headers })
    }
}

/// What no authenticator recognised. Nothing presented: authentication is
/// required. A bearer token: RFC 6750 `invalid_token`. Anything else (a
/// scheme no method here accepts): authentication is required, with the
/// challenges offered.
fn unrecognised(credential: &Credential<'_>) -> AuthError {
    if credential.is_none() {
        AuthError::new(AuthErrorKind::MissingCredentials)
    } else if credential.bearer().is_some() {
        AuthError::new(AuthErrorKind::InvalidCredentials)
            .with_challenge(Challenge::bearer_error("invalid_token"))
            .with_reason("unrecognised_token")
            .with_detail("the bearer token is not recognised")
    } else {
        AuthError::new(AuthErrorKind::MissingCredentials)
            .with_reason("unsupported_scheme")
            .with_detail("this authentication scheme is not accepted here")
    }
}

/// A refusal on its way out: the error, the caller if one was identified
/// (for the log), and headers the limits stage had added.
struct Refused {
    err: AuthError,
    subject: Option<Identity>,
    headers: ResponseHeaders,
}

impl Refused {
    fn plain(err: AuthError) -> Self {
        Self {
            err,
            subject: None,
            headers: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("realm", &self.inner.shared.realm)
            .field("policy", &self.inner.policy)
            .field("anonymous", &self.inner.anonymous)
            .field("limits", &self.inner.limits.len())
            .finish_non_exhaustive()
    }
}
