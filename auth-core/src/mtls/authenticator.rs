//! [`MtlsAuthenticator`]: a client certificate's identity name, mapped by
//! rules to a subject and scopes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::certificate::PeerCertificate;
use super::forwarded::ClientCertificate;
use crate::authenticate::{AuthRequest, Authenticator, BoxFuture, Specificity};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::{AuthMethod, Identity};
use crate::rejection::Challenge;
use crate::request::RequestHead;

/// What a route does with a request that presents no client certificate.
/// The listener's half (whether the TLS handshake asks for a certificate
/// at all) is rustls's; see the [module documentation](super).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MtlsMode {
    /// A certificate is required: without one the request is refused
    /// (401). The authenticator decides every request it sees, so it
    /// belongs alone on a route (certificates only) or in an
    /// [`AllOf`](crate::AllOf) (a certificate and a token bound to it).
    #[default]
    Strict,
    /// A certificate is one credential among others: it is the credential
    /// when one is presented and no header credential is; otherwise the
    /// authenticator answers "nothing presented", so an
    /// [`AnyOf`](crate::AnyOf) falls through to the route's other methods
    /// (an API key, a token), and an anonymous route lets the request
    /// through. The certificate stays available to binding checks.
    Permissive,
}

/// Maps certificates whose identity name matches to a subject, scopes and
/// roles.
///
/// ```
/// use auth_core::mtls::MtlsRule;
///
/// let billing = MtlsRule::exact("spiffe://demo.local/billing").scopes(["billing:write"]);
/// let any_workload = MtlsRule::prefix("spiffe://demo.local/").scopes(["service"]);
/// let partner = MtlsRule::exact("partner.example").subject("partner-42");
/// # let _ = (billing, any_workload, partner);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtlsRule {
    pattern: Pattern,
    subject: Option<String>,
    scopes: Vec<String>,
    roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl MtlsRule {
    /// Certificates whose identity name is exactly `name` (byte for byte;
    /// DNS names are lower-case in [`PeerCertificate`]).
    pub fn exact(name: impl Into<String>) -> Self {
        Self::with(Pattern::Exact(name.into()))
    }

    /// Certificates whose identity name starts with `prefix`, which must
    /// end with `/` (e.g. a SPIFFE trust domain, `spiffe://demo.local/`),
    /// so that `spiffe://demo.local` cannot match
    /// `spiffe://demo.local.evil.example/…`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::with(Pattern::Prefix(prefix.into()))
    }

    fn with(pattern: Pattern) -> Self {
        Self {
            pattern,
            subject: None,
            scopes: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// The subject of the identity (default: the certificate's identity
    /// name, e.g. its SPIFFE ID).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Scopes granted.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Roles granted.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }
}

/// Builds an [`MtlsAuthenticator`].
#[derive(Debug, Default)]
pub struct MtlsAuthenticatorBuilder {
    rules: Vec<MtlsRule>,
    mode: MtlsMode,
}

impl MtlsAuthenticatorBuilder {
    /// Adds a rule. An exact rule beats any prefix; among prefixes, the
    /// longest wins.
    pub fn rule(mut self, rule: MtlsRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The mode (default [`MtlsMode::Strict`]); per route, derive others
    /// with [`MtlsAuthenticator::with_mode`].
    pub fn mode(mut self, mode: MtlsMode) -> Self {
        self.mode = mode;
        self
    }

    /// The authenticator. Refuses no rules at all, an empty or
    /// non-printable pattern, a prefix that does not end with `/`, and the
    /// same pattern twice.
    pub fn build(self) -> Result<MtlsAuthenticator, ConfigError> {
        if self.rules.is_empty() {
            return Err(ConfigError::invalid(
                "mTLS rules (at least one: an unmatched certificate is refused)",
            ));
        }
        let mut exact = HashMap::new();
        let mut prefixes: Vec<(String, usize)> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let (text, is_prefix) = match &rule.pattern {
                Pattern::Exact(t) => (t, false),
                Pattern::Prefix(t) => (t, true),
            };
            if text.is_empty() || text.chars().any(char::is_control) {
                return Err(ConfigError::invalid("mTLS rule pattern"));
            }
            if is_prefix {
                if !text.ends_with('/') {
                    return Err(ConfigError::invalid(
                        "mTLS prefix rule (it must end with `/`)",
                    ));
                }
                if prefixes.iter().any(|(p, _)| p == text) {
                    return Err(ConfigError::invalid("mTLS rule pattern given twice"));
                }
                prefixes.push((text.clone(), i));
            } else if exact.insert(text.clone(), i).is_some() {
                return Err(ConfigError::invalid("mTLS rule pattern given twice"));
            }
        }
        // Longest first: the most specific prefix wins.
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(MtlsAuthenticator {
            rules: Arc::new(Rules {
                rules: self.rules,
                exact,
                prefixes,
            }),
            mode: self.mode,
        })
    }
}

#[derive(Debug)]
struct Rules {
    rules: Vec<MtlsRule>,
    exact: HashMap<String, usize>,
    /// Longest first.
    prefixes: Vec<(String, usize)>,
}

impl Rules {
    fn find(&self, name: &str) -> Option<&MtlsRule> {
        let i = self.exact.get(name).copied().or_else(|| {
            self.prefixes
                .iter()
                .find(|(p, _)| name.starts_with(p.as_str()))
                .map(|(_, i)| *i)
        })?;
        self.rules.get(i)
    }
}

/// TLS client certificates as a credential (see the
/// [module documentation](super)): the certificate's identity name (its
/// SPIFFE ID first) is matched against rules; the identity has method
/// [`AuthMethod::Mtls`], the rule's subject (by default the name itself),
/// scopes and roles, the certificate's `x5t#S256` thumbprint, and expires
/// with the certificate.
///
/// Refusals carry no challenge of their own (a certificate has no HTTP
/// authentication scheme): a 401 lists the header schemes the route also
/// accepts, or none on a certificates-only route.
///
/// Cheap to clone: [`with_mode`](Self::with_mode) derives per-route
/// variants sharing the rules.
#[derive(Clone, Debug)]
pub struct MtlsAuthenticator {
    rules: Arc<Rules>,
    mode: MtlsMode,
}

impl MtlsAuthenticator {
    /// A builder with no rules, [`MtlsMode::Strict`].
    pub fn builder() -> MtlsAuthenticatorBuilder {
        MtlsAuthenticatorBuilder::default()
    }

    /// The same rules in `mode`.
    pub fn with_mode(&self, mode: MtlsMode) -> Self {
        Self {
            rules: Arc::clone(&self.rules),
            mode,
        }
    }

    /// The same rules, [`MtlsMode::Strict`].
    pub fn strict(&self) -> Self {
        self.with_mode(MtlsMode::Strict)
    }

    /// The same rules, [`MtlsMode::Permissive`].
    pub fn permissive(&self) -> Self {
        self.with_mode(MtlsMode::Permissive)
    }

    /// The mode.
    pub fn mode(&self) -> MtlsMode {
        self.mode
    }

    /// The identity of `cert` at `now`: the decision alone, without a
    /// request. Refuses (401) a certificate outside its validity period
    /// (a long-lived connection can outlast it), one without an identity
    /// name, and one no rule matches.
    pub fn identify(&self, cert: &PeerCertificate, now: SystemTime) -> Result<Identity, AuthError> {
        if now > cert.not_after() {
            return Err(refuse(
                AuthErrorKind::ExpiredCredentials,
                "certificate_expired",
                "the client certificate has expired",
            ));
        }
        if now < cert.not_before() {
            return Err(refuse(
                AuthErrorKind::InvalidCredentials,
                "certificate_not_yet_valid",
                "the client certificate is not valid yet",
            ));
        }
        let Some(name) = cert.identity_name() else {
            return Err(refuse(
                AuthErrorKind::InvalidCredentials,
                "certificate_without_name",
                "the client certificate names no identity",
            ));
        };
        let Some(rule) = self.rules.find(name) else {
            return Err(refuse(
                AuthErrorKind::InvalidCredentials,
                "certificate_not_accepted",
                "the client certificate is not accepted here",
            ));
        };
        Ok(
            Identity::new(rule.subject.as_deref().unwrap_or(name), AuthMethod::Mtls)
                .with_scopes(rule.scopes.iter().map(String::as_str))
                .with_roles(rule.roles.iter().map(String::as_str))
                .with_cert_thumbprint(cert.thumbprint())
                .with_expiry(cert.not_after()),
        )
    }

    fn decide(&self, presented: &ClientCertificate) -> Result<Identity, AuthError> {
        match presented {
            ClientCertificate::Tls(cert) | ClientCertificate::Forwarded(cert) => {
                self.identify(cert, SystemTime::now())
            }
            ClientCertificate::Unreadable => Err(refuse(
                AuthErrorKind::InvalidCredentials,
                "certificate_unreadable",
                "the client certificate cannot be read",
            )),
            ClientCertificate::Absent => Err(AuthError::new(AuthErrorKind::MissingCredentials)
                .with_reason("certificate_required")
                .with_detail("this resource requires a TLS client certificate")),
        }
    }
}

fn refuse(kind: AuthErrorKind, reason: &'static str, detail: &'static str) -> AuthError {
    AuthError::new(kind).with_reason(reason).with_detail(detail)
}

impl Authenticator for MtlsAuthenticator {
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        crate::openapi::Security::scheme("mutual_tls", crate::openapi::mutual_tls())
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        match self.mode {
            MtlsMode::Strict => Some(Specificity::Exact),
            // The certificate is the credential only when no header
            // carries one; and "nothing presented" when there is none.
            MtlsMode::Permissive => (req.credential().is_none()
                && !req.client_certificate().is_absent())
            .then_some(Specificity::Exact),
        }
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let decided = self.decide(req.client_certificate());
        Box::pin(std::future::ready(decided))
    }

    fn challenges(&self, _head: &dyn RequestHead, _out: &mut Vec<Challenge>) {
        // No HTTP authentication scheme: a certificate is presented in the
        // TLS handshake.
    }
}
