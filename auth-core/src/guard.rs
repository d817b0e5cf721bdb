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
use crate::cookie::BearerCookie;
use crate::credentials::{AUTHORIZATION, Credential};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::Identity;
use crate::limits::{Limit, ResponseHeaders};
use crate::policy::Policy;
use crate::rate_limit::FailedAttempts;
use crate::rejection::{Challenge, Rejection, RenderRejection, Rendered, valid_realm};
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
    allowed_level: tracing::Level,
    renderer: Option<Arc<dyn RenderRejection>>,
    bearer_cookie: Option<BearerCookie>,
    failed_attempts: Option<FailedAttempts>,
    #[cfg(feature = "mtls")]
    forwarded: Option<crate::mtls::ForwardedCertificates>,
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
    allowed_level: tracing::Level,
    renderer: Option<Arc<dyn RenderRejection>>,
    bearer_cookie: Option<BearerCookie>,
    failed_attempts: Option<FailedAttempts>,
    #[cfg(feature = "mtls")]
    forwarded: Option<crate::mtls::ForwardedCertificates>,
}

impl GuardBuilder {
    /// Refuses client addresses with too many failed authentications
    /// (`429` with `Retry-After`) before verifying what they send; see
    /// [`FailedAttempts`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Pepper};
    /// use auth_core::rate_limit::FailedAttempts;
    /// use auth_core::{Guard, SimpleRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let guard = Guard::builder(ApiKeyAuthenticator::new(ApiKeys::in_memory(Pepper::generate())))
    ///     .failed_attempts(FailedAttempts::new(2, Duration::from_secs(60)))
    ///     .build()
    ///     .unwrap();
    /// let guess = SimpleRequest::get("/")
    ///     .peer("203.0.113.9:5000".parse().unwrap())
    ///     .header("x-api-key", "ask_live_nonsense");
    /// assert_eq!(guard.check(&guess).await.unwrap_err().status(), 401);
    /// assert_eq!(guard.check(&guess).await.unwrap_err().status(), 401);
    /// assert_eq!(guard.check(&guess).await.unwrap_err().status(), 429);
    /// # });
    /// ```
    pub fn failed_attempts(mut self, failed: FailedAttempts) -> Self {
        self.failed_attempts = Some(failed);
        self
    }

    /// Believes client certificates that a TLS-terminating proxy forwards
    /// (RFC 9440 `Client-Cert` or Envoy's `x-forwarded-client-cert`), from
    /// its trusted proxies only; see
    /// [`ForwardedCertificates`](crate::mtls::ForwardedCertificates). They
    /// then count as the request's certificate for every method of the
    /// guard: [`MtlsAuthenticator`](crate::mtls::MtlsAuthenticator) and the
    /// binding of certificate-bound tokens. The header is marked
    /// sensitive.
    ///
    /// ```
    /// use auth_core::mtls::{ForwardedCertificates, MtlsAuthenticator, MtlsRule};
    /// use auth_core::{Guard, TrustedProxies};
    ///
    /// let mtls = MtlsAuthenticator::builder().rule(MtlsRule::prefix("spiffe://demo.local/")).build().unwrap();
    /// let guard = Guard::builder(mtls)
    ///     .forwarded_certificates(ForwardedCertificates::xfcc(TrustedProxies::new(["127.0.0.1"]).unwrap()))
    ///     .build()
    ///     .unwrap();
    /// assert!(guard.sensitive_headers().contains(&"x-forwarded-client-cert"));
    /// ```
    #[cfg(feature = "mtls")]
    pub fn forwarded_certificates(mut self, forwarded: crate::mtls::ForwardedCertificates) -> Self {
        self.forwarded = Some(forwarded);
        self
    }

    /// Also reads a bearer token from a cookie, for browser front-ends,
    /// when no header carries a credential. Off by default; read the CSRF
    /// notes in [`cookie`](crate::cookie) before turning it on. The
    /// `Cookie` header is then marked sensitive.
    pub fn bearer_cookie(mut self, cookie: BearerCookie) -> Self {
        self.bearer_cookie = Some(cookie);
        self
    }

    /// Renders refusals in the application's own format (see
    /// [`RenderRejection`]); by default they carry an RFC 9457 problem body.
    pub fn render_rejections(mut self, renderer: impl RenderRejection) -> Self {
        self.renderer = Some(Arc::new(renderer));
        self
    }

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

    /// The level of the decision event for an allowed request (default
    /// `INFO`; refusals are always `INFO`). A busy service may log allowed
    /// requests at `DEBUG` and turn them on when it needs them.
    pub fn log_allowed_at(mut self, level: tracing::Level) -> Self {
        self.allowed_level = level;
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
        // What the authenticator offers, on a plain and on a TLS listener,
        // must be sendable: checked now rather than dropped per request.
        let mut offered = Vec::new();
        for tls in [false, true] {
            let head = crate::request::SimpleRequest::get("/").tls(tls);
            self.authenticator.challenges(&head, &mut offered);
        }
        if offered.iter().any(|c| !c.is_valid()) {
            return Err(ConfigError::invalid(
                "a challenge an authenticator offers (scheme, param names and values must be visible ASCII)",
            ));
        }
        let mut named = Vec::new();
        self.authenticator.credential_headers(&mut named);
        let mut credential_headers = vec![AUTHORIZATION];
        push_unique(&mut credential_headers, named)?;
        let mut extra = Vec::new();
        self.authenticator.sensitive_headers(&mut extra);
        let mut sensitive_headers = credential_headers.clone();
        push_unique(&mut sensitive_headers, extra)?;
        if let Some(cookie) = &self.bearer_cookie {
            cookie.validate()?;
            push_unique(&mut sensitive_headers, vec!["cookie"])?;
        }
        #[cfg(feature = "mtls")]
        if let Some(forwarded) = &self.forwarded {
            push_unique(&mut sensitive_headers, vec![forwarded.header().name()])?;
        }
        Ok(Guard {
            inner: Arc::new(GuardInner {
                shared: Arc::new(Shared {
                    authenticator: self.authenticator,
                    realm: self.realm,
                    credential_headers,
                    sensitive_headers,
                    scope_challenge: self.scope_challenge,
                    allowed_level: self.allowed_level,
                    renderer: self.renderer,
                    bearer_cookie: self.bearer_cookie,
                    failed_attempts: self.failed_attempts,
                    #[cfg(feature = "mtls")]
                    forwarded: self.forwarded,
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
            allowed_level: tracing::Level::INFO,
            renderer: None,
            bearer_cookie: None,
            failed_attempts: None,
            #[cfg(feature = "mtls")]
            forwarded: None,
        }
    }

    /// The same guard with `policy` checked after authentication.
    pub fn with_policy(&self, policy: Policy) -> Self {
        self.derive(|g| g.policy = Some(policy))
    }

    /// The OpenAPI security of this guard's routes (feature `openapi`):
    /// the schemes its methods accept, as alternatives, and an empty
    /// requirement too when anonymous callers are let in.
    #[cfg(feature = "openapi")]
    pub fn openapi_security(&self) -> crate::openapi::Security {
        let security = self.inner.shared.authenticator.openapi_security();
        if self.inner.anonymous {
            security.or_anonymous()
        } else {
            security
        }
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
                    Some(id) => {
                        // `event!` takes its level as a constant: one call
                        // site per level, the same event at each.
                        macro_rules! allowed {
                            ($level:expr) => {
                                tracing::event!(
                                    target: "auth_core::decision",
                                    $level,
                                    method = id.method().as_str(),
                                    subject = id.subject(),
                                    outcome = "allow",
                                    path = head.path(),
                                )
                            };
                        }
                        match self.inner.shared.allowed_level {
                            tracing::Level::TRACE => allowed!(tracing::Level::TRACE),
                            tracing::Level::DEBUG => allowed!(tracing::Level::DEBUG),
                            tracing::Level::WARN => allowed!(tracing::Level::WARN),
                            tracing::Level::ERROR => allowed!(tracing::Level::ERROR),
                            _ => allowed!(tracing::Level::INFO),
                        }
                    }
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
        let rejection =
            if err.kind() == AuthErrorKind::InsufficientScope && err.challenge().is_none() {
                let err = err.clone().with_challenge(shared.scope_challenge.clone());
                Rejection::from_error(&err, &shared.realm, &offered)
            } else {
                Rejection::from_error(err, &shared.realm, &offered)
            };
        match shared
            .renderer
            .as_ref()
            .and_then(|r| r.render(&rejection, head))
        {
            Some(Rendered { content_type, body }) => rejection.with_body(&content_type, body),
            None => rejection,
        }
    }

    async fn decide(&self, head: &dyn RequestHead) -> Result<Decision, Refused> {
        let shared = &self.inner.shared;
        let mut credential =
            Credential::from_head(head, &shared.credential_headers).map_err(Refused::plain)?;
        // The cookie counts only when no header carries a credential.
        if let (Credential::None, Some(cookie)) = (&credential, &shared.bearer_cookie)
            && let Some(bearer) = cookie.read(head).map_err(Refused::plain)?
        {
            credential = Credential::Authorization(bearer);
        }
        let counted = shared
            .failed_attempts
            .as_ref()
            .filter(|_| !credential.is_none());
        if let Some(failed) = counted
            && let Some(left) = failed
                .blocked(head)
                .await
                .map_err(|e| Refused::plain(e.into()))?
        {
            return Err(Refused::plain(
                AuthError::new(AuthErrorKind::RateLimited)
                    .with_reason("too_many_failures")
                    .with_detail("too many failed attempts from this address; try again later")
                    .with_retry_after(left),
            ));
        }
        let req = AuthRequest::new(head, &credential);
        #[cfg(feature = "mtls")]
        let req = req.with_forwarded_certificates(shared.forwarded.as_ref());
        let verified = match shared.authenticator.try_authenticate(&req) {
            Some(verifying) => verifying.await.map(Some),
            None if credential.is_none() && self.inner.anonymous => Ok(None),
            None => Err(unrecognised(&credential)),
        };
        let identity = match verified {
            Ok(identity) => identity,
            Err(err) => {
                if let Some(failed) = counted
                    && err.status() == 401
                    && err.kind() != AuthErrorKind::MissingCredentials
                    && let Err(store) = failed.failed(head).await
                {
                    // The refusal stands; only the count is lost.
                    tracing::warn!(target: "auth_core::rate_limit", error = %store, "failed attempt not counted");
                }
                return Err(Refused::plain(err));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticate::{BoxFuture, Specificity};
    use crate::identity::AuthMethod;
    use crate::request::SimpleRequest;

    /// Recognises `X-Name: <name>` and bearer tokens starting `n-`; the name
    /// is the subject, with scope `read`.
    struct Named {
        headers: Vec<&'static str>,
        sensitive: Vec<&'static str>,
    }

    impl Named {
        fn new() -> Self {
            Self {
                headers: vec!["x-name"],
                sensitive: vec!["x-proof"],
            }
        }
    }

    impl Authenticator for Named {
        fn credential_headers(&self, out: &mut Vec<&'static str>) {
            out.extend(&self.headers);
        }
        fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
            out.extend(&self.sensitive);
        }
        fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
            let c = req.credential();
            let bearer = c.bearer().filter(|t| t.expose().starts_with(b"n-"));
            (c.header("x-name").is_some() || bearer.is_some()).then_some(Specificity::Exact)
        }
        fn authenticate<'a>(
            &'a self,
            req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            let c = req.credential();
            let name = c.header("x-name").or_else(|| c.bearer());
            let name = name.map(|n| String::from_utf8_lossy(n.expose()).into_owned());
            Box::pin(async move {
                Ok(Identity::new(name.unwrap_or_default(), AuthMethod::Custom)
                    .with_scopes(["read"]))
            })
        }
        fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
            out.push(Challenge::new("Name"));
        }
    }

    fn guard() -> Guard {
        Guard::builder(Named::new()).realm("r").build().unwrap()
    }

    fn www(r: &Rejection) -> Vec<&str> {
        r.header_values("www-authenticate").collect()
    }

    #[tokio::test]
    async fn headers_are_listed_once_with_authorization_first() {
        let g = Guard::builder(crate::AnyOf::new().or(Named::new()).or(Named::new()))
            .build()
            .unwrap();
        assert_eq!(g.credential_headers(), ["authorization", "x-name"]);
        assert_eq!(
            g.sensitive_headers(),
            ["authorization", "x-name", "x-proof"]
        );
        let all = Guard::builder(crate::AllOf::new().and(Named::new()))
            .build()
            .unwrap();
        assert_eq!(
            all.sensitive_headers(),
            ["authorization", "x-name", "x-proof"]
        );
        assert_eq!(guard().realm(), "r");
        let debug = format!("{:?}", guard().with_policy(Policy::scope("s")));
        assert!(
            debug.contains("realm: \"r\"") && debug.contains("AllScopes"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn a_bearer_cookie_is_read_only_when_configured_and_no_header_is_sent() {
        let plain = guard();
        let with_cookie = Guard::builder(Named::new())
            .bearer_cookie(crate::cookie::BearerCookie::new("at"))
            .build()
            .unwrap();
        assert!(!plain.sensitive_headers().contains(&"cookie"));
        assert!(with_cookie.sensitive_headers().contains(&"cookie"));
        let cookie = SimpleRequest::get("/").header("cookie", "at=n-ada");
        assert_eq!(plain.check(&cookie).await.unwrap_err().status(), 401);
        let id = with_cookie.check(&cookie).await.unwrap();
        assert_eq!(id.identity().map(Identity::subject), Some("n-ada"));
        // A header credential wins over the cookie.
        let both = cookie.clone().header("x-name", "bob");
        let id = with_cookie.check(&both).await.unwrap();
        assert_eq!(id.identity().map(Identity::subject), Some("bob"));
        // A bad cookie is refused, not ignored.
        let twice = SimpleRequest::get("/").header("cookie", "at=n-a; at=n-b");
        assert_eq!(with_cookie.check(&twice).await.unwrap_err().status(), 400);
        // A bad name is refused at build.
        assert!(
            Guard::builder(Named::new())
                .bearer_cookie(crate::cookie::BearerCookie::new("a b"))
                .build()
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_renderer_replaces_the_body_of_refusals_only() {
        let g = Guard::builder(Named::new())
            .realm("r")
            .render_rejections(|r: &Rejection, head: &dyn RequestHead| {
                (head.path() == "/page").then(|| Rendered {
                    content_type: "text/plain".to_owned(),
                    body: format!("{} ({})", r.title(), r.status()).into_bytes(),
                })
            })
            .build()
            .unwrap();
        let refused = g.check(&SimpleRequest::get("/page")).await.unwrap_err();
        assert_eq!(refused.body(), b"Authentication required (401)");
        assert_eq!(
            refused.header_values("content-type").collect::<Vec<_>>(),
            ["text/plain"]
        );
        assert_eq!(www(&refused), ["Name realm=\"r\""]);
        // `None` keeps the problem body.
        let problem = g.check(&SimpleRequest::get("/api")).await.unwrap_err();
        assert!(problem.body().starts_with(b"{\"type\""));
        // `reject` renders too.
        let err = AuthError::new(AuthErrorKind::Forbidden);
        assert_eq!(
            g.reject(&err, &SimpleRequest::get("/page")).body(),
            b"Forbidden (403)"
        );
        assert!(
            g.check(&SimpleRequest::get("/page").header("x-name", "a"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn reject_renders_what_the_error_names() {
        let g = guard();
        let head = SimpleRequest::get("/");
        // A scope refusal with a challenge of its own keeps it.
        let own = AuthError::insufficient_scope(["admin"]).with_challenge(Challenge::new("Name"));
        assert_eq!(
            www(&g.reject(&own, &head)),
            ["Name realm=\"r\", error=\"insufficient_scope\", scope=\"admin\""]
        );
        // Other refusals without a challenge are not given the scope one.
        let bad = AuthError::new(AuthErrorKind::InvalidCredentials);
        assert_eq!(www(&g.reject(&bad, &head)), ["Name realm=\"r\""]);
        let unavailable = AuthError::new(AuthErrorKind::Unavailable);
        assert!(www(&g.reject(&unavailable, &head)).is_empty());
    }

    #[test]
    fn header_names_must_be_lower_case_tokens() {
        for bad in ["X-Name", "", "x name", "x:name", "x\u{e9}"] {
            let named = Named {
                headers: vec![bad],
                sensitive: vec![],
            };
            assert!(Guard::builder(named).build().is_err(), "{bad:?}");
            let named = Named {
                headers: vec![],
                sensitive: vec![bad],
            };
            assert!(Guard::builder(named).build().is_err(), "{bad:?}");
        }
        let ok = Named {
            headers: vec!["x-a_b.c1"],
            sensitive: vec![],
        };
        assert!(Guard::builder(ok).build().is_ok());
        assert!(Guard::builder(Named::new()).realm("").build().is_err());
        let bad_scope = Guard::builder(Named::new()).scope_challenge(Challenge::new("A B"));
        assert!(bad_scope.build().is_err());
    }

    #[test]
    fn realms_and_offered_challenges_are_visible_ascii_checked_at_build() {
        for bad in ["d\u{e9}mo", "a\u{7f}", "tab\there", "\u{202e}evil", ""] {
            let b = Guard::builder(Named::new()).realm(bad);
            assert!(b.build().is_err(), "{bad:?}");
        }
        assert!(
            Guard::builder(Named::new())
                .realm("my demo (v2)")
                .build()
                .is_ok()
        );

        /// Offers a challenge whose param cannot be sent, on TLS only.
        struct OffersBad;
        impl Authenticator for OffersBad {
            fn recognise(&self, _: &AuthRequest<'_>) -> Option<Specificity> {
                None
            }
            fn authenticate<'a>(
                &'a self,
                _: &'a AuthRequest<'a>,
            ) -> BoxFuture<'a, Result<Identity, AuthError>> {
                Box::pin(async { Err(AuthError::new(AuthErrorKind::MissingCredentials)) })
            }
            fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
                if head.is_tls() {
                    out.push(Challenge::new("Toy").with_param("hint", "caf\u{e9}"));
                }
            }
        }
        let err = Guard::builder(OffersBad).build().unwrap_err();
        assert!(err.to_string().contains("challenge"), "{err}");
    }

    #[tokio::test]
    async fn a_scope_that_cannot_be_sent_is_left_out_of_the_challenge() {
        let g = guard().with_policy(Policy::all_scopes(["r\u{e9}ports", "ok"]));
        let req = SimpleRequest::get("/").header("x-name", "alice");
        let r = g.check(&req).await.unwrap_err();
        assert_eq!(r.status(), 403);
        for c in www(&r) {
            assert!(
                c.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{c:?}"
            );
        }
    }

    #[tokio::test]
    async fn what_no_method_recognises() {
        let g = guard();
        let missing = g.check(&SimpleRequest::get("/")).await.unwrap_err();
        assert_eq!(
            (missing.status(), www(&missing)),
            (401, vec!["Name realm=\"r\""])
        );

        // A bearer token nobody recognises is an invalid token (RFC 6750).
        let req = SimpleRequest::get("/").header("authorization", "Bearer zzz");
        let r = g.check(&req).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert_eq!(www(&r), ["Bearer realm=\"r\", error=\"invalid_token\""]);

        // Another scheme: what is accepted here is offered instead.
        let req = SimpleRequest::get("/").header("authorization", "Digest x=1");
        let r = g.check(&req).await.unwrap_err();
        assert_eq!((r.status(), www(&r)), (401, vec!["Name realm=\"r\""]));

        // Anonymous access lets in nothing presented, not the unrecognised.
        let anon = g.allow_anonymous();
        let d = anon.check(&SimpleRequest::get("/")).await.unwrap();
        assert!(d.identity().is_none() && d.headers().is_empty());
        let req = SimpleRequest::get("/").header("authorization", "Bearer zzz");
        assert_eq!(anon.check(&req).await.unwrap_err().status(), 401);
        let req = SimpleRequest::get("/").header("x-name", "ann");
        let d = anon.check(&req).await.unwrap();
        let (id, headers) = d.clone().into_parts();
        assert_eq!(id.unwrap().subject(), "ann");
        assert!(headers.is_empty());
        assert_eq!(d.into_identity().unwrap().subject(), "ann");
    }

    #[tokio::test]
    async fn a_missing_scope_names_the_scope_challenge() {
        let req = SimpleRequest::get("/").header("x-name", "ann");
        let r = guard()
            .with_policy(Policy::scope("admin"))
            .check(&req)
            .await
            .unwrap_err();
        assert_eq!(r.status(), 403);
        assert_eq!(
            www(&r),
            ["Bearer realm=\"r\", error=\"insufficient_scope\", scope=\"admin\""]
        );
        let own = Guard::builder(Named::new())
            .realm("r")
            .scope_challenge(Challenge::new("Name"))
            .build()
            .unwrap()
            .with_policy(Policy::scope("admin"));
        let r = own.check(&req).await.unwrap_err();
        assert_eq!(
            www(&r),
            ["Name realm=\"r\", error=\"insufficient_scope\", scope=\"admin\""]
        );
        // The policy passes: allowed.
        let ok = guard().with_policy(Policy::scope("read"));
        assert!(ok.check(&req).await.is_ok());
    }

    /// Adds `x-seen: <n>`; refuses when `refuse` is set.
    struct Seen(&'static str, bool);

    impl Limit for Seen {
        fn check<'a>(
            &'a self,
            _head: &'a dyn RequestHead,
            identity: Option<&'a Identity>,
            headers: &'a mut ResponseHeaders,
        ) -> BoxFuture<'a, Result<(), AuthError>> {
            headers.push(("x-seen", format!("{}:{}", self.0, identity.is_some())));
            let refuse = self.1;
            Box::pin(async move {
                if refuse {
                    Err(AuthError::new(AuthErrorKind::RateLimited))
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn limits_run_in_order_after_policy() {
        let req = SimpleRequest::get("/").header("x-name", "ann");
        let g = Guard::builder(Named::new())
            .limit(Seen("a", false))
            .build()
            .unwrap()
            .with_limit(Seen("b", false));
        let d = g.check(&req).await.unwrap();
        let seen: Vec<&str> = d.headers().iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(seen, ["a:true", "b:true"]);
        let (id, headers) = d.into_parts();
        assert_eq!(id.unwrap().subject(), "ann");
        assert_eq!(headers.len(), 2);

        // A refusal keeps what the stages before it added, and stops there.
        let refusing = g.with_limit(Seen("c", true)).with_limit(Seen("d", false));
        let r = refusing.check(&req).await.unwrap_err();
        assert_eq!(r.status(), 429);
        assert_eq!(
            r.header_values("x-seen").collect::<Vec<_>>(),
            ["a:true", "b:true", "c:true"]
        );
        // A policy refusal comes first: no limit runs.
        let r = refusing
            .with_policy(Policy::scope("admin"))
            .check(&req)
            .await
            .unwrap_err();
        assert_eq!((r.status(), r.header_values("x-seen").count()), (403, 0));
        // Anonymous callers pass through the limits too, without identity.
        let anon = g.allow_anonymous();
        let d = anon.check(&SimpleRequest::get("/")).await.unwrap();
        let seen: Vec<&str> = d.headers().iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(seen, ["a:false", "b:false"]);
    }

    /// The request path the log-level test uses, and no other test.
    const LEVELS_PATH: &str = "/allowed-log-levels";

    /// Records the level of each decision event for [`LEVELS_PATH`]. It is
    /// the process's global subscriber: a thread-local one can miss events
    /// of call sites that other tests' threads register at the same time.
    #[derive(Clone, Default)]
    struct Levels(Arc<std::sync::Mutex<Vec<tracing::Level>>>);

    /// Finds the `path` field of an event.
    struct PathIs(bool);

    impl tracing::field::Visit for PathIs {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "path" && value == LEVELS_PATH {
                self.0 = true;
            }
        }
        fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
    }

    impl tracing::Subscriber for Levels {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, e: &tracing::Event<'_>) {
            let mut ours = PathIs(false);
            e.record(&mut ours);
            if ours.0 && e.metadata().target() == "auth_core::decision" {
                self.0.lock().unwrap().push(*e.metadata().level());
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn allowed_decisions_log_at_the_chosen_level() {
        let levels = Levels::default();
        tracing::subscriber::set_global_default(levels.clone())
            .expect("the only test that sets the global subscriber");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ok = SimpleRequest::get(LEVELS_PATH).header("x-name", "ann");
        let bad = SimpleRequest::get(LEVELS_PATH);
        {
            rt.block_on(async {
                let default = guard();
                let quiet = Guard::builder(Named::new())
                    .log_allowed_at(tracing::Level::DEBUG)
                    .build()
                    .unwrap();
                assert!(default.check(&ok).await.is_ok());
                assert!(quiet.check(&ok).await.is_ok());
                assert!(quiet.check(&bad).await.is_err());
                for level in [
                    tracing::Level::TRACE,
                    tracing::Level::WARN,
                    tracing::Level::ERROR,
                ] {
                    let g = Guard::builder(Named::new())
                        .log_allowed_at(level)
                        .build()
                        .unwrap();
                    assert!(g.check(&ok).await.is_ok());
                }
            });
        }
        let seen = levels.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                tracing::Level::INFO,
                tracing::Level::DEBUG,
                tracing::Level::INFO,
                tracing::Level::TRACE,
                tracing::Level::WARN,
                tracing::Level::ERROR,
            ],
            "allowed at the default, at the chosen level, a refusal at INFO, then each level"
        );
    }
}
